"""A speech-to-text service's events to their consumer (sipgw/agent/services/stt/outlet.py)."""

from __future__ import annotations

from sipgw.agent.services.stt.base import SttFailed, SttSpeechStarted
from sipgw.agent.services.stt.outlet import EventOutlet


async def test_events_come_in_order_until_the_end_and_none_after_it() -> None:
    outlet = EventOutlet()
    first, second = SttSpeechStarted(10, 1.0), SttSpeechStarted(20, 2.0)
    outlet.emit(first)
    outlet.emit(second)
    outlet.end()
    outlet.end()  # idempotent
    outlet.emit(SttSpeechStarted(30, 3.0))  # too late: dropped
    assert [e async for e in outlet.events()] == [first, second]
    assert [e async for e in outlet.events()] == []  # a later iterator ends at once
    assert outlet.ended and not outlet.failed


async def test_a_failure_is_the_last_event() -> None:
    outlet = EventOutlet()
    failure = SttFailed(reason="gone", code=1008)
    outlet.fail(failure)
    outlet.emit(SttSpeechStarted(10, 1.0))
    assert [e async for e in outlet.events()] == [failure]
    assert outlet.failed and outlet.ended
