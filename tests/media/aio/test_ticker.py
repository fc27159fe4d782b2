"""The one 20 ms ticker that paces every call's media (sipgw.media.aio.ticker).

Its loop runs on a fake clock here: :class:`FakeLoop` stands in for the event
loop's ``time()`` and for ``asyncio.sleep``, which advances that clock to the
deadline (plus any oversleep a test scripts, to play a stalled loop) and
yields. So the pacing is checked to the microsecond, without waiting. One test
runs it on the real loop.
"""

from __future__ import annotations

import asyncio
import logging
import types
from collections.abc import Callable, Coroutine

import pytest

import sipgw.media.aio.ticker
from sipgw.media.aio.ticker import Ticker

START = 1000.0


class Recorder:
    """A participant that records what the ticker asked of it."""

    def __init__(self, name: str, on_tick: Callable[[float], None] | None = None) -> None:
        self.name = name
        self.calls: list[tuple[str, float | int]] = []
        self.on_tick = on_tick

    def tick(self, now: float) -> None:
        self.calls.append(("tick", now))
        if self.on_tick is not None:
            self.on_tick(now)

    def skip(self, ticks: int) -> None:
        self.calls.append(("skip", ticks))

    @property
    def ticks(self) -> list[float]:
        return [float(now) for kind, now in self.calls if kind == "tick"]


class FakeLoop:
    """``time()`` and ``sleep()`` on a fake clock; tasks run on the real loop.

    The ticker's first tick is due at once (no sleep); sleep number 1 waits for the second.
    """

    def __init__(self, oversleep: dict[int, float] | None = None) -> None:
        self.now = START
        self.sleeps = 0
        self.oversleep = oversleep or {}
        """Wake-up number (1 = the first) -> seconds it comes late."""
        self.real = asyncio.get_running_loop()

    def time(self) -> float:
        return self.now

    def create_task(
        self, coro: Coroutine[object, object, None], name: str | None = None
    ) -> asyncio.Task[None]:
        return self.real.create_task(coro, name=name)

    async def sleep(self, delay: float) -> None:
        self.sleeps += 1
        self.now += delay + self.oversleep.get(self.sleeps, 0.0)
        await asyncio.sleep(0)


@pytest.fixture
async def fake_loop(monkeypatch: pytest.MonkeyPatch) -> FakeLoop:
    loop = FakeLoop()
    shim = types.SimpleNamespace(
        get_running_loop=lambda: loop,
        sleep=loop.sleep,
        CancelledError=asyncio.CancelledError,
        Task=asyncio.Task,
    )
    monkeypatch.setattr(sipgw.media.aio.ticker, "asyncio", shim)
    return loop


async def run_until(ticker: Ticker, done: Callable[[], bool]) -> None:
    """Start the ticker, wait until ``done()``, stop it."""
    ticker.start()
    try:
        async with asyncio.timeout(5):
            while not done():  # noqa: ASYNC110 - the fake clock advances on each yield
                await asyncio.sleep(0)
    finally:
        await ticker.stop()


async def test_every_participant_ticks_at_absolute_deadlines(fake_loop: FakeLoop) -> None:
    ticker = Ticker()
    first, second = Recorder("first"), Recorder("second")
    ticker.add(first)
    ticker.add(second)
    lateness: list[float] = []
    ticker.on_lateness = lateness.append
    await run_until(ticker, lambda: len(first.ticks) >= 500)
    expected = [START + 0.020 * n for n in range(len(first.ticks))]
    assert first.ticks == pytest.approx(expected, abs=1e-9)  # no drift after 500 ticks
    assert second.ticks == first.ticks[: len(second.ticks)]
    assert ticker.ticks == len(first.ticks) and ticker.skipped == 0
    assert ticker.drain_lateness() == pytest.approx([0.0] * len(lateness), abs=1e-9)
    assert len(lateness) == ticker.ticks and ticker.lateness == []


async def test_a_stall_runs_five_ticks_back_to_back_and_skips_the_rest(
    fake_loop: FakeLoop,
) -> None:
    """The pacer's catch-up limit: late ticks run at once (jitter buffers absorb them),
    older ones are skipped so that the RTP timestamps stay on wall time."""
    fake_loop.oversleep = {2: 0.200}  # the third tick (the second sleep) wakes 200 ms late
    ticker = Ticker()
    call = Recorder("call")
    ticker.add(call)
    await run_until(ticker, lambda: len(call.ticks) >= 12)
    late = START + 0.040 + 0.200
    # 11 deadlines passed (0.040 to 0.240): 5 run at once, the 6 oldest skipped.
    assert call.calls[2:9] == [("skip", 6)] + [("tick", late)] * 5 + [("tick", late + 0.020)]
    assert call.ticks[:2] == pytest.approx([START, START + 0.020])
    assert ticker.skipped == 6
    assert ticker.lateness[2] == pytest.approx(0.200)


