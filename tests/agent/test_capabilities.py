"""The agent contract's record: declared beside a factory function, read as fields."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from sipgw.agent.base import Agent, AgentFactory, CallControl, CallDetails, Direction
from sipgw.agent.capabilities import (
    UNDECLARED,
    AgentCapabilities,
    PluginFactory,
    capabilities_of,
    check_audio,
    declare,
    plugin_factory,
)
from sipgw.agent.echo.agent import EchoAgent
from sipgw.agent.factory import ServiceAgentFactory
from sipgw.agent.record import CallRecord
from sipgw.media.codecs.base import PCM16_16K, ULAW_8K, AudioFormat
from tests.agent.parts import FakeCall, ScriptedTts, assistant, play_out


def echo(call: CallControl) -> Agent:
    return EchoAgent(call)


def test_a_declared_factory_function_has_its_record_and_an_undeclared_one_the_default() -> None:
    record = AgentCapabilities(amd=False, callbacks=True, paid=False)

    @declare(record)
    def mine() -> AgentFactory:
        return echo

    def plain() -> AgentFactory:
        return echo

    assert capabilities_of(mine) is record and mine() is echo  # returned as it was
    assert capabilities_of(plain) is UNDECLARED
    # Today's behaviour of a plug-in that says nothing: reads call.amd, spends money.
    assert (UNDECLARED.amd, UNDECLARED.callbacks, UNDECLARED.paid) == (True, False, True)
    assert UNDECLARED.routes_keys(lambda cls: None) == {}


@dataclass(frozen=True)
class Greeting:
    greeting: str = ""
    voice: str = ""


def test_routes_keys_add_those_that_depend_on_the_line() -> None:
    loaded: list[type[Any]] = []

    def by_voice(load: Any) -> Mapping[str, tuple[type[Any], str]]:
        loaded.append(load(Greeting).__class__)
        return {"voice": (Greeting, "voice")}

    record = AgentCapabilities(
        line_keys={"greeting": (Greeting, "greeting")}, more_line_keys=by_voice
    )
    keys = record.routes_keys(lambda cls: cls())
    assert keys == {"greeting": (Greeting, "greeting"), "voice": (Greeting, "voice")}
    assert loaded == [Greeting]


class Prompted:
    """A factory with every hook: services, records, variables."""

    services = frozenset({"llm"})
    vendors = {"llm": "openai"}
    warm_up = None

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path

    def __call__(self, call: CallControl) -> Agent:
        return EchoAgent(call)

    def new_record(self, call_id: str) -> CallRecord | None:
        return CallRecord(self.tmp_path, call_id)

    def missing_variables(
        self, variables: Mapping[str, str], direction: Direction
    ) -> tuple[str, ...]:
        return () if "name" in variables else ("name",)


def test_a_built_factory_carries_its_hooks_as_fields(tmp_path: Path) -> None:
    record = AgentCapabilities(keypad=True)
    made = plugin_factory(Prompted(tmp_path), record)
    assert made.capabilities is record
    assert made.services == {"llm"} and made.vendors == {"llm": "openai"}
    assert made.new_record is not None and made.missing_variables is not None
    assert made.missing_variables({}, "outbound") == ("name",)
    opened = made.new_record("c1")
    assert opened is not None and opened.call_id == "c1"
    opened.close()
    # A plain function has none; services without vendors are their own breaker key.
    plain = plugin_factory(echo)
    assert (plain.services, plain.new_record, plain.missing_variables) == (frozenset(), None, None)
    assert plain.capabilities is UNDECLARED
    served = plugin_factory(ServiceAgentFactory(echo, frozenset({"tts"})))
    assert served.vendors == {"tts": "tts"} and served.breaker_keys() == {"tts": "tts"}
    # Built by hand: a service with no vendor named is its own breaker's key.
    by_hand = PluginFactory(echo, services=frozenset({"s2s", "llm"}), vendors={"llm": "openai"})
    assert by_hand.breaker_keys() == {"s2s": "s2s", "llm": "openai"}


def test_a_plugin_factory_is_kept_or_given_a_new_record() -> None:
    made = plugin_factory(echo)
    assert plugin_factory(made) is made
    again = plugin_factory(made, AgentCapabilities(paid=False))
    assert isinstance(again, PluginFactory) and again.make is echo
    assert not again.capabilities.paid


class WideEcho(EchoAgent):
    audio_format = PCM16_16K


def test_an_agent_whose_audio_its_record_does_not_declare_is_not_started() -> None:
    """Issue 40: the record's ``audio`` is read where the call's agent is built
    (sipgw.app.calls.callpath): a 16 kHz agent under the default record is a mistake, named."""
    plain = plugin_factory(echo, name="mine")
    check_audio(plain(FakeCall()), plain)  # μ-law 8 kHz: the default
    wide = plugin_factory(lambda call: WideEcho(call, 0), name="wide")
    with pytest.raises(ValueError, match=r"^agent wide: its audio pcm_s16le/16000 is not among"):
        check_audio(wide(FakeCall()), wide)
    declared = plugin_factory(wide.make, AgentCapabilities(audio=frozenset({PCM16_16K})))
    check_audio(declared(FakeCall()), declared)


def test_a_factory_object_may_carry_its_record() -> None:
    """A factory built outside a plug-in (the assistant's, a warm transfer's consultation
    agents') carries its own record; an explicit one wins."""
    from sipgw.agent.assistant.agent import AssistantFactory
    from sipgw.agent.s2s.factories import S2sFactory

    for cls in (AssistantFactory, S2sFactory):
        assert isinstance(cls.capabilities, AgentCapabilities) and cls.capabilities.arrival_audio
    carried = ServiceAgentFactory(echo, frozenset())
    assert plugin_factory(carried).capabilities is UNDECLARED

    class Carrying:
        capabilities = AgentCapabilities(keypad=True)

        def __call__(self, call: CallControl) -> Agent:
            return echo(call)

    assert plugin_factory(Carrying()).capabilities.keypad
    assert not plugin_factory(Carrying(), UNDECLARED).capabilities.keypad


@pytest.mark.parametrize(
    ("rate", "has_wide", "voice", "heard"),
    [
        (16000, True, PCM16_16K, ULAW_8K),  # HD voice: speaks 16 kHz, hears 8 kHz (no wide STT)
        (16000, False, ULAW_8K, None),  # the vendor has no 16 kHz voice: 8 kHz, upsampled
        (8000, True, ULAW_8K, None),  # a G.711 call: μ-law both ways, as ever
    ],
)
async def test_the_assistant_declares_its_voice_and_speaks_at_the_calls_rate(
    rate: int, has_wide: bool, voice: AudioFormat, heard: AudioFormat | None
) -> None:
    """Issue 43: on a call whose codec carries 16 kHz the assistant's frames are 16 kHz
    s16le when its TTS vendor has a 16 kHz voice (ElevenLabs ``pcm_16000``), from the TTS
    it made for that voice, through a playout of that format; every format it chooses is
    one its record declares."""
    from sipgw.agent.assistant.agent import AssistantFactory

    wide = ScriptedTts(format=PCM16_16K)
    a = assistant(call=FakeCall(details=CallDetails(sample_rate=rate)),
                  wideband_tts=wide if has_wide else None, greeting="Hi there.")  # fmt: skip
    agent = a.agent
    assert (agent.audio_format, agent.caller_format) == (voice, heard)
    assert agent.playout.format == voice
    assert (agent.tts is wide) == (voice == PCM16_16K)
    check_audio(agent, PluginFactory(lambda call: agent, AssistantFactory.capabilities))
    await agent.prepare()
    agent.on_answered()
    frames = [f for f in await play_out(agent.playout) if f is not None]
    assert frames and {len(f) for f in frames} == {voice.frame_bytes}
    assert (wide.texts() == ["Hi there."]) == (voice == PCM16_16K)
    await agent.close()
