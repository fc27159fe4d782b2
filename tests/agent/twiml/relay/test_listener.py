"""The listening side of a ConversationRelay session, on the in-memory STT and a recorded
agent side: the caller's turn as ``prompt`` (partials before it), keys as ``dtmf``, input
while the agent speaks held back as ``reportInputDuringAgentSpeech`` says, a barge-in on a
key, and a new recognizer session for a language its model does not follow."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

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
