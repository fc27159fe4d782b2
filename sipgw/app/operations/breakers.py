"""The gateway's side of its agents' AI services: a breaker per vendor, and the warm-up.

*Circuit breakers.* When a vendor is down for everyone, every new call would meet
the same failure and become a dead call. :class:`VendorBreakers` keeps one sans-IO
:class:`sipgw.agent.resilience.breaker.CircuitBreaker` per AI vendor, keyed by the service
and the vendor behind it (``("tts", "elevenlabs")``, ``("s2s", "openai-realtime")``:
:meth:`sipgw.agent.capabilities.PluginFactory.breaker_keys`), so that the Realtime API down
does not turn away the Voice Agent's calls on another line. Each call's reports feed them
(:meth:`VendorBreakers.observer`, a :class:`BreakerObserver` in front of the
metrics' observer): an error that says the vendor is down (a refused, dropped or
timed-out connection, a 5xx, 429, 401 or 403; never a 400:
:func:`sipgw.agent.resilience.breaker.counts_against_vendor`) counts against it, a use
that worked closes it. Before a call gets an agent the gateway asks
:meth:`VendorBreakers.refusal` about its vendors: an incoming SIP call before it
rings or takes an RTP port (503, so a trunk fails over, or, with
``SIPGW_BREAKER_MESSAGE``, that recorded message and the hang-up), a Twilio or
browser call before its media is taken (:meth:`sipgw.app.legs.calls.LegCalls.refusal`:
Twilio is told busy, the browser 503), a call to place before it is dialled (it
fails, naming the vendor). Half-open, one call goes through as the probe. Every
change of state is a log line, and ``/metrics`` has each breaker's state, its
changes and the calls it turned away.

*Warm-up* (:func:`warm_up`): what an agent factory prepares once when the gateway
starts (the fallback lines in its voice: :attr:`sipgw.agent.capabilities.PluginFactory.warm_up`);
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
from typing import Final

from prometheus_client import CollectorRegistry, Counter
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from sipgw.agent.base import AgentFactory
from sipgw.agent.callscope import NO_OBSERVER
from sipgw.agent.capabilities import plugin_factory
from sipgw.agent.observer import (
    AgentObserver,
    ErrorKind,
    IdleOutcome,
    PreemptiveOutcome,
    Service,
    SpeculativeOutcome,
)
from sipgw.agent.resilience.breaker import (
    BreakerChanged,
    BreakerSettings,
    BreakerState,
    CircuitBreaker,
    counts_against_vendor,
)
from sipgw.agent.resilience.settings import BreakerSection, load_message
from sipgw.agent.talk import TalkFigures
from sipgw.app.operations.metrics import GatewayMetrics

__all__ = [
    "WARM_UP_WAIT", "BreakerObserver", "Vendor", "VendorBreakers", "start_warm_up",
    "vendor_breakers", "warm_up",
]  # fmt: skip

log = logging.getLogger("sipgw.breakers")

Vendor = tuple[Service, str]
"""A breaker's key: the service and the vendor behind it (``PluginFactory.breaker_keys``)."""
WARM_UP_WAIT: Final = 5.0
"""Seconds the gateway's start waits for its agents' warm-up (the rest goes on meanwhile)."""
_STATE_VALUE: Final = {
    BreakerState.CLOSED: 0.0,
    BreakerState.HALF_OPEN: 1.0,
    BreakerState.OPEN: 2.0,
}


class VendorBreakers:
    """The gateway's breakers, one per AI vendor (see the module docstring).

    Args:
        settings: when they open; None = no breakers (every call goes through).
        message: the recorded message for turned-away calls; None = 503.
        registry: where their series go (the gateway's metrics).
        clock: a monotonic clock, in seconds.
        inner: the observer every call's reports go on to (the metrics').
    """

    def __init__(
        self,
        settings: BreakerSettings | None,
        message: tuple[bytes, ...] | None,
        registry: CollectorRegistry,
        clock: Callable[[], float],
        inner: AgentObserver = NO_OBSERVER,
    ) -> None:
        self.settings = settings
        self.message = message
        self.inner = inner
        self._clock = clock
        self.breakers: dict[Vendor, CircuitBreaker] = {}
        """The breakers made so far (one per vendor a call used or asked about)."""
        self._changes = Counter(
            "sipgw_breaker_changes",
            "Circuit breaker state changes, by service, vendor and change (opened, "
            "half_opened, closed, reopened).",
            ["service", "vendor", "change"],
            registry=registry,
        )
        self._refused = Counter(
            "sipgw_breaker_refused_calls",
            "Calls turned away (incoming: 503 or the recorded message; Twilio and browser "
            "calls refused; placed calls not dialled) because a vendor their agent needs was "
            "down for everyone, by service and vendor.",
            ["service", "vendor"],
            registry=registry,
        )
        registry.register(_StateCollector(self))

    def observer(self, factory: AgentFactory) -> AgentObserver:
        """The observer for one call of ``factory``'s agent: its reports feed the breakers
        of its vendors and go on to :attr:`inner`."""
        if self.settings is None:
            return self.inner
        return BreakerObserver(self.inner, self, plugin_factory(factory).breaker_keys())

    def refusal(self, factory: AgentFactory, *, probe: bool = True) -> Vendor | None:
        """The vendor whose breaker turns a call for ``factory``'s agent away now, or None.

        A half-open breaker lets this call through as its probe; with ``probe`` False the
        question only peeks (a Twilio webhook before its media stream: the stream's start
        asks again and takes the probe).
        """
        if self.settings is None:
            return None
        now = self._clock()
        vendors = plugin_factory(factory).breaker_keys()
        wanted = [self._breaker(vendor) for vendor in sorted(vendors.items())]
        refused = next((b for b in wanted if not b.allows(now)), None)
        if refused is None and probe:
            for breaker in wanted:
                breaker.allow(now)  # a half-open one: this call is its probe
        self._publish()
        if refused is None:
            return None
        vendor = self._vendor_of(refused)
        self._refused.labels(service=vendor[0], vendor=vendor[1]).inc()
        return vendor

    def failure(self, vendor: Vendor) -> None:
        """A use of ``vendor`` failed in a way that says it is down (reported by a call)."""
        if self.settings is not None:
            self._breaker(vendor).record_failure(self._clock())
            self._publish()

    def success(self, vendor: Vendor) -> None:
        """A use of ``vendor`` worked."""
        if self.settings is not None:
            self._breaker(vendor).record_success(self._clock())
            self._publish()

    def states(self) -> Mapping[Vendor, BreakerState]:
        """Each breaker's state now."""
        now = self._clock()
        states = {self._vendor_of(b): b.state(now) for b in self.breakers.values()}
        self._publish()
        return states

    def _breaker(self, vendor: Vendor) -> CircuitBreaker:
        breaker = self.breakers.get(vendor)
        if breaker is None:
            assert self.settings is not None
            breaker = self.breakers[vendor] = CircuitBreaker(_name(vendor), self.settings)
        return breaker

    def _vendor_of(self, breaker: CircuitBreaker) -> Vendor:
        return next(vendor for vendor, b in self.breakers.items() if b is breaker)

    def _publish(self) -> None:
        """Log and count the state changes."""
        for vendor, breaker in self.breakers.items():
            for change in breaker.events():
                self._changes.labels(service=vendor[0], vendor=vendor[1],
                                     change=change.name).inc()  # fmt: skip
                _log_change(change)


