"""Transaction state machines (RFC 3261 §17, RFC 6026) on a fake clock."""

from __future__ import annotations

import random

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from sipgw.sip.addressing import Flow
from sipgw.sip.errors import InvalidState
from sipgw.sip.message import SipResponse, make_response
from sipgw.sip.transaction import (
    AckReceived,
    Input,
    InviteClientTransaction,
    InviteServerTransaction,
    NonInviteClientTransaction,
    NonInviteServerTransaction,
    NoResponse,
    Outcome,
    RequestReceived,
    State,
    StrayResponse,
    Transaction,
    TransactionLayer,
    TransactionTimedOut,
    TxEvent,
    make_branch,
    make_non2xx_ack,
)
from sipgw.sip.useragent import UserAgent, UserAgentConfig
from tests.sipgw.sip.builders import CALLER, GATEWAY, invite, parse_request, request

FLOW = Flow("UDP", CALLER)
TO_GATEWAY = Flow("UDP", GATEWAY)


def run_until(layer: TransactionLayer, end: float) -> list[tuple[float, bytes]]:
    """Fire every timer up to ``end``; return (time, datagram) sent."""
    sent: list[tuple[float, bytes]] = []
    while (deadline := layer.get_timer()) is not None and deadline <= end:
        layer.handle_timer(deadline)
        sent.extend((deadline, data) for data, _ in layer.datagrams_to_send())
    return sent


def events(layer: TransactionLayer) -> list[TxEvent]:
    out: list[TxEvent] = []
    while (event := layer.next_event()) is not None:
        out.append(event)
    return out


class Tu:
    """A transaction user that records what its client transactions tell it."""

    def __init__(self) -> None:
        self.provisional: list[SipResponse] = []
        self.final: list[Outcome] = []

    def on_provisional(self, response: SipResponse, now: float) -> None:
        self.provisional.append(response)

    def on_final(self, outcome: Outcome, now: float) -> None:
        self.final.append(outcome)

    @property
    def statuses(self) -> list[int]:
        return [r.status for r in self.provisional] + [o.status for o in self.final]


def new_server(data: bytes) -> tuple[TransactionLayer, RequestReceived]:
    layer = TransactionLayer(rng=random.Random(1))
    layer.receive_request(parse_request(data), FLOW, 0.0)
    (event,) = events(layer)
    assert isinstance(event, RequestReceived)
    return layer, event


# --------------------------------------------------------------------------- server


def test_non_invite_server_answers_retransmissions_until_timer_j() -> None:
    data = request("OPTIONS", via_branch="z9hG4bKopt")
    layer, event = new_server(data)
    tx = event.transaction
    assert isinstance(tx, NonInviteServerTransaction) and tx.state is State.TRYING
    # A retransmission before the TU answers is absorbed (§17.2.2).
    layer.receive_request(parse_request(data), FLOW, 0.1)
    assert layer.datagrams_to_send() == [] and events(layer) == []
    layer.respond(tx, make_response(event.request, 200, to_tag="t"), 0.2)
    ((first, flow),) = layer.datagrams_to_send()
    assert flow == FLOW and first.startswith(b"SIP/2.0 200 OK")
    layer.receive_request(parse_request(data), FLOW, 1.0)
    assert layer.datagrams_to_send() == [(first, FLOW)]  # the same bytes again
    assert tx.state is State.COMPLETED
    run_until(layer, 0.2 + 32.0)  # Timer J = 64·T1
    assert tx.state is State.TERMINATED and layer.server == {}
    # After Timer J the same request is new again.
    layer.receive_request(parse_request(data), FLOW, 40.0)
    assert isinstance(events(layer)[0], RequestReceived)


def test_invite_server_retransmits_final_error_until_ack() -> None:
    data = invite(via_branch="z9hG4bKinv1")
    layer, event = new_server(data)
    tx = event.transaction
    assert isinstance(tx, InviteServerTransaction)
    layer.respond(tx, make_response(event.request, 180, to_tag="t"), 0.0)
    ringing = layer.datagrams_to_send()
    layer.receive_request(parse_request(data), FLOW, 0.3)  # INVITE retransmission
    assert layer.datagrams_to_send() == ringing  # the last provisional again
    layer.respond(tx, make_response(event.request, 486, to_tag="t"), 1.0)
    layer.datagrams_to_send()
    sent = run_until(layer, 1.0 + 7.6)
    # Timer G: T1, 2T1, 4T1, then T2 (§17.2.1) after the first send at 1.0.
    assert [round(t - 1.0, 3) for t, _ in sent] == [0.5, 1.5, 3.5, 7.5]
    assert all(d.startswith(b"SIP/2.0 486") for _, d in sent)
    ack = parse_request(request("ACK", via_branch="z9hG4bKinv1", to_tag="t"))
    layer.receive_request(ack, FLOW, 9.0)
    assert tx.state is State.CONFIRMED and events(layer) == []  # non-2xx ACK stays here
    assert run_until(layer, 9.0 + 4.9) == []  # no more retransmissions
    run_until(layer, 9.0 + 5.0)  # Timer I = T4
    assert tx.state is State.TERMINATED


