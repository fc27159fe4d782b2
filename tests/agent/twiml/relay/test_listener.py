"""The listening side of a ConversationRelay session, on the in-memory STT and a recorded
agent side: the caller's turn as ``prompt`` (partials before it), keys as ``dtmf``, input
while the agent speaks held back as ``reportInputDuringAgentSpeech`` says, a barge-in on a
key, and a new recognizer session for a language its model does not follow; the verb's
``ignorebackchannel``, ``echoPromptFiltering``, ``speechtimeout`` (the STT's configuration)
and ``partialPromptOnHangup``."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import pytest

from sipgw.agent.services.stt.base import SpeechToText, SttPartialTranscript, SttTurnEnded
from sipgw.agent.turns.machine import Cause, TurnTaker
from sipgw.agent.twiml.relay.listener import RelayListener
from sipgw.agent.twiml.relay.speaker import RelayTimings
from sipgw.twilio.relay import DtmfMessage, PlatformMessage, PromptMessage
from sipgw.twilio.relaytwiml import ConversationRelay
from tests.agent.parts import ScriptedStt, wait_for


@dataclass
class Agent:
    """The speaking side, as the listener and the turn-taking machine see it."""

    talking: bool = False
    cuts: list[Cause] = field(default_factory=list)
    paused: int = 0

    @property
    def audible(self) -> bool:
        return self.talking

    @property
    def pending(self) -> bool:
        return self.talking

    def active_reply_started_at(self) -> float | None:
        return 0.0 if self.talking else None

    def speaking(self) -> bool:
        return self.talking

    def pause(self) -> None:
        self.paused += 1

    def resume(self) -> None:
        pass

    def barge_in(self, cause: Cause) -> None:
        self.cuts.append(cause)


def listener_for(
    relay: ConversationRelay,
    stt: ScriptedStt,
    agent: Agent,
    stt_for: Callable[[str], SpeechToText] | None = None,
    keyterms: tuple[str, ...] = (),
) -> tuple[RelayListener, list[PlatformMessage], list[str]]:
    sent: list[PlatformMessage] = []
    ignored: list[str] = []
    tasks: set[asyncio.Task[None]] = set()

    def spawn(work: Awaitable[None]) -> asyncio.Task[None]:
        task = asyncio.ensure_future(work)
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        return task

    listener = RelayListener(relay, stt, TurnTaker(agent), agent, "c1", RelayTimings(),
                             sent.append, spawn, ignored.append, stt_for=stt_for,
                             keyterms=keyterms)  # fmt: skip
    return listener, sent, ignored


def ended(text: str, order: int) -> SttTurnEnded:
    return SttTurnEnded(text, order, (), asyncio.get_running_loop().time(), None)


async def test_the_caller_s_turn_and_keys_go_to_the_app() -> None:
    stt, agent = ScriptedStt(), Agent()
    relay = ConversationRelay("wss://a", language="fr-FR", partial_prompts=True,
                              dtmf_detection=True)  # fmt: skip
    listener, sent, ignored = listener_for(relay, stt, agent, keyterms=("Acme",))
    await listener.connect()
    assert ignored == ["hints (the speech-to-text takes no key terms)"]
    listener.start()
    stt.emit(SttPartialTranscript("Bonjour", 0, asyncio.get_running_loop().time()))
    stt.emit(ended("Bonjour madame", 0))
    await wait_for(lambda: len(sent) == 2)
    assert sent == [PromptMessage("Bonjour", "fr-FR", False),
                    PromptMessage("Bonjour madame", "fr-FR", True)]  # fmt: skip
    assert listener.prompts == 1 and listener.timings.prompt_sent_at is not None
    listener.on_dtmf("7")
    assert sent[-1] == DtmfMessage("7")
    await listener.close()
    assert stt.closed


async def test_input_while_the_agent_speaks_is_held_back_and_a_key_cuts_in() -> None:
    stt, agent = ScriptedStt(), Agent(talking=True)
    relay = ConversationRelay("wss://a", dtmf_detection=True,
                              report_input_during_agent_speech="dtmf")  # fmt: skip
    listener, sent, _ = listener_for(relay, stt, agent)
    listener.start()
    stt.emit(ended("Stop talking", 0))
    await wait_for(lambda: listener.suppressed == 1)
    listener.on_dtmf("1")
    assert sent == [DtmfMessage("1")] and listener.prompts == 0
    assert agent.cuts == [Cause.TURN, Cause.DTMF]  # the turn, then the key, cut in


async def test_a_language_its_model_does_not_follow_opens_a_new_session() -> None:
    first, opened = ScriptedStt(), []

    def stt_for(language: str) -> ScriptedStt:
        opened.append(language)
        return ScriptedStt()

    listener, _, _ = listener_for(ConversationRelay("wss://a"), first, Agent(), stt_for=stt_for)
    listener.start()
    listener.switch_language("es-ES")  # the same model
    assert listener.lang == "es-ES" and not opened
    listener.switch_language("ja-JP")
    await wait_for(lambda: first.closed)
    assert opened == ["ja-JP"] and listener.stt is not first
    listener.on_caller_audio(b"\xff" * 160)
    assert isinstance(listener.stt, ScriptedStt) and listener.stt.audio == [b"\xff" * 160]
    assert not first.audio


@dataclass
class CutAgent(Agent):
    """A reply that stops when cut, as the speaker's does."""

    def barge_in(self, cause: Cause) -> None:
        self.cuts.append(cause)
        self.talking = False


