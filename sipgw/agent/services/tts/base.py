"""What the agent needs from a streaming text-to-speech service, whoever the vendor.

A vendor module (``agent/tts/<vendor>.py``) implements :class:`TextToSpeech`
and a :class:`TtsReply` subclass; the assistant only ever sees these.

Contract
--------
* :meth:`TextToSpeech.connect` runs while the phone rings (open what can be
  opened); :meth:`TextToSpeech.start_reply` starts one reply of the agent and
  returns at once; nothing needs to be sent before its first text.
* A reply takes whole sentences (:meth:`TtsReply.send_text`) and hands out
  audio in order (:meth:`TtsReply.audio`) in its :attr:`TtsReply.format`: G.711
  μ-law at 8 kHz unless the client was made for another (16 kHz s16le on an HD-voice
  call, docs/hd-voice.md), in chunks of any size (the playout re-cuts them into 20 ms
  frames), with the text each chunk speaks when the vendor aligns it (what the caller
  heard on a barge-in).
* :meth:`TtsReply.cancel` (barge-in) stops the reply at once: nothing more is
  yielded, even audio already received, and the vendor is told to stop.
* Every failure is a :class:`TtsError`, raised by ``send_text`` or by the
  ``audio()`` iterator.

:class:`TtsReply` carries the shared machinery (a queue between the vendor's
reader and the consumer); subclasses call its ``_push``, ``_end`` and
``_fail`` as their transport delivers, and implement ``send_text``,
``finish`` and ``cancel``.
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Final, Protocol

from sipgw.media.codecs.base import ULAW_8K, AudioFormat

__all__ = [
    "TextToSpeech",
    "TtsAlignment",
    "TtsAudio",
    "TtsConnectError",
    "TtsError",
    "TtsReply",
    "TunedVoice",
]


# --------------------------------------------------------------------------- errors


class TtsError(Exception):
    """Text-to-speech failed: an error status or message from the service, a lost connection.

    Attributes:
        status: The HTTP status, or the vendor's numeric error code, if any.
        error: The service's machine-readable error name (e.g. ElevenLabs'
            ``"max_active_conversations"``), if any.
    """

    def __init__(
        self, message: str, *, status: int | None = None, error: str | None = None
    ) -> None:
        """Create the error; ``message`` is what ``str(error)`` shows."""
        super().__init__(message)
        self.status = status
        self.error = error


class TtsConnectError(TtsError):
    """The connection could not be opened: refused, timed out, or rejected (401, 422 ...)."""


# --------------------------------------------------------------------------- audio


@dataclass(frozen=True, slots=True)
class TtsAlignment:
    """Which characters a chunk of audio speaks, and when (ms, relative to the chunk)."""

    chars: str
    start_ms: tuple[int, ...]
    durations_ms: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class TtsAudio:
    """One piece of a reply's audio as it arrives.

    Attributes:
        audio: bytes in the reply's :attr:`TtsReply.format` (any length; re-cut with
            :class:`sipgw.agent.services.tts.reframe.Reframer`).
        text: The characters this chunk speaks, when the vendor aligned it (None
            otherwise; the playout then estimates what was heard from the time played).
        received_at: ``loop.time()`` when it arrived.
        alignment: The full alignment the text came from, if any.
    """

    audio: bytes
    text: str | None
    received_at: float
    alignment: TtsAlignment | None = None


class _End:
    """Queue marker: the reply's audio is complete (or cancelled)."""


_END: Final = _End()
_Item = TtsAudio | TtsError | _End


# --------------------------------------------------------------------------- replies


