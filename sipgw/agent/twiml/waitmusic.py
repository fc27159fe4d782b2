"""Wait documents: what a waiting caller hears, fetched, parsed and (for a conference) played.

Two verbs make a caller wait to a document of the app's: ``<Conference waitUrl>`` (the
room has not started) and ``<Enqueue waitUrl>`` (the caller waits in a queue, also the
``<Queue url>`` announcement of a dequeued caller). Both fetch it the same way, with
:func:`fetch_wait_document`: Twilio's fields, signed, ``CallStatus=in-progress``; its TwiML
parsed, or (a conference's only) an audio file as it is.

What they play of it differs, as on Twilio, so each has its own player:

- :class:`ConferenceWaitMusic` (here): a conference's ``<Play>``, ``<Say>``, ``<Pause>`` and
  ``<Redirect>``, or the audio file, over and over, fetched again each time round; any
  other verb is refused and the document goes on.
- :class:`sipgw.agent.twiml.queues.enqueue.EnqueueRun`: a queue's document also takes
  ``<Gather>``, ``<Leave>`` and ``<Hangup>``, and is fetched with Twilio's queue fields
  (``QueuePosition``, ``QueueTime``...) each time; it runs on the TwiML interpreter
  (:class:`~sipgw.agent.twiml.program.Program`), which a conference's wait does not need.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

import aiohttp

from sipgw.agent.twiml.audiofile import AudioFileError, decode_audio
from sipgw.agent.twiml.program import absolute_url
from sipgw.agent.twiml.webhook import FetchFailed, TwilioIdentity, fetch
from sipgw.twilio.document import Pause, Play, Redirect, Say, TwimlError, Verb, parse_twiml

__all__ = ["ConferenceWaitMusic", "WaitDocument", "fetch_wait_document"]

log = logging.getLogger("sipgw.agent")

MIN_ROUND = 0.5
"""A conference's round that took less than this played nothing: the next comes after
:data:`IDLE_PAUSE`, not in a tight loop."""
IDLE_PAUSE = 1.0


@dataclass(frozen=True, slots=True)
class WaitDocument:
    """A fetched wait document: its verbs, or the audio file it is (μ-law), and its URL."""

    verbs: tuple[Verb, ...]
    url: str
    audio: bytes | None = None


async def fetch_wait_document(
    session: aiohttp.ClientSession,
    url: str,
    method: str,
    params: Mapping[str, str],
    *,
    identity: TwilioIdentity,
    timeout: float,  # noqa: ASYNC109 - the fetch's own deadline
    max_bytes: int,
    audio: bool = False,
) -> WaitDocument:
    """The wait document at ``url``, fetched with ``params`` (the call's and the verb's
    fields); with ``audio``, an ``audio/*`` answer is the audio file itself.

    Raises:
        FetchFailed: the fetch failed.
        TwimlError: the body is no TwiML.
        AudioFileError: the audio file cannot be played.
    """
    fetched = await fetch(
        session, url, method=method, params={**params, "CallStatus": "in-progress"},
        identity=identity, timeout=timeout, max_bytes=max_bytes,
    )  # fmt: skip
    if audio and fetched.content_type.startswith("audio/"):
        return WaitDocument((), fetched.url, decode_audio(fetched.body, fetched.content_type))
    return WaitDocument(parse_twiml(fetched.body), fetched.url)


@dataclass(frozen=True, slots=True)
class ConferenceWaitMusic:
    """A conference's ``waitUrl``, played until cancelled (see the module docstring).

    Attributes:
        fetch: fetches a wait document (url, method): :func:`fetch_wait_document` with the
            call's fields and ``audio``.
        perform: plays a ``<Say>`` or ``<Play>`` (absolute URL) to the caller; returns when heard.
        play_audio: plays μ-law audio to the caller; returns when heard.
        note: writes one line of the call record.
        log_id: the call's id, for the log.
    """

    fetch: Callable[[str, str], Awaitable[WaitDocument]]
    perform: Callable[[Say | Play], Awaitable[None]]
    play_audio: Callable[[bytes], Awaitable[None]]
    note: Callable[..., None]
    log_id: str

    async def play(self, url: str, method: str) -> None:
        """Round after round from ``url`` (absolute); returns once a round failed (logged
        and recorded: silence after)."""
        where: tuple[str, str] | None = (url, method)
        while where is not None:
            started = time.monotonic()
            where = await self._round(*where)
            if where is not None and time.monotonic() - started < MIN_ROUND:
                await asyncio.sleep(IDLE_PAUSE)  # nothing played: not a busy loop

    async def _round(self, url: str, method: str) -> tuple[str, str] | None:
        """One round of the wait music at ``url``; where the next round is fetched (a
        ``<Redirect>``'s URL, or ``url`` again); None: it failed (logged), silence after."""
        try:
            document = await self.fetch(url, method)
        except (FetchFailed, AudioFileError, TwimlError) as exc:
            log.warning("[%s] <Conference waitUrl> %s: %s", self.log_id, url[:200], exc)
            self.note("conference_wait_failed", url=url[:200], reason=str(exc))
            return None
        if document.audio is not None:
            await self.play_audio(document.audio)
            return url, method
        for verb in document.verbs:
            if isinstance(verb, Play):
                await self.perform(
                    dataclasses.replace(verb, url=absolute_url(document.url, verb.url))
                )
            elif isinstance(verb, Say):
                await self.perform(verb)
            elif isinstance(verb, Pause):
                await asyncio.sleep(verb.length)
            elif isinstance(verb, Redirect):
                return absolute_url(document.url, verb.url), verb.method
            else:
                why = "only <Play>, <Say>, <Pause> and <Redirect> play while waiting"
                self.note("refused", verb=f"{type(verb).__name__} in waitUrl", why=why)
        return url, method