async def test_a_backchannel_over_the_agent_is_ignored_unless_the_app_says_not() -> None:
    stt, agent = ScriptedStt(), CutAgent(talking=True)
    listener, sent, _ = listener_for(ConversationRelay("wss://a"), stt, agent)
    listener.start()
    stt.emit(ended("Uh-huh.", 0))  # the default: ignored, the reply plays on
    stt.emit(ended("Mm-hmm, yeah.", 1))
    await asyncio.sleep(0.05)
    assert not sent and not agent.cuts and agent.talking
    stt2, agent2 = ScriptedStt(), CutAgent(talking=True)
    relay = ConversationRelay("wss://a", ignore_backchannel=False)
    listener, sent, _ = listener_for(relay, stt2, agent2)
    listener.start()
    stt2.emit(ended("Uh-huh.", 0))  # a turn like any: it cuts the reply and is the prompt
    await wait_for(lambda: sent)
    assert agent2.cuts == [Cause.TURN] and sent == [PromptMessage("Uh-huh.", "en-US", True)]
    assert listener.prompts == 1 and listener.timings.turn_ended_at is not None


async def test_echoes_of_the_agent_are_dropped_and_counted() -> None:
    stt, agent = ScriptedStt(), CutAgent(talking=True)
    relay = ConversationRelay("wss://a", echo_prompt_filtering=True, partial_prompts=True,
                              report_input_during_agent_speech="any")  # fmt: skip
    listener, sent, _ = listener_for(relay, stt, agent)
    listener.start()
    listener.agent_said("Your order ships on Tuesday.")
    listener.on_caller_audio(b"\xff" * 160)  # the agent is heard
    now = asyncio.get_running_loop().time()
    stt.emit(SttPartialTranscript("your order ships", 0, now))
    stt.emit(ended("Your order ships on Tuesday.", 0))
    stt.emit(SttPartialTranscript("Tuesday", 1, now))  # one word of the agent's: the caller's
    stt.emit(ended("Tuesday at noon, please.", 1))
    await wait_for(lambda: listener.prompts == 1)
    assert listener.echoes == 1  # the echo went nowhere and cut nothing
    assert sent == [PromptMessage("Tuesday", "en-US", False),
                    PromptMessage("Tuesday at noon, please.", "en-US", True)]  # fmt: skip
    assert agent.cuts == [Cause.TURN]


async def test_without_echo_filtering_an_echo_is_a_prompt() -> None:
    stt, agent = ScriptedStt(), CutAgent(talking=True)
    listener, sent, _ = listener_for(ConversationRelay("wss://a"), stt, agent)
    listener.start()
    listener.agent_said("Your order ships on Tuesday.")
    listener.on_caller_audio(b"\xff" * 160)
    stt.emit(ended("Your order ships on Tuesday.", 0))
    await wait_for(lambda: listener.prompts == 1)
    assert listener.echo is None and listener.echoes == 0 and agent.cuts == [Cause.TURN]


@dataclass
class ConfigurableStt(ScriptedStt):
    """A speech-to-text that takes configuration before it connects (AssemblyAI's)."""

    configured: dict[str, object] = field(default_factory=dict)

    async def update_configuration(self, **fields: object) -> None:
        self.configured.update(fields)


