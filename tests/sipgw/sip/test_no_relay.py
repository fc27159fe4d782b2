"""The gateway is a UA, never a proxy: hostile requests get answers to the sender, nothing else.

Relay probes (a foreign Request-URI, a Route elsewhere, Max-Forwards games), an
incoming REFER asking us to call a number, a REGISTER for someone else: what
the user agent core sends is only responses, only to the flow the request came
from, never a request to a third party.
"""

from __future__ import annotations

import pytest

from sipgw.sip.message import SipRequest, SipResponse, parse_message
from tests.sipgw.sip.builders import CALLER, invite, request
from tests.sipgw.sip.ua_harness import FROM_CALLER, Harness, answered_call

EVIL = "sip:+442079460000@evil.example"

PROBES = [
    ("INVITE foreign R-URI", lambda: invite(uri=EVIL)),
    ("INVITE Route elsewhere", lambda: invite(extra="Route: <sip:evil.example;lr>\r\n")),
    ("INVITE Max-Forwards 0", lambda: invite(uri=EVIL, extra="Max-Forwards: 0\r\n")),
    ("OPTIONS foreign R-URI", lambda: request("OPTIONS", uri=EVIL, content_type=None)),
    ("REFER outside a dialog", lambda: request(
        "REFER", uri=EVIL, content_type=None, extra=f"Refer-To: <{EVIL}>\r\n")),
    ("REGISTER for someone else", lambda: request(
        "REGISTER", uri="sip:evil.example", content_type=None)),
    ("MESSAGE foreign R-URI", lambda: request("MESSAGE", uri=EVIL, content_type=None)),
    ("BYE foreign R-URI", lambda: request("BYE", uri=EVIL, content_type=None)),
]  # fmt: skip


def only_responses_to_the_sender(h: Harness) -> list[SipResponse]:
    responses = []
    for _, data, flow in h.sent:
        message = parse_message(data)
        assert isinstance(message, SipResponse), message
        assert flow == FROM_CALLER and flow.address == CALLER
        responses.append(message)
    h.sent.clear()
    return responses


@pytest.mark.parametrize(("name", "probe"), PROBES, ids=[p[0] for p in PROBES])
def test_probes_get_only_answers(name: str, probe: object) -> None:
    h = Harness()
    h.feed(probe())  # type: ignore[operator]
    h.advance(64.0)  # every timer: retransmissions still go to the sender only
    responses = only_responses_to_the_sender(h)
    if name.startswith("OPTIONS"):  # answered by us, for us (free by design: health probes)
        assert [r.status for r in responses] == [200]
    elif not name.startswith("INVITE"):
        assert responses and responses[-1].status >= 400, (name, responses)


def test_a_refer_in_a_call_never_makes_us_call_anyone() -> None:
    h = Harness()
    call, ok = answered_call(h)
    h.sent.clear()
    refer = request(
        "REFER", to_tag=ok.to.tag, cseq=2, content_type=None, extra=f"Refer-To: <{EVIL}>\r\n"
    )
    h.feed(refer)
    h.advance(64.0)
    sent = [parse_message(data) for _, data, _ in h.sent]
    assert not [m for m in sent if isinstance(m, SipRequest) and m.method != "BYE"], sent
    answer = [m for m in sent if isinstance(m, SipResponse) and m.cseq.method == "REFER"]
    # the core waits for the application's answer (none here), then declines: 603
    assert answer and answer[0].status in (403, 405, 501, 603), answer
