"""What an AssemblyAI transcription keeps across its sessions, sans-IO: turns, offsets, counts.

The server's messages come in decoded (:func:`sipgw.agent.services.assemblyai.stt_protocol.decode`)
and go out as :mod:`sipgw.agent.services.stt.base` events. Server ``turn_order`` restarts in every
session, so events carry this stream's own counter instead: the number of final turns
before this one (a partial carries the number its final will get). Word and speech
timestamps are shifted by the audio sent in earlier sessions, so they count milliseconds
of the audio stream the service sent, across reconnects. The text of an ``Error`` frame is
kept until the next message: a close right after it is judged by it too.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from sipgw.agent.services.assemblyai.stt_protocol import as_float, as_int, close_text, error_text
from sipgw.agent.services.stt.base import (
    SttEvent,
    SttPartialTranscript,
    SttSessionBegan,
    SttSpeechStarted,
    SttTurnEnded,
    SttWord,
)

__all__ = ["StreamState"]

logger = logging.getLogger("sipgw.agent.services.assemblyai.stt")  # the client's one logger


class StreamState:
    """One service's stream of sessions: what it has sent and heard.

    Attributes:
        turns_ended: final turns so far (the next turn's number).
        audio_offset_ms: audio sent in the sessions before this one.
        session_bytes_sent: bytes of audio sent in this session.
        chunks_sent: messages of audio sent, in all sessions.
        bytes_sent: bytes of audio sent, in all sessions.
        sessions: sessions begun.
        reconnects: sessions begun after an outage.
        last_error: the last error seen (None: none).
        error_frame: the text of this connection's last ``Error`` frame.
        server_audio_seconds: the audio the server counted (its ``Termination``).
    """

    def __init__(self, bytes_per_second: float) -> None:
        self.bytes_per_second = bytes_per_second
        self.turns_ended = 0
        self.audio_offset_ms = 0.0
        self.session_bytes_sent = 0
        self.chunks_sent = 0
        self.bytes_sent = 0
        self.sessions = 0
        self.reconnects = 0
        self.last_error: str | None = None
        self.error_frame = ""
        self.server_audio_seconds: float | None = None

    def sent(self, chunk: bytes) -> None:
        """A chunk of audio went out."""
        self.chunks_sent += 1
        self.bytes_sent += len(chunk)
        self.session_bytes_sent += len(chunk)

    def close_text(self, reason: str) -> str:
        """A close's ``reason`` with the Error frame sent just before it
        (:func:`~sipgw.agent.services.assemblyai.stt_protocol.close_text`)."""
        return close_text(reason, self.error_frame)

    def begin(self, message: Mapping[str, object], now: float) -> SttSessionBegan:
        """A session's ``Begin``: the audio of the sessions before it is the offset now."""
        self.audio_offset_ms += self.session_bytes_sent * 1000 / self.bytes_per_second
        self.session_bytes_sent = 0
        self.sessions += 1
        return SttSessionBegan(
            session_id=str(message.get("id", "")),
            expires_at=as_int(message.get("expires_at")),
            received_at=now,
        )

    def receive(self, message: dict[str, object], now: float) -> SttEvent | None:
        """Any other message: the event it makes (None: none)."""
        kind = message.get("type")
        self.error_frame = ""  # only an Error frame right before the close explains it
        try:
            if kind == "Turn":
                return self._turn(message, now)
            if kind == "SpeechStarted":
                ts = as_int(message.get("timestamp")) + round(self.audio_offset_ms)
                return SttSpeechStarted(timestamp_ms=ts, received_at=now)
            if kind == "Termination":
                self.server_audio_seconds = as_float(message.get("audio_duration_seconds"))
            elif kind == "Error" or (kind is None and "error" in message):
                self.last_error = error_text(message)
                self.error_frame = str(message.get("error", ""))
                logger.warning("AssemblyAI: %s", self.last_error)
            elif kind == "Warning":
                logger.info("AssemblyAI warning: %s", message.get("warning"))
            else:
                logger.debug("ignoring AssemblyAI message type %r", kind)
        except (TypeError, ValueError):
            logger.warning("malformed AssemblyAI %s message ignored", kind, exc_info=True)
        return None

    def _turn(self, message: Mapping[str, object], now: float) -> SttEvent:
        order = self.turns_ended  # u3-rt-pro sends exactly one final per turn
        text = message.get("transcript")
        if not isinstance(text, str):
            text = str(message.get("utterance") or "")
        if not message.get("end_of_turn"):
            # A partial carries no words, only where its last one ends: every message of a
            # turn repeats the turn's words so far, and building them all was the dear part.
            end = self._last_end(message.get("words"))
            return SttPartialTranscript(text, order, now, audio_end_ms=end)
        words = self._words(message.get("words"))
        end_ms = words[-1].end_ms if words else None
        self.turns_ended += 1
        return SttTurnEnded(
            text=text,
            turn_order=order,
            words=words,
            received_at=now,
            audio_end_ms=end_ms,
        )

    def _last_end(self, raw: object) -> int | None:
        """The last word's end (ms of the session's audio, the offset added), as
        :meth:`_words` would give it; None without words."""
        if isinstance(raw, list):
            for w in reversed(raw):
                if isinstance(w, dict):
                    return as_int(w.get("end")) + round(self.audio_offset_ms)
        return None

    def _words(self, raw: object) -> tuple[SttWord, ...]:
        if not isinstance(raw, list):
            return ()
        offset = round(self.audio_offset_ms)
        return tuple(
            SttWord(
                text=str(w.get("text", "")),
                start_ms=as_int(w.get("start")) + offset,
                end_ms=as_int(w.get("end")) + offset,
                confidence=as_float(w.get("confidence")),
            )
            for w in raw
            if isinstance(w, dict)
        )
