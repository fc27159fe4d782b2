"""The user agent core on a fake clock, fed by a scripted caller (bytes in, events out).

Shared by the tests of :mod:`sipgw.sip.useragent` and of the dialog usages
(``tests/sipgw/sip/usages/``): :class:`Harness` feeds datagrams, runs the timers
up to a given time, and keeps what the core sent and reported.
"""

from __future__ import annotations

import random
from typing import TypeVar

from sipgw.sip.access import AccessPolicy
from sipgw.sip.addressing import Flow
from sipgw.sip.call import CallInfo
from sipgw.sip.events import CallEnded, CallOffered
from sipgw.sip.message import SipRequest, SipResponse, parse_message
from sipgw.sip.useragent import UserAgent, UserAgentConfig
from tests.sipgw.sip.builders import CALLER, ack_for, invite

FROM_CALLER = Flow("UDP", CALLER)
E = TypeVar("E")


class Harness:
    """Feeds a UserAgent and collects what it sends and reports."""

    def __init__(self, access: AccessPolicy | None = None, **config: object) -> None:
        defaults: dict[str, object] = {"public_host": "192.0.2.1", "sip_port": 5060}
        defaults.update(config)
        self.ua = UserAgent(
            UserAgentConfig(**defaults),  # type: ignore[arg-type]
            rng=random.Random(7),
            access=access,
        )
        self.now = 0.0
        self.sent: list[tuple[float, bytes, Flow]] = []
        self.events: list[object] = []

    def feed(self, data: bytes, flow: Flow = FROM_CALLER) -> None:
        self.ua.receive_datagram(data, flow, self.now)
        self._collect()

    def act(self, fn: object, *args: object, **options: object) -> object:
        result = fn(*args, self.now, **options)  # type: ignore[operator]
        self._collect()
        return result

    def advance(self, until: float) -> None:
        while (deadline := self.ua.get_timer()) is not None and deadline <= until:
            self.now = deadline
            self.ua.handle_timer(deadline)
            self._collect()
        self.now = until

    def _collect(self) -> None:
        self.sent.extend((self.now, data, flow) for data, flow in self.ua.datagrams_to_send())
        while (event := self.ua.next_event()) is not None:
            self.events.append(event)

    def take(self) -> list[SipResponse | SipRequest]:
        out = [parse_message(data) for _, data, _ in self.sent]
        self.sent.clear()
        return out

    def responses(self) -> list[SipResponse]:
        return [m for m in self.take() if isinstance(m, SipResponse)]

    def requests(self) -> list[SipRequest]:
        """The requests sent since the last take, one per transaction (no retransmissions)."""
        seen: dict[str | None, SipRequest] = {}
        for message in self.take():
            if isinstance(message, SipRequest):
                seen.setdefault(message.top_via.branch, message)
        return list(seen.values())

    def statuses(self) -> list[int]:
        return [r.status for r in self.responses()]

    def offered(self) -> CallInfo:
        return next(e.call for e in self.events if isinstance(e, CallOffered))

    def ended(self) -> list[CallEnded]:
        return [e for e in self.events if isinstance(e, CallEnded)]

    def of(self, kind: type[E]) -> list[E]:
        """The events of one kind reported so far."""
        return [e for e in self.events if isinstance(e, kind)]


def answered_call(h: Harness, **invite_kwargs: object) -> tuple[CallInfo, SipResponse]:
    """An INVITE fed, rung and answered on port 30000; the call and our 200."""
    h.feed(invite(**invite_kwargs))
    call = h.of(CallOffered)[-1].call  # this INVITE's call, not an earlier one
    h.act(h.ua.ring, call)
    h.act(h.ua.answer, call, 30000)
    ok = [r for r in h.responses() if r.status == 200][0]
    return call, ok


def confirmed_call(h: Harness, **invite_kwargs: object) -> tuple[CallInfo, SipResponse]:
    """An answered call whose ACK came; nothing left in ``h.sent``."""
    call, ok = answered_call(h, **invite_kwargs)
    h.feed(ack_for(ok))
    h.take()
    return call, ok
