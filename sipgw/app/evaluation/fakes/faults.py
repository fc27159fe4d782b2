"""Vendor faults on a schedule, for long runs: the three fakes fail one way after another.

Each fault is one a client of the vendor meets in production (a network drop, a 5xx, a
service that goes quiet), applied to running
:class:`~sipgw.app.evaluation.fakes.services.FakeServices` through the fakes' own failure
switches, which follow the vendors' documented answers (docs/cloud-apis.md):

==================  =======================================================================
``stt.disconnect``  every open AssemblyAI session's TCP connection aborted (the client sees
                    close 1006: no close frame)
``stt.5xx``         the next two connection attempts refused at the upgrade with HTTP 503
                    (a service outage; GUESS: the status an outage answers with)
``stt.stall``       the final transcripts come ``stall`` seconds late for ``stall`` seconds
                    (the service slow to end its turns)
``llm.disconnect``  the next chat completion's stream cut after its first chunk (TCP abort:
                    a dropped keep-alive connection mid-answer)
``llm.5xx``         the next chat completion answered 500 ``server_error`` with OpenAI's text
                    ("The server had an error while processing your request", its
                    error-codes guide)
``llm.stall``       the next chat completion sends its headers and then nothing, until the
                    client gives up or goes away
``tts.disconnect``  every open ElevenLabs WebSocket and streaming response aborted
``tts.5xx``         the next two requests (POST or WebSocket upgrade) answered 500
``tts.stall``       the first audio byte comes ``stall`` seconds late for ``stall`` seconds
==================  =======================================================================

:class:`FaultSchedule` is the clock's part, sans-IO: given the time, which faults are due
(one every ``every`` seconds, cycling through its list). :func:`apply_fault` does one to the
fakes and returns what undoes it (a stall's window), or None. ``python -m
bench.fake_services --fault-every S`` runs them in the fakes' process.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sipgw.app.evaluation.fakes.openai import FakeResponse
from sipgw.app.evaluation.fakes.services import FakeServices

__all__ = ["FAULTS", "FaultSchedule", "apply_fault"]

FAULTS: tuple[str, ...] = (
    "stt.disconnect",
    "llm.5xx",
    "tts.stall",
    "stt.5xx",
    "llm.disconnect",
    "tts.disconnect",
    "stt.stall",
    "llm.stall",
    "tts.5xx",
)
"""Every fault, in the default order: each vendor in turn, each kind in turn."""

# OpenAI's error-codes guide, "500 - The server had an error while processing your request"
OPENAI_500 = "The server had an error while processing your request. Sorry about that!"


@dataclass
class FaultSchedule:
    """Which fault is due when (see the module docstring).

    Args:
        faults: the faults, cycled in this order.
        every: seconds between two faults.
        start: when the first is due (the clock's own seconds).
    """

    faults: Sequence[str]
    every: float
    start: float
    applied: int = 0
    """How many are done."""

    def __post_init__(self) -> None:
        unknown = [f for f in self.faults if f not in FAULTS]
        if unknown:
            raise ValueError(f"unknown faults {unknown}; known: {', '.join(FAULTS)}")
        if not self.faults:
            raise ValueError("no faults to schedule")
        if self.every <= 0:
            raise ValueError("every: more than 0 seconds")

    def next_at(self) -> float:
        """When the next fault is due."""
        return self.start + self.applied * self.every

    def due(self, now: float) -> list[str]:
        """The faults due by ``now`` that were not yet handed out, in order."""
        out = []
        while self.next_at() <= now:
            out.append(self.faults[self.applied % len(self.faults)])
            self.applied += 1
        return out


def apply_fault(
    services: FakeServices, fault: str, *, stall: float, reply: str
) -> Callable[[], None] | None:
    """Make ``fault`` happen on ``services`` now; returns what ends it (a stall's window,
    to call ``stall`` seconds later), or None for a fault that is over once done.

    ``reply`` is the LLM's text for the faults that cut or stall an answer.
    """
    stt, llm, tts = services.stt, services.llm, services.tts
    if fault == "stt.disconnect":
        stt.drop_connections()
    elif fault == "stt.5xx":
        stt.reject_next(2, code=503, reason="Service Unavailable")
    elif fault == "stt.stall":
        before = stt.final_latency
        stt.final_latency = before + stall

        def stt_back() -> None:
            stt.final_latency = before

        return stt_back
    elif fault == "llm.disconnect":
        llm.script([FakeResponse(text_deltas=[reply], drop_after=1)])
    elif fault == "llm.5xx":
        llm.script([FakeResponse.http_error(500, OPENAI_500)])
    elif fault == "llm.stall":
        llm.script([FakeResponse(text_deltas=[reply], hang_after=0)])
    elif fault == "tts.disconnect":
        tts.drop_connections()
    elif fault == "tts.5xx":
        tts.fail_next(500, times=2)
    elif fault == "tts.stall":
        first = tts.first_byte_latency
        tts.first_byte_latency = first + stall

        def tts_back() -> None:
            tts.first_byte_latency = first

        return tts_back
    else:
        raise ValueError(f"unknown fault {fault!r}")
    return None
