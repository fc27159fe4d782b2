"""The speech-to-speech agents end to end in-process, for the feature tests beside this module.

The real gateway (``running_gateway`` with the agent's factory), the production
session clients, the vendor's fake on a real loopback WebSocket and a scripted
phone sending and receiving real RTP, on the test's virtual clock
(:mod:`tests.toolkit.virtual_time`: a busy machine changes no verdict). The fakes speak
a pure tone per reply (``map_text``), so what the phone hears tells which reply played,
when, and when it stopped.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

from sipgw.agent.amd.settings import AmdRequest
from sipgw.agent.base import Agent, AgentFactory, CallControl
from sipgw.agent.capabilities import plugin_factory
from sipgw.agent.conversation.settings import AssistantSettings
from sipgw.agent.resilience.line_cache import FallbackLineCache, VoiceKey
from sipgw.agent.s2s.factories import realtime_factory, voice_agent_factory
from sipgw.agent.services.assemblyai.voice_agent import VoiceAgentSettings
from sipgw.agent.services.openai.realtime import RealtimeSettings, TurnDetection
from sipgw.agent.tools.builtin import builtin_tools
from sipgw.agent.tools.registry import Tool, ToolRegistry
from sipgw.agent.tools.settings import BuiltinToolSettings
from sipgw.app.calls.callbacks import OutboundCall
from sipgw.app.evaluation.phone import Phone
from sipgw.sip.dialpolicy import DialPolicy
from tests.agent.gateway_stack import GatewayStack
from tests.agent.parts import TONE_BARGE_IN
from tests.toolkit.fakes.realtime import FakeRealtime, RealtimeRecord
from tests.toolkit.fakes.voice_agent import FakeVoiceAgent, VoiceAgentRecord
from tests.toolkit.gateway_in_process import running_gateway
from tests.toolkit.virtual_time import virtual_time

KEY = "s2s-test-key"
TARGET = "sip:human@127.0.0.1:5999"
GREETING = "Hi there."
GREETING_HZ, REPLY_HZ, LONG_HZ, GOODBYE_HZ, CONNECT_HZ, SORRY_HZ = 500, 700, 900, 1100, 1700, 1500
ONE_MOMENT_HZ = 1300
SPEECH_HZ = 300
"""The caller "speaks" a 300 Hz tone."""
LONG = "Let me tell you a long story about our shipping policy and all its details. " * 3

Kind = Literal["voice-agent", "realtime", "realtime-local"]
KINDS: tuple[Kind, ...] = ("voice-agent", "realtime", "realtime-local")


@dataclass
class S2sStack(GatewayStack):
    kind: Kind
    fake: FakeVoiceAgent | FakeRealtime

    @property
    def session(self) -> VoiceAgentRecord | RealtimeRecord:
        """The fake's record of the call's (latest) session."""
        return self.fake.sessions[-1]


def settings_for(tmp_path: Path, **overrides: Any) -> AssistantSettings:
    """The assistant settings the tests' agents share: greeting, records, a transfer target."""
    tools = BuiltinToolSettings(
        callback_db=tmp_path / "callbacks.sqlite3",
        transfer_target=TARGET,
        dial_policy=DialPolicy(per_action={"transfer": (TARGET,)}),
    )
    settings = AssistantSettings(
        greeting=GREETING, record_dir=tmp_path / "calls", builtin_tools=tools,
        barge_in=TONE_BARGE_IN,  # the caller "speaks" a tone: the energy detector hears it
    )  # fmt: skip
    return replace(settings, **overrides)


def make_fake(kind: Kind, **options: Any) -> FakeVoiceAgent | FakeRealtime:
    defaults: dict[str, Any] = {"speed": 4.0, "reply_delay": 0.05}
    if kind == "voice-agent":
        return FakeVoiceAgent(KEY, **{**defaults, **options})
    return FakeRealtime(KEY, **{**defaults, **options})


