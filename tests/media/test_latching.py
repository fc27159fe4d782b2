"""SourceLatch: the SDP's address, the first audio from elsewhere, or a continuation."""

from __future__ import annotations

import ipaddress

from sipgw.media.latching import RELATCH_WINDOW, SourceLatch, ip_literal, same_host

SIGNALLED = ("192.0.2.10", 40000)
NATTED = ("203.0.113.7", 52000)
STRANGER = ("198.51.100.66", 9999)


def test_the_signalled_address_latches_even_with_another_payload_type() -> None:
    latch = SourceLatch(SIGNALLED)
    assert latch.accepts(SIGNALLED, ssrc=1, seq=10, audio=False)
    assert latch.latched == SIGNALLED


def test_the_signalled_address_is_matched_however_it_is_spelt() -> None:
    latch = SourceLatch(("2001:DB8::0a", 40000))
    assert latch.accepts(("2001:db8::a", 40000), ssrc=1, seq=1, audio=True)
    v4 = SourceLatch(("192.0.2.10", 40000))
    assert v4.accepts(("::ffff:192.0.2.10", 40000), ssrc=1, seq=1, audio=False)  # dual stack
    assert same_host("::ffff:192.0.2.10", "192.0.2.10") and not same_host("a", "b")


def test_first_audio_from_elsewhere_latches_nothing_else_does_after() -> None:
    latch = SourceLatch(SIGNALLED)
    assert not latch.accepts(NATTED, ssrc=1, seq=1, audio=False)  # DTMF first: wait for audio
    assert latch.accepts(NATTED, ssrc=1, seq=2, audio=True)
    assert not latch.accepts(STRANGER, ssrc=9, seq=3, audio=True)
    assert not latch.accepts(STRANGER, ssrc=1, seq=2, audio=True)  # a replay is not ahead
    assert latch.latched == NATTED and latch.relatches == 0


def test_a_continuation_takes_over_within_the_window_across_the_wrap() -> None:
    latch = SourceLatch(SIGNALLED)
    assert latch.accepts(SIGNALLED, ssrc=7, seq=65530, audio=True)
    assert not latch.accepts(NATTED, ssrc=7, seq=(65530 + RELATCH_WINDOW + 1) & 0xFFFF, audio=True)
    assert latch.accepts(NATTED, ssrc=7, seq=3, audio=True)  # 65530 -> 3: nine on
    assert latch.latched == NATTED and latch.relatches == 1


def test_an_authenticated_srtp_packet_takes_over() -> None:
    latch = SourceLatch(SIGNALLED)
    latch.accepts(SIGNALLED, ssrc=7, seq=1, audio=True)
    assert latch.accepts(NATTED, ssrc=8, seq=900, audio=True, authenticated=True)
    assert latch.latched == NATTED


def test_retarget_starts_afresh_on_the_new_address() -> None:
    latch = SourceLatch(SIGNALLED)
    latch.accepts(SIGNALLED, ssrc=7, seq=1, audio=True)
    latch.retarget(NATTED)
    assert latch.latched is None and latch.signalled == NATTED
    assert latch.accepts(NATTED, ssrc=8, seq=50, audio=False)


def test_is_latched_names_only_the_latched_source() -> None:
    latch = SourceLatch(SIGNALLED)
    assert not latch.is_latched(SIGNALLED)  # nothing latched yet
    latch.accepts(NATTED, 1, 1, audio=True)
    assert latch.is_latched(NATTED) and not latch.is_latched(SIGNALLED)
    assert not latch.is_latched((NATTED[0], NATTED[1] + 1))  # same host, another port


def test_ip_literal_reads_ip_literals_ipv4_mapped_as_ipv4_and_names_as_none() -> None:
    assert ip_literal("192.0.2.7") == ipaddress.ip_address("192.0.2.7")
    assert ip_literal("[2001:db8::7]") == ipaddress.ip_address("2001:db8::7")
    assert ip_literal("::ffff:192.0.2.7") == ipaddress.ip_address("192.0.2.7")
    assert ip_literal("::ffff:0.0.0.0") == ipaddress.ip_address("0.0.0.0")
    assert ip_literal("peer.example.com") is None
    assert ip_literal("192.0.2.7:4000") is None
