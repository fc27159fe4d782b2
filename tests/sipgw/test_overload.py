"""The overload detector on a fake clock: enter, hold, hysteresis, CPU."""

from __future__ import annotations

from sipgw.app.overload import OverloadConfig, OverloadDetector

TICK = 0.020


class Clock:
    """Feeds a detector 20 ms ticks of given lateness and a CPU share."""

    def __init__(self, config: OverloadConfig) -> None:
        self.now = 100.0
        self.cpu = 0.0
        self.detector = OverloadDetector(config, self.now, self.cpu)
        self.changes: list[bool] = []

    def run(self, seconds: float, late_ms: float = 0.5, cpu_share: float = 0.2) -> None:
        """``seconds`` of ticks, updating the detector every 0.25 s."""
        end = self.now + seconds
        next_update = self.now + 0.25
        while self.now < end - 1e-9:
            self.now += TICK
            self.cpu += TICK * cpu_share
            self.detector.observe_lateness(self.now, late_ms / 1000)
            if self.now >= next_update - 1e-9:
                next_update += 0.25
                change = self.detector.update(self.now, self.cpu)
                if change is not None:
                    self.changes.append(change.overloaded)


def test_quiet_gateway_is_never_overloaded() -> None:
    clock = Clock(OverloadConfig())
    clock.run(30)
    assert clock.changes == [] and clock.detector.retry_after is None
    assert 0.4 < clock.detector.lateness_p99_ms < 0.6
    assert 19 < clock.detector.cpu_percent < 21


def test_late_ticks_enter_and_recovery_waits_for_the_hold_time() -> None:
    config = OverloadConfig(lateness_ms=10, recover_lateness_ms=5, hold=5, retry_after=8)
    clock = Clock(config)
    clock.run(2)
    clock.run(0.5, late_ms=30)  # a 500 ms burst: p99 over the last second is 30 ms
    assert clock.changes == [True] and clock.detector.retry_after == 8
    clock.run(1.0)  # the burst leaves the 1 s window, calm from then on
    clock.run(4.5)
    assert clock.changes == [True]  # not yet: 5 s of calm are needed
    clock.run(1.0)
    assert clock.changes == [True, False] and clock.detector.retry_after is None


def test_between_the_thresholds_it_stays_where_it_is() -> None:
    """Hysteresis: 7 ms neither enters (> 10) nor recovers (< 5)."""
    clock = Clock(OverloadConfig(lateness_ms=10, recover_lateness_ms=5, hold=2))
    clock.run(5, late_ms=7)
    assert clock.changes == []
    clock.run(1, late_ms=20)
    clock.run(20, late_ms=7)
    assert clock.changes == [True]
    clock.run(3.5, late_ms=1)
    assert clock.changes == [True, False]


def test_a_flare_during_the_hold_restarts_it() -> None:
    clock = Clock(OverloadConfig(lateness_ms=10, recover_lateness_ms=5, hold=5))
    clock.run(1, late_ms=20)
    clock.run(4)  # calm for about 3 s
    clock.run(0.3, late_ms=20)  # back above the recover threshold
    clock.run(4)
    assert clock.changes == [True]
    clock.run(3)
    assert clock.changes == [True, False]


def test_cpu_alone_enters_and_leaves() -> None:
    clock = Clock(OverloadConfig(cpu_percent=90, recover_cpu_percent=75, hold=1))
    clock.run(3, cpu_share=0.85)
    assert clock.changes == []
    clock.run(2, cpu_share=0.98)
    assert clock.changes == [True] and clock.detector.cpu_percent > 90
    clock.run(5, cpu_share=0.80)  # below 90 but not below 75: still overloaded
    assert clock.changes == [True]
    clock.run(3, cpu_share=0.5)
    assert clock.changes == [True, False]


def test_a_signal_set_to_zero_is_not_watched() -> None:
    clock = Clock(OverloadConfig(lateness_ms=0, cpu_percent=0))
    clock.run(3, late_ms=500, cpu_share=1.0)
    assert clock.changes == [] and not clock.detector.config.enabled
    late_only = Clock(OverloadConfig(cpu_percent=0))
    late_only.run(3, cpu_share=1.0)
    assert late_only.changes == []


def test_the_change_carries_the_figures() -> None:
    config = OverloadConfig(lateness_ms=10, retry_after=3)
    detector = OverloadDetector(config, 0.0, 0.0)
    for i in range(50):
        detector.observe_lateness(i * TICK, 0.050 if i == 49 else 0.001)
    change = detector.update(1.0, 0.5)
    assert change is not None and change.overloaded and change.retry_after == 3
    assert change.lateness_p99_ms == 50.0 and change.cpu_percent == 50.0
    assert detector.update(1.1, 0.55) is None  # no change, no report
    assert "503 (Retry-After 3)" in config.describe()
