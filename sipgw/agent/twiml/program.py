"""Running a call's TwiML, sans-IO: which verb comes next, as Twilio orders them.

Theory of operation
-------------------
:class:`Program` holds the verbs of the document being followed and hands out one
:data:`Step` at a time (:meth:`Program.next_step`); the agent carries it out and asks
again. The rules it keeps, as Twilio's:

- Verbs run in document order; after the last one the call ends (:class:`Finished`).
- ``<Redirect>``, and the ``action`` of a ``<Connect>`` once that verb is over, fetch a
  new document (:class:`Fetch`); a ``<Dial>``'s ``action`` is fetched with its outcome
  (:meth:`Program.dialled`), and without one the next verb runs. :meth:`Program.load`
  puts the new document's verbs in place of what was left. URLs are resolved against
  the URL of the document that named them (relative URLs are allowed in TwiML). At most
  :data:`MAX_DOCUMENTS` documents per call: a redirect loop ends the call, it does not
  spin.
- ``<Pause>`` is a :class:`Wait` until an absolute deadline (``now`` passed in).
- ``<Hangup>`` ends the call, ``<Reject>`` refuses it (a hang-up once answered).
- A verb sipgw does not follow is handed out as :class:`Refused`, naming it, so the
  agent logs it and goes on: never silently skipped.

Every method takes ``now`` (seconds of one monotonic clock); nothing here reads a clock.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Final, TypeAlias
from urllib.parse import urljoin, urlsplit

from sipgw.twilio.document import (
    Connect,
    Dial,
    DialConference,
    Gather,
    Hangup,
    Pause,
    Play,
    PlayDigits,
    Record,
    Redirect,
    Refer,
    Reject,
    Say,
    Start,
    StopStream,
    Unsupported,
    Verb,
)
from sipgw.twilio.queuetwiml import Enqueue, Leave
from sipgw.twilio.relaytwiml import ConnectRelay
from sipgw.twilio.siprectwiml import StartSiprec, StopSiprec
from sipgw.twilio.transcriptiontwiml import StartTranscription, StopTranscription

__all__ = [
    "MAX_DOCUMENTS",
    "Fetch",
    "Finished",
    "Program",
    "Refused",
    "Run",
    "Step",
    "Wait",
    "absolute_url",
]

MAX_DOCUMENTS: Final = 20
"""Documents one call may follow (its first, redirects and actions)."""


@dataclass(frozen=True, slots=True)
class Run:
    """Carry out ``verb`` (a stream, a ``<Say>``, a ``<Play>``, a ``<Gather>``, a ``<Dial>``...)."""

    verb: (
        Connect
        | ConnectRelay
        | Start
        | StopStream
        | Say
        | Play
        | PlayDigits
        | Gather
        | Record
        | Dial
        | DialConference
        | Enqueue
        | Leave
        | Refer
        | StartTranscription
        | StopTranscription
        | StartSiprec
        | StopSiprec
    )


@dataclass(frozen=True, slots=True)
class Fetch:
    """Fetch the document at ``url`` (absolute) and :meth:`Program.load` it."""

    url: str
    method: str = "POST"
    why: str = "redirect"
    params: tuple[tuple[str, str], ...] = ()
    """Fields posted beside the call's (``<Gather>``'s ``Digits``, ``SpeechResult``...)."""


@dataclass(frozen=True, slots=True)
class Wait:
    """Send silence until ``until`` (``<Pause>``), then ask again."""

    until: float


@dataclass(frozen=True, slots=True)
class Refused:
    """A verb that is not followed: log it by name, then ask again."""

    name: str
    why: str


@dataclass(frozen=True, slots=True)
class Finished:
    """The call ends: ``reason`` is ``hangup``, ``reject`` (``reject_reason`` says how),
    ``end`` (the document ran out) or ``too-many-documents``."""

    reason: str
    reject_reason: str = ""


Step: TypeAlias = Run | Fetch | Wait | Refused | Finished


def absolute_url(base: str, url: str) -> str:
    """``url`` resolved against ``base``; must come out http(s) (or ws(s) for streams).

    Raises:
        ValueError: the result is no absolute http(s)/ws(s) URL with a host.
    """
    resolved = urljoin(base, url) if base else url
    parts = urlsplit(resolved)
    if parts.scheme not in ("http", "https", "ws", "wss") or not parts.hostname:
        raise ValueError(f"URL {url[:200]!r} is not an absolute http(s) or ws(s) URL")
    return resolved


class Program:
    """The call's TwiML as a sequence of steps (see the module docstring).

    Args:
        verbs: the first document's verbs.
        url: where that document came from ("" for one given inline: then its URLs
            must be absolute).
    """

    def __init__(self, verbs: tuple[Verb, ...], url: str = "") -> None:
        self._verbs: deque[Verb] = deque(verbs)
        self.url = url
        self.documents = 1
        self._after: Fetch | None = None
        self.finished: Finished | None = None

    def load(self, verbs: tuple[Verb, ...], url: str) -> None:
        """The document fetched for the last :class:`Fetch` replaces what was left."""
        self._verbs = deque(verbs)
        self.url = url
        self.documents += 1

    def update(self, url: str | None, verbs: tuple[Verb, ...] | None) -> None:
        """A mid-call update (Twilio's call update): what was left is dropped and the new
        TwiML runs next, fetched from ``url`` or the document's ``verbs``."""
        if self.finished is not None:
            return
        self._verbs = deque(verbs or ())
        self._after = Fetch(url, "POST", "update") if url is not None else None
        if verbs is not None:
            self.documents += 1

    def gathered(self, gather: Gather, params: tuple[tuple[str, str], ...]) -> bool:
        """``<Gather>`` got input (or none, with ``actionOnEmptyResult``): see :meth:`post`."""
        return self.post(gather.action, gather.method, params, "<Gather action>")

    def post(self, action: str, method: str, params: tuple[tuple[str, str], ...], why: str) -> bool:
        """A verb's result (``<Gather>``'s input, ``<Record>``'s recording) goes to its
        ``action`` (the document's own URL when it names none, as on Twilio), fetched next
        with ``params``; its TwiML replaces what was left. False when there is no URL to
        post to (an inline document's verb without ``action``): the document goes on."""
        if not action and not self.url:
            return False
        self._verbs.clear()
        self._after = Fetch(action or self.url, method, why, params)
        return True

    def dialled(self, dial: Dial, params: tuple[tuple[str, str], ...]) -> bool:
        """A ``<Dial>`` is over: its ``action`` (``method``) is fetched next with ``params``
        (``DialCallStatus``...), its TwiML replacing what was left. False when it names no
        action: the next verb runs (a ``<Dial>`` does not post to the document's own URL)."""
        if not dial.action:
            return False
        return self.post(dial.action, dial.method, params, "<Dial action>")

    def next_step(self, now: float) -> Step:
        """What to do next (see the module docstring)."""
        if self.finished is not None:
            return self.finished
        if self._after is not None:
            after, self._after = self._after, None
            return self._fetch(after)
        if not self._verbs:
            return self._finish("end")
        verb = self._verbs.popleft()
        if isinstance(verb, Pause):
            return Wait(now + verb.length)
        if isinstance(verb, Hangup):
            return self._finish("hangup")
        if isinstance(verb, Reject):
            return self._finish("reject", verb.reason)
        if isinstance(verb, Unsupported):
            return Refused(verb.name, verb.why)
        if isinstance(verb, Redirect):
            return self._fetch(Fetch(verb.url, verb.method, "redirect"))
        if isinstance(verb, Connect | ConnectRelay) and verb.action:
            self._after = Fetch(verb.action, "POST", f"<{type(verb).__name__} action>")
        return Run(verb)

    def _fetch(self, fetch: Fetch) -> Step:
        if self.documents >= MAX_DOCUMENTS:
            return self._finish("too-many-documents")
        try:
            url = absolute_url(self.url, fetch.url)
        except ValueError as exc:
            return Refused(fetch.why, str(exc))
        return Fetch(url, fetch.method, fetch.why, fetch.params)

    def _finish(self, reason: str, reject_reason: str = "") -> Finished:
        self.finished = Finished(reason, reject_reason)
        return self.finished
