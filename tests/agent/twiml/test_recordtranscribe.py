"""A finished recording through the streaming speech-to-text (sipgw's AssemblyAI fake, which
refuses audio sent faster than real time): its text, the pace, the failures."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest

from sipgw.agent.services.assemblyai.stt import AssemblyAISettings, AssemblyAISTTService
from sipgw.agent.twiml.recordtranscribe import MAX_SECONDS, start_transcription, transcribe
from sipgw.app.evaluation.fakes.assemblyai import FakeAssemblyAI
from tests.agent.parts import SILENT_FRAME, speech_frames

KEY = "stt-key"


@pytest.fixture
async def fake() -> AsyncIterator[FakeAssemblyAI]:
    stt = await FakeAssemblyAI(api_key=KEY).start()
    yield stt
    await stt.aclose()


def stt(fake: FakeAssemblyAI, key: str = KEY) -> AssemblyAISTTService:
    return AssemblyAISTTService(AssemblyAISettings(api_key=key, url=fake.url))


async def test_the_recording_is_fed_at_real_time_and_its_turns_joined(
    fake: FakeAssemblyAI,
) -> None:
    fake.script(["First part.", "Second part."])
    audio = b"".join(speech_frames(1.0) + [SILENT_FRAME] * 50 + speech_frames(1.0))
    began = time.monotonic()
    text = await transcribe(audio, stt(fake))
    assert text == "First part. Second part."
    assert time.monotonic() - began >= len(audio) / 8000 - 0.2  # not faster than real time
    (session,) = fake.sessions
    assert session.violation is None


async def test_a_refused_session_is_none_and_a_long_recording_is_not_sent(
    fake: FakeAssemblyAI,
) -> None:
    assert await transcribe(b"\xff" * 1600, stt(fake, key="wrong")) is None
    got: list[str | None] = []
    opened: list[int] = []

    def open_stt() -> AssemblyAISTTService:
        opened.append(1)
        return stt(fake)

    too_long = b"\xff" * (round(MAX_SECONDS * 8000) + 160)
    await start_transcription(too_long, open_stt, None, got.append)
    assert got == [None] and not opened
    await asyncio.sleep(0)
