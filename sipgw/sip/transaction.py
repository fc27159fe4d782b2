"""SIP transactions (RFC 3261 §17, with the RFC 6026 'Accepted' states).

Theory of operation
-------------------
A transaction is one request and the responses to it. Four state machines
exist: INVITE client and server, non-INVITE client and server. Each is one
table, the class's ``TABLE``: ``(state, input) -> (action, next state)``,
where the action is a method of that machine (typed, so mypy checks every
entry) or None. Inputs are named after what happened: ``RECV_*`` (a message
arrived), ``SEND_*`` (the transaction user, TU, handed us a response) and
``TIMER_*`` (a timer fired). A pair not in the table is either ignored (stray
retransmissions and stale timers are normal on UDP) or, for ``SEND_*``
inputs, an :class:`InvalidState` error, because it is the TU that broke the
rules.

Reliability lives here: over UDP a client transaction retransmits its
request (Timers A and E, doubling from T1 up to T2 for non-INVITE) until a
response arrives or Timer B/F gives up; a server transaction retransmits
its final non-2xx response (Timer G) until the ACK arrives or Timer H gives
up, and answers request retransmissions with its last response.

One exception keeps a forged source from turning one INVITE into eleven
responses: an INVITE refused before any provisional response
(:meth:`TransactionLayer.respond_once`) is answered once, as a stateless UAS
does (§8.2.7). The client, which has heard nothing else, retransmits its
INVITE until a response arrives (Timer A), and each retransmission gets the
same bytes again from a small table of recent refusals
(:data:`ANSWERED_ONCE_MAX` entries, oldest forgotten first) instead of a
transaction with timers. 2xx
responses to INVITE are retransmitted by the TU, not here (§13.3.1.4); per
RFC 6026 the INVITE transactions sit in 'Accepted' for 64·T1 after a 2xx so
that retransmitted INVITEs are absorbed and retransmitted 2xx are still
matched.

The TU hears about the two sides differently. What nobody asked for - a new
request, an ACK for a 2xx, a stray response, a server transaction giving up -
comes out as an event (:data:`TxEvent`). What the TU asked for - the outcome
of a request it sent - goes to the continuations it passed to
:meth:`TransactionLayer.send_request`: ``on_provisional`` for 1xx and
``on_final`` for the final response or :class:`NoResponse`.

The :class:`TransactionLayer` owns all transactions. It is sans-IO: messages
come in with ``now``; datagrams to send, events for the TU and the next
timer deadline come out. Its timers live in a :class:`~sipgw.sip.timers.TimerHeap`
that the TU may share (the user agent arms its own deadlines in the same one).
"""

from __future__ import annotations

import random
import secrets
from collections import OrderedDict, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import Enum, auto
from functools import partial
from typing import ClassVar, Self, TypeAlias, TypeVar

from sipgw.sip.addressing import Flow, response_flow
from sipgw.sip.errors import InvalidState
from sipgw.sip.headers import Via
from sipgw.sip.message import Headers, SipRequest, SipResponse
from sipgw.sip.timers import Timer, TimerHeap, TimerValues

__all__ = [
    "ANSWERED_ONCE_MAX",
    "Action",
    "AckReceived",
    "ClientTransaction",
    "Input",
    "InviteClientTransaction",
    "InviteServerTransaction",
    "NoResponse",
    "NonInviteClientTransaction",
    "NonInviteServerTransaction",
    "OnFinal",
    "OnProvisional",
    "Outcome",
    "RequestReceived",
    "ServerTransaction",
    "State",
    "StrayResponse",
    "Table",
    "Transaction",
    "TransactionLayer",
    "TransactionTimedOut",
    "TxEvent",
    "make_branch",
    "make_non2xx_ack",
]

MAGIC_COOKIE = "z9hG4bK"
"""RFC 3261 §8.1.1.7: branches of RFC 3261 elements start with this."""

ANSWERED_ONCE_MAX = 1024
"""INVITEs refused with :meth:`TransactionLayer.respond_once` remembered at most (their key
and the response's bytes, to answer retransmissions alike)."""


class State(Enum):
    """Transaction states, named as in RFC 3261 §17 and RFC 6026."""

    CALLING = auto()
    TRYING = auto()
    PROCEEDING = auto()
    COMPLETED = auto()
    CONFIRMED = auto()
    ACCEPTED = auto()
    TERMINATED = auto()