def _name(vendor: Vendor) -> str:
    """How logs name a breaker: ``tts elevenlabs``, ``s2s openai-realtime``; ``tts`` alone
    where the factory named no vendor."""
    service, name = vendor
    return service if name == service else f"{service} {name}"


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
            "Each AI vendor's circuit breaker: 0 closed (calls go through), 1 half-open (the "
            "next call tries), 2 open (new calls turned away).",
            labels=["service", "vendor"],
        )
        for (service, vendor), state in self._breakers.states().items():
            gauge.add_metric([service, vendor], _STATE_VALUE[state])
        yield gauge


class BreakerObserver:
    """One call's :class:`~sipgw.agent.observer.AgentObserver`: its reports feed the breakers of
    its agent's vendors (``vendors``: service -> vendor; a failure only when
    :func:`~sipgw.agent.resilience.breaker.counts_against_vendor` says the vendor is down), and
    everything goes on to ``inner`` (the metrics')."""

    def __init__(
        self, inner: AgentObserver, breakers: VendorBreakers, vendors: Mapping[Service, str]
    ) -> None:
        self._inner = inner
        self._breakers = breakers
        self._vendors = vendors

    def turn_measured(self, stages: Mapping[str, float]) -> None:
        self._inner.turn_measured(stages)

    def barge_in(self) -> None:
        self._inner.barge_in()

    def tool_called(self, source: str, outcome: str, seconds: float) -> None:
        self._inner.tool_called(source, outcome, seconds)

    def service_error(self, service: Service, kind: ErrorKind, status: int | None = None) -> None:
        if counts_against_vendor(status):
            self._breakers.failure((service, self._vendors.get(service, service)))
        self._inner.service_error(service, kind, status)

    def preemptive(self, outcome: PreemptiveOutcome) -> None:
        self._inner.preemptive(outcome)

    def speculative_speech(self, outcome: SpeculativeOutcome, chars: int) -> None:
        self._inner.speculative_speech(outcome, chars)

    def tts_spoken(self, chars: int) -> None:
        self._inner.tts_spoken(chars)

    def service_ok(self, service: Service) -> None:
        self._breakers.success((service, self._vendors.get(service, service)))
        self._inner.service_ok(service)

    def failure_decision(self, decision: str) -> None:
        self._inner.failure_decision(decision)

    def answer_detected(self, kind: str, seconds: float) -> None:
        self._inner.answer_detected(kind, seconds)

    def idle(self, step: IdleOutcome) -> None:
        self._inner.idle(step)

    def talk_measured(self, figures: TalkFigures) -> None:
        self._inner.talk_measured(figures)


def vendor_breakers(section: BreakerSection, metrics: GatewayMetrics) -> VendorBreakers:
    """The gateway's breakers from its settings, fed by every call's reports (each call's
    observer, :meth:`VendorBreakers.observer`, goes on to the metrics')."""
    message = load_message(Path(section.breaker_message)) if section.breaker_message else None
    settings = section.settings() if section.breaker else None
    return VendorBreakers(
        settings, message, metrics.registry, time.monotonic, metrics.agent_observer
    )


def start_warm_up(factories: Iterable[AgentFactory]) -> list[asyncio.Task[object]]:
    """Start each distinct factory's warm-up (a failure is logged); returns their tasks."""
    tasks: list[asyncio.Task[object]] = []
    seen: set[int] = set()
    for factory in factories:
        work = plugin_factory(factory).warm_up
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
