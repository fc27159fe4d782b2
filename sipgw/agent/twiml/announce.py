"""Conference announcements and hold music: a URL the app gave, turned into audio for the room.

Twilio's Conference and Participant updates take an ``AnnounceUrl`` (something said to the
whole room, or to one participant) and a ``HoldUrl`` (the music a held participant hears).
Each "may return an MP3 file, a WAV file, or a TwiML document that contains ``<Play>``,
``<Say>``, ``<Pause>``, or ``<Redirect>`` verbs". :class:`AnnouncementAudio` turns one into
8 kHz μ-law with the participant's agent's own means (its wait documents' fetch, its
``<Say>`` text-to-speech and ``<Play>`` fetch), so the room gets audio, never verbs:

- :meth:`AnnouncementAudio.announcement`: the document once, following its ``<Redirect>``
  (at most :data:`MAX_REDIRECTS`), all its audio at once (the room mixes it over the talk);
- :meth:`AnnouncementAudio.music`: the document over and over, fetched again each round (a
  ``<Redirect>`` says where the next round is), each round handed over as it is made, the
  next one made once the last is nearly heard: until cancelled (unheld).

Any other verb is refused (logged, written in the call's record) and the document goes on.
A fetch that fails (or a body that is neither audio nor TwiML) fails the announcement
(:class:`AnnouncementFailed`) or stops the music (silence after).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Final

from sipgw.agent.twiml.audiofile import AudioFileError
from sipgw.agent.twiml.program import absolute_url
from sipgw.agent.twiml.waitmusic import WaitDocument
from sipgw.agent.twiml.webhook import FetchFailed
from sipgw.twilio.document import Pause, Play, Redirect, Say, TwimlError

__all__ = ["MAX_REDIRECTS", "AnnouncementAudio", "AnnouncementFailed"]

log = logging.getLogger("sipgw.agent")

MAX_REDIRECTS: Final = 10
"""``<Redirect>``s one announcement follows; one more ends it there."""
LEAD: Final = 1.0
"""Seconds of music still to be heard when the next round is made."""
IDLE_PAUSE: Final = 1.0
"""After a round of music that made no audio: the next one after this, not in a tight loop."""
_SILENCE: Final = b"\xff"


class AnnouncementFailed(Exception):
    """The URL could not be fetched, or its body is neither audio nor TwiML."""


@dataclass(frozen=True, slots=True)
class AnnouncementAudio:
    """A participant's agent's means of making audio from a URL (see the module docstring).

    Attributes:
        fetch: fetches a document (url, method) with the call's fields, an ``audio/*``
            answer as the audio file (:func:`~sipgw.agent.twiml.waitmusic.fetch_wait_document`).
        speech: a ``<Say>``'s audio (8 kHz μ-law; None: it failed, logged).
        audio_file: a ``<Play>``'s (its URL absolute), likewise.
        note: writes one line of the call's record.
        log_id: the call's id, for the log.
    """

    fetch: Callable[[str, str], Awaitable[WaitDocument]]
    speech: Callable[[Say], Awaitable[bytes | None]]
    audio_file: Callable[[Play], Awaitable[bytes | None]]
    note: Callable[..., None]
    log_id: str

    async def round(self, url: str, method: str) -> tuple[bytes, tuple[str, str] | None]:
        """The audio of the document at ``url`` and where it redirects (None: nowhere).

        Raises:
            AnnouncementFailed: the fetch failed, or the body is no audio nor TwiML.
        """
        try:
            document = await self.fetch(url, method)
        except (FetchFailed, AudioFileError, TwimlError) as exc:
            log.warning("[%s] conference announcement %s: %s", self.log_id, url[:200], exc)
            self.note("announcement_failed", url=url[:200], reason=str(exc))
            raise AnnouncementFailed(str(exc)) from exc
        if document.audio is not None:
            return document.audio, None
        audio = bytearray()
        for verb in document.verbs:
            made: bytes | None = None
            if isinstance(verb, Play):
                try:
                    played = dataclasses.replace(verb, url=absolute_url(document.url, verb.url))
                except ValueError as exc:
                    log.warning("[%s] announcement <Play>: %s", self.log_id, exc)
                    continue
                made = await self.audio_file(played)
            elif isinstance(verb, Say):
                made = await self.speech(verb)
            elif isinstance(verb, Pause):
                made = _SILENCE * (8000 * verb.length)
            elif isinstance(verb, Redirect):
                try:
                    return bytes(audio), (absolute_url(document.url, verb.url), verb.method)
                except ValueError as exc:
                    log.warning("[%s] announcement <Redirect>: %s", self.log_id, exc)
                    break
            else:
                why = "only <Play>, <Say>, <Pause> and <Redirect> play in an announcement"
                self.note("refused", verb=f"{type(verb).__name__} in an announcement", why=why)
            audio += made or b""
        return bytes(audio), None

    async def announcement(self, url: str, method: str) -> bytes:
        """The whole announcement at ``url``: its audio and that of the documents it
        redirects to.

        Raises:
            AnnouncementFailed: its first document could not be had (one redirected to
                that fails ends it there).
        """
        audio, where = await self.round(url, method)
        for _ in range(MAX_REDIRECTS):
            if where is None:
                break
            try:
                more, where = await self.round(*where)
            except AnnouncementFailed:
                break
            audio += more
        return audio

    async def music(
        self, url: str, method: str, play: Callable[[bytes], None], pending: Callable[[], float]
    ) -> None:
        """Round after round of the music at ``url`` to ``play``, until cancelled; the next
        round made once ``pending`` (seconds still to be heard) is under :data:`LEAD`. A
        failed fetch stops it (silence after)."""
        where = (url, method)
        while True:
            try:
                audio, redirect = await self.round(*where)
            except AnnouncementFailed:
                return
            where = redirect or where
            if not audio:
                await asyncio.sleep(IDLE_PAUSE)
                continue
            play(audio)
            while True:  # polled: the room's ticks take it (none while the room waits)
                ahead = pending() - LEAD
                if ahead <= 0:
                    break
                await asyncio.sleep(min(ahead, 0.25) + 0.01)