async def test_speech_timeout_is_the_stt_s_longest_turn_silence() -> None:
    stt = ConfigurableStt()
    relay = ConversationRelay("wss://a", speech_timeout_ms=1500)
    listener, _, ignored = listener_for(relay, stt, Agent(), keyterms=("Acme",))
    await listener.connect()
    assert stt.configured == {"keyterms_prompt": ["Acme"], "max_turn_silence": 1500}
    assert not ignored
    listener, _, ignored = listener_for(relay, ScriptedStt(), Agent())
    await listener.connect()
    assert ignored == ["speechtimeout (the speech-to-text takes no end-of-turn silence: its own "
                       "end of turn may come sooner)"]  # fmt: skip


@pytest.mark.parametrize("asked", [True, False])
async def test_the_unfinished_turn_is_the_last_prompt_at_the_hang_up_when_asked(
    asked: bool,
) -> None:
    stt = ScriptedStt()
    relay = ConversationRelay("wss://a", partial_prompt_on_hangup=asked)
    listener, sent, _ = listener_for(relay, stt, Agent())
    listener.start()
    now = asyncio.get_running_loop().time()
    stt.emit(SttPartialTranscript("My order", 0, now))
    stt.emit(ended("My order is late.", 0))
    stt.emit(SttPartialTranscript("and my", 1, now))
    stt.emit(SttPartialTranscript("and my refund", 1, now))
    stt.emit(SttPartialTranscript("", 1, now))
    await wait_for(lambda: listener.prompts == 1)
    await asyncio.sleep(0.02)
    listener.at_hangup()
    listener.at_hangup()  # once
    last = [PromptMessage("and my refund", "en-US", True)] if asked else []
    assert sent == [PromptMessage("My order is late.", "en-US", True), *last]


def _frames(samples: object) -> list[bytes]:
    from tests.toolkit.echo_paths import encode

    ulaw = encode(samples)  # type: ignore[arg-type]
    return [ulaw[k : k + 160] for k in range(0, len(ulaw) - 159, 160)]


def _call_with_echo(
    guarded: bool, caller_from_s: float | None
) -> tuple[Agent, RelayListener, float | None]:
    """Six seconds of the agent's voice over a 2-wire hybrid (6 dB down, 40 ms late), each
    frame sent then the caller's heard, as the session feeds them; the caller talking from
    ``caller_from_s`` for 1.5 s (None: never). Returns the second of the first cut too."""
    from sipgw.media.voice.echo import EchoGuard
    from tests.media.voice.test_echo import hiss, syllables
    from tests.toolkit.echo_paths import PATHS, PhoneEcho

    agent = Agent(talking=True)
    listener, _, _ = listener_for(ConversationRelay("wss://a"), ScriptedStt(), agent)
    listener.guard = EchoGuard() if guarded else None
    phone = PhoneEcho(PATHS["hybrid"])
    voice = syllables(6.0, seed=3)
    caller = hiss(len(voice))
    if caller_from_s is not None:
        start = int(caller_from_s * 8000)
        caller[start : start + 12000] += syllables(1.5, seed=11, dbfs=-14.0)
    first_cut = None
    for k, (sent, quiet) in enumerate(zip(_frames(voice), _frames(caller), strict=True)):
        listener.agent_sent(sent)
        phone.played(sent)
        listener.on_caller_audio(phone.returned(quiet))
        if agent.cuts and first_cut is None:
            first_cut = k * 0.02
    return agent, listener, first_cut


async def test_the_agents_echo_is_the_lines_noise_and_cuts_no_reply() -> None:
    """With the echo guard the hybrid's echo of the agent cuts nothing and most of it reaches
    the machine and the STT as noise; without it the same echo cuts the reply."""
    agent, listener, _ = _call_with_echo(guarded=True, caller_from_s=None)
    assert agent.cuts == [] and listener.echo_frames > 150
    unguarded, _, _ = _call_with_echo(guarded=False, caller_from_s=None)
    assert unguarded.cuts


async def test_the_caller_over_the_echo_still_cuts_the_reply() -> None:
    """The machine's commit is 600 ms of speech: the caller's, from 3 s, cuts the reply
    within a second of their start (the agent here goes on talking: it is cut again)."""
    agent, _, first_cut = _call_with_echo(guarded=True, caller_from_s=3.0)
    assert set(agent.cuts) == {Cause.SPEECH}
    assert first_cut is not None and 3.0 < first_cut < 4.0, first_cut
