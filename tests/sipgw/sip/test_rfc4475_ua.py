"""Every RFC 4475 torture message through the whole UAS core: what it answers.

test_rfc4475.py checks what the parser makes of each message; this checks what
the user agent *sends back*, message by message, against RFC 4475 §3 (and
RFC 3261 where §3 leaves the choice to the element). The messages are read
from where test_rfc4475.py finds them; they are never copied into the repository.
"""

from __future__ import annotations

import random

import pytest

from sipgw.sip.addressing import Flow
from sipgw.sip.events import CallOffered
from sipgw.sip.useragent import UserAgent, UserAgentConfig
from tests.sipgw.sip.rfc4475_data import DATA_DIR

if DATA_DIR is None:  # the same data-availability rule as test_rfc4475.py
    pytest.skip("RFC 4475 messages not found (see test_rfc4475.py)", allow_module_level=True)

# file -> (statuses we send, whether a call is offered to the application, why)
EXPECTED: dict[str, tuple[list[int], bool, str]] = {
    "wsinv": ([481], False, "3.1.1.1 valid; its To tag names a dialog we don't have (§12.2.2)"),
    "intmeth": ([501], False, "3.1.1.2 valid, unknown method"),
    "esc01": ([100], True, "3.1.1.3 valid INVITE"),
    "escnull": ([405], False, "3.1.1.4 valid REGISTER; we are not a registrar"),
    "esc02": ([501], False, "3.1.1.5 RE%47IST%45R is an unknown method"),
    "lwsdisp": ([200], False, "3.1.1.6 valid OPTIONS"),
    "longreq": ([100], True, "3.1.1.7 valid INVITE"),
    "dblreq": ([405], False, "3.1.1.8 the REGISTER; the trailing INVITE is ignored"),
    "semiuri": ([200], False, "3.1.1.9 valid OPTIONS"),
    "transports": ([200], False, "3.1.1.10 valid OPTIONS"),
    "mpart01": ([405], False, "3.1.1.11 valid MESSAGE; we don't take MESSAGE"),
    "unreason": ([], False, "3.1.1.12 a response: nothing to answer"),
    "noreason": ([], False, "3.1.1.13 a response: nothing to answer"),
    "badinv01": ([400], False, "3.1.2.1 extraneous separators"),
    "clerr": ([400], False, "3.1.2.2 Content-Length larger than the datagram"),
    "ncl": ([400], False, "3.1.2.3 negative Content-Length"),
    "scalar02": ([400], False, "3.1.2.4 CSeq out of range"),
    "scalarlg": ([], False, "3.1.2.5 a broken response: dropped"),
    "quotbal": ([400], False, "3.1.2.6 unterminated quoted string"),
    "ltgtruri": ([400], False, "3.1.2.7 <> around the Request-URI"),
    "lwsruri": ([400], False, "3.1.2.8 whitespace in the Request-URI"),
    "lwsstart": ([100], True, "3.1.2.9 extra spaces in the request line: accepted"),
    "trws": ([200], False, "3.1.2.10 trailing spaces in the request line: accepted"),
    "escruri": ([400], False, "3.1.2.11 escaped headers in the Request-URI"),
    "baddate": ([100], True, "3.1.2.12 a bad Date does not matter to a UAS"),
    "regbadct": ([405], False, "3.1.2.13 REGISTER; we are not a registrar"),
    "badaspec": ([400], False, "3.1.2.14 spaces in an addr-spec"),
    "baddn": ([400], False, "3.1.2.15 non-token characters in a display name"),
    "badvers": ([505], False, "3.1.2.16 SIP/7.0"),
    "mismatch01": ([400], False, "3.1.2.17 CSeq method differs from the request's"),
    "mismatch02": ([501], False, "3.1.2.18 unknown method, CSeq mismatch"),
    "bigcode": ([], False, "3.1.2.19 a response with a huge code: dropped"),
    "badbranch": ([200], False, "3.2.1 the bare magic cookie must not break anything"),
    "insuf": ([400], False, "3.3.1 missing Call-ID, From and To"),
    "unkscm": ([416], False, "3.3.2 unknown URI scheme"),
    "novelsc": ([416], False, "3.3.3 a scheme we don't serve"),
    "unksm2": ([405], False, "3.3.4 REGISTER with unknown schemes in To/From"),
    "bext01": ([420], False, "3.3.5 unknown Require/Proxy-Require extension"),
    "invut": ([415], False, "3.3.6 an INVITE body we cannot use"),
    "regaut01": ([405], False, "3.3.7 REGISTER; we are not a registrar"),
    "multi01": ([400], False, "3.3.8 several values in single-value headers"),
    "mcl01": ([400], False, "3.3.9 several Content-Lengths"),
    "bcast": ([], False, "3.3.10 a response: nothing to answer"),
    "zeromf": ([200], False, "3.3.11 Max-Forwards 0 at the UAS: processed"),
    "cparam01": ([405], False, "3.3.12 REGISTER; we are not a registrar"),
    "cparam02": ([405], False, "3.3.13 REGISTER; we are not a registrar"),
    "regescrt": ([405], False, "3.3.14 REGISTER; we are not a registrar"),
    "sdp01": ([406], False, "3.3.15 Accept excludes application/sdp, which our 2xx carries"),
    "inv2543": ([100], True, "3.4.1 an RFC 2543 INVITE (no branch cookie, no Contact): accepted"),
}


def test_every_message_is_in_the_table() -> None:
    assert DATA_DIR is not None
    assert {p.stem for p in DATA_DIR.glob("*.dat")} == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_the_uas_answers_as_rfc4475_says(name: str) -> None:
    assert DATA_DIR is not None
    statuses, offered, why = EXPECTED[name]
    ua = UserAgent(UserAgentConfig(public_host="192.0.2.1", sip_port=5060), rng=random.Random(1))
    ua.receive_datagram(
        (DATA_DIR / f"{name}.dat").read_bytes(), Flow("UDP", ("192.0.2.99", 5060)), 0.0
    )
    sent = [data.split(b" ", 2)[1] for data, _ in ua.datagrams_to_send()]
    assert [int(code) for code in sent] == statuses, why
    events = []
    while (event := ua.next_event()) is not None:
        events.append(event)
    assert any(isinstance(e, CallOffered) for e in events) == offered, why
    ua.handle_timer(100.0)  # and nothing breaks later (retransmissions, timeouts)