class Input(Enum):
    """What can happen to a transaction."""

    RECV_REQUEST = auto()  # a retransmission of the transaction's request
    RECV_ACK = auto()
    RECV_1XX = auto()
    RECV_2XX = auto()
    RECV_3XX_6XX = auto()
    SEND_1XX = auto()
    SEND_2XX = auto()
    SEND_3XX_6XX = auto()
    TIMER_A = auto()
    TIMER_B = auto()
    TIMER_D = auto()
    TIMER_E = auto()
    TIMER_F = auto()
    TIMER_G = auto()
    TIMER_H = auto()
    TIMER_I = auto()
    TIMER_J = auto()
    TIMER_K = auto()
    TIMER_L = auto()
    TIMER_M = auto()
    TRANSPORT_ERROR = auto()


_SEND_INPUTS = frozenset({Input.SEND_1XX, Input.SEND_2XX, Input.SEND_3XX_6XX})


def make_branch(rng: random.Random | None = None) -> str:
    """A new RFC 3261 branch parameter (§8.1.1.7); unpredictable unless ``rng`` is given."""
    bits = rng.getrandbits(64) if rng is not None else secrets.randbits(64)
    return f"{MAGIC_COOKIE}{bits:016x}"


def _response_input(status: int, prefix: str) -> Input:
    if status < 200:
        return Input[f"{prefix}_1XX"]
    if status < 300:
        return Input[f"{prefix}_2XX"]
    return Input[f"{prefix}_3XX_6XX"]


# --------------------------------------------------------------------------- events


@dataclass(frozen=True, slots=True)
class RequestReceived:
    """A new request created a server transaction; the TU must answer it."""

    transaction: ServerTransaction
    request: SipRequest
    flow: Flow


@dataclass(frozen=True, slots=True)
class AckReceived:
    """An ACK for a 2xx (it belongs to no transaction, RFC 3261 §17)."""

    request: SipRequest
    flow: Flow


@dataclass(frozen=True, slots=True)
class StrayResponse:
    """A response matching no transaction (e.g. a 2xx retransmitted after Timer M)."""

    response: SipResponse
    flow: Flow


@dataclass(frozen=True, slots=True)
class TransactionTimedOut:
    """A server transaction gave up: Timer H (no ACK) or a transport error."""

    transaction: ServerTransaction
    transport_error: bool = False


TxEvent = RequestReceived | AckReceived | StrayResponse | TransactionTimedOut


# --------------------------------------------------------------------------- continuations


@dataclass(frozen=True, slots=True)
class NoResponse:
    """A client transaction ended without a final response.

    RFC 3261 §8.1.3.1: the TU treats a timeout (Timer B/F) like a 408 and a
    transport error like a 503; :attr:`status` says which.
    """

    transport_error: bool = False

    @property
    def status(self) -> int:
        """The status the TU should act on (§8.1.3.1)."""
        return 503 if self.transport_error else 408

    @property
    def reason(self) -> str:
        """Why there was no response, for logs and events."""
        return "transport error" if self.transport_error else "no response"


Outcome = SipResponse | NoResponse
"""How a client transaction ended for the TU: a final response, or none."""

OnFinal = Callable[[Outcome, float], None]
"""The TU's continuation for the final outcome of a client transaction (``(outcome, now)``).

Non-INVITE: called once. INVITE: called for a 3xx-6xx, a timeout, and for
every 2xx while the transaction is Accepted (retransmissions and forks,
RFC 6026 §7.2), since the TU acknowledges each 2xx itself (§13.2.2.4)."""

OnProvisional = Callable[[SipResponse, float], None]
"""The TU's continuation for 1xx responses (early dialogs of an INVITE, §13.2.2.1)."""

_T = TypeVar("_T")
Action: TypeAlias = Callable[[_T, Input, SipResponse | None, float], None]
"""A transition's side effect: ``action(transaction, input, response, now)``."""
Table: TypeAlias = Mapping[tuple[State, Input], tuple[Action[_T] | None, State]]
"""A machine's transitions: ``(state, input) -> (action or None, next state)``."""


# --------------------------------------------------------------------------- base


