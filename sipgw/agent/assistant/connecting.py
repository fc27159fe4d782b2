"""Opening one assistant call's speech-to-text session and TTS connection.

Both connect at once while the phone rings; each success or failure is reported to
:class:`~sipgw.agent.assistant.failures.ServiceFailures` (a failure rejects the call, and
the other connection under way is cancelled). :func:`connect_stt` opens the session,
:func:`tts_connected` reads the TTS connection's outcome, :func:`connect_to_take_over`
connects a line that takes a call over from another (agent/conversation/handover.py).
"""

from __future__ import annotations

import asyncio

from sipgw.agent.assistant.failures import ServiceFailures
from sipgw.agent.services.stt.base import SpeechToText
from sipgw.agent.services.tts.base import TextToSpeech, TtsError

__all__ = ["connect_stt", "connect_to_take_over", "tts_connected"]


async def connect_stt(
    stt: SpeechToText, tts_connect: asyncio.Future[None], failures: ServiceFailures
) -> None:
    """Open the STT session while ``tts_connect`` runs; if it fails, cancel that and raise."""
    try:
        await stt.connect()
    except BaseException as exc:
        tts_connect.cancel()
        failures.stt_connect_failed(exc)
        raise
    failures.stt_connected()


def tts_connected(tts_connect: asyncio.Future[None], failures: ServiceFailures) -> None:
    """The TTS connection (done) succeeded, or its error is reported and raised."""
    try:
        tts_connect.result()
    except TtsError as exc:
        failures.tts_connect_failed(exc)
        raise
    failures.tts_connected()


async def connect_to_take_over(
    stt: SpeechToText, tts: TextToSpeech, failures: ServiceFailures, own_stt: bool
) -> None:
    """A call handed over from another line: connect this line's voice, and its own
    speech-to-text session unless it keeps the call's; no greeting (it speaks to the
    hand-over's note once it takes over: ``AssistantAgent.take_over``)."""
    tts_connect = asyncio.ensure_future(tts.connect())
    if own_stt:
        await connect_stt(stt, tts_connect, failures)
    try:
        await tts_connect
    except TtsError as exc:
        failures.tts_connect_failed(exc)
        raise
    failures.tts_connected()
