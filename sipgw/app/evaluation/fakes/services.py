"""The three AI-service fakes together, and the gateway settings that point at them.

:func:`start_services` starts them on the running loop (``python -m bench.fake_services``
serves them in a process of its own); a caller that builds the fakes itself, for
example in threads with behaviour of its own, wraps them in :class:`FakeServices` for
:meth:`FakeServices.gateway_env`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from sipgw.app.evaluation.fakes.assemblyai import DetectorFactory, FakeAssemblyAI
from sipgw.app.evaluation.fakes.assemblyai_script import (
    CallerScript,
    FrameCounts,
    Room,
    ScriptedTurnDetector,
)
from sipgw.app.evaluation.fakes.elevenlabs import FakeElevenLabs
from sipgw.app.evaluation.fakes.openai import FakeOpenAI, FakeResponse
from sipgw.app.evaluation.fakes.tally import Tally, tally

__all__ = [
    "DEFAULT_REPLY",
    "DEFAULT_TRANSCRIPT",
    "KEYS",
    "FakeServices",
    "ServiceOptions",
    "reply_responder",
    "start_services",
]

KEYS: dict[str, str] = {
    "ASSEMBLYAI_API_KEY": "bench-assemblyai-key",
    "OPENAI_API_KEY": "sk-bench-openai-key",
    "ELEVENLABS_API_KEY": "bench-elevenlabs-key",
}
"""The API keys the fakes accept by default."""
DEFAULT_TRANSCRIPT = "Hello, I have a question about my order."
DEFAULT_REPLY = "Thanks, I can help you with that."


@dataclass(frozen=True)
class ServiceOptions:
    """How the fakes behave (milliseconds unless said otherwise)."""

    stt_final_latency_ms: float = 50.0
    stt_min_turn_silence_ms: int = 100
    stt_max_turn_silence_ms: int = 1000
    transcript: str = DEFAULT_TRANSCRIPT
    llm_first_token_ms: float = 100.0
    reply: str = DEFAULT_REPLY
    tts_first_byte_ms: float = 75.0
    tts_speed: float = 1.5
    tts_ms_per_char: int = 60
    caller_script: str | None = None
    """A caller script file (``bench.caller_audio``): the STT fake transcribes what each
    caller said (:mod:`~sipgw.app.evaluation.fakes.assemblyai_script`) instead of ending
    turns on the audio's energy with ``transcript``."""
    stt_room: Room = "transcribed"
    """With ``caller_script``: whether the room's voices are transcribed too."""


@dataclass
class FakeServices:
    """Three running fakes and the keys they accept."""

    stt: FakeAssemblyAI
    llm: FakeOpenAI
    tts: FakeElevenLabs
    keys: Mapping[str, str] = field(default_factory=lambda: dict(KEYS))
    _tally: Tally = field(default_factory=Tally, repr=False)
    script_counts: FrameCounts | None = None
    """With a caller script: how the STT fake placed the frames it got in the loop."""

    def gateway_env(self) -> dict[str, str]:
        """The gateway's environment for these fakes: keys and the three URLs."""
        return {
            **self.keys,
            "ASSEMBLYAI_STREAMING_URL": self.stt.url,
            "OPENAI_BASE_URL": self.llm.base_url,
            "ELEVENLABS_BASE_URL": self.tts.base_url,
        }

    def ready_line(self) -> dict[str, Any]:
        """What ``bench.fake_services`` announces on stdout: the URLs and the keys."""
        return {
            "assemblyai_url": self.stt.url,
            "openai_base_url": self.llm.base_url,
            "elevenlabs_base_url": self.tts.base_url,
            "keys": dict(self.keys),
        }

    def prune(self) -> int:
        """Forget finished sessions and requests (call on the fakes' loop); their counts
        stay in :meth:`tally`."""
        before = self._held()
        dropped = (
            self.stt.forget_ended_sessions()
            + self.llm.forget_finished()
            + self.tts.forget_finished()
        )
        self._tally.forget(before, self._held())
        return dropped

    def tally(self) -> dict[str, object]:
        """What the fakes were asked for since they started
        (:mod:`sipgw.app.evaluation.fakes.tally`; call on the fakes' loop)."""
        total = self._tally.total(self._held())
        if self.script_counts is not None:
            total.update(self.script_counts.as_dict())
        return total

    def _held(self) -> dict[str, object]:
        return tally(self.llm.requests, self.tts.contexts, self.stt.sessions)

    async def aclose(self) -> None:
        """Stop fakes started on the running loop."""
        await asyncio.gather(
            self.stt.aclose(), self.llm.aclose(), self.tts.aclose(), return_exceptions=True
        )

    def stop(self) -> None:
        """Stop fakes started in threads of their own."""
        self.stt.stop()
        self.llm.stop()
        self.tts.stop()


def reply_responder(reply: str, first_token_s: float) -> Callable[[dict[str, Any]], FakeResponse]:
    """An LLM responder that answers every request with ``reply`` in one content chunk."""

    def respond(body: dict[str, Any]) -> FakeResponse:
        return FakeResponse(text_deltas=[reply], first_chunk_delay=first_token_s)

    return respond


async def start_services(options: ServiceOptions) -> FakeServices:
    """Start the three fakes on the running loop, with :data:`KEYS`."""
    counts: FrameCounts | None = None
    factory: DetectorFactory | None = None
    if options.caller_script is not None:
        counts = FrameCounts()
        script = CallerScript.load(Path(options.caller_script))
        factory = partial(ScriptedTurnDetector, script, room=options.stt_room, counts=counts)
    stt = FakeAssemblyAI(
        detector_factory=factory,
        api_key=KEYS["ASSEMBLYAI_API_KEY"],
        min_turn_silence_ms=options.stt_min_turn_silence_ms,
        max_turn_silence_ms=options.stt_max_turn_silence_ms,
        final_latency=options.stt_final_latency_ms / 1000,
        default_transcript=options.transcript,
    )
    llm = FakeOpenAI(api_key=KEYS["OPENAI_API_KEY"])
    llm.responder = reply_responder(options.reply, options.llm_first_token_ms / 1000)
    tts = FakeElevenLabs(
        api_key=KEYS["ELEVENLABS_API_KEY"],
        first_byte_latency=options.tts_first_byte_ms / 1000,
        speed=options.tts_speed if options.tts_speed > 0 else None,
        ms_per_char=options.tts_ms_per_char,
    )
    await stt.start()
    try:
        await llm.start()
        await tts.start()
    except BaseException:
        await asyncio.gather(stt.aclose(), llm.aclose(), tts.aclose(), return_exceptions=True)
        raise
    return FakeServices(stt, llm, tts, script_counts=counts)
