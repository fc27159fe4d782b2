"""The speaking side of a ConversationRelay session, on the in-memory TTS: tokens spoken
sentence by sentence, ``agentSpeaking`` and ``tokensPlayed`` as the reply plays, a barge-in
cutting only what may be cut, a preemptible reply cut silently, a ``play`` that fails."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable

from sipgw.agent.turns.machine import Cause
from sipgw.agent.twiml.relay.speaker import RelaySpeaker, RelayTimings
from sipgw.agent.twiml.relay.voices import RelayVoices
from sipgw.twilio.relay import (
    ErrorMessage,
    InfoMessage,
    InterruptMessage,
    PlatformMessage,
    PlayMessage,
    TextMessage,
)
from sipgw.twilio.relaytwiml import ConversationRelay
from tests.agent.parts import FakeCall, ScriptedTts, wait_for

EVENTS = frozenset({"speaker-events", "tokens-played"})


async def _no_audio(url: str) -> bytes:
    raise ValueError("404 Not Found")


def speaker_for(
    relay: ConversationRelay, tts: ScriptedTts
) -> tuple[RelaySpeaker, list[PlatformMessage]]:
    sent: list[PlatformMessage] = []
    tasks: set[asyncio.Task[None]] = set()

    def spawn(work: Awaitable[None]) -> asyncio.Task[None]:
        task = asyncio.ensure_future(work)
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        return task

    voices = RelayVoices(tts, "en-us", None, "c1", lambda what: None)
    speaker = RelaySpeaker(relay, FakeCall(), voices, _no_audio, RelayTimings(), sent.append,
                           spawn, "en-US")  # fmt: skip
    return speaker, sent


def infos(sent: list[PlatformMessage]) -> list[tuple[str, str]]:
    return [(m.name, m.value) for m in sent if isinstance(m, InfoMessage)]


async def test_a_reply_is_spoken_and_told_as_it_plays() -> None:
    tts = ScriptedTts()
    speaker, sent = speaker_for(ConversationRelay("wss://a", events=EVENTS), tts)
    await speaker.take_text(TextMessage("Hello there. How are"))
    assert speaker.speaking() and speaker.active_reply_started_at() is not None
    await speaker.take_text(TextMessage(" you?", last=True))
    await wait_for(lambda: tts.texts() == ["Hello there.", "How are you?"])
    await wait_for(lambda: speaker.audible)
    frames = 0
    while speaker.next_frame() is not None or speaker.pending:
        frames += 1
        await asyncio.sleep(0)
    assert frames >= len("Hello there.How are you?") // 2  # 10 ms per character
    assert not speaker.speaking()
    assert infos(sent) == [("agentSpeaking", "on"), ("tokensPlayed", "Hello there. How are you?"),
                           ("agentSpeaking", "off")]  # fmt: skip


async def test_a_barge_in_cuts_only_what_may_be_cut() -> None:
    tts = ScriptedTts()
    speaker, sent = speaker_for(ConversationRelay("wss://a", interruptible="dtmf"), tts)
    await speaker.take_text(TextMessage("A long answer.", last=True))
    await wait_for(lambda: speaker.audible)
    speaker.pause()  # speech may not cut it: it is not held
    assert not speaker.playout.paused
    speaker.barge_in(Cause.SPEECH)
    assert speaker.speaking() and speaker.interrupts == 0
    speaker.next_frame()
    speaker.barge_in(Cause.DTMF)
    assert not speaker.speaking() and speaker.interrupts == 1
    (interrupt,) = [m for m in sent if isinstance(m, InterruptMessage)]
    assert interrupt.duration_until_interrupt_ms == 20
    await wait_for(lambda: tts.cancelled == ["r1"])


async def test_a_preemptible_reply_is_cut_silently_and_a_play_may_fail() -> None:
    tts = ScriptedTts(hold=True)
    speaker, sent = speaker_for(ConversationRelay("wss://a", preemptible=True), tts)
    await speaker.take_text(TextMessage("First.", last=True))
    await speaker.take_text(TextMessage("Second.", last=True))
    await wait_for(lambda: tts.cancelled == ["r1"])
    assert not [m for m in sent if isinstance(m, InterruptMessage)]
    await speaker.play(PlayMessage("https://a/missing.wav"))
    assert sent == [ErrorMessage("play https://a/missing.wav: 404 Not Found")]
    await speaker.cancel()
    assert tts.cancelled == ["r1", "r2"]