class Transaction:
    """State shared by the four machines; see the module docstring.

    Each subclass sets ``TABLE``, its transitions; the actions are its own
    methods (or inherited ones), so mypy checks each against the machine.
    """

    TABLE: ClassVar[Table[Self]] = {}
    INITIAL: ClassVar[State] = State.TERMINATED

    def __init__(self, layer: TransactionLayer, key: tuple[str, ...], request: SipRequest) -> None:
        self.layer = layer
        self.key = key
        self.request = request
        self.state = self.INITIAL
        self.timers: dict[Input, Timer] = {}
        self.interval = layer.timers.t1
        self.last_response: SipResponse | None = None
        self.last_bytes: bytes | None = None

    @property
    def method(self) -> str:
        """The method of the request that created the transaction."""
        return self.request.method

    @property
    def reliable(self) -> bool:
        """Whether the transport is reliable (no retransmissions)."""
        return self.flow.reliable

    @property
    def flow(self) -> Flow:
        """Where this transaction's messages go."""
        raise NotImplementedError

    def handle(self: Self, event: Input, now: float, response: SipResponse | None = None) -> None:
        """Feed one input through the transition table."""
        entry = self.TABLE.get((self.state, event))
        if entry is None:
            if event in _SEND_INPUTS:
                raise InvalidState(
                    f"{type(self).__name__}: cannot {event.name} in {self.state.name}"
                )
            return  # stray retransmission or stale timer
        action, next_state = entry
        self.state = next_state
        if action is not None:
            action(self, event, response, now)
        if next_state is State.TERMINATED:
            self.disarm(*self.timers)
            self.layer._forget(self)

    def arm(self, timer: Input, delay: float, now: float) -> None:
        """Start (or restart) a timer."""
        heap = self.layer.heap
        heap.cancel(self.timers.get(timer))
        self.timers[timer] = heap.schedule(now + delay, partial(self._fire, timer))

    def disarm(self, *timers: Input) -> None:
        """Stop timers."""
        for timer in timers:
            self.layer.heap.cancel(self.timers.pop(timer, None))

    def _fire(self, timer: Input, now: float) -> None:
        del self.timers[timer]
        self.handle(timer, now)

    def _transmit(self, data: bytes) -> None:
        self.layer._outbox.append((data, self.flow))


# --------------------------------------------------------------------------- server side


class ServerTransaction(Transaction):
    """Common behaviour of server transactions (RFC 3261 §17.2)."""

    def __init__(
        self, layer: TransactionLayer, key: tuple[str, ...], request: SipRequest, source: Flow
    ) -> None:
        super().__init__(layer, key, request)
        self.source = source
        self._flow = response_flow(request.top_via, source)

    @property
    def flow(self) -> Flow:
        """Where responses go (RFC 3261 §18.2.2, RFC 3581)."""
        return self._flow

    def _send(self, event: Input, response: SipResponse | None, now: float) -> None:
        assert response is not None
        self.last_response = response
        self.last_bytes = response.serialize()
        self._transmit(self.last_bytes)

    def _resend(self, event: Input, response: SipResponse | None, now: float) -> None:
        if self.last_bytes is not None:
            self._transmit(self.last_bytes)

    def _time_out(self, event: Input, response: SipResponse | None, now: float) -> None:
        self.layer._events.append(TransactionTimedOut(self, event is Input.TRANSPORT_ERROR))


