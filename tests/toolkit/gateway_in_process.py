"""The gateway on the caller's own event loop, with scripted phones to call it.

::

    async with running_gateway(rtp_timeout=1.0) as (gateway, new_phone):
        phone = await new_phone()
        ok = await phone.invite()

This is the one place the toolkit builds an in-process gateway from settings.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sipgw.agent.base import AgentFactory
from sipgw.agent.capabilities import plugin_factory
from sipgw.agent.resilience.settings import BreakerSection
from sipgw.app.agents import find_agent
from sipgw.app.agentstart import agents_may_dial, gateway_services
from sipgw.app.evaluation.phone import Phone
from sipgw.app.evaluation.ports import free_port_range
from sipgw.app.gateway import Gateway, GatewayParts
from sipgw.app.lines.build import LineBase
from sipgw.app.lines.reload import Lines
from sipgw.app.operations.settings import OverloadConfig
from sipgw.app.sections import SECTIONS
from sipgw.app.security.access import AccessConfig
from sipgw.app.settings import GatewayConfig
from sipgw.app.webhooks.settings import WebhookSection, line_check
from sipgw.foundation.settings import Sources, load

__all__ = ["TEST_ACCESS", "TEST_AGENT_ENV", "TEST_SETTINGS", "running_gateway"]

TEST_SETTINGS: dict[str, object] = {
    "bind": "127.0.0.1",
    "sip_port": 0,
    "public_ip": "127.0.0.1",
    "rtp_timeout": 0.0,
}
"""The ``GatewayConfig`` a test gateway runs with unless ``running_gateway`` is told otherwise."""

TEST_OVERLOAD = OverloadConfig(lateness_ms=0, cpu_percent=0)
"""Overload protection is off in a test gateway unless ``running_gateway`` is given one:
a loaded test machine must not turn calls away."""

TEST_AGENT_ENV: dict[str, str] = {"SIPGW_ECHO_DELAY_MS": "200", "SIPGW_FALLBACK_CACHE_DIR": ""}
"""Agent settings (environment variables) a test gateway starts from (the AI agents'
fallback lines synthesized at its start, kept in memory only)."""

TEST_ACCESS = AccessConfig(allow_from=("127.0.0.0/8",))
"""Who may call a test gateway unless ``running_gateway`` is told otherwise: the loopback
network, where its phones are (``sipgw serve`` with nothing configured would refuse every
caller of an agent that spends money: docs/security.md)."""


@asynccontextmanager
async def running_gateway(
    factory: AgentFactory | None = None,
    *,
    agent: str = "echo",
    env: Mapping[str, str] | None = None,
    access: AccessConfig | None = None,
    overload: OverloadConfig = TEST_OVERLOAD,
    breakers: BreakerSection | None = None,
    routes: str | Path | None = None,
    **settings: Any,
) -> AsyncIterator[tuple[Gateway, Callable[..., Awaitable[Phone]]]]:
    """Start a gateway on 127.0.0.1 (port 0, free RTP ports) and yield it with a phone maker.

    ``settings`` override :data:`TEST_SETTINGS` (``GatewayConfig`` fields). Without a
    ``factory``, the agent named ``agent`` answers, configured as ``sipgw serve``
    would be from the variables ``env`` (over :data:`TEST_AGENT_ENV`), which also
    give the gateway its dial allow-list (``SIPGW_DIAL_ALLOW`` and friends). ``access``
    says who may call (default :data:`TEST_ACCESS`: the loopback network); ``overload``
    when new calls are refused for overload (default: never); ``breakers`` when an AI
    service down for everyone turns calls away (default: the gateway's defaults);
    ``routes`` a routes file
    whose lines answer (docs/lines.md), built on the same variables.
    ``new_phone(**options)`` makes a :class:`~sipgw.app.evaluation.phone.Phone` for the
    gateway (``options``: its keyword arguments). On exit the gateway stops (1 s
    grace) and every phone is closed.
    """
    config = GatewayConfig(**{**TEST_SETTINGS, "rtp_ports": tuple(free_port_range(40)), **settings})
    sources = Sources({**TEST_AGENT_ENV, **(env or {}), "SIPGW_AGENT": agent})
    dial = agents_may_dial(sources)
    if factory is None:
        plugin = find_agent(agent)
        factory = plugin.build(
            sources, gateway_services(sources, dial, (*SECTIONS, *plugin.sections))
        )
    lines = None
    if routes is not None:
        base = LineBase(
            sources,
            agent,
            plugin_factory(factory),
            recording=bool(config.record_dir),
            dial_policy=dial,
            catalogue=SECTIONS,
            checks=(line_check(load(WebhookSection, sources), sources),),
        )
        lines = Lines(Path(routes), base)
    gateway = Gateway(
        config,
        factory,
        GatewayParts(
            access=access or TEST_ACCESS,
            dial_policy=dial,
            overload=overload,
            lines=lines,
            breakers=breakers or BreakerSection(),
        ),
    )
    address = await gateway.start()
    phones: list[Phone] = []

    async def new_phone(**options: Any) -> Phone:
        phone = Phone(address, **options)
        phones.append(phone)
        return phone

    try:
        yield gateway, new_phone
    finally:
        await gateway.stop(grace=1.0)
        for phone in phones:
            phone.close()
