"""The three AI-service fakes in threads of a test, and the assistant's environment for them.

Real-peer tests start a ``sipgw serve`` subprocess: it reaches the fakes through the
environment this yields (keys are the canary values of :mod:`tests.toolkit.canaries`).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from sipgw.app.evaluation.fakes.assemblyai import FakeAssemblyAI
from sipgw.app.evaluation.fakes.elevenlabs import FakeElevenLabs
from sipgw.app.evaluation.fakes.openai import FakeOpenAI
from tests.toolkit.canaries import ASSEMBLYAI_KEY, ELEVENLABS_KEY, OPENAI_KEY

__all__ = ["ThreadedFakes", "fakes_in_threads"]


@dataclass
class ThreadedFakes:
    """The running fakes (script them before the call) and the gateway's environment."""

    stt: FakeAssemblyAI
    llm: FakeOpenAI
    tts: FakeElevenLabs
    env: dict[str, str]


@contextmanager
def fakes_in_threads(
    workdir: Path,
    tones: Mapping[str, float],
    greeting: str = "Hi there.",
    tts_speed: float = 4.0,
    caller: Literal["tone", "speech"] = "tone",
) -> Iterator[ThreadedFakes]:
    """Start the fakes; the fake TTS speaks text containing a key of ``tones`` as a tone
    of that frequency (20 ms per character, at ``tts_speed`` times real time). The
    environment greets with ``greeting`` and keeps call records and callbacks under
    ``workdir``. ``caller``: what the caller's phone plays; ``tone`` (tone files, most
    tests) pins the energy voice detector, since a speech model (the default) hears no
    voice in a tone; ``speech`` (espeak-ng, recordings) leaves the gateway's default."""
    stt = FakeAssemblyAI(api_key=ASSEMBLYAI_KEY).start_in_thread()
    llm = FakeOpenAI(api_key=OPENAI_KEY)
    llm_url = llm.start_in_thread()
    tts = FakeElevenLabs(api_key=ELEVENLABS_KEY, ms_per_char=20, speed=tts_speed)
    tts_url = tts.start_in_thread()
    for text, hz in tones.items():
        tts.map_text(text, hz)
    env = {
        "ASSEMBLYAI_API_KEY": ASSEMBLYAI_KEY, "ASSEMBLYAI_STREAMING_URL": stt.url,
        "OPENAI_API_KEY": OPENAI_KEY, "OPENAI_BASE_URL": llm_url,
        "ELEVENLABS_API_KEY": ELEVENLABS_KEY, "ELEVENLABS_BASE_URL": tts_url,
        "SIPGW_GREETING": greeting, "SIPGW_CALL_RECORD_DIR": str(workdir / "calls"),
        "SIPGW_CALLBACK_DB": str(workdir / "callbacks.sqlite3"),
    }  # fmt: skip
    if caller == "tone":
        env["SIPGW_VOICE_DETECTOR"] = "energy"  # no voice in a tone for a speech model
    try:
        yield ThreadedFakes(stt, llm, tts, env)
    finally:
        stt.stop()
        llm.stop()
        tts.stop()