class InviteServerTransaction(ServerTransaction):
    """RFC 3261 §17.2.1 (Figure 7) as amended by RFC 6026 §7.1."""

    INITIAL = State.PROCEEDING

    def __init__(
        self, layer: TransactionLayer, key: tuple[str, ...], request: SipRequest, source: Flow
    ) -> None:
        super().__init__(layer, key, request, source)
        self.ack: SipRequest | None = None

    def _send_2xx(self, event: Input, response: SipResponse | None, now: float) -> None:
        self._send(event, response, now)
        self.arm(Input.TIMER_L, self.layer.timers.l, now)

    def _send_final(self, event: Input, response: SipResponse | None, now: float) -> None:
        self._send(event, response, now)
        if not self.reliable:
            self.interval = self.layer.timers.t1
            self.arm(Input.TIMER_G, self.interval, now)
        self.arm(Input.TIMER_H, self.layer.timers.h, now)

    def _retransmit_final(self, event: Input, response: SipResponse | None, now: float) -> None:
        self._resend(event, response, now)
        self.interval = min(2 * self.interval, self.layer.timers.t2)
        self.arm(Input.TIMER_G, self.interval, now)

    def _confirm(self, event: Input, response: SipResponse | None, now: float) -> None:
        self.disarm(Input.TIMER_G, Input.TIMER_H)
        self.arm(Input.TIMER_I, 0.0 if self.reliable else self.layer.timers.t4, now)

    def _pass_ack(self, event: Input, response: SipResponse | None, now: float) -> None:
        assert self.ack is not None
        self.layer._events.append(AckReceived(self.ack, self.source))

    TABLE = {
        (State.PROCEEDING, Input.RECV_REQUEST): (ServerTransaction._resend, State.PROCEEDING),
        (State.PROCEEDING, Input.SEND_1XX): (ServerTransaction._send, State.PROCEEDING),
        (State.PROCEEDING, Input.SEND_2XX): (_send_2xx, State.ACCEPTED),
        (State.PROCEEDING, Input.SEND_3XX_6XX): (_send_final, State.COMPLETED),
        (State.PROCEEDING, Input.TRANSPORT_ERROR): (ServerTransaction._time_out, State.TERMINATED),
        (State.COMPLETED, Input.RECV_REQUEST): (ServerTransaction._resend, State.COMPLETED),
        (State.COMPLETED, Input.RECV_ACK): (_confirm, State.CONFIRMED),
        (State.COMPLETED, Input.TIMER_G): (_retransmit_final, State.COMPLETED),
        (State.COMPLETED, Input.TIMER_H): (ServerTransaction._time_out, State.TERMINATED),
        (State.COMPLETED, Input.TRANSPORT_ERROR): (ServerTransaction._time_out, State.TERMINATED),
        (State.CONFIRMED, Input.RECV_REQUEST): (None, State.CONFIRMED),
        (State.CONFIRMED, Input.RECV_ACK): (None, State.CONFIRMED),
        (State.CONFIRMED, Input.TIMER_I): (None, State.TERMINATED),
        # RFC 6026 §7.1: INVITE retransmissions are absorbed; the TU's 2xx
        # retransmissions pass through; an ACK (same branch) goes to the TU.
        (State.ACCEPTED, Input.RECV_REQUEST): (None, State.ACCEPTED),
        (State.ACCEPTED, Input.SEND_2XX): (ServerTransaction._send, State.ACCEPTED),
        (State.ACCEPTED, Input.RECV_ACK): (_pass_ack, State.ACCEPTED),
        (State.ACCEPTED, Input.TIMER_L): (None, State.TERMINATED),
    }


class NonInviteServerTransaction(ServerTransaction):
    """RFC 3261 §17.2.2 (Figure 8)."""

    INITIAL = State.TRYING

    def _send_final(self, event: Input, response: SipResponse | None, now: float) -> None:
        self._send(event, response, now)
        self.arm(Input.TIMER_J, 0.0 if self.reliable else self.layer.timers.j, now)

    TABLE = {
        (State.TRYING, Input.RECV_REQUEST): (None, State.TRYING),
        (State.TRYING, Input.SEND_1XX): (ServerTransaction._send, State.PROCEEDING),
        (State.TRYING, Input.SEND_2XX): (_send_final, State.COMPLETED),
        (State.TRYING, Input.SEND_3XX_6XX): (_send_final, State.COMPLETED),
        (State.PROCEEDING, Input.RECV_REQUEST): (ServerTransaction._resend, State.PROCEEDING),
        (State.PROCEEDING, Input.SEND_1XX): (ServerTransaction._send, State.PROCEEDING),
        (State.PROCEEDING, Input.SEND_2XX): (_send_final, State.COMPLETED),
        (State.PROCEEDING, Input.SEND_3XX_6XX): (_send_final, State.COMPLETED),
        (State.PROCEEDING, Input.TRANSPORT_ERROR): (ServerTransaction._time_out, State.TERMINATED),
        (State.COMPLETED, Input.RECV_REQUEST): (ServerTransaction._resend, State.COMPLETED),
        (State.COMPLETED, Input.TIMER_J): (None, State.TERMINATED),
        (State.COMPLETED, Input.TRANSPORT_ERROR): (ServerTransaction._time_out, State.TERMINATED),
    }


# --------------------------------------------------------------------------- client side


