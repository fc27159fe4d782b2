"""``<Record transcribe>``: the finished recording transcribed through the streaming
speech-to-text and ``transcribeCallback`` posted, as Twilio's ``<Record>`` page gives it
(asyncio adapter).

sipgw's speech-to-text is a streaming one (``SIPGW_TWIML_STT``), and AssemblyAI refuses
audio sent faster than real time (it closes the session with 3007, docs/cloud-apis.md): the
recording is fed at its own pace, 100 ms at a time, so its text comes about as long after
the recording ends as the recording lasted. Then the last turn is ended
(``ForceEndpoint``) and the session closed; the finished turns, joined, are
``TranscriptionText``. Twilio transcribes recordings of at most two minutes
(:data:`MAX_SECONDS`); a longer one, a session that cannot be opened or that gives up is
posted ``failed`` with no text.

The transcription outlives the call when the recording ends it (a hang-up while recording):
it is not the call's task, and posts with its own HTTP session, signed like every callback.
:func:`start_transcription` keeps a reference to each one running until it is done.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Final

import aiohttp

from sipgw.agent.services.stt.base import (
    SpeechToText,
    SttConnectError,
    SttFailed,
    SttPartialTranscript,
    SttSpeechStarted,
    SttTurnEnded,
)
from sipgw.agent.twiml.webhook import FetchFailed, TwilioIdentity, fetch

__all__ = ["MAX_SECONDS", "RecordTranscription", "start_transcription", "transcribe"]

log = logging.getLogger("sipgw.agent")

MAX_SECONDS: Final = 120.0
"""Longest recording transcribed (Twilio's limit: two minutes)."""
_STEP: Final = 800
"""Bytes of μ-law fed per step: 100 ms."""
_SETTLE: Final = 1.5
"""Seconds waited after the last audio for the last turn's words."""
_QUIET: Final = 0.3
"""Seconds after the last audio past which no open turn means the words are all in."""
_RUNNING: set[asyncio.Task[None]] = set()


@dataclass(frozen=True, slots=True)
class RecordTranscription:
    """What one transcription posts, and where."""

    url: str
    method: str
    identity: TwilioIdentity
    timeout: float
    form: Mapping[str, str]
    """The call's fields and the recording's (``RecordingSid``, ``RecordingUrl``,
    ``TranscriptionSid``, ``TranscriptionUrl``)."""


async def transcribe(audio: bytes, stt: SpeechToText, step: float = 0.1) -> str | None:
    """``audio`` (μ-law) through ``stt`` at real time (``step`` seconds per 100 ms); its
    text, or None when the session could not be opened or gave up."""
    try:
        await stt.connect()
    except SttConnectError as exc:
        log.warning("<Record transcribe>: the speech-to-text could not be opened: %s", exc)
        return None
    turns: list[str] = []
    failed = False
    talking = asyncio.Event()  # set while a turn is open (speech heard, no end yet)

    async def collect() -> None:
        nonlocal failed
        async for event in stt.events():
            if isinstance(event, SttSpeechStarted | SttPartialTranscript):
                talking.set()
            elif isinstance(event, SttTurnEnded):
                talking.clear()
                if event.text.strip():
                    turns.append(event.text.strip())
            elif isinstance(event, SttFailed):
                failed = True
                return

    collector = asyncio.get_running_loop().create_task(collect())
    try:
        loop = asyncio.get_running_loop()
        began = loop.time()
        for n, at in enumerate(range(0, len(audio), _STEP)):
            if collector.done():
                break
            for frame in range(at, min(at + _STEP, len(audio)), 160):
                stt.send_audio(audio[frame : frame + 160].ljust(160, b"\xff"))
            await asyncio.sleep(max(0.0, began + (n + 1) * step - loop.time()))
        stt.end_turn_now()  # the last turn ends now (its words come as a turn)
        ended = loop.time()
        while not collector.done() and loop.time() < ended + _SETTLE:
            await asyncio.sleep(0.05)
            if not talking.is_set() and loop.time() > ended + _QUIET:
                break  # no turn open: the last words are in
    finally:
        with contextlib.suppress(Exception):
            await stt.close()
        collector.cancel()
        with contextlib.suppress(BaseException):
            await collector
    return None if failed else " ".join(turns)


async def _post(target: RecordTranscription, status: str, text: str) -> None:
    form = {**target.form, "TranscriptionStatus": status, "TranscriptionText": text}
    async with aiohttp.ClientSession() as session:
        try:
            await fetch(session, target.url, method=target.method, params=form,
                        identity=target.identity, timeout=target.timeout,
                        max_bytes=65536)  # fmt: skip
        except FetchFailed as exc:
            log.warning("<Record transcribeCallback> failed: %s", exc)


async def _run(
    audio: bytes,
    open_stt: Callable[[], SpeechToText] | None,
    target: RecordTranscription | None,
    on_text: Callable[[str | None], None],
) -> None:
    text: str | None = None
    if open_stt is not None and len(audio) / 8000 <= MAX_SECONDS:
        text = await transcribe(audio, open_stt())
    on_text(text)
    if target is not None:
        await _post(target, "failed" if text is None else "completed", text or "")


def start_transcription(
    audio: bytes,
    open_stt: Callable[[], SpeechToText] | None,
    target: RecordTranscription | None,
    on_text: Callable[[str | None], None],
) -> asyncio.Task[None]:
    """Transcribe ``audio`` in a task of its own (kept until done), hand the text (None:
    failed) to ``on_text``, then post it to ``target`` (None: no callback)."""
    task = asyncio.get_running_loop().create_task(_run(audio, open_stt, target, on_text))
    _RUNNING.add(task)
    task.add_done_callback(_RUNNING.discard)
    return task
