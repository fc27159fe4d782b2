"""PeerLiveness: nothing before the confirmation, a pause after a silence, back on a sign."""

from __future__ import annotations

from sipgw.media.liveness import LivenessConfig, PeerLiveness


def test_nothing_may_go_out_before_the_confirmation() -> None:
    live = PeerLiveness(LivenessConfig(pause_after=8.0), now=0.0, confirmed=False)
    assert not live.may_send(0.0) and not live.may_send(100.0)
    live.confirm(100.0)
    assert live.may_send(107.9)  # the grace period counts from the confirmation
    assert not live.may_send(108.0) and live.paused and live.pauses == 1


def test_a_sign_ends_the_pause_and_pauses_are_counted_once_each() -> None:
    live = PeerLiveness(LivenessConfig(pause_after=2.0), now=0.0, confirmed=True)
    assert not live.may_send(2.0) and not live.may_send(3.0) and live.pauses == 1
    live.sign(3.5)
    assert live.may_send(3.5) and not live.paused
    assert not live.may_send(5.5) and live.pauses == 2
    assert live.silent_for(6.0) == 2.5


def test_old_signs_do_not_move_the_clock_back_and_zero_never_pauses() -> None:
    live = PeerLiveness(LivenessConfig(pause_after=0.0), now=0.0, confirmed=True)
    live.sign(10.0)
    live.sign(5.0)
    assert live.silent_for(12.0) == 2.0 and live.may_send(1e6) and live.pauses == 0


def test_a_peer_that_is_to_send_rtp_has_the_first_signs_grace_until_it_shows_itself() -> None:
    live = PeerLiveness(LivenessConfig(pause_after=8.0, first_sign=2.0), now=0.0, confirmed=True)
    assert live.limit(expect_rtp=True) == 2.0 and live.limit(expect_rtp=False) == 8.0
    assert live.may_send(1.9, expect_rtp=True) and not live.may_send(2.0, expect_rtp=True)
    assert live.may_send(2.0, expect_rtp=False)  # listen-only: its first RTCP comes later
    live.sign(2.5)
    assert live.heard and live.limit(expect_rtp=True) == 8.0
    assert live.may_send(10.4, expect_rtp=True) and not live.may_send(10.5, expect_rtp=True)
    live.restart(11.0, new_address=True)  # media moved: the new address must show itself
    assert not live.heard and not live.may_send(13.0, expect_rtp=True)
    live.sign(14.0)
    live.restart(15.0)  # back from hold, same address: still heard
    assert live.heard and live.may_send(22.9, expect_rtp=True)


def test_a_first_sign_deadline_not_below_the_pause_is_the_pause() -> None:
    for first in (0.0, 8.0, 20.0):
        live = PeerLiveness(LivenessConfig(pause_after=8.0, first_sign=first), 0.0, True)
        assert live.limit(expect_rtp=True) == 8.0