async def test_a_wake_up_within_a_millisecond_before_the_deadline_is_on_time(
    fake_loop: FakeLoop,
) -> None:
    """uvloop rounds timers and its clock to whole milliseconds: a sleep can end up to a
    millisecond early. That tick runs at its deadline, once, with one lateness sample of 0
    (sleeping again for the rest spun until the clock's next millisecond, and every such
    wake-up was a lateness sample that diluted the overload detector's p99)."""
    fake_loop.oversleep = {1: -0.0004, 3: -0.0009}
    ticker = Ticker()
    call = Recorder("call")
    ticker.add(call)
    lateness: list[float] = []
    ticker.on_lateness = lateness.append
    await run_until(ticker, lambda: len(call.ticks) >= 6)
    assert call.ticks[:6] == pytest.approx([START + 0.020 * n for n in range(6)], abs=1e-9)
    assert lateness == pytest.approx([0.0] * ticker.ticks, abs=1e-9)
    assert fake_loop.sleeps <= ticker.ticks  # one sleep a tick: none spent on the rest


async def test_a_ticker_behind_lets_the_loop_run_between_its_catch_ups(
    fake_loop: FakeLoop,
) -> None:
    """Ticks that take longer than the interval (an overloaded gateway): the ticker is always
    behind, yet it yields to the event loop before each catch-up, so the sockets are read
    and the SIP side runs (new calls get their 503) instead of the loop starving."""
    order: list[str] = []

    def slow(now: float) -> None:
        order.append("tick")
        if len(order) < 40:
            fake_loop.now += 0.025  # each tick takes 25 ms of the 20 ms interval

    ticker = Ticker()
    ticker.add(Recorder("call", on_tick=slow))

    async def other_work() -> None:
        while True:
            order.append("loop")
            await asyncio.sleep(0)

    other = asyncio.get_running_loop().create_task(other_work())
    await run_until(ticker, lambda: order.count("tick") >= 30)
    other.cancel()
    runs = "".join("t" if what == "tick" else " " for what in order).split()
    assert max(map(len, runs)) <= 5, order[:80]  # a catch-up's ticks at most, then the loop
    assert ticker.skipped > 0  # and it stays on wall time by skipping


def test_one_wake_up_a_tick_on_uvloop() -> None:
    """On the loop the gateway runs (uvloop), every wake-up runs a tick: as many lateness
    samples as ticks at most, none early (waits for ticks, not for a time)."""
    import uvloop

    async def main() -> Ticker:
        ticker = Ticker()
        done = asyncio.Event()
        ticker.add(Recorder("call", on_tick=lambda now: done.set() if ticker.ticks >= 15 else None))
        ticker.start()
        async with asyncio.timeout(5):
            await done.wait()
        await ticker.stop()
        return ticker

    loop = uvloop.new_event_loop()
    try:
        ticker = loop.run_until_complete(main())
    finally:
        loop.close()
    samples = ticker.drain_lateness()
    assert len(samples) <= ticker.ticks, samples[:20]  # a catch-up runs several ticks a wake-up
    assert min(samples) >= 0.0


async def test_added_and_removed_participants(fake_loop: FakeLoop) -> None:
    ticker = Ticker()
    late_comer, leaver = Recorder("late"), Recorder("leaver")
    host = Recorder("host", on_tick=lambda now: _join_and_leave(ticker, now, late_comer, leaver))
    ticker.add(host)
    ticker.add(leaver)
    assert len(ticker) == 2
    await run_until(ticker, lambda: len(host.ticks) >= 10)
    assert late_comer.ticks[0] == pytest.approx(START + 0.100)  # from the next tick on
    assert leaver.ticks[-1] == pytest.approx(START + 0.080)  # ticked in the round it left
    assert len(ticker) == 2
    ticker.remove(leaver)  # removing twice is harmless


def _join_and_leave(ticker: Ticker, now: float, joiner: Recorder, leaver: Recorder) -> None:
    if abs(now - (START + 0.080)) < 1e-9:
        ticker.add(joiner)
        ticker.remove(leaver)