class ClientTransaction(Transaction):
    """Common behaviour of client transactions (RFC 3261 §17.1).

    The TU's continuations run once a transition is complete (never in the
    middle of one), so whatever they do - send a new request, raise - cannot
    leave this transaction half-updated.
    """

    def __init__(
        self,
        layer: TransactionLayer,
        key: tuple[str, ...],
        request: SipRequest,
        flow: Flow,
        on_final: OnFinal,
        on_provisional: OnProvisional | None = None,
    ) -> None:
        super().__init__(layer, key, request)
        self._flow = flow
        self.request_bytes = request.serialize()
        self.on_final = on_final
        self.on_provisional = on_provisional
        self._outcome: Outcome | None = None

    @property
    def flow(self) -> Flow:
        """Where the request goes."""
        return self._flow

    def handle(self: Self, event: Input, now: float, response: SipResponse | None = None) -> None:
        """Feed one input through the table, then tell the TU what it needs to hear."""
        super().handle(event, now, response)
        outcome, self._outcome = self._outcome, None
        if outcome is None:
            return
        if isinstance(outcome, SipResponse) and outcome.status < 200:
            if self.on_provisional is not None:
                self.on_provisional(outcome, now)
        else:
            self.on_final(outcome, now)

    def _pass(self, event: Input, response: SipResponse | None, now: float) -> None:
        assert response is not None
        self.last_response = response
        self._outcome = response

    def _fail(self, event: Input, response: SipResponse | None, now: float) -> None:
        self._outcome = NoResponse(transport_error=event is Input.TRANSPORT_ERROR)

    def _retransmit(self, event: Input, response: SipResponse | None, now: float) -> None:
        self._transmit(self.request_bytes)


class InviteClientTransaction(ClientTransaction):
    """RFC 3261 §17.1.1 (Figure 5) as amended by RFC 6026 §7.2."""

    INITIAL = State.CALLING

    def __init__(
        self,
        layer: TransactionLayer,
        key: tuple[str, ...],
        request: SipRequest,
        flow: Flow,
        on_final: OnFinal,
        on_provisional: OnProvisional | None = None,
    ) -> None:
        super().__init__(layer, key, request, flow, on_final, on_provisional)
        self.ack_bytes: bytes | None = None

    def start(self, now: float) -> None:
        """Send the INVITE and arm Timers A and B."""
        self._transmit(self.request_bytes)
        if not self.reliable:
            self.arm(Input.TIMER_A, self.interval, now)
        self.arm(Input.TIMER_B, self.layer.timers.b, now)

    def _retransmit_a(self, event: Input, response: SipResponse | None, now: float) -> None:
        self._retransmit(event, response, now)
        self.interval *= 2  # Timer A doubles without a cap (§17.1.1.2)
        self.arm(Input.TIMER_A, self.interval, now)

    def _proceed(self, event: Input, response: SipResponse | None, now: float) -> None:
        self.disarm(Input.TIMER_A, Input.TIMER_B)
        self._pass(event, response, now)

    def _accept(self, event: Input, response: SipResponse | None, now: float) -> None:
        self.disarm(Input.TIMER_A, Input.TIMER_B)
        self._pass(event, response, now)
        self.arm(Input.TIMER_M, self.layer.timers.m, now)

    def _complete(self, event: Input, response: SipResponse | None, now: float) -> None:
        assert response is not None
        self.disarm(Input.TIMER_A, Input.TIMER_B)
        self.ack_bytes = make_non2xx_ack(self.request, response).serialize()
        self._transmit(self.ack_bytes)
        self._pass(event, response, now)
        self.arm(Input.TIMER_D, 0.0 if self.reliable else self.layer.timers.d, now)

    def _resend_ack(self, event: Input, response: SipResponse | None, now: float) -> None:
        if self.ack_bytes is not None:
            self._transmit(self.ack_bytes)

    TABLE = {
        (State.CALLING, Input.TIMER_A): (_retransmit_a, State.CALLING),
        (State.CALLING, Input.TIMER_B): (ClientTransaction._fail, State.TERMINATED),
        (State.CALLING, Input.TRANSPORT_ERROR): (ClientTransaction._fail, State.TERMINATED),
        (State.CALLING, Input.RECV_1XX): (_proceed, State.PROCEEDING),
        (State.CALLING, Input.RECV_2XX): (_accept, State.ACCEPTED),
        (State.CALLING, Input.RECV_3XX_6XX): (_complete, State.COMPLETED),
        (State.PROCEEDING, Input.RECV_1XX): (ClientTransaction._pass, State.PROCEEDING),
        (State.PROCEEDING, Input.RECV_2XX): (_accept, State.ACCEPTED),
        (State.PROCEEDING, Input.RECV_3XX_6XX): (_complete, State.COMPLETED),
        (State.COMPLETED, Input.RECV_3XX_6XX): (_resend_ack, State.COMPLETED),
        (State.COMPLETED, Input.TIMER_D): (None, State.TERMINATED),
        # Figure 5 informs the TU of a transport error here too; ours already
        # has the final response, and a lost ACK changes nothing for it.
        (State.COMPLETED, Input.TRANSPORT_ERROR): (None, State.TERMINATED),
        # RFC 6026 §7.2: retransmitted (or forked) 2xx still reach the TU.
        (State.ACCEPTED, Input.RECV_2XX): (ClientTransaction._pass, State.ACCEPTED),
        (State.ACCEPTED, Input.TIMER_M): (None, State.TERMINATED),
    }