def test_invite_server_times_out_without_ack() -> None:
    layer, event = new_server(invite())
    layer.respond(event.transaction, make_response(event.request, 603, to_tag="t"), 0.0)
    run_until(layer, 40.0)
    timeouts = [e for e in events(layer) if isinstance(e, TransactionTimedOut)]
    assert len(timeouts) == 1 and event.transaction.state is State.TERMINATED


def test_invite_server_accepted_state_absorbs_invites_and_passes_acks() -> None:
    data = invite(via_branch="z9hG4bKinv2")
    layer, event = new_server(data)
    tx = event.transaction
    layer.respond(tx, make_response(event.request, 200, to_tag="t"), 0.0)
    layer.datagrams_to_send()
    assert tx.state is State.ACCEPTED
    layer.receive_request(parse_request(data), FLOW, 0.5)
    assert layer.datagrams_to_send() == [] and events(layer) == []  # RFC 6026: absorbed
    # The TU retransmits the 2xx itself through the transaction (RFC 6026 §7.1).
    layer.respond(tx, make_response(event.request, 200, to_tag="t"), 0.5)
    assert len(layer.datagrams_to_send()) == 1
    # An ACK that (wrongly) reuses the INVITE branch still reaches the TU.
    layer.receive_request(
        parse_request(request("ACK", via_branch="z9hG4bKinv2", to_tag="t")), FLOW, 0.6
    )
    assert isinstance(events(layer)[0], AckReceived)
    run_until(layer, 32.0)  # Timer L
    assert tx.state is State.TERMINATED


def test_ack_for_2xx_with_new_branch_goes_to_tu() -> None:
    layer = TransactionLayer()
    layer.receive_request(parse_request(request("ACK", to_tag="t")), FLOW, 0.0)
    assert isinstance(events(layer)[0], AckReceived)


def test_server_cannot_send_after_final() -> None:
    layer, event = new_server(request("OPTIONS"))
    layer.respond(event.transaction, make_response(event.request, 200, to_tag="t"), 0.0)
    with pytest.raises(InvalidState):
        layer.respond(event.transaction, make_response(event.request, 500, to_tag="t"), 0.0)


def test_cancel_finds_its_invite() -> None:
    layer, event = new_server(invite(via_branch="z9hG4bKc1"))
    cancel = parse_request(request("CANCEL", via_branch="z9hG4bKc1"))
    layer.receive_request(cancel, FLOW, 0.1)
    (cancel_event,) = events(layer)
    assert isinstance(cancel_event, RequestReceived)
    assert cancel_event.transaction is not event.transaction
    assert layer.find_server(cancel, "INVITE") is event.transaction


def test_rfc2543_requests_match_without_magic_cookie() -> None:
    data = invite(via_branch="oldstyle1")
    layer, event = new_server(data)
    layer.receive_request(parse_request(data), FLOW, 0.1)
    assert events(layer) == []  # matched as a retransmission (§17.2.3)
    layer.respond(event.transaction, make_response(event.request, 404, to_tag="t"), 0.2)
    layer.receive_request(
        parse_request(request("ACK", via_branch="oldstyle1", to_tag="t")), FLOW, 0.3
    )
    assert event.transaction.state is State.CONFIRMED


def test_responses_follow_via_received_and_rport() -> None:
    req = parse_request(invite())
    via = req.top_via
    via.params["received"] = "203.0.113.9"
    via.params["rport"] = "40001"
    req.headers.replace_first("Via", str(via))
    layer = TransactionLayer()
    layer.receive_request(req, Flow("UDP", ("203.0.113.9", 40001)), 0.0)
    (event,) = events(layer)
    assert event.transaction.flow == Flow("UDP", ("203.0.113.9", 40001))


# --------------------------------------------------------------------------- client


