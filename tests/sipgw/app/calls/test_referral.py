"""A REFER the other party sends (sipgw/app/calls/referral.py): its target judged by the dial
allow-list (403 when refused, before the agent hears of it), then the agent's answer (the
default declines, 603), or its acceptance: 202 and the NOTIFYs it reports; in-process over
real loopback sockets with a scripted phone."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from sipgw.agent.base import Referral
from sipgw.app.evaluation.phone import Phone
from sipgw.sip.message import SipRequest, SipResponse
from tests.sipgw.app.calls.test_callhandle import ControlAgent, answered_call, until

pytestmark = pytest.mark.timeout(30)


def refer(phone: Phone, target: str) -> bytes:
    phone.cseq += 1
    request: bytes = phone.request("REFER", cseq=phone.cseq)
    return request.replace(
        b"Content-Length: 0\r\n", f"Refer-To: <{target}>\r\nContent-Length: 0\r\n".encode()
    )


def answer_to(method: str) -> Callable[[SipRequest | SipResponse], bool]:
    return lambda m: isinstance(m, SipResponse) and m.headers.get("CSeq", "").endswith(method)


async def test_a_target_the_allow_list_refuses_is_declined_403() -> None:
    async with answered_call() as (gateway, phone, agent):
        phone.send(refer(phone, "sip:premium@evil.example"))
        response = await phone.expect(answer_to("REFER"))
        assert isinstance(response, SipResponse) and response.status == 403
        assert gateway.counters().dial_refused == 1


async def test_an_agent_that_takes_no_transfers_declines_603() -> None:
    async with answered_call() as (gateway, phone, agent):
        phone.send(refer(phone, "sip:desk@127.0.0.1:5999"))
        response = await phone.expect(answer_to("REFER"))
        assert isinstance(response, SipResponse) and response.status == 603


async def test_an_accepted_refer_is_reported_by_notify(monkeypatch: pytest.MonkeyPatch) -> None:
    taken: list[Referral] = []
    monkeypatch.setattr(ControlAgent, "on_refer", lambda self, referral: taken.append(referral),
                        raising=False)  # fmt: skip
    async with answered_call() as (gateway, phone, agent):
        phone.send(refer(phone, "sip:desk@127.0.0.1:5999"))
        await until(lambda: bool(taken))
        (referral,) = taken
        assert (referral.target, referral.refer_to) == (
            "sip:desk@127.0.0.1:5999", "<sip:desk@127.0.0.1:5999>",
        )  # fmt: skip
        referral.accept()
        response = await phone.expect(answer_to("REFER"))
        assert isinstance(response, SipResponse) and response.status == 202
        trying = await phone.expect(lambda m: isinstance(m, SipRequest) and m.method == "NOTIFY")
        assert isinstance(trying, SipRequest) and trying.body == b"SIP/2.0 100 Trying\r\n"
        referral.report(200, "OK")
        final = await phone.expect(
            lambda m: isinstance(m, SipRequest) and m.method == "NOTIFY" and m is not trying
            and b"200" in m.body
        )  # fmt: skip
        assert isinstance(final, SipRequest)
        assert final.headers.get("Subscription-State", "").startswith("terminated")
        referral.report(200, "OK")  # over: nothing more is sent, nothing raised