class NonInviteClientTransaction(ClientTransaction):
    """RFC 3261 §17.1.2 (Figure 6)."""

    INITIAL = State.TRYING

    def start(self, now: float) -> None:
        """Send the request and arm Timers E and F."""
        self._transmit(self.request_bytes)
        if not self.reliable:
            self.arm(Input.TIMER_E, self.interval, now)
        self.arm(Input.TIMER_F, self.layer.timers.f, now)

    def _retransmit_e(self, event: Input, response: SipResponse | None, now: float) -> None:
        self._retransmit(event, response, now)
        # §17.1.2.2: doubling up to T2 while Trying, T2 once Proceeding.
        if self.state is State.PROCEEDING:
            self.interval = self.layer.timers.t2
        else:
            self.interval = min(2 * self.interval, self.layer.timers.t2)
        self.arm(Input.TIMER_E, self.interval, now)

    def _complete(self, event: Input, response: SipResponse | None, now: float) -> None:
        self.disarm(Input.TIMER_E, Input.TIMER_F)
        self._pass(event, response, now)
        self.arm(Input.TIMER_K, 0.0 if self.reliable else self.layer.timers.t4, now)

    TABLE = {
        (State.TRYING, Input.TIMER_E): (_retransmit_e, State.TRYING),
        (State.TRYING, Input.TIMER_F): (ClientTransaction._fail, State.TERMINATED),
        (State.TRYING, Input.TRANSPORT_ERROR): (ClientTransaction._fail, State.TERMINATED),
        (State.TRYING, Input.RECV_1XX): (ClientTransaction._pass, State.PROCEEDING),
        (State.TRYING, Input.RECV_2XX): (_complete, State.COMPLETED),
        (State.TRYING, Input.RECV_3XX_6XX): (_complete, State.COMPLETED),
        (State.PROCEEDING, Input.TIMER_E): (_retransmit_e, State.PROCEEDING),
        (State.PROCEEDING, Input.TIMER_F): (ClientTransaction._fail, State.TERMINATED),
        (State.PROCEEDING, Input.TRANSPORT_ERROR): (ClientTransaction._fail, State.TERMINATED),
        (State.PROCEEDING, Input.RECV_1XX): (ClientTransaction._pass, State.PROCEEDING),
        (State.PROCEEDING, Input.RECV_2XX): (_complete, State.COMPLETED),
        (State.PROCEEDING, Input.RECV_3XX_6XX): (_complete, State.COMPLETED),
        (State.COMPLETED, Input.TIMER_K): (None, State.TERMINATED),
    }


def make_non2xx_ack(request: SipRequest, response: SipResponse) -> SipRequest:
    """The ACK a client transaction sends for a 3xx-6xx (RFC 3261 §17.1.1.3).

    Same Request-URI, Call-ID, From, CSeq number and top Via as the INVITE;
    the To of the response (with its tag); the INVITE's Route headers.
    """
    headers = Headers()
    headers.add("Via", request.headers.get_all("Via")[0])
    for route in request.headers.get_all("Route"):
        headers.add("Route", route)
    headers.add("Max-Forwards", "70")
    headers.add("From", request.headers.get("From") or "")
    headers.add("To", response.headers.get("To") or "")
    headers.add("Call-ID", request.call_id)
    headers.add("CSeq", f"{request.cseq.number} ACK")
    return SipRequest("ACK", request.uri, headers)


# --------------------------------------------------------------------------- layer


