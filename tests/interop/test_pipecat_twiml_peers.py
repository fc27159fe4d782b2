"""Pipecat's Twilio bot behind the gateway's ``twiml`` agent, a real baresip caller: the
same bot as tests/interop/test_pipecat_twilio.py (there through sipgw's Twilio fake), now on
a SIP call without a line of it changed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest

from sipgw.app.evaluation.audio import analyse
from sipgw.app.evaluation.gateway_process import GatewayProcess
from tests.toolkit.apps.pipecat_app import TRANSCRIPT, pipecat_fakes, running_bot
from tests.toolkit.peers.baresip import Baresip

pytestmark = [pytest.mark.timeout(180), pytest.mark.usefixtures("nothing_left_running")]

ToneWav = Callable[..., Path]


async def test_a_baresip_caller_talks_to_pipecats_bot_through_the_twiml_agent(
    tmp_workdir: Path, tone_wav: ToneWav
) -> None:
    # the caller listens to the greeting for 4 s, then speaks 1.2 s, then listens
    source = tone_wav(440, 1.2, -12.0, lead_silence=4.0, tail_silence=40.0)
    async with pipecat_fakes() as fakes, running_bot(fakes, tmp_workdir / "bot.log") as bot:
        env = {"SIPGW_TWIML_URL": bot.webhook_url, "SIPGW_TWIML_ACCOUNT_SID": "AC" + "d" * 32,
               "SIPGW_TWIML_AUTH_TOKEN": "e" * 32}  # fmt: skip
        gw = GatewayProcess(tmp_workdir, agent="twiml", allow_from="127.0.0.0/8", extra_env=env)
        caller = Baresip(tmp_workdir, "a", user="a", source_wav=source)
        with gw, caller:
            caller.dial(gw.uri("bot"))
            await asyncio.to_thread(caller.wait_event, "CALL_ESTABLISHED", 10)
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 30
            while not any(TRANSCRIPT in str(r.messages) for r in fakes.llm.requests):
                assert loop.time() < deadline, "the bot never heard the caller"
                await asyncio.sleep(0.1)  # the fakes run on this loop
            await asyncio.sleep(3.0)  # the reply is spoken
            caller.hangup()
            await asyncio.to_thread(caller.wait_event, "CALL_CLOSED", 5)
            heard, _ = caller.recordings()
    report = analyse(heard)
    assert report.active_seconds >= 1.5, report.describe()  # the greeting and the reply
    assert len(fakes.tts.utterances) >= 2
