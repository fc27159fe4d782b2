"""A ConversationRelay session on a line that returns the agent's voice: the in-process
gateway with the TwiML agent, the toolkit's relay app, the fake services, and a phone whose
microphone picks up its speaker (a 2-wire hybrid's echo, 6 dB down and 40 ms late:
:mod:`tests.toolkit.echo_paths`), on the test's virtual clock.

The fake TTS speaks in syllables (its echo has a shape the guard can follow); the fake STT
hears any loud audio as speech, the echo too. The greeting may not be cut
(``welcomeGreetingInterruptible="none"``): the line shows its echo during it. The caller
asks for something long; with the echo guard on (the default) the long reply's echo reaches
the transcriber as the line's noise: the reply plays whole, nothing cuts it, and the app
gets the caller's one prompt. With it off the same echo is heard as the caller talking over
the reply: it is cut, and the echo becomes prompts.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from twilio.twiml.voice_response import VoiceResponse

from sipgw.app.evaluation.fakes.assemblyai import FakeAssemblyAI
from sipgw.app.evaluation.fakes.elevenlabs import FakeElevenLabs
from sipgw.app.evaluation.phone import Phone
from tests.agent.assistant.test_echo_line import HYBRID, spoken
from tests.toolkit.apps.relay_app import LONG_REPLY, RelayApp
from tests.toolkit.canaries import ASSEMBLYAI_KEY, ELEVENLABS_KEY
from tests.toolkit.echo_paths import PhoneEcho
from tests.toolkit.gateway_in_process import running_gateway
from tests.toolkit.twilio_app import TwilioSdkApp, WebhookRequest
from tests.toolkit.virtual_time import virtual_time

pytestmark = pytest.mark.timeout(90)

TOKEN = "e" * 32
ACCOUNT = "AC" + "e" * 32
GREETING = "Hi there, thanks for calling the order desk. How can I help you today?"
GREETING_HZ, LONG_HZ = 500, 900


@dataclass
class Line:
    phone: Phone
    relay: RelayApp
    stt: FakeAssemblyAI


@asynccontextmanager
async def relay_line(tmp_path: Path, guard: bool) -> AsyncIterator[Line]:
    """A call from the echoing phone to a ConversationRelay session, its audio started."""
    with virtual_time():
        stt = await FakeAssemblyAI(api_key=ASSEMBLYAI_KEY).start()
        tts = FakeElevenLabs(api_key=ELEVENLABS_KEY, ms_per_char=30, speed=4.0, syllables=True)
        await tts.start()
        tts.map_text("Hi there", GREETING_HZ)
        for words in ("opening hours", "weekdays", "Saturdays", "Sundays"):
            tts.map_text(words, LONG_HZ)
        web, relay = TwilioSdkApp(TOKEN), RelayApp(TOKEN)
        await web.start()
        await relay.start()

        def twiml(app: TwilioSdkApp, request: WebhookRequest) -> VoiceResponse:
            response = VoiceResponse()
            response.connect().conversation_relay(
                url=relay.url, welcome_greeting=GREETING, welcome_greeting_interruptible="none"
            )
            return response

        web.twiml = twiml
        env = {
            "ASSEMBLYAI_API_KEY": ASSEMBLYAI_KEY, "ASSEMBLYAI_STREAMING_URL": stt.url,
            "ELEVENLABS_API_KEY": ELEVENLABS_KEY, "ELEVENLABS_BASE_URL": tts.base_url,
            "SIPGW_TWIML_URL": web.url, "SIPGW_TWIML_ACCOUNT_SID": ACCOUNT,
            "SIPGW_TWIML_AUTH_TOKEN": TOKEN, "SIPGW_TWIML_STT": "assemblyai",
            "SIPGW_TWIML_TTS": "elevenlabs", "SIPGW_ECHO_GUARD": "on" if guard else "off",
            "SIPGW_TWIML_RECORD_DIR": str(tmp_path / "calls"),
        }  # fmt: skip
        try:
            async with running_gateway(agent="twiml", env=env) as (_, new_phone):
                phone: Phone = await new_phone(echo=PhoneEcho(HYBRID))
                ok = await phone.invite()
                assert ok.status == 200, ok
                phone.start_audio()
                yield Line(phone, relay, stt)
                await phone.stop_audio()
                await phone.bye()
                await asyncio.sleep(0.3)
        finally:
            await relay.stop()
            await web.stop()
            await asyncio.gather(stt.aclose(), tts.aclose())


def prompts(line: Line) -> list[str]:
    return [m["voicePrompt"] for s in line.relay.sessions for m in s.of_type("prompt")]


async def asked_for_something_long(line: Line) -> None:
    """The greeting and its echo over, the caller's question, then the long reply's time."""
    line.stt.default_transcript = "Tell me something long"  # any final, the echo's too
    await line.phone.wait_for_tone(GREETING_HZ, within=10)
    await asyncio.sleep(4.0)
    line.phone.say(spoken("Tell me something long."))
    await line.phone.wait_for_tone(LONG_HZ, within=8, min_seconds=0.1)
    await asyncio.sleep(8.0)


async def test_the_agents_echo_cuts_no_reply_and_is_no_prompt(tmp_path: Path) -> None:
    async with relay_line(tmp_path, guard=True) as line:
        await asked_for_something_long(line)
        seen = line.relay.sessions[0]
        assert prompts(line) == ["Tell me something long"], seen.messages
        assert not seen.of_type("interrupt"), seen.messages
        spans = line.phone.tone_spans(LONG_HZ)  # in syllables: from its first to its last
        assert spans[-1][1] - spans[0][0] > 0.9 * len(LONG_REPLY) * 0.030, spans  # 30 ms a letter


async def test_without_the_guard_the_echo_cuts_the_reply(tmp_path: Path) -> None:
    async with relay_line(tmp_path, guard=False) as line:
        await asked_for_something_long(line)
        seen = line.relay.sessions[0]
        assert seen.of_type("interrupt"), seen.messages
        assert len(prompts(line)) >= 2, prompts(line)  # each answered, and cut, in turn