def server_key(request: SipRequest) -> tuple[str, ...]:
    """The server transaction a request belongs to (RFC 3261 §17.2.3).

    RFC 3261 requests match on branch, sent-by and method (ACK matches the
    INVITE), and on the Call-ID: a retransmission, the ACK of a non-2xx and a
    CANCEL carry the request's own (§17.1.1.3, §9.1), so another request that
    reuses a branch (against §8.1.1.7; the RFC 4475 messages share a few) is
    a request of its own, not one to absorb. RFC 2543 requests, without the
    magic cookie, match on the Request-URI, From tag, Call-ID, CSeq number and
    top Via.
    """
    via = request.top_via
    method = "INVITE" if request.method == "ACK" else request.method
    branch = via.branch or ""
    if branch.startswith(MAGIC_COOKIE):
        host, port = via.sent_by
        return ("3261", branch, host.lower(), str(port or ""), request.call_id, method)
    return (
        "2543",
        request.uri,
        request.from_.tag or "",
        request.call_id,
        str(request.cseq.number),
        str(via),
        method,
    )


def client_key(branch: str, method: str) -> tuple[str, ...]:
    """The client transaction key (RFC 3261 §17.1.3): branch and CSeq method."""
    return (branch, "INVITE" if method == "ACK" else method)


