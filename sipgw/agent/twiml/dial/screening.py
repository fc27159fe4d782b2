"""A ``<Dial>``'s legs as the TwiML agent serves them: their status callbacks and their
call screening (``<Number url>``, ``<Sip url>``).

Theory of operation
-------------------
Twilio's ``<Number>`` page (https://www.twilio.com/docs/voice/twiml/number; ``<Sip>``'s
alike): the ``url`` attribute names TwiML "run on the called party's end, after they answer,
but before the parties are connected": to ``<Play>`` or ``<Say>`` something to them alone,
or let them decline with ``<Gather>`` and ``<Hangup>``; it may not ``<Dial>``.

- :class:`DialLegs` is what a bridged ``<Dial>`` (:mod:`sipgw.agent.twiml.dial.bridge`) asks
  of the caller's TwiML agent for each leg (:class:`LegHooks`): the leg's parameters
  (:class:`~sipgw.agent.twiml.dial.legstatus.LegStatus`, a ``CallSid`` of its own), each progress
  event's form posted to the noun's ``statusCallback`` (relative URLs against the caller's
  document; signed and in order through the caller's status poster), and the screening.
- The screening is the TwiML agent's own interpreter run on the leg: a
  :class:`~sipgw.agent.twiml.agent.TwimlAgent` whose call is the leg and whose :class:`Screen`
  says where its document is and what it is fetched with (the leg's parameters:
  ``CallSid``, ``ParentCallSid``, ``Direction=outbound-dial``, ``CallStatus=in-progress``).
  Its verbs hear the called party (keys and audio) and speak to them; the caller hears ring
  tone meanwhile. ``<Say>``, ``<Play>``, ``<Pause>``, ``<Gather>`` (its ``action`` fetched
  and run on the leg too), ``<Redirect>``, ``<Hangup>`` run; any other verb (``<Dial>``
  first) is refused, logged and skipped. The document running out accepts the call (the
  two are bridged); ``<Hangup>`` (``<Reject>`` alike), a failure (the fetch, a bad document)
  or the called party hanging up refuses it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from sipgw.agent.base import CallControl
from sipgw.agent.twiml.dial.legamd import amd_form
from sipgw.agent.twiml.dial.legstatus import LegStatus
from sipgw.agent.twiml.program import absolute_url
from sipgw.agent.twiml.statusposts import Callback, callback_url
from sipgw.twilio.document import DialTarget
from sipgw.twilio.sids import new_sid

__all__ = ["DialLegs", "LegHooks", "Screen", "ScreeningLeg"]

log = logging.getLogger("sipgw.agent")


@dataclass(frozen=True, slots=True)
class Screen:
    """A screening TwiML run on a leg: its document's ``url`` (absolute) and ``method``, the
    leg's ``CallSid`` and the parameters its requests carry."""

    url: str
    method: str
    sid: str
    params: tuple[tuple[str, str], ...]


class ScreeningLeg(Protocol):
    """The screening TwiML running on a leg (a TwiML agent given a :class:`Screen`)."""

    async def screen_leg(self) -> bool:
        """Run it; True when it ran out (the bridge is accepted), False when it refused
        (the leg is hung up)."""
        ...

    def next_frame(self) -> bytes | None:
        """What the called party hears now."""
        ...

    def on_caller_audio(self, frame: bytes) -> None:
        """The called party's audio as it arrives."""
        ...

    def on_dtmf(self, digit: str) -> None:
        """The called party's key."""
        ...

    async def close(self, reason: str = "") -> None:
        """Done: its sockets and tasks closed."""
        ...


class LegHooks(Protocol):
    """What a bridged ``<Dial>`` asks the caller's TwiML agent for each leg."""

    def leg_status(self, target: DialTarget) -> LegStatus:
        """The leg about to be placed for ``target`` (its own ``CallSid``)."""
        ...

    def report(
        self, leg: LegStatus, event: str, final: str, extra: tuple[tuple[str, str], ...]
    ) -> None:
        """``event`` of ``leg`` (``final``: its ``CallStatus`` on ``completed``), posted when
        its noun asks for it."""
        ...

    def screener(self, leg: LegStatus, call: CallControl) -> ScreeningLeg:
        """The screening TwiML of ``leg`` (answered: ``call``), ready to run."""
        ...

    def answered_by(self, leg: LegStatus, answer: str, elapsed_ms: int) -> None:
        """``leg``'s ``AnsweredBy`` (``machineDetection``): to its ``amdStatusCallback``."""
        ...


class DialLegs:
    """The caller's TwiML agent's :class:`LegHooks` (see the module docstring).

    Args:
        parent_sid: the caller's ``CallSid``.
        account_sid: the account's.
        base_url: the caller's document's URL (relative URLs are resolved against it).
        post: queues a signed callback (the caller's status poster).
        new_screener: a TwiML agent on a leg, running a :class:`Screen`.
        log_id: the caller's call, for the log.
        clock: wall time (Unix seconds), for ``Timestamp``.
    """

    def __init__(
        self,
        parent_sid: str,
        account_sid: str,
        base_url: str,
        post: Callable[[Callback, dict[str, str]], None],
        new_screener: Callable[[CallControl, Screen], ScreeningLeg],
        log_id: str,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.parent_sid = parent_sid
        self.account_sid = account_sid
        self.base_url = base_url
        self.post = post
        self.new_screener = new_screener
        self.log_id = log_id
        self.clock = clock

    def leg_status(self, target: DialTarget) -> LegStatus:
        """A leg of its own ``CallSid``, child of the caller's call."""
        return LegStatus(target, new_sid("CA"), self.parent_sid, self.account_sid)

    def report(
        self, leg: LegStatus, event: str, final: str, extra: tuple[tuple[str, str], ...]
    ) -> None:
        """Post ``event`` to the noun's ``statusCallback`` when it asks for it."""
        form = leg.form(event, self.clock(), final, extra)
        if form is None:
            return
        target = leg.target
        url = callback_url(self.base_url, target.status_callback, self.log_id,
                           f"<{_noun(target)} statusCallback>")  # fmt: skip
        if url is not None:
            self.post(Callback(url, target.status_callback_method), form)

    def answered_by(self, leg: LegStatus, answer: str, elapsed_ms: int) -> None:
        """Post ``leg``'s ``AnsweredBy`` to its ``amdStatusCallback`` (none: nothing)."""
        target = leg.target
        if not target.amd_status_callback:
            return
        url = callback_url(self.base_url, target.amd_status_callback, self.log_id,
                           f"<{_noun(target)} amdStatusCallback>")  # fmt: skip
        if url is None:
            return
        form = amd_form(self.account_sid, leg.sid, answer, elapsed_ms)
        self.post(Callback(url, target.amd_status_callback_method), form)

    def screener(self, leg: LegStatus, call: CallControl) -> ScreeningLeg:
        """The TwiML agent that runs ``leg``'s screening document on ``call``; a URL that
        cannot be resolved is left as written (its fetch fails: the call is refused)."""
        try:
            url = absolute_url(self.base_url, leg.target.url)
        except ValueError:
            url = leg.target.url
        screen = Screen(url, leg.target.method, leg.sid, leg.screen_params())
        return self.new_screener(call, screen)


def _noun(target: DialTarget) -> str:
    """``Number`` or ``Sip``: the noun ``target`` was, for log lines."""
    return "Number" if target.kind == "number" else "Sip"