def factory_for(
    kind: Kind,
    fake: FakeVoiceAgent | FakeRealtime,
    settings: AssistantSettings,
    extra_tools: tuple[Tool, ...] = (),
    reply_timeout: float = 5.0,
    **vendor: Any,
) -> AgentFactory:
    tools = ToolRegistry([*builtin_tools(settings.builtin_tools), *extra_tools])
    # The fallback lines are spoken by the fake at the gateway's start (memory only).
    lines = FallbackLineCache(VoiceKey(kind, "fake", ""), None)
    if kind == "voice-agent":
        assert isinstance(fake, FakeVoiceAgent)
        return voice_agent_factory(
            settings, VoiceAgentSettings(api_key=KEY, url=fake.url, **vendor), tools, None, lines,
            reply_timeout=reply_timeout,
        )  # fmt: skip
    assert isinstance(fake, FakeRealtime)
    detection: TurnDetection = "local" if kind == "realtime-local" else "server_vad"
    realtime = RealtimeSettings(
        api_key=KEY, base_url=fake.base_url, turn_detection=detection, **vendor
    )
    return realtime_factory(settings, realtime, tools, None, lines, reply_timeout=reply_timeout)


class DetectingCall(OutboundCall):
    """A call the phone places, as its agent sees one the gateway placed with ``amd``."""

    def __init__(self, call: CallControl, amd: AmdRequest) -> None:
        super().__init__(call, None)
        self._amd = amd

    @property
    def amd(self) -> AmdRequest | None:
        return self._amd


def detecting(factory: AgentFactory, amd: AmdRequest) -> AgentFactory:
    """``factory``'s agents, each on a call that asks for answering-machine detection."""

    def make(call: CallControl) -> Agent:
        return factory(DetectingCall(call, amd))

    return replace(plugin_factory(factory), make=make)


@asynccontextmanager
async def s2s_stack(
    tmp_path: Path,
    kind: Kind,
    *,
    fake_options: dict[str, Any] | None = None,
    vendor: dict[str, Any] | None = None,
    extra_tools: tuple[Tool, ...] = (),
    reply_timeout: float = 5.0,
    amd: AmdRequest | None = None,
    **overrides: Any,
) -> AsyncIterator[S2sStack]:
    """The gateway answering with ``kind``'s agent against its fake (see the module docstring);
    with ``amd``, its calls are taken for placed ones that ask for that detection."""
    with virtual_time():
        async with _s2s_stack(
            tmp_path, kind, fake_options, vendor, extra_tools, reply_timeout, amd, overrides
        ) as stack:
            yield stack


@asynccontextmanager
async def _s2s_stack(
    tmp_path: Path,
    kind: Kind,
    fake_options: dict[str, Any] | None,
    vendor: dict[str, Any] | None,
    extra_tools: tuple[Tool, ...],
    reply_timeout: float,
    amd: AmdRequest | None,
    overrides: dict[str, Any],
) -> AsyncIterator[S2sStack]:
    fake = make_fake(kind, **(fake_options or {}))
    await fake.start()
    for text, hz in (
        ("Hi there", GREETING_HZ),
        ("shipped", REPLY_HZ),
        ("story", LONG_HZ),
        ("goodbye", GOODBYE_HZ),
        ("connect", CONNECT_HZ),
        ("sorry", SORRY_HZ),
        ("One moment, please", ONE_MOMENT_HZ),
    ):
        fake.map_text(text, hz)  # fmt: skip
    settings = settings_for(tmp_path, **overrides)
    factory = factory_for(kind, fake, settings, extra_tools, reply_timeout, **(vendor or {}))
    if amd is not None:
        factory = detecting(factory, amd)
    env = {"SIPGW_TRANSFER_TARGET": TARGET}
    try:
        async with running_gateway(factory, env=env) as (gateway, new_caller):
            yield S2sStack(gateway, new_caller, tmp_path / "calls", kind, fake)
    finally:
        await fake.aclose()
    assert fake.failures == []  # the fake itself never failed


async def greeted(phone: Phone) -> None:
    """Wait until the greeting has been heard in full."""
    await phone.wait_for_tone(GREETING_HZ, within=5)
    await phone.wait_until_quiet(0.1, hz=GREETING_HZ)


async def hang_up(caller: Phone, phone: Phone) -> None:
    await phone.stop_audio()
    await caller.bye()