def client_request(method: str = "BYE") -> object:
    return parse_request(request(method, via_branch="z9hG4bKclient1", to_tag="t"))


def test_non_invite_client_retransmits_then_times_out() -> None:
    layer, tu = TransactionLayer(), Tu()
    tx = layer.send_request(client_request(), TO_GATEWAY, 0.0, tu.on_final)  # type: ignore[arg-type]
    assert isinstance(tx, NonInviteClientTransaction)
    assert len(layer.datagrams_to_send()) == 1
    sent = run_until(layer, 40.0)
    times = [t for t, _ in sent]
    # Timer E: 0.5, 1, 2, 4, 4, 4, ... until Timer F at 32 s (§17.1.2.2).
    assert times[:5] == [0.5, 1.5, 3.5, 7.5, 11.5]
    assert all(b - a <= 4.0 + 1e-9 for a, b in zip(times, times[1:], strict=False))
    assert max(times) < 32.0
    assert tu.final == [NoResponse()] and tu.statuses == [408]  # Timer F (§8.1.3.1)
    assert events(layer) == []  # the outcome went to the continuation only
    assert tx.state is State.TERMINATED


def test_non_invite_client_proceeding_uses_t2_and_completes() -> None:
    layer, tu = TransactionLayer(), Tu()
    req = client_request()
    tx = layer.send_request(req, TO_GATEWAY, 0.0, tu.on_final, tu.on_provisional)  # type: ignore[arg-type]
    layer.datagrams_to_send()
    layer.receive_response(make_response(req, 100), TO_GATEWAY, 0.2)  # type: ignore[arg-type]
    assert tx.state is State.PROCEEDING
    sent = run_until(layer, 9.0)
    assert [t for t, _ in sent] == [0.5, 4.5, 8.5]  # T2 once proceeding
    layer.receive_response(make_response(req, 200), TO_GATEWAY, 9.0)  # type: ignore[arg-type]
    assert tx.state is State.COMPLETED
    assert tu.statuses == [100, 200]
    layer.receive_response(make_response(req, 200), TO_GATEWAY, 9.1)
    assert tu.statuses == [100, 200] and events(layer) == []  # retransmitted final absorbed
    run_until(layer, 9.0 + 5.0)  # Timer K
    assert tx.state is State.TERMINATED


def test_invite_client_acks_error_and_absorbs_retransmissions() -> None:
    layer, tu = TransactionLayer(), Tu()
    req = parse_request(invite(via_branch="z9hG4bKict1"))
    tx = layer.send_request(req, TO_GATEWAY, 0.0, tu.on_final)
    assert isinstance(tx, InviteClientTransaction)
    layer.datagrams_to_send()
    sent = run_until(layer, 3.6)
    assert [t for t, _ in sent] == [0.5, 1.5, 3.5]  # Timer A doubles
    busy = make_response(req, 486, to_tag="callee")
    layer.receive_response(busy, TO_GATEWAY, 4.0)
    ((ack, _),) = layer.datagrams_to_send()
    assert ack.startswith(b"ACK sip:agent@192.0.2.1:5060 SIP/2.0")
    assert parse_request(ack).to.tag == "callee"
    assert parse_request(ack).top_via.branch == "z9hG4bKict1"
    layer.receive_response(busy, TO_GATEWAY, 4.5)
    assert layer.datagrams_to_send() == [(ack, TO_GATEWAY)]  # ACK again, TU not told twice
    assert tu.statuses == [486]
    run_until(layer, 4.0 + 32.0)  # Timer D
    assert tx.state is State.TERMINATED


def test_invite_client_passes_every_2xx_in_accepted() -> None:
    layer, tu = TransactionLayer(), Tu()
    req = parse_request(invite(via_branch="z9hG4bKict2"))
    tx = layer.send_request(req, TO_GATEWAY, 0.0, tu.on_final)
    ok = make_response(req, 200, to_tag="callee")
    layer.receive_response(ok, TO_GATEWAY, 0.1)
    layer.receive_response(ok, TO_GATEWAY, 0.6)
    assert tu.statuses == [200, 200]  # each 2xx reaches the TU, which ACKs it (RFC 6026 §7.2)
    assert tx.state is State.ACCEPTED
    run_until(layer, 32.1)  # Timer M
    assert tx.state is State.TERMINATED
    layer.receive_response(ok, TO_GATEWAY, 33.0)
    assert isinstance(events(layer)[0], StrayResponse)


