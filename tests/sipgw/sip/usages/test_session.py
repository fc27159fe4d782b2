"""One call's mutable state (sipgw.sip.usages.session): the application's view kept current,
and every deadline of a call cancelled in one place."""

from __future__ import annotations

import pytest

from sipgw.sip.call import CallInfo, CallState, Direction
from sipgw.sip.dialog import Dialog
from sipgw.sip.errors import InvalidState
from sipgw.sip.offeranswer import LocalMedia, answer_offer
from sipgw.sip.sdp import SessionDescription
from sipgw.sip.timers import TimerHeap
from sipgw.sip.usages.session import CallSession, PendingAck, UacLeg
from tests.sipgw.sip.builders import SDP_OFFER, invite, parse_request
from tests.sipgw.sip.usages.parts import FROM_CALLER, incoming_call, usage_context


def outbound_call() -> CallSession:
    """An outbound call's session: our INVITE, no server transaction, a UAC leg."""
    ours = parse_request(invite(extra="Allow: INVITE, ACK"))
    info = CallInfo((ours.call_id, "caller-tag"), ours.from_, ours.to, Direction.OUTBOUND)
    dialog = Dialog.for_uas(ours, FROM_CALLER, local_tag="caller-tag", local_cseq=1, nat_fix=True)
    leg = UacLeg(ours, FROM_CALLER, "<sip:agent@192.0.2.1:5060>", None, peer_allow=["UPDATE"])
    return CallSession(info, ours, None, dialog, None, uac=leg)


def test_state_and_media_are_written_through_to_the_applications_view() -> None:
    session = incoming_call(usage_context())
    info = session.info
    assert session.key == info.key and session.state is info.state is CallState.INCOMING
    session.state = CallState.RINGING
    assert info.state is CallState.RINGING
    local = LocalMedia("192.0.2.1", 30000, session_id="1", session_version=1)
    _, media = answer_offer(SessionDescription.parse(SDP_OFFER.encode()), local)
    session.media = media
    assert info.media is media and session.media is media


def test_only_an_incoming_call_has_an_invite_server_transaction() -> None:
    incoming = incoming_call(usage_context())
    assert incoming.server_transaction is incoming.transaction
    with pytest.raises(InvalidState, match="outbound"):
        outbound_call().server_transaction  # noqa: B018 - the property raises


def test_the_peers_allow_comes_from_its_invite_or_from_its_2xx() -> None:
    data = invite(extra="Allow: INVITE, ACK, BYE\r\nAllow: UPDATE")
    assert incoming_call(usage_context(), data).peer_allow == ["INVITE", "ACK", "BYE", "UPDATE"]
    assert incoming_call(usage_context()).peer_allow == []
    assert outbound_call().peer_allow == ["UPDATE"]  # the leg's, not our INVITE's


@pytest.mark.parametrize("direction", ["inbound", "outbound"])
def test_stop_timers_cancels_every_deadline_of_the_call(direction: str) -> None:
    heap = TimerHeap()
    fired: list[str] = []
    session = incoming_call(usage_context()) if direction == "inbound" else outbound_call()
    ack = PendingAck(1, b"SIP/2.0 200 OK\r\n\r\n", FROM_CALLER, 0.5)
    ack.retransmit = heap.schedule(0.5, lambda now: fired.append("retransmit"))
    ack.give_up = heap.schedule(32.0, lambda now: fired.append("give up"))
    session.pending_ack = ack
    session.session_deadline = heap.schedule(60.0, lambda now: fired.append("session"))
    if session.uac is not None:
        session.uac.ring_timer = heap.schedule(30.0, lambda now: fired.append("ring"))
        session.uac.cancel_timer = heap.schedule(40.0, lambda now: fired.append("cancel"))
    unrelated = heap.schedule(10.0, lambda now: fired.append("another call"))
    session.stop_timers(heap)
    heap.run(1000.0)
    assert fired == ["another call"]
    assert unrelated.callback is None and len(heap) == 0
    assert session.pending_ack is None and session.session_deadline is None
    if session.uac is not None:
        assert session.uac.ring_timer is None and session.uac.cancel_timer is None
    session.stop_timers(heap)  # nothing left to cancel: harmless