class TransactionLayer:
    """All transactions of one SIP endpoint, sans-IO.

    Args:
        timers: T1/T2/T4 (RFC defaults).
        rng: the random source for branches (inject one in tests; default: the OS's).
        heap: where timers are armed; pass the TU's heap to share one (then
            the TU, not this layer, reports and fires the deadlines).
    """

    def __init__(
        self,
        timers: TimerValues | None = None,
        rng: random.Random | None = None,
        heap: TimerHeap | None = None,
    ) -> None:
        self.timers = timers or TimerValues()
        self.rng = rng or secrets.SystemRandom()
        self.heap = heap if heap is not None else TimerHeap()
        self.server: dict[tuple[str, ...], ServerTransaction] = {}
        self.client: dict[tuple[str, ...], ClientTransaction] = {}
        self.answered_once: OrderedDict[tuple[str, ...], bytes] = OrderedDict()
        """Recent INVITEs refused with :meth:`respond_once`: key -> the response sent."""
        self._events: deque[TxEvent] = deque()
        self._outbox: list[tuple[bytes, Flow]] = []

    # -- inputs

    def receive_request(self, request: SipRequest, flow: Flow, now: float) -> None:
        """A request arrived (already parsed and Via-stamped by the caller)."""
        key = server_key(request)
        tx = self.server.get(key)
        if tx is None and key in self.answered_once:
            if request.method == "ACK":
                del self.answered_once[key]  # the refusal was heard: done
            else:
                self._outbox.append((self.answered_once[key], flow))  # a retransmission
            return
        if request.method == "ACK":
            if isinstance(tx, InviteServerTransaction):
                tx.ack = request
                tx.handle(Input.RECV_ACK, now)
            else:
                self._events.append(AckReceived(request, flow))
            return
        if tx is not None:
            if flow != tx.source and (flow.reliable or tx.source.reliable):
                # The request again on another connection (a client that reconnected,
                # or sent it over UDP first): answered there with what the transaction
                # last sent; its own responses stay on their flow. Over UDP, of a
                # request that came over TCP or TLS, it is no retransmission (only UDP
                # retransmits, §17.1.1.2) and could be forged: nothing.
                if flow.reliable and tx.last_bytes is not None:
                    self._outbox.append((tx.last_bytes, flow))
                return
            tx.handle(Input.RECV_REQUEST, now)
            return
        new: ServerTransaction
        if request.method == "INVITE":
            new = InviteServerTransaction(self, key, request, flow)
        else:
            new = NonInviteServerTransaction(self, key, request, flow)
        self.server[key] = new
        self._events.append(RequestReceived(new, request, flow))

    def receive_response(self, response: SipResponse, flow: Flow, now: float) -> None:
        """A response arrived; route it to its client transaction."""
        branch = response.top_via.branch or ""
        tx = self.client.get(client_key(branch, response.cseq.method))
        if tx is None:
            self._events.append(StrayResponse(response, flow))
            return
        tx.handle(_response_input(response.status, "RECV"), now, response)

    def transport_error(self, flow: Flow, now: float) -> None:
        """The transport could not deliver to ``flow`` (e.g. ICMP unreachable)."""
        for tx in [*self.server.values(), *self.client.values()]:
            if tx.flow == flow:
                tx.handle(Input.TRANSPORT_ERROR, now)

    # -- TU actions

    def respond(self, tx: ServerTransaction, response: SipResponse, now: float) -> None:
        """Send a response through a server transaction.

        Raises:
            InvalidState: the transaction cannot send this response now.
        """
        tx.handle(_response_input(response.status, "SEND"), now, response)

    def send_request(
        self,
        request: SipRequest,
        flow: Flow,
        now: float,
        on_final: OnFinal,
        on_provisional: OnProvisional | None = None,
    ) -> ClientTransaction:
        """Start a client transaction; the request's top Via must carry a branch.

        Args:
            request: the request to send.
            flow: where it goes.
            now: the current time.
            on_final: receives the final response, or :class:`NoResponse`
                (for INVITE, also every further 2xx; see :data:`OnFinal`).
            on_provisional: receives 1xx responses, if given.
        """
        branch = request.top_via.branch
        if not branch:
            raise InvalidState("a client request needs a Via branch")
        key = client_key(branch, request.method)
        tx: InviteClientTransaction | NonInviteClientTransaction
        if request.method == "INVITE":
            tx = InviteClientTransaction(self, key, request, flow, on_final, on_provisional)
        else:
            tx = NonInviteClientTransaction(self, key, request, flow, on_final, on_provisional)
        self.client[key] = tx
        tx.start(now)
        return tx

    def abandon(self, tx: ClientTransaction) -> None:
        """Destroy a client transaction the TU gave up on, without telling it.

        RFC 3261 §9.1: an INVITE that got no final response 64·T1 after its
        CANCEL should be destroyed (in Proceeding it has no timer of its own).
        """
        tx.state = State.TERMINATED
        tx.disarm(*tx.timers)
        self._forget(tx)

    def respond_once(self, tx: ServerTransaction, response: SipResponse) -> None:
        """Refuse an INVITE that got no provisional response, without keeping its transaction.

        The response goes out once and the transaction is gone; retransmissions
        of the INVITE get the same bytes (see the module docstring).

        Raises:
            InvalidState: ``tx`` is no INVITE transaction still waiting for a response.
        """
        if not isinstance(tx, InviteServerTransaction) or tx.last_response is not None:
            raise InvalidState("respond_once: not an INVITE transaction without a response")
        if response.status < 300:
            raise InvalidState("respond_once is for refusals (3xx-6xx)")
        data = response.serialize()
        self._outbox.append((data, tx.flow))
        tx.state = State.TERMINATED
        tx.disarm(*tx.timers)
        self._forget(tx)
        answered = self.answered_once
        answered[tx.key] = data
        while len(answered) > ANSWERED_ONCE_MAX:
            answered.popitem(last=False)

    def knows(self, request: SipRequest) -> bool:
        """Whether ``request`` belongs to a transaction we have (or answered once)."""
        key = server_key(request)
        return key in self.server or key in self.answered_once

    def send_stateless(self, data: bytes, flow: Flow) -> None:
        """Send bytes outside any transaction (2xx retransmissions, ACK for 2xx)."""
        self._outbox.append((data, flow))

    def find_server(self, request: SipRequest, method: str) -> ServerTransaction | None:
        """The server transaction with the request's key but another method.

        Used to find the INVITE a CANCEL refers to (RFC 3261 §9.2).
        """
        key = server_key(request)
        return self.server.get((*key[:-1], method))

    def new_via(self, transport: str, sent_by: str) -> Via:
        """A Via for a request we originate, with a fresh branch and ``rport``."""
        host, _, port = sent_by.rpartition(":")
        return Via(
            transport=transport,
            host=host.strip("[]"),
            port=int(port),
            params={"branch": make_branch(self.rng), "rport": None},
        )

    # -- outputs

    def next_event(self) -> TxEvent | None:
        """The next event for the TU, or None."""
        return self._events.popleft() if self._events else None

    def datagrams_to_send(self) -> list[tuple[bytes, Flow]]:
        """Everything queued for the transport since the last call."""
        out, self._outbox = self._outbox, []
        return out

    def get_timer(self) -> float | None:
        """The earliest armed deadline in :attr:`heap`, or None."""
        return self.heap.next_deadline()

    def handle_timer(self, now: float) -> None:
        """Fire every timer in :attr:`heap` due at ``now``."""
        self.heap.run(now)

    # -- internal, used by transactions

    def _forget(self, tx: Transaction) -> None:
        table: dict[tuple[str, ...], ServerTransaction] | dict[tuple[str, ...], ClientTransaction]
        table = self.server if isinstance(tx, ServerTransaction) else self.client
        if table.get(tx.key) is tx:
            del table[tx.key]
