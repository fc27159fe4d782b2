"""Pipecat's Twilio bot, a real app nobody here wrote (``pipecat-ai``, its Twilio example's
shape: tests/interop/apps/pipecat_twilio_bot.py), reached through sipgw's Twilio fake: the
voice webhook, its TwiML, and the Media Stream played at real time. Its AssemblyAI, OpenAI
and ElevenLabs services are pointed at the project's fakes by their base URLs.

This proves the bot against Twilio's side as the fake plays it; the same bot behind the
gateway's ``twiml`` agent, a baresip caller on the other end, is
tests/interop/test_pipecat_twiml_peers.py.
"""

from __future__ import annotations

from pathlib import Path

import aiohttp
import pytest

from sipgw.app.evaluation.audio import tone_frames
from tests.toolkit.apps.pipecat_app import REPLY, TRANSCRIPT, pipecat_fakes, running_bot
from tests.toolkit.fakes.twilio import FakeTwilioStream, call_the_webhook

pytestmark = pytest.mark.timeout(120)

TOKEN = "the-apps-twilio-auth-token"
FORM = {"CallSid": "CA" + "8" * 32, "AccountSid": "AC" + "9" * 32, "From": "+15551230001",
        "To": "+15557650002", "Direction": "inbound", "CallStatus": "ringing",
        "ApiVersion": "2010-04-01"}  # fmt: skip


async def test_pipecats_twilio_bot_greets_hears_and_answers(tmp_path: Path) -> None:
    async with pipecat_fakes() as fakes, running_bot(fakes, tmp_path / "bot.log") as bot:
        async with aiohttp.ClientSession() as http:
            answer = await call_the_webhook(http, bot.webhook_url, TOKEN, bot.webhook_url, FORM)
        assert answer.stream_url == bot.stream_url, answer.body
        call: FakeTwilioStream
        async with answer.stream(bot.stream_url, TOKEN) as call:
            await call.wait_for(lambda: call.heard_seconds() >= 0.5, within=30)  # the greeting
            greeting = len(fakes.llm.requests)
            await call.wait_for(lambda: not _playing(call), within=30)
            heard_before = call.heard_seconds()
            call.say(b"".join(tone_frames(440, 1.2, -15.0)))
            await call.wait_for(lambda: len(fakes.llm.requests) > greeting, within=30)
            await call.wait_for(lambda: call.heard_seconds() >= heard_before + 0.5, within=30)
            await call.stop()
    asked = fakes.llm.requests[greeting].body
    said = [m.get("content") for m in asked["messages"] if m.get("role") == "user"]
    assert any(TRANSCRIPT in str(content) for content in said), asked["messages"]
    assert call.protocol_errors == [], call.protocol_errors
    assert any(REPLY in u.text for u in fakes.tts.utterances), fakes.tts.utterances


def _playing(call: FakeTwilioStream) -> bool:
    """Whether the caller still hears the bot (its last piece has not ended)."""
    import asyncio

    return bool(call.heard) and call.heard[-1].end > asyncio.get_running_loop().time()