async def test_a_broken_participant_is_dropped_and_the_others_go_on(
    fake_loop: FakeLoop, caplog: pytest.LogCaptureFixture
) -> None:
    fake_loop.oversleep = {1: 0.060}  # the second tick comes in a catch-up of four
    ticker = Ticker()

    def explode(now: float) -> None:
        if len(broken.ticks) >= 2:
            raise RuntimeError("agent bug")

    broken, healthy = Recorder("broken", on_tick=explode), Recorder("healthy")
    ticker.add(broken)
    ticker.add(healthy)
    with caplog.at_level(logging.ERROR, logger="sipgw.media"):
        await run_until(ticker, lambda: len(healthy.ticks) >= 10)
    assert len(broken.ticks) == 2  # never ticked again, not even in the same catch-up
    assert len(healthy.ticks) >= 10 and ticker.ticks == len(healthy.ticks)
    assert len(ticker) == 1
    assert [r.message for r in caplog.records] == ["media tick failed; dropping that call's media"]


async def test_the_lateness_window_is_bounded(fake_loop: FakeLoop) -> None:
    ticker = Ticker()
    ticker.window = 3
    await run_until(ticker, lambda: ticker.ticks >= 10)
    assert len(ticker.drain_lateness()) == 3
    assert ticker.drain_lateness() == []


async def test_on_the_real_loop() -> None:
    """start() and stop() on the running event loop (waits for ticks, not for a time)."""
    ticker = Ticker(interval=0.005)
    ticked = asyncio.Event()
    call = Recorder("call", on_tick=lambda now: ticked.set() if len(call.ticks) >= 3 else None)
    ticker.add(call)
    ticker.start()
    ticker.start()  # a second start is harmless: one task
    async with asyncio.timeout(5):
        await ticked.wait()
    await ticker.stop()
    count = len(call.ticks)
    await asyncio.sleep(0)
    assert len(call.ticks) == count  # stopped
    await ticker.stop()  # stopping twice is harmless
    # in order; ticks caught up after a late wake-up run back to back at the same "now"
    assert all(b >= a for a, b in zip(call.ticks, call.ticks[1:], strict=False))


async def test_the_flush_follows_every_participants_ticks_once_a_wake_up(
    fake_loop: FakeLoop, caplog: pytest.LogCaptureFixture
) -> None:
    """``flush`` (the batched sender, media/aio/rtp_batch.py): after the read and every
    participant's ticks of a wake-up, a catch-up's included, once; a broken participant or
    a failing flush does not stop it or the ticker."""
    fake_loop.oversleep = {1: 0.040}  # the second wake-up runs three ticks
    ticker = Ticker()
    events: list[str] = []

    def explode(now: float) -> None:
        events.append("tick")
        raise RuntimeError("agent bug")

    ticker.add(Recorder("broken", on_tick=explode))
    ticker.add(Recorder("call", on_tick=lambda now: events.append("tick")))
    ticker.receive = lambda now: events.append("read")

    def flush() -> None:
        events.append("flush")
        if events.count("flush") == 3:
            raise OSError("sendmmsg")

    ticker.flush = flush
    with caplog.at_level(logging.ERROR, logger="sipgw.media"):
        await run_until(ticker, lambda: events.count("flush") >= 4)
    wake_ups = " ".join(events).split("flush")[:4]
    assert [w.split() for w in wake_ups] == [
        ["read", "tick", "tick"],  # the broken one's first tick raised: dropped
        ["read", "tick", "tick", "tick"],  # a catch-up of three, then one flush
        ["read", "tick"],
        ["read", "tick"],  # the flush before failed: the ticker went on
    ]
    assert "sending RTP failed" in [r.message for r in caplog.records]


async def test_what_came_is_judged_after_the_read_and_before_the_ticks(
    fake_loop: FakeLoop, caplog: pytest.LogCaptureFixture
) -> None:
    """``heard`` (the model voice detector's batch, agent/conversation/caller_audio.py): after the
    read, before any participant ticks, once a wake-up; a failing one does not stop the ticks."""
    ticker = Ticker()
    events: list[str] = []
    ticker.add(Recorder("call", on_tick=lambda now: events.append("tick")))
    ticker.receive = lambda now: events.append("read")

    def heard() -> None:
        events.append("heard")
        if events.count("heard") == 2:
            raise RuntimeError("model")

    ticker.heard = heard
    with caplog.at_level(logging.ERROR, logger="sipgw.media"):
        await run_until(ticker, lambda: events.count("tick") >= 3)
    assert events[:9] == ["read", "heard", "tick"] * 3
    assert "judging the caller audio that came failed" in [r.message for r in caplog.records]
