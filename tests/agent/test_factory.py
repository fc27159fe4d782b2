"""Agent factories that use AI services (agent/factory.py): called like any factory, and
they name their services and their warm-up."""

from __future__ import annotations

from sipgw.agent.base import CallControl
from sipgw.agent.factory import ServiceAgentFactory, UsesServices, services_of, warm_up_of
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
