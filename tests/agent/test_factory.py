"""Agent factories that use AI services (agent/factory.py): called like any factory, and
they name their services and their warm-up."""

from __future__ import annotations

import asyncio

from sipgw.agent.base import CallControl
from sipgw.agent.factory import (
    ServiceAgentFactory,
    UsesServices,
    services_of,
    warm_up_of,
    with_llm_ready,
)
from sipgw.agent.resilience.announcement import AnnouncementAgent
from tests.agent.parts import FakeCall


def test_a_service_factory_builds_agents_and_names_its_services() -> None:
    def make(call: CallControl) -> AnnouncementAgent:
        return AnnouncementAgent(call, ())

    async def warm() -> None: ...

    factory = ServiceAgentFactory(make, frozenset({"stt", "tts"}), warm)
    assert isinstance(factory(FakeCall()), AnnouncementAgent)
    assert services_of(factory) == {"stt", "tts"} and factory.warm_up is warm
    assert services_of(make) == frozenset()  # a plain function uses none we know of


def test_any_factory_with_services_and_warm_up_is_one_the_gateway_guards() -> None:
    async def warm() -> None: ...

    class Factory:
        services = frozenset({"s2s"})
        warm_up = staticmethod(warm)

        def __call__(self, call: CallControl) -> AnnouncementAgent:
            return AnnouncementAgent(call, ())

    factory = Factory()
    assert isinstance(factory, UsesServices) and services_of(factory) == {"s2s"}
    assert warm_up_of(factory) is warm
    assert warm_up_of(lambda call: AnnouncementAgent(call, ())) is None


class _Prepared:
    def __init__(self) -> None:
        self.prepared = 0

    async def prepare(self) -> None:
        await asyncio.sleep(0.05)
        self.prepared += 1


async def test_a_warm_up_prepares_the_client_at_the_same_time() -> None:
    llm = _Prepared()
    order: list[str] = []

    async def lines() -> str:
        order.append("lines started")
        await asyncio.sleep(0.05)
        order.append(f"lines done, client prepared {llm.prepared} times")
        return "outcomes"

    both = with_llm_ready(lines, llm)
    assert both is not None and await both() == "outcomes"  # the warm-up's own result
    assert llm.prepared == 1 and order[-1] == "lines done, client prepared 0 times"  # overlapped
    alone = with_llm_ready(None, llm)
    assert alone is not None and await alone() is None and llm.prepared == 2


def test_a_client_with_nothing_to_prepare_leaves_the_warm_up_as_it_is() -> None:
    async def lines() -> None:
        return None

    assert with_llm_ready(lines, object()) is lines
    assert with_llm_ready(None, object()) is None
