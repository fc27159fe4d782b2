"""Issue 40: an agent of one's own gets every feature a built-in gets, by declaring it.

``keeper_agent.py`` is a plug-in outside sipgw whose factory function declares its
:class:`~agent.capabilities.AgentCapabilities`: a routes file's line sets its ``greeting``,
``serve`` sets up the dialing of the callbacks it stores, and ``SIPGW_AMD`` reaches its placed
calls; one callback it stored is dialed through a real gateway to a second one, and its agent
is told why it calls and the detection asked. Without the declaration each of these is
refused (the record of a plug-in that declares nothing: no routes-file keys, no callbacks).
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import pytest

from agent.amd.config import AmdMode, AmdRequest
from agent.capabilities import UNDECLARED
from agent.echo import EchoAgent
from agent.sections import ConfigError, Sources
from agent.tools.callback_store import CallbackStore
from sipgw.app.agents import find_agent
from sipgw.app.callbacks import CallbackScheduler, gateway_dialer
from sipgw.app.lines.build import LineBase
from sipgw.app.lines.reload import Lines
from sipgw.app.startup import build_startup
from tests.agent.parts import FakeCall
from tests.sipgw.app.keeper_agent import SEEN, KeeperAgent
from tests.toolkit.gateway_in_process import running_gateway

SPEC = "tests.sipgw.app.keeper_agent:make"

ROUTES = f"""\
default = "plain"
[lines.sales]
agent = "{SPEC}"
greeting = "Sales, hello."
[lines.plain]
agent = "{SPEC}"
"""


def gateway_sources(tmp_path: Path, **more: str) -> Sources:
    return Sources({
        "SIPGW_BIND": "127.0.0.1", "SIPGW_ALLOW_FROM": "127.0.0.1",
        "SIPGW_CALLBACK_DB": str(tmp_path / "callbacks.sqlite3"), **more,
    })  # fmt: skip


def test_its_record_is_read_from_its_declaration() -> None:
    capabilities = find_agent(SPEC).capabilities
    assert capabilities is not UNDECLARED
    assert capabilities.amd and capabilities.callbacks and capabilities.paid
    assert set(capabilities.line_keys) == {"greeting"}


def test_a_routes_file_line_sets_the_key_it_declares(tmp_path: Path) -> None:
    plugin = find_agent(SPEC)
    base = LineBase(gateway_sources(tmp_path), SPEC, plugin.build(gateway_sources(tmp_path)))
    path = tmp_path / "routes.toml"
    path.write_text(ROUTES)
    lines = Lines(path, base).table.lines
    sales, plain = lines["sales"].factory(FakeCall()), lines["plain"].factory(FakeCall())
    assert isinstance(sales, KeeperAgent) and sales.greeting == "Sales, hello."
    assert isinstance(plain, KeeperAgent) and plain.greeting == "Hello."
    path.write_text(ROUTES.replace("greeting =", "voice ="))
    with pytest.raises(ConfigError, match=rf"line 4: voice is not something agent {SPEC} takes"):
        Lines(path, base)


def test_serve_dials_its_callbacks_and_takes_detection_for_it(tmp_path: Path) -> None:
    sources = gateway_sources(tmp_path, SIPGW_AMD="detect")
    started = build_startup(find_agent(SPEC), sources)
    assert started.callbacks is not None  # serve starts the dialing (sipgw.app.cli)
    assert started.callbacks.store == tmp_path / "callbacks.sqlite3"
    assert started.outbound.amd is AmdMode.DETECT
    assert started.agent_factory.capabilities.amd


async def test_a_callback_it_stored_is_dialed_with_its_purpose_and_detection(
    tmp_path: Path,
) -> None:
    SEEN.clear()
    sources = gateway_sources(
        tmp_path, SIPGW_AMD="hang_up", SIPGW_CALLBACK_ALLOWED_PREFIXES="+1555"
    )
    started = build_startup(find_agent(SPEC), sources)
    assert started.callbacks is not None
    factory = started.agent_factory
    async with running_gateway(lambda call: EchoAgent(call, 0), max_call_seconds=0.3) as (
        callee,
        _,
    ):
        target = f"sip:+15551234567@127.0.0.1:{callee.ua.config.sip_port}"
        # An inbound call's agent stores a callback to its caller (keypad 5).
        caller = FakeCall(caller="+15551234567")
        factory(caller).on_dtmf("5")
        async with running_gateway(factory, env={"SIPGW_DIAL_ALLOW": target}) as (gateway, _):
            config = gateway.outbound.config
            gateway.outbound.config = dataclasses.replace(config, amd=started.outbound.amd)
            policy = dataclasses.replace(
                started.callbacks.policy, uri_template=target.replace("+15551234567", "{number}")
            )
            store = CallbackStore(started.callbacks.store)
            callbacks = CallbackScheduler(
                store, gateway_dialer(gateway, factory), policy, owner_alive=lambda _: True
            )
            (result,) = await callbacks.run_due(time.time)
    assert result.answered, result
    inbound, placed = SEEN
    assert inbound.direction == "inbound" and inbound.amd is None
    assert placed.direction == "outbound" and placed.amd == AmdRequest(AmdMode.HANG_UP)
    assert placed.purpose is not None and placed.purpose.reason == "your keeper"
