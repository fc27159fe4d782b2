"""Issue 40: an agent of one's own gets every feature a built-in gets, by declaring it.

``keeper_agent.py`` is a plug-in outside sipgw's packages, loaded as ``package.module:factory``,
whose factory function declares its :class:`~sipgw.agent.capabilities.AgentCapabilities`. Proven end
to end on in-process gateways with the toolkit's phone, as the neighbouring tests do:

- a routes file's line sets its ``greeting`` (its own line key): a SIP call routed to the
  line is answered by it with that greeting, heard as its tone's pitch;
- ``serve`` dials the callbacks it stores: the callback runner ``serve`` starts
  (:func:`~sipgw.app.calls.callbacks.start_callbacks`, from the start-up ``build_startup`` made)
  dials one through a real gateway to a second one, its agent told why it calls;
- answering-machine detection on a placed call (``SIPGW_AMD=hang_up``): the callee's audio
  reaches it from the answer on (it declares ``arrival_audio``), its detector hears a
  voicemail's beep, and it hangs up.

Without the declaration each of these is refused or never happens (the record of a plug-in
that declares nothing: no routes-file keys, no callbacks, no early audio).
"""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from sipgw.agent.amd import AnswerKind
from sipgw.agent.amd.settings import AmdMode, AmdRequest
from sipgw.agent.base import Agent, CallControl
from sipgw.agent.capabilities import UNDECLARED
from sipgw.agent.echo.agent import EchoAgent
from sipgw.agent.tools.callback_store import CallbackState, CallbackStore
from sipgw.app.agents import find_agent
from sipgw.app.calls.callbacks import start_callbacks
from sipgw.app.evaluation.audio import tone_frames
from sipgw.app.lines.build import LineBase
from sipgw.app.lines.reload import Lines
from sipgw.app.startup import build_startup
from sipgw.foundation.settings import ConfigError, Sources
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


async def until(condition: Callable[[], bool | Awaitable[bool]], within: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not await _value(condition()):
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.02)


async def _value(value: bool | Awaitable[bool]) -> bool:
    return await value if inspect.isawaitable(value) else bool(value)


async def test_a_call_routed_to_its_line_is_answered_with_the_lines_greeting(
    tmp_path: Path,
) -> None:
    """Its own line key, on a real call: ``greeting = "Sales, hello."`` (13 characters:
    a 850 Hz tone) on line sales, its default ("Hello.", 500 Hz) on the default line."""
    SEEN.clear()
    routes = tmp_path / "routes.toml"
    routes.write_text(ROUTES + '[[routes]]\ncalled = "sales"\nline = "sales"\n')
    env = {"SIPGW_CALLBACK_DB": str(tmp_path / "callbacks.sqlite3")}
    async with running_gateway(agent=SPEC, env=env, routes=routes) as (gateway, new_phone):
        for user, hz, other in (("sales", 850, 500), ("someone", 500, 850)):
            phone = await new_phone(user=user)
            assert (await phone.invite()).status == 200
            await until(lambda phone=phone, hz=hz: phone.heard_tone(hz, 0.3))  # type: ignore[misc]
            assert not phone.heard_tone(other, 0.1)
            await phone.bye()
    assert [(seen.greeting, seen.direction) for seen in SEEN] == [
        ("Sales, hello.", "inbound"),
        ("Hello.", "inbound"),
    ]


async def test_serve_dials_a_callback_it_stored_with_its_purpose(tmp_path: Path) -> None:
    SEEN.clear()
    async with running_gateway(lambda call: EchoAgent(call, 0), max_call_seconds=0.3) as (
        callee,
        _,
    ):
        host = f"127.0.0.1:{callee.ua.config.sip_port}"
        target = f"sip:+15551234567@{host}"
        sources = gateway_sources(
            tmp_path, SIPGW_CALLBACK_ALLOWED_PREFIXES="+1555",
            SIPGW_CALLBACK_URI=f"sip:{{number}}@{host}", SIPGW_DIAL_ALLOW=target,
        )  # fmt: skip
        started = build_startup(find_agent(SPEC), sources)
        assert started.callbacks is not None  # serve starts the dialing (sipgw.app.cli)
        factory = started.agent_factory
        # An inbound call's agent stores a callback to its caller (keypad 5).
        factory(FakeCall(caller="+15551234567")).on_dtmf("5")
        store = CallbackStore(started.callbacks.store)
        async with running_gateway(factory, env={"SIPGW_DIAL_ALLOW": target}) as (gateway, _):
            runner = start_callbacks(started.callbacks, gateway, factory)  # as serve does
            assert runner is not None
            try:

                async def done() -> bool:
                    rows = await store.rows()
                    return bool(rows) and rows[0].state is CallbackState.DONE

                await until(done)
            finally:
                await runner.stop(grace=2.0)
    inbound, placed = SEEN
    assert inbound.direction == "inbound" and inbound.amd is None
    assert placed.direction == "outbound" and placed.purpose is not None
    assert placed.purpose.reason == "your keeper"


class Voicemail(Agent):
    """A voicemail: 0.4 s of silence, a 1 kHz beep of 0.5 s, then silence while it records."""

    def __init__(self, call: CallControl) -> None:
        self.call = call
        self.frames: list[bytes | None] = [None] * 20 + list(tone_frames(1000, 0.5, -15.0))

    def on_caller_frame(self, frame: bytes | None) -> None:
        pass

    def next_frame(self) -> bytes | None:
        return self.frames.pop(0) if self.frames else None


async def test_detection_on_a_placed_call_hears_the_voicemails_beep_and_hangs_up(
    tmp_path: Path,
) -> None:
    """``SIPGW_AMD=hang_up`` reaches its placed call, and the callee's audio reaches its
    agent from the answer on (its record's ``arrival_audio``; detection's calls are heard
    while the agent prepares): its detector decides a voicemail at the beep and it hangs
    up, without a sound from it (it speaks only to a person)."""
    SEEN.clear()
    started = build_startup(find_agent(SPEC), gateway_sources(tmp_path, SIPGW_AMD="hang_up"))
    async with running_gateway(Voicemail) as (callee, _):
        target = f"sip:voicemail@127.0.0.1:{callee.ua.config.sip_port}"
        async with running_gateway(started.agent_factory) as (gateway, _):
            config = gateway.outbound.config
            gateway.outbound.config = dataclasses.replace(config, amd=started.outbound.amd)
            outcome = await asyncio.wait_for(gateway.place_call(target), 20)
    (placed,) = SEEN
    assert placed.amd == AmdRequest(AmdMode.HANG_UP)
    assert placed.answered_by is AnswerKind.VOICEMAIL, placed
    assert outcome.answered and outcome.duration < 5.0, outcome.describe()
    assert outcome.reason == "local-bye", outcome.describe()  # we hung up, not the callee
