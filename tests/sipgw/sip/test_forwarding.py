"""Why a forwarded call came (sipgw.sip.forwarding): History-Info (RFC 7044),
Diversion (RFC 5806)."""

from __future__ import annotations

from sipgw.sip.forwarding import MAX_STEPS, Forwarding, diversions, forwarded, history
from sipgw.sip.headers import Headers


def headers(*fields: tuple[str, str]) -> Headers:
    return Headers.parse("\r\n".join(f"{name}: {value}" for name, value in fields))


def test_diversion_oldest_first_with_reasons() -> None:
    """RFC 5806 §3: the most recent diversion is listed first."""
    found = diversions(headers(
        ("Diversion", '<sip:+15550002222@pbx.example>;reason=no-answer;counter=1'),
        ("Diversion", '"Main" <sip:+15550001111@carrier.example;user=phone>;reason="user-busy"'),
    ))  # fmt: skip
    assert found == (
        Forwarding("sip:+15550001111@carrier.example;user=phone", "+15550001111", "user-busy"),
        Forwarding("sip:+15550002222@pbx.example", "+15550002222", "no-answer"),
    )
    assert found[0].describe() == "+15550001111 (user-busy)"


def test_a_numeric_diversion_reason_is_read_as_a_cause() -> None:
    (step,) = diversions(headers(("Diversion", "<sip:100@pbx.example>;reason=486")))
    assert (step.reason, step.cause) == ("user-busy", 486)


def test_history_info_reason_in_the_uri() -> None:
    """RFC 7044 §4.2.1: the entry a request was retargeted away from has Reason in its URI."""
    found = history(headers(("History-Info", (
        "<sip:+15550001111@carrier.example?Reason=SIP%3Bcause%3D302%3Btext%3D%22Moved%22>;index=1,"
        "<sip:agent@gw.example>;index=1.1;rc=1"
    ))))  # fmt: skip
    assert found == (
        Forwarding("sip:+15550001111@carrier.example", "+15550001111", "unconditional", 302),
    )


def test_history_info_cause_parameter_of_the_next_target() -> None:
    """RFC 4458 §3: the new target carries cause=NNN (here a no-answer to voicemail)."""
    found = history(headers(
        ("History-Info", "<sip:bob@pbx.example>;index=1"),
        ("History-Info", "<sip:voicemail@gw.example;cause=408>;index=1.1;mp=1"),
    ))  # fmt: skip
    assert found == (Forwarding("sip:bob@pbx.example", "bob", "no-answer", 408),)


def test_history_info_entries_in_index_order_whatever_the_header_order() -> None:
    found = history(headers(
        ("History-Info", "<sip:c@x.example>;index=1.1.1"),
        ("History-Info", "<sip:b@x.example?Reason=SIP%3Bcause%3D486>;index=1.1"),
        ("History-Info", "<sip:a@x.example?Reason=SIP%3Bcause%3D302>;index=1"),
    ))  # fmt: skip
    assert [step.number for step in found] == ["a", "b"]
    assert [step.reason for step in found] == ["unconditional", "user-busy"]


def test_history_info_wins_over_diversion_and_garbage_is_left_out() -> None:
    both = headers(
        ("Diversion", "<sip:old@x.example>;reason=unconditional"),
        ("History-Info", "<sip:new@x.example?Reason=SIP%3Bcause%3D486>;index=1"),
        ("History-Info", "<<broken;index=2"),
    )
    assert [step.number for step in forwarded(both)] == ["new"]
    only_diversion = headers(("Diversion", "<sip:old@x.example>;reason=unconditional"))
    assert [step.number for step in forwarded(only_diversion)] == ["old"]
    assert forwarded(headers(("Diversion", "not a uri at all <"))) == ()


def test_a_forwarding_loop_is_bounded() -> None:
    many = headers(*[("Diversion", f"<sip:{n}@x.example>;reason=deflection") for n in range(50)])
    assert len(forwarded(many)) == MAX_STEPS