def test_non2xx_ack_copies_routes_and_single_via() -> None:
    req = parse_request(
        invite(extra="Route: <sip:proxy.example;lr>\r\nVia: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKx")
    )
    ack = make_non2xx_ack(req, make_response(req, 480, to_tag="x"))
    assert ack.headers.get_all("Route") == ["<sip:proxy.example;lr>"]
    assert len(ack.headers.get_all("Via")) == 1
    assert ack.cseq.method == "ACK" and ack.cseq.number == req.cseq.number


# --------------------------------------------------------------------------- pair test with loss


def test_invite_pair_over_lossy_link() -> None:
    """A UAC and a UAS transaction layer wired together, dropping chosen datagrams."""
    uac, uas = TransactionLayer(), TransactionLayer()
    drop_to_uas = {0, 1}  # the first two INVITEs are lost
    drop_to_uac = {0}  # the first 486 is lost
    counters = {"uas": 0, "uac": 0}
    now = 0.0
    req = parse_request(invite(via_branch="z9hG4bKpair"))
    tu = Tu()
    tx = uac.send_request(req, TO_GATEWAY, now, tu.on_final)
    server_tx = None

    def pump(now: float) -> None:
        nonlocal server_tx
        for data, _ in uac.datagrams_to_send():
            counters["uas"] += 1
            if counters["uas"] - 1 in drop_to_uas:
                continue
            message = parse_request(data)
            uas.receive_request(message, FLOW, now)
        for event in events(uas):
            if isinstance(event, RequestReceived):
                server_tx = event.transaction
                uas.respond(server_tx, make_response(event.request, 486, to_tag="b"), now)
        for data, _ in uas.datagrams_to_send():
            counters["uac"] += 1
            if counters["uac"] - 1 in drop_to_uac:
                continue
            from sipgw.sip.message import parse_message

            uac.receive_response(parse_message(data), TO_GATEWAY, now)  # type: ignore[arg-type]

    pump(now)
    for _ in range(50):
        deadlines = [d for d in (uac.get_timer(), uas.get_timer()) if d is not None]
        if not deadlines:
            break
        now = min(deadlines)
        uac.handle_timer(now)
        uas.handle_timer(now)
        pump(now)
        if (
            tx.state is State.COMPLETED
            and server_tx is not None
            and server_tx.state is State.CONFIRMED
        ):
            break
    assert tx.state is State.COMPLETED and tu.statuses == [486]
    assert server_tx is not None and server_tx.state is State.CONFIRMED
    assert now < 5.0  # recovered by retransmission, long before Timer B


# ------------------------------------------------------- Hypothesis: any input, any state

SERVER_INPUTS = [
    Input.RECV_REQUEST, Input.RECV_ACK, Input.SEND_1XX, Input.SEND_2XX, Input.SEND_3XX_6XX,
    Input.TIMER_G, Input.TIMER_H, Input.TIMER_I, Input.TIMER_J, Input.TIMER_L,
    Input.TRANSPORT_ERROR,
]  # fmt: skip
CLIENT_INPUTS = [
    Input.RECV_1XX, Input.RECV_2XX, Input.RECV_3XX_6XX, Input.TIMER_A, Input.TIMER_B,
    Input.TIMER_D, Input.TIMER_E, Input.TIMER_F, Input.TIMER_K, Input.TIMER_M,
    Input.TRANSPORT_ERROR,
]  # fmt: skip
STATUS = {"1XX": 180, "2XX": 200, "3XX_6XX": 486}


