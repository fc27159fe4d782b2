"""The gateway's side of its agents' AI services: a breaker per service, and the warm-up.

*Circuit breakers.* When a vendor is down for everyone, every new call would meet
the same failure and become a dead call. :class:`VendorBreakers` keeps one sans-IO
:class:`agent.resilience.breaker.CircuitBreaker` per AI service (``stt``, ``llm``,
``tts``, ``s2s``: one vendor each in a gateway), fed by what every call's agent
reports (:class:`BreakerObserver` wraps the metrics' observer: an error opens it,
a use that worked closes it). Before an incoming call is put through to an agent,
the gateway asks :meth:`VendorBreakers.refusal` about the services that agent uses
(:func:`agent.factory.services_of`): while one is open, the call gets 503 (so a
trunk fails over to another gateway) or, with ``SIPGW_BREAKER_MESSAGE``, is answered
with that recorded message and hung up. Half-open, one call goes through as the
probe. Every change of state is a log line, and ``/metrics`` has each breaker's
state, its changes and the calls it turned away.

*Warm-up* (:func:`warm_up`): what an agent factory prepares once when the gateway
starts (the fallback lines in its voice: :class:`agent.factory.UsesServices`);
the start waits for it a few seconds at most, the rest goes on in the background.
A routes file's reload warms up its lines' new agents the same way, in the background
(:func:`start_warm_up`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Final, get_args

from prometheus_client import CollectorRegistry, Counter
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from agent.base import AgentFactory
from agent.factory import services_of, warm_up_of
from agent.observer import (
    AgentObserver,
    ErrorKind,
    PreemptiveOutcome,
    Service,
    SpeculativeOutcome,
)
from agent.resilience.breaker import BreakerChanged, BreakerSettings, BreakerState, CircuitBreaker
from sipgw.app.metrics import GatewayMetrics
from sipgw.app.resilience_settings import BreakerSection, load_message

__all__ = [
    "WARM_UP_WAIT", "BreakerObserver", "VendorBreakers", "start_warm_up", "vendor_breakers",
    "warm_up",
]  # fmt: skip

log = logging.getLogger("sipgw.breakers")

WARM_UP_WAIT: Final = 5.0
"""Seconds the gateway's start waits for its agents' warm-up (the rest goes on meanwhile)."""
SERVICES: Final[tuple[Service, ...]] = get_args(Service)
_STATE_VALUE: Final = {
    BreakerState.CLOSED: 0.0,
    BreakerState.HALF_OPEN: 1.0,
    BreakerState.OPEN: 2.0,
}


class VendorBreakers:
    """The gateway's breakers, one per AI service (see the module docstring).

    Args:
        settings: when they open; None = no breakers (every call goes through).
        message: the recorded message for turned-away calls; None = 503.
        registry: where their series go (the gateway's metrics).
        clock: a monotonic clock, in seconds.
    """

    def __init__(
        self,
        settings: BreakerSettings | None,
        message: tuple[bytes, ...] | None,
        registry: CollectorRegistry,
        clock: Callable[[], float],
    ) -> None:
        self.message = message
        self._clock = clock
        self.breakers: dict[Service, CircuitBreaker] = (
            {service: CircuitBreaker(service, settings) for service in SERVICES}
            if settings is not None
            else {}
        )
        self._changes = Counter(
            "sipgw_breaker_changes",
            "Circuit breaker state changes, by service and change (opened, half_opened, "
            "closed, reopened).",
            ["service", "change"],
            registry=registry,
        )
        self._refused = Counter(
            "sipgw_breaker_refused_calls",
            "Incoming calls turned away (503 or the recorded message) because a service their "
            "agent needs was down for everyone, by service.",
            ["service"],
            registry=registry,
        )
        registry.register(_StateCollector(self))

    def refusal(self, factory: AgentFactory) -> Service | None:
        """The service whose breaker turns a call for ``factory``'s agent away now, or None
        (a half-open breaker lets this call through as its probe)."""
        now = self._clock()
        refused: Service | None = None
        for service in sorted(services_of(factory)):
            breaker = self.breakers.get(service)
            if breaker is not None and not breaker.allow(now):
                refused = service
                break
        self._publish()
        if refused is not None:
            self._refused.labels(service=refused).inc()
        return refused

    def failure(self, service: Service) -> None:
        """A use of ``service`` failed (reported by a call's agent)."""
        breaker = self.breakers.get(service)
        if breaker is not None:
            breaker.record_failure(self._clock())
            self._publish()

    def success(self, service: Service) -> None:
        """A use of ``service`` worked."""
        breaker = self.breakers.get(service)
        if breaker is not None:
            breaker.record_success(self._clock())
            self._publish()

    def states(self) -> Mapping[Service, BreakerState]:
        """Each breaker's state now."""
        now = self._clock()
        states = {service: breaker.state(now) for service, breaker in self.breakers.items()}
        self._publish()
        return states

    def _publish(self) -> None:
        """Log and count the state changes."""
        for breaker in self.breakers.values():
            for change in breaker.events():
                self._changes.labels(service=change.vendor, change=change.name).inc()
                _log_change(change)


def _log_change(change: BreakerChanged) -> None:
    if change.state is BreakerState.OPEN:
        log.error("breaker %s %s: new calls turned away for %.0f s", change.vendor,
                  change.name, (change.open_until or change.at) - change.at)  # fmt: skip
    elif change.state is BreakerState.HALF_OPEN:
        log.warning("breaker %s half-open: the next call tries the service", change.vendor)
    else:
        log.warning("breaker %s closed: the service works again", change.vendor)


class _StateCollector(Collector):
    """Each breaker's state at scrape time: 0 closed, 1 half-open, 2 open."""

    def __init__(self, breakers: VendorBreakers) -> None:
        self._breakers = breakers

    def collect(self) -> Iterable[Metric]:
        return list(self._metrics())

    def _metrics(self) -> Iterator[Metric]:
        gauge = GaugeMetricFamily(
            "sipgw_breaker_state",
            "Each AI service's circuit breaker: 0 closed (calls go through), 1 half-open (the "
            "next call tries), 2 open (new calls turned away).",
            labels=["service"],
        )
        for service, state in self._breakers.states().items():
            gauge.add_metric([service], _STATE_VALUE[state])
        yield gauge


class BreakerObserver:
    """An :class:`~agent.observer.AgentObserver` that feeds the breakers and forwards
    everything to ``inner`` (the metrics')."""

    def __init__(self, inner: AgentObserver, breakers: VendorBreakers) -> None:
        self._inner = inner
        self._breakers = breakers

    def turn_measured(self, stages: Mapping[str, float]) -> None:
        self._inner.turn_measured(stages)

    def barge_in(self) -> None:
        self._inner.barge_in()

    def service_error(self, service: Service, kind: ErrorKind) -> None:
        self._breakers.failure(service)
        self._inner.service_error(service, kind)

    def preemptive(self, outcome: PreemptiveOutcome) -> None:
        self._inner.preemptive(outcome)

    def speculative_speech(self, outcome: SpeculativeOutcome, chars: int) -> None:
        self._inner.speculative_speech(outcome, chars)

    def tts_spoken(self, chars: int) -> None:
        self._inner.tts_spoken(chars)

    def service_ok(self, service: Service) -> None:
        self._breakers.success(service)
        self._inner.service_ok(service)

    def failure_decision(self, decision: str) -> None:
        self._inner.failure_decision(decision)

    def answer_detected(self, kind: str, seconds: float) -> None:
        self._inner.answer_detected(kind, seconds)


def vendor_breakers(section: BreakerSection, metrics: GatewayMetrics) -> VendorBreakers:
    """The gateway's breakers from its settings, fed by every agent's reports (the
    metrics' observer is wrapped)."""
    message = load_message(Path(section.breaker_message)) if section.breaker_message else None
    settings = section.settings() if section.breaker else None
    breakers = VendorBreakers(settings, message, metrics.registry, time.monotonic)
    metrics.agent_observer = BreakerObserver(metrics.agent_observer, breakers)
    return breakers


def start_warm_up(factories: Iterable[AgentFactory]) -> list[asyncio.Task[object]]:
    """Start each distinct factory's warm-up (a failure is logged); returns their tasks."""
    tasks: list[asyncio.Task[object]] = []
    seen: set[int] = set()
    for factory in factories:
        work = warm_up_of(factory)
        if work is not None and id(factory) not in seen:
            seen.add(id(factory))
            task = asyncio.ensure_future(_awaited(work()))
            task.add_done_callback(_log_failure)
            tasks.append(task)
    return tasks


async def warm_up(factories: Iterable[AgentFactory], within: float) -> list[asyncio.Task[object]]:
    """Start each distinct factory's warm-up; wait for them ``within`` seconds at most.
    Returns the tasks still running (the caller cancels them at stop)."""
    tasks = start_warm_up(factories)
    if not tasks:
        return []
    _, pending = await asyncio.wait(tasks, timeout=within)
    if pending:
        log.info("agent warm-up goes on in the background (%d left)", len(pending))
    return list(pending)


def _log_failure(task: asyncio.Task[object]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("agent warm-up failed", exc_info=task.exception())


async def _awaited(awaitable: Awaitable[object]) -> object:
    return await awaitable
