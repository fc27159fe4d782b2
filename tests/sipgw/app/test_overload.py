"""The overload detector on a fake clock (enter, hold, hysteresis, CPU), and in a gateway."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from sipgw.app.overload import OverloadConfig, OverloadDetector
from tests.toolkit.gateway_in_process import running_gateway

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
    config = OverloadConfig(window=1, lateness_ms=10, recover_lateness_ms=5, hold=5, retry_after=8)
    clock = Clock(config)
    clock.run(2)
    clock.run(0.5, late_ms=30)  # a 500 ms burst: p99 over the last second is 30 ms
    assert clock.changes == [True] and clock.detector.retry_after == 8
    clock.run(1.0)  # the burst leaves the 1 s window, calm from then on
    clock.run(4.5)
    assert clock.changes == [True]  # not yet: 5 s of calm are needed
    clock.run(1.0)
    assert clock.changes == [True, False] and clock.detector.retry_after is None


def test_default_window_rides_out_one_stall_but_not_sustained_lateness() -> None:
    """5 s window (250 ticks): one 40 ms stall is not the p99; a second of late ticks is."""
    clock = Clock(OverloadConfig())
    clock.run(6)
    clock.run(TICK, late_ms=40)
    clock.run(6)
    assert clock.changes == []
    clock.run(1.0, late_ms=30)
    assert clock.changes == [True]


def test_between_the_thresholds_it_stays_where_it_is() -> None:
    """Hysteresis: 7 ms neither enters (> 10) nor recovers (< 5)."""
    clock = Clock(OverloadConfig(window=1, lateness_ms=10, recover_lateness_ms=5, hold=2))
    clock.run(5, late_ms=7)
    assert clock.changes == []
    clock.run(1, late_ms=20)
    clock.run(20, late_ms=7)
    assert clock.changes == [True]
    clock.run(3.5, late_ms=1)
    assert clock.changes == [True, False]


def test_a_flare_during_the_hold_restarts_it() -> None:
    clock = Clock(OverloadConfig(window=1, lateness_ms=10, recover_lateness_ms=5, hold=5))
    clock.run(1, late_ms=20)
    clock.run(4)  # calm for about 3 s
    clock.run(0.3, late_ms=20)  # back above the recover threshold
    clock.run(4)
    assert clock.changes == [True]
    clock.run(3)
    assert clock.changes == [True, False]


def test_a_burst_of_cpu_shows_within_the_short_cpu_window() -> None:
    """CPU is judged over 1 s, not the 5 s lateness window: a ramp of new calls that fills
    the core is refused within about a second, before the 5 s average would show it."""
    clock = Clock(OverloadConfig(cpu_percent=90, recover_cpu_percent=75))
    clock.run(10, cpu_share=0.3)
    clock.run(0.5, cpu_share=1.0)
    assert clock.changes == []  # half a second of a full core: 65 % over the last second
    clock.run(0.75, cpu_share=1.0)
    assert clock.changes == [True]  # the 5 s average would still be about 45 %
    long_window = Clock(OverloadConfig(cpu_percent=90, recover_cpu_percent=75, cpu_window=5))
    long_window.run(10, cpu_share=0.3)
    long_window.run(1.25, cpu_share=1.0)
    assert long_window.changes == []


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


def test_with_protection_off_the_ticks_are_not_kept() -> None:
    """Off, the detector is never updated (nothing trims its window): keeping every tick's
    lateness grew the gateway by 50 samples a second for its whole life."""
    detector = OverloadDetector(OverloadConfig(lateness_ms=0, cpu_percent=0), 0.0, 0.0)
    for tick in range(3000):
        detector.observe_lateness(tick * 0.02, 0.001)
    assert len(detector._samples) == 0
    on = OverloadDetector(OverloadConfig(), 0.0, 0.0)
    on.observe_lateness(0.0, 0.001)
    assert len(on._samples) == 1


async def test_the_gateway_refuses_calls_while_its_loop_is_late_and_recovers() -> None:
    """In-process: the event loop blocked for 80 ms a few times is real tick lateness."""
    config = OverloadConfig(
        lateness_ms=30, recover_lateness_ms=15, cpu_percent=0, window=0.5, hold=0.5,
        retry_after=6,
    )  # fmt: skip
    async with running_gateway(overload=config) as (gateway, new_phone):
        await asyncio.sleep(0.3)
        assert gateway.ua.overload_retry_after is None
        for _ in range(3):
            time.sleep(0.08)  # noqa: ASYNC251 -- the point: the loop (and its ticker) stalls
            await asyncio.sleep(0.02)
        await until(lambda: gateway.ua.overload_retry_after == 6)
        metrics = gateway.metrics.render()[0].decode()
        assert "sipgw_overloaded 1.0" in metrics
        phone = await new_phone()
        refused = await phone.invite()
        assert refused.status == 503 and refused.headers.get("Retry-After") == "6"
        assert gateway.counters().overload_refused == 1
        assert "sipgw_overload_refused_total 1.0" in gateway.metrics.render()[0].decode()
        await until(lambda: gateway.ua.overload_retry_after is None, within=5)
        assert gateway.overload.changes == 2
        phone = await new_phone()
        assert (await phone.invite()).status == 200
        await phone.hang_up()


async def until(condition: Callable[[], bool], within: float = 3.0) -> None:
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)