class TtsReply(ABC):
    """One reply of the agent: sentences in, audio out, in order.

    Attributes:
        format: The audio it hands out (8 kHz μ-law by default; a vendor's reply sets
            the one its client asked for).
        id: The reply id, unique within the call (e.g. ElevenLabs' context id).
        first_audio_at: ``loop.time()`` of the first audio byte, for latency metrics.
        cancelled: :meth:`cancel` was called.
        dropped_chunks: Audio messages that arrived after :meth:`cancel` and were dropped.
        request_ids: The vendor's ids of its requests, when it gives them (ElevenLabs'
            ``request-id`` header of each HTTP request; its traces show them).
    """

    format: AudioFormat = ULAW_8K

    def __init__(self, reply_id: str) -> None:
        """Create a reply; the vendor's ``start_reply`` does this."""
        self.id = reply_id
        self.first_audio_at: float | None = None
        self.cancelled = False
        self.dropped_chunks = 0
        self.request_ids: list[str] = []
        self._items: asyncio.Queue[_Item] = asyncio.Queue()
        self._done = False
        self._error: TtsError | None = None
        self._iterating = False

    @property
    def done(self) -> bool:
        """The reply is over: complete, failed or cancelled (its audio may still be queued)."""
        return self._done or self.cancelled

    @abstractmethod
    async def send_text(self, text: str) -> None:
        """Synthesize one more sentence of this reply.

        Args:
            text: A whole sentence; surrounding whitespace is ignored, blank text is a no-op.

        Raises:
            TtsError: The reply already failed, or was finished, or the connection is unusable.
        """

    @abstractmethod
    async def finish(self) -> None:
        """No more text: :meth:`audio` ends after the last sentence's audio. Idempotent."""

    @abstractmethod
    async def cancel(self) -> None:
        """Barge-in: stop at once and drop the audio still coming. Idempotent, fast."""

    def audio(self) -> AsyncIterator[TtsAudio]:
        """This reply's audio, in order.

        Ends when every sentence is synthesized (after :meth:`finish`) or the reply is
        cancelled; nothing is yielded after :meth:`cancel`, even audio already queued.
        It may be called once.

        Raises:
            TtsError: The request or the connection failed (raised by the iterator).
        """
        if self._iterating:
            raise RuntimeError(f"audio() of reply {self.id} is already being consumed")
        self._iterating = True
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[TtsAudio]:
        while not self.cancelled:
            item = await self._items.get()
            if self.cancelled or isinstance(item, _End):
                return
            if isinstance(item, TtsError):
                raise item
            yield item

    def _push(self, audio: bytes, received_at: float, alignment: TtsAlignment | None) -> None:
        """Audio arrived for this reply (dropped and counted once it is done)."""
        if self.done:
            self.dropped_chunks += 1
            return
        if self.first_audio_at is None:
            self.first_audio_at = received_at
        text = alignment.chars if alignment is not None else None
        self._items.put_nowait(TtsAudio(audio, text, received_at, alignment))

    def _end(self) -> None:
        """All audio arrived: :meth:`audio` ends after what is queued."""
        if not self._done:
            self._done = True
            self._items.put_nowait(_END)

    def _fail(self, error: TtsError) -> None:
        """The reply failed: :meth:`audio` raises ``error`` after what is queued."""
        if not self._done and not self.cancelled:
            self._done = True
            self._error = error
            self._items.put_nowait(error)

    def _mark_cancelled(self) -> bool:
        """Set :attr:`cancelled` and wake the consumer; False if it was already set."""
        if self.cancelled:
            return False
        self.cancelled = True
        self._items.put_nowait(_END)
        return True

    def _check_can_send(self) -> None:
        """Raise the reply's failure, or a TtsError if it is over."""
        if self._error is not None:
            raise self._error
        if self._done:
            raise TtsError(f"reply {self.id} is finished; start a new reply")

    def _text_to_send(self, text: str, finished: bool) -> str | None:
        """The stripped text to send, or None when there is nothing to send."""
        text = text.strip()
        if self.cancelled or not text:
            return None
        if finished:
            raise TtsError(f"send_text() after finish() on reply {self.id}")
        self._check_can_send()
        return text


# --------------------------------------------------------------------------- the service


class TextToSpeech(Protocol):
    """Text-to-speech for one call (see the module docstring).

    Typical use::

        tts = new_tts()                      # one per call
        await tts.connect()                  # while the phone rings
        reply = tts.start_reply()
        await reply.send_text("Hello, how can I help?")
        await reply.finish()
        async for piece in reply.audio(): ...
        await tts.close()                    # on hang-up
    """

    async def connect(self) -> None:
        """Get ready while the phone rings.

        Raises:
            TtsConnectError: The service refused or could not be reached.
        """
        ...

    def start_reply(self) -> TtsReply:
        """A new reply; nothing is sent until its first text.

        Raises:
            TtsError: The service is closed.
        """
        ...

    async def close(self) -> None:
        """Stop every reply and release the connection. Idempotent, never raises."""
        ...


class TunedVoice(Protocol):
    """Makes a client speaking with a voice ID, a language code, and also a model, voice
    settings and text normalization (None: the configured ones): a ConversationRelay's
    ElevenLabs ``voice`` and ``ttsTextNormalization``."""

    def __call__(
        self,
        voice_id: str | None,
        language_code: str | None,
        *,
        model_id: str | None = None,
        voice_settings: Mapping[str, float] | None = None,
        text_normalization: str | None = None,
    ) -> TextToSpeech: ...
