"""A bridged ``<Dial>`` of several targets: all ring at once, the first to answer is bridged.

Theory of operation
-------------------
Twilio rings up to ten ``<Number>``/``<Sip>`` nouns of one ``<Dial>`` at once and connects
the first to pick up, hanging up the others. :class:`RingAllDial` does the same on top of
:class:`~sipgw.agent.twiml.dial.bridge.BridgedDial`'s parts:

- Each target (the first ten) is placed at once through the call
  (:class:`~sipgw.agent.twiml.dial.bridge.LegPlacingCall`: each judged by the dial
  allow-list; a refused one is noted and the others ring on), each with its own
  :class:`~sipgw.agent.twiml.dial.bridge.DialRelay`. The caller hears one ring tone meanwhile.
- The first leg to answer (with a screening ``url``: the first whose screening TwiML
  accepts; each answering target is screened on its own meanwhile) claims the ``<Dial>``
  (:meth:`RingAllDial.claim`) and is bridged
  as a single target's is; every other leg is stopped: CANCEL while it rings (RFC 3261
  §9.1). A leg whose 200 OK crosses that CANCEL is ACKed and hung up with BYE by the SIP
  layer (§15); one whose answer reaches its agent after another claimed is hung up at once.
- ``DialCallStatus``: ``completed`` when one answered (``DialCallSid`` and
  ``DialCallDuration`` are its), ``canceled`` when the caller hung up first; otherwise the
  legs' own outcomes, the most hopeful first: ``no-answer`` (one rang out), then ``busy``,
  then ``failed``; ``DialCallSid`` is then the first placed leg's.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Final

from sipgw.agent.base import CallControl
from sipgw.agent.transfer.warm import ConsultLeg
from sipgw.agent.twiml.dial.bridge import BridgedDial, DialRelay, LegPlacingCall, Note
from sipgw.agent.twiml.dial.rules import (
    DialCallStatus,
    DialResult,
    dial_status,
    ringback_frame,
)
from sipgw.agent.twiml.dial.screening import LegHooks
from sipgw.agent.twiml.recording import BridgeRecorder
from sipgw.twilio.document import Dial, DialTarget

__all__ = ["MAX_TARGETS", "RingAllDial", "unanswered_status"]

log = logging.getLogger("sipgw.agent")

MAX_TARGETS: Final = 10
"""Twilio rings at most ten nouns of one ``<Dial>`` at once; the rest are not dialled."""
_HOPE: Final[tuple[DialCallStatus, ...]] = ("no-answer", "busy", "failed")


def unanswered_status(statuses: list[DialCallStatus]) -> DialCallStatus:
    """``DialCallStatus`` of targets none of which answered: the most hopeful of theirs
    (``no-answer`` before ``busy`` before ``failed``); ``failed`` when none was placed."""
    for status in _HOPE:
        if status in statuses:
            return status
    return "failed"


class _RacingRelay(DialRelay):
    """One target's relay in the race: its answer (its screening's acceptance) claims the
    ``<Dial>`` or is hung up."""

    dialing: RingAllDial

    def accept(self, call: CallControl) -> None:
        if not self.dialing.claim(self):
            self.stop("lost")  # another target answered first
            call.hangup()
            return
        super().accept(call)


class RingAllDial(BridgedDial):
    """One ``<Dial>`` of several targets, all ringing at once (see the module docstring).

    Args: as :class:`~sipgw.agent.twiml.dial.bridge.BridgedDial`'s.
    """

    def __init__(
        self,
        call: CallControl,
        placer: LegPlacingCall,
        dial: Dial,
        caller_id: str,
        note: Note,
        recorder: Callable[[], BridgeRecorder] | None = None,
        on_bridged: Callable[[], None] | None = None,
        hooks: LegHooks | None = None,
    ) -> None:
        super().__init__(call, placer, dial, caller_id, note, recorder, on_bridged, hooks)
        self.relays: list[DialRelay] = []
        """Every target's relay, as placed."""
        self.winner: DialRelay | None = None
        """The target that answered first (also :attr:`relay`, once it did)."""
        self._ringing = False
        self._rings = 0
        self._sids: dict[DialRelay, str] = {}  # each placed leg's DialCallSid

    def claim(self, relay: DialRelay) -> bool:
        """``relay``'s leg answered: it wins when none did before, and the others stop."""
        if self.winner is not None:
            return relay is self.winner
        self.winner = self.relay = relay
        self.sid = self._sids.get(relay, self.sid)
        for other in self.relays:
            if other is not relay:
                other.stop("lost")
        return True

    async def _place(self, target: DialTarget) -> tuple[DialTarget, DialRelay, ConsultLeg] | None:
        relay = self.new_relay(_RacingRelay, target)
        assert isinstance(relay, _RacingRelay)
        relay.dialing = self
        self.relays.append(relay)
        self.note("dial", target=target.address, how="bridge", ring="all")
        leg = await self.place(relay, target)
        if leg is None:
            self.relays.remove(relay)
            return None
        self._sids[relay] = relay.sid
        if self.winner is not None and self.winner is not relay:
            relay.stop("lost")  # placed after another answered: cancelled at once
        return target, relay, leg

    async def run(self) -> DialResult:
        """Ring every target at once, bridge the first to answer; how the ``<Dial>`` ended."""
        targets = self.dial.targets[:MAX_TARGETS]
        if len(self.dial.targets) > MAX_TARGETS:
            log.warning("[%s] TwiML <Dial>: %d targets, the first %d ring", self.call.call_id,
                        len(self.dial.targets), MAX_TARGETS)  # fmt: skip
        self._ringing = True
        try:
            placed = [p for p in await asyncio.gather(*map(self._place, targets)) if p]
            ran = await asyncio.gather(*(relay.run(leg) for _, relay, leg in placed))
        finally:
            self._ringing = False
        result = DialResult("failed")
        statuses: list[DialCallStatus] = []
        for (target, relay, _), (ended, talked) in zip(placed, ran, strict=True):
            kind = ended.kind if ended is not None else None
            won = relay is self.winner and talked is not None
            status = "completed" if won else relay.dial_status(kind)
            seconds = None if talked is None or not won else round(talked)
            self.note("dial_ended", target=target.address, status=status, seconds=seconds,
                      ended_by=relay.ended_by or kind or "")  # fmt: skip
            if won:
                self.answered = True
                result = DialResult("completed", self.sid, seconds, sip=relay.sip_params())
            elif relay.ended_by != "lost":
                statuses.append(status)
        if not self.answered:
            first = placed[0][1] if placed else None
            self.sid = self._sids[first] if first is not None else ""
            sip = first.sip_params() if first is not None else ()
            result = DialResult(unanswered_status(statuses), self.sid, sip=sip)
        return result

    def at_hangup(self) -> DialResult:
        """The caller hung up during the ``<Dial>``: every leg ends; how, for its ``action``."""
        for relay in self.relays:
            relay.stop("caller")
        winner = self.winner
        if winner is None:
            first = self.relays[0] if self.relays else None
            return DialResult("canceled", self._sids.get(first, "") if first is not None else "")
        talked = None
        if winner.answered_at is not None:
            talked = round(asyncio.get_running_loop().time() - winner.answered_at)
        return DialResult(dial_status(None, True, caller_left=True), self.sid, talked,
                          sip=winner.sip_params())  # fmt: skip

    def frame_for_caller(self) -> bytes | None:
        """The bridged target, or one ring tone while they all ring."""
        if self.winner is not None:
            return self.winner.frame_for_caller()
        if not self._ringing:
            return None
        self._rings += 1
        return ringback_frame(self._rings - 1, self.dial.ring_tone)
