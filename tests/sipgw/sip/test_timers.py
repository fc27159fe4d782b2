"""The one timer heap of a SIP endpoint: order, cancellation by handle, compaction."""

from __future__ import annotations

from functools import partial

from hypothesis import given, settings
from hypothesis import strategies as st

from sipgw.sip.timers import TimerHeap, TimerValues


def record(fired: list[int], i: int, now: float) -> None:
    fired.append(i)


def test_timer_values_derive_from_t1() -> None:
    values = TimerValues(t1=0.1)
    assert values.b == values.f == values.h == values.j == values.l == values.m == 6.4
    assert values.d == 32.0  # at least 32 s whatever T1 is


def test_fires_in_deadline_order_then_arming_order() -> None:
    heap, fired = TimerHeap(), []
    heap.schedule(2.0, lambda now: fired.append(("b", now)))
    heap.schedule(1.0, lambda now: fired.append(("a", now)))
    heap.schedule(2.0, lambda now: fired.append(("c", now)))
    assert heap.next_deadline() == 1.0 and len(heap) == 3
    heap.run(1.5)
    assert fired == [("a", 1.5)]
    heap.run(2.0)
    assert fired == [("a", 1.5), ("b", 2.0), ("c", 2.0)]
    assert heap.next_deadline() is None and len(heap) == 0


def test_a_timer_armed_while_running_fires_if_due() -> None:
    heap, fired = TimerHeap(), []

    def first(now: float) -> None:
        fired.append("first")
        heap.schedule(now, lambda now: fired.append("chained"))  # due at once
        heap.schedule(now + 1, lambda now: fired.append("later"))

    heap.schedule(1.0, first)
    heap.run(1.0)
    assert fired == ["first", "chained"] and heap.next_deadline() == 2.0


def test_cancel_by_handle() -> None:
    heap, fired = TimerHeap(), []
    early = heap.schedule(1.0, lambda now: fired.append("early"))
    heap.schedule(2.0, lambda now: fired.append("late"))
    heap.cancel(early)
    assert not early.armed and early.callback is None  # what it held is released at once
    assert heap.next_deadline() == 2.0 and len(heap) == 1
    heap.cancel(early)  # twice, or None, or after firing: ignored
    heap.cancel(None)
    heap.run(5.0)
    assert fired == ["late"] and len(heap) == 0


def test_a_fired_timer_drops_its_callback() -> None:
    heap = TimerHeap()
    timer = heap.schedule(1.0, lambda now: None)
    assert timer.armed
    callback = heap.pop_due(1.0)
    assert callback is not None and not timer.armed
    heap.cancel(timer)  # a cancel after it fired changes nothing
    assert len(heap) == 0 and heap.pop_due(9.0) is None


def test_many_cancellations_compact_the_heap() -> None:
    heap, fired = TimerHeap(), list[int]()
    keep = [heap.schedule(float(i), partial(record, fired, i)) for i in range(0, 300, 3)]
    drop = [heap.schedule(float(i), lambda now: fired.append(-1)) for i in range(300)]
    for timer in drop:
        heap.cancel(timer)
    assert len(heap._heap) < len(keep) + len(drop)  # rebuilt without most cancelled entries
    assert len(heap) == len(keep)
    heap.run(1000.0)
    assert fired == list(range(0, 300, 3))


@settings(max_examples=200, deadline=None)
@given(
    deadlines=st.lists(st.floats(0, 100, allow_nan=False), max_size=80),
    cancelled=st.sets(st.integers(0, 79)),
)
def test_exactly_the_live_timers_fire_in_order(deadlines: list[float], cancelled: set[int]) -> None:
    heap, fired = TimerHeap(), list[int]()
    timers = [heap.schedule(d, partial(record, fired, i)) for i, d in enumerate(deadlines)]
    for i in cancelled:
        if i < len(timers):
            heap.cancel(timers[i])
    live = [i for i in range(len(deadlines)) if i not in cancelled]
    assert len(heap) == len(live)
    assert heap.next_deadline() == (min(deadlines[i] for i in live) if live else None)
    heap.run(100.0)
    assert fired == sorted(live, key=lambda i: (deadlines[i], i))