@settings(max_examples=300, deadline=None)
@given(
    kind=st.sampled_from(["ist", "nist", "ict", "nict"]),
    inputs=st.lists(st.sampled_from(SERVER_INPUTS + CLIENT_INPUTS), max_size=12),
)
@example(kind="ict", inputs=[Input.RECV_3XX_6XX, Input.TRANSPORT_ERROR])  # one final only
def test_any_input_sequence_leaves_a_valid_state(kind: str, inputs: list[Input]) -> None:
    """h2-style: every (state, input) either transitions or is refused cleanly."""
    layer = TransactionLayer()
    method = "INVITE" if kind in ("ist", "ict") else "BYE"
    req = parse_request(request(method, via_branch="z9hG4bKhyp", to_tag="t"))
    tx: object
    tu = Tu()
    if kind in ("ist", "nist"):
        layer.receive_request(req, FLOW, 0.0)
        tx = events(layer)[0].transaction
    else:
        tx = layer.send_request(req, TO_GATEWAY, 0.0, tu.on_final, tu.on_provisional)
    valid = {s for (s, _), (_, n) in type(tx).TABLE.items() for s in (s, n)}
    now = 0.0
    for event in inputs:
        now += 0.1
        response = None
        suffix = event.name.split("_", 1)[1]
        if suffix in STATUS:
            response = make_response(req, STATUS[suffix], to_tag="t")
        if event is Input.RECV_ACK and isinstance(tx, InviteServerTransaction):
            tx.ack = parse_request(request("ACK", via_branch="z9hG4bKhyp", to_tag="t"))
        try:
            tx.handle(event, now, response)
        except InvalidState:
            assert event.name.startswith("SEND_")
        assert tx.state in valid
        if tx.state is State.TERMINATED:
            assert tx.timers == {}
        if kind == "nict":
            assert len(tu.final) <= 1  # a non-INVITE's TU hears one final outcome
        if kind == "ict":  # one error or timeout, or any number of 2xx, never both
            errors = [o for o in tu.final if o.status >= 300]
            assert len(errors) <= 1 and (not errors or len(tu.final) == 1)


# ------------------------------------------------------------------ typed tables, continuations

MACHINES = [
    InviteServerTransaction,
    NonInviteServerTransaction,
    InviteClientTransaction,
    NonInviteClientTransaction,
]


@pytest.mark.parametrize("machine", MACHINES)
def test_tables_hold_the_machines_own_methods(machine: type[Transaction]) -> None:
    """Every action is a function the machine itself has (no names looked up at run time)."""
    assert machine.TABLE
    for (state, event), (action, next_state) in machine.TABLE.items():
        assert isinstance(state, State) and isinstance(event, Input)
        assert isinstance(next_state, State)
        if action is not None:
            assert callable(action) and getattr(machine, action.__name__) is action


def test_a_failing_continuation_leaves_the_transaction_consistent() -> None:
    """Continuations run after the transition: Timer K is armed even if the TU raises."""
    layer = TransactionLayer()
    req = client_request()

    def broken(outcome: Outcome, now: float) -> None:
        raise InvalidState("TU bug")

    tx = layer.send_request(req, TO_GATEWAY, 0.0, broken)  # type: ignore[arg-type]
    with pytest.raises(InvalidState):
        layer.receive_response(make_response(req, 200), TO_GATEWAY, 0.1)  # type: ignore[arg-type]
    assert tx.state is State.COMPLETED and Input.TIMER_K in tx.timers
    run_until(layer, 10.0)
    assert tx.state is State.TERMINATED and layer.client == {}


def test_a_continuation_may_start_the_next_request() -> None:
    layer, tu = TransactionLayer(), Tu()
    first = client_request()
    second = parse_request(request("BYE", via_branch="z9hG4bKclient2", to_tag="t"))

    def then_send(outcome: Outcome, now: float) -> None:
        layer.send_request(second, TO_GATEWAY, now, tu.on_final)

    layer.send_request(first, TO_GATEWAY, 0.0, then_send)  # type: ignore[arg-type]
    layer.receive_response(make_response(first, 200), TO_GATEWAY, 0.1)  # type: ignore[arg-type]
    assert [parse_request(d).top_via.branch for d, _ in layer.datagrams_to_send()] == [
        "z9hG4bKclient1",
        "z9hG4bKclient2",
    ]
    layer.receive_response(make_response(second, 481), TO_GATEWAY, 0.2)
    assert tu.statuses == [481]


def test_transport_error_is_a_503_for_the_tu() -> None:
    layer, tu = TransactionLayer(), Tu()
    layer.send_request(client_request(), TO_GATEWAY, 0.0, tu.on_final)  # type: ignore[arg-type]
    layer.transport_error(TO_GATEWAY, 0.1)
    assert tu.final == [NoResponse(transport_error=True)] and tu.statuses == [503]  # §8.1.3.1
    assert layer.client == {} and layer.get_timer() is None


def test_branches_tags_and_call_ids_come_from_the_operating_systems_randomness() -> None:
    """Issue 21: they came from ``random`` (Mersenne Twister), whose next outputs follow
    from enough past ones a peer has seen."""
    assert isinstance(TransactionLayer().rng, random.SystemRandom)
    ua = UserAgent(UserAgentConfig(public_host="192.0.2.1", sip_port=5060))
    assert isinstance(ua._ctx.rng, random.SystemRandom)
    assert make_branch() != make_branch() and make_branch().startswith("z9hG4bK")
