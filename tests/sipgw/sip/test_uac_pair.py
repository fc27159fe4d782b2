"""A scripted UAC made of our own core pieces against the UAS, in memory, on a fake clock.

The UAC side is what an outbound call will be built from: a client INVITE
transaction with continuations, a dialog from the 2xx (RFC 3261 §12.1.2), an
ACK for every 2xx (§13.2.2.4) and a BYE in that dialog. The link between the
two loses chosen 2xx responses and ACKs (aiortc's ``loss_pattern``); the 2xx
reliability of the UAS (§13.3.1.4) must recover every time without a BYE.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

import pytest

from sipgw.sip.addressing import Flow
from sipgw.sip.dialog import Dialog
from sipgw.sip.events import CallConfirmed, CallEnded, CallOffered, EndReason, SipEvent
from sipgw.sip.message import SipRequest, SipResponse, parse_message
from sipgw.sip.transaction import Outcome, TransactionLayer
from sipgw.sip.useragent import UserAgent, UserAgentConfig
from tests.sipgw.sip.builders import CALLER, GATEWAY, invite, parse_request

TO_UAS = Flow("UDP", GATEWAY)
TO_UAC = Flow("UDP", CALLER)


@dataclass
class Loss:
    """Which 2xx-to-INVITE responses (0-based, as the UAS sends them) and ACKs are lost."""

    two_xx: set[int] = field(default_factory=set)
    acks: set[int] = field(default_factory=set)


class Uac:
    """The caller: our transaction layer and Dialog, driven by a few lines of TU logic."""

    def __init__(self) -> None:
        self.layer = TransactionLayer(rng=random.Random(11))
        self.invite = parse_request(invite(via_branch="z9hG4bKpairinvite"))
        self.dialog: Dialog | None = None
        self.early: Dialog | None = None
        self.finals: list[Outcome] = []
        self.bye_outcomes: list[Outcome] = []

    def call(self, now: float) -> None:
        self.layer.send_request(self.invite, TO_UAS, now, self.on_final, self.on_provisional)

    def on_provisional(self, response: SipResponse, now: float) -> None:
        if response.to.tag and self.early is None:
            self.early = Dialog.for_uac(self.invite, response, TO_UAS)  # early dialog (§12.1.2)

    def on_final(self, outcome: Outcome, now: float) -> None:
        self.finals.append(outcome)
        if isinstance(outcome, SipResponse) and 200 <= outcome.status < 300:
            if self.dialog is None:
                self.dialog = Dialog.for_uac(self.invite, outcome, TO_UAS)
            self._ack()  # every 2xx, retransmissions included (§13.2.2.4)

    def _ack(self) -> None:
        assert self.dialog is not None
        via = self.layer.new_via("UDP", f"{CALLER[0]}:{CALLER[1]}")
        ack, flow = self.dialog.next_request("ACK", via, user_agent="pair-uac")
        self.layer.send_stateless(ack.serialize(), flow)

    def hang_up(self, now: float) -> None:
        assert self.dialog is not None
        via = self.layer.new_via("UDP", f"{CALLER[0]}:{CALLER[1]}")
        bye, flow = self.dialog.next_request("BYE", via, user_agent="pair-uac")
        self.layer.send_request(
            bye, flow, now, lambda outcome, now: self.bye_outcomes.append(outcome)
        )


class Pair:
    """The UAC and the UAS joined by a lossy in-memory link."""

    def __init__(self, loss: Loss) -> None:
        self.loss = loss
        self.now = 0.0
        self.uac = Uac()
        config = UserAgentConfig(public_host=GATEWAY[0], sip_port=GATEWAY[1])
        self.uas = UserAgent(config, rng=random.Random(12))
        self.events: list[SipEvent] = []
        self.sent_2xx: list[float] = []
        self.acks = 0
        self.uas_requests: list[SipRequest] = []

    def pump(self) -> None:
        moved = True
        while moved:
            moved = False
            for data, _ in self.uac.layer.datagrams_to_send():
                moved = True
                if data.startswith(b"ACK "):
                    self.acks += 1
                    if self.acks - 1 in self.loss.acks:
                        continue
                self.uas.receive_datagram(data, TO_UAC, self.now)
            for data, _ in self.uas.datagrams_to_send():
                moved = True
                message = parse_message(data)
                if isinstance(message, SipRequest):
                    self.uas_requests.append(message)
                    continue
                if message.status == 200 and message.cseq.method == "INVITE":
                    self.sent_2xx.append(self.now)
                    if len(self.sent_2xx) - 1 in self.loss.two_xx:
                        continue
                self.uac.layer.receive_response(message, TO_UAS, self.now)
            while (event := self.uas.next_event()) is not None:
                moved = True
                self.events.append(event)
                if isinstance(event, CallOffered):  # the application: ring, then answer
                    self.uas.ring(event.call, self.now)
                    self.uas.answer(event.call, 30000, self.now)

    def run_until(self, end: float) -> None:
        self.pump()
        while True:
            deadlines = [d for d in (self.uas.get_timer(), self.uac.layer.get_timer()) if d]
            if not deadlines or min(deadlines) > end:
                break
            self.now = min(deadlines)
            self.uas.handle_timer(self.now)
            self.uac.layer.handle_timer(self.now)
            self.pump()
        self.now = end

    def of(self, kind: type[SipEvent]) -> list[SipEvent]:
        return [e for e in self.events if isinstance(e, kind)]


@pytest.mark.parametrize(
    ("loss", "two_xx_sent"),
    [
        (Loss(), [0.0]),
        (Loss(two_xx={0}), [0.0, 0.5]),  # the 2xx is lost: resent at T1
        (Loss(acks={0}), [0.0, 0.5]),  # the ACK is lost: the 2xx is resent and ACKed again
        (Loss(two_xx={0, 1}, acks={0}), [0.0, 0.5, 1.5, 3.5]),  # T1, 2·T1, 4·T1
    ],
)
def test_a_call_survives_lost_2xx_and_acks(loss: Loss, two_xx_sent: list[float]) -> None:
    pair = Pair(loss)
    pair.uac.call(0.0)
    pair.run_until(10.0)
    assert pair.sent_2xx == two_xx_sent
    assert len(pair.of(CallOffered)) == 1  # INVITE retransmissions were absorbed (RFC 6026)
    assert len(pair.of(CallConfirmed)) == 1 and pair.of(CallEnded) == []
    uac = pair.uac
    received = len(two_xx_sent) - len(loss.two_xx)
    assert [o.status for o in uac.finals] == [200] * received  # each 2xx reached the TU
    assert pair.acks == received
    # The dialogs agree on both ends (§12.1.1 / §12.1.2).
    assert uac.early is not None and uac.dialog is not None
    assert uac.early.remote_tag == uac.dialog.remote_tag
    (offered,) = pair.of(CallOffered)
    assert isinstance(offered, CallOffered)
    call = offered.call
    assert call.key == (uac.dialog.call_id, uac.dialog.remote_tag)
    assert str(uac.dialog.remote_target) == f"sip:agent@{GATEWAY[0]}:{GATEWAY[1]}"
    # Nothing more from the UAS: no give-up BYE after 64·T1.
    pair.run_until(80.0)
    assert pair.uas_requests == [] and pair.sent_2xx == two_xx_sent
    # The UAC hangs up in its dialog.
    uac.hang_up(pair.now)
    pair.run_until(pair.now + 1.0)
    ((ended,),) = [pair.of(CallEnded)]
    assert isinstance(ended, CallEnded) and ended.reason is EndReason.REMOTE_BYE
    assert [o.status for o in uac.bye_outcomes] == [200]
    assert not pair.uas.busy


def test_every_ack_lost_ends_the_call_with_a_bye_after_64_t1() -> None:
    pair = Pair(Loss(acks=set(range(100))))
    pair.uac.call(0.0)
    pair.run_until(40.0)
    (ended,) = pair.of(CallEnded)
    assert isinstance(ended, CallEnded) and ended.reason is EndReason.NO_ACK
    byes = {r.top_via.branch for r in pair.uas_requests if r.method == "BYE"}
    assert len(byes) == 1  # §13.3.1.4: confirmed, then ended with one BYE transaction
    assert pair.uac.dialog is not None
    assert pair.uas_requests[0].to.tag == pair.uac.dialog.local_tag  # in the UAC's dialog
