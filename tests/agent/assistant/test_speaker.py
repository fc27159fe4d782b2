"""The agent's voice (agent/assistant/speaker.py): replies to TTS and the playout, and barge-ins."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from sipgw.agent.assistant.fillers import Fillers
from sipgw.agent.assistant.reply import Reply, SpeakingState
from sipgw.agent.assistant.speaker import Speaker
from sipgw.agent.assistant.speculative import HeldSpeech
from sipgw.agent.playout import Playout
from sipgw.agent.resilience.line_cache import fallback_audio
from sipgw.agent.resilience.lines import FallbackLine
from sipgw.agent.resilience.policy import FailurePolicySettings
from sipgw.agent.turns.machine import Cause, CommitBargeIn, StartReply, TurnTaker
from sipgw.foundation.redact import Redactor
from sipgw.media.codecs import PCM16_16K, ULAW_8K, AudioFormat
from sipgw.media.g711 import linear_dbfs, ulaw_to_linear
from tests.agent.parts import (
    BYTES_PER_CHAR,
    FRAME,
    Assistant,
    RecordingObserver,
    ScriptedTts,
    Turn,
    assistant,
    lines,
    make_failures,
    make_scope,
    play_out,
    settle,
    wait_for,
)
from tests.refcycles import garbage_types

QUICK_HOLD = FailurePolicySettings(hold_line_after=0.1, hold_reminder_every=0.1)


@dataclass
class History:
    """The conversation, as far as the speaker reaches it."""

    messages: list[dict[str, Any]] = field(default_factory=list)
    heard: list[str] = field(default_factory=list)

    def record_heard(self, heard_text: str) -> None:
        self.heard.append(heard_text)


@dataclass
class Rig:
    speaker: Speaker
    tts: ScriptedTts
    history: History
    observer: RecordingObserver

    @property
    def playout(self) -> Playout:
        return self.speaker.playout

    def record(self, kind: str) -> list[dict[str, Any]]:
        return lines(self.speaker._scope, kind)


def rig(audio: AudioFormat = ULAW_8K, **tts_options: Any) -> Rig:
    """A speaker whose TTS and playout are in ``audio`` (16 kHz: an HD-voice call's)."""
    observer = RecordingObserver()
    scope = make_scope(observer)
    playout = Playout(format=audio)
    playout.held = False
    state = SpeakingState(playout)
    tts = ScriptedTts(format=audio, **tts_options)
    history = History()
    fillers = Fillers(scope, 0.0, ("One moment.",), state, tts)
    speaker = Speaker(scope, state, TurnTaker(state), tts, history, fillers,  # type: ignore[arg-type]
                      make_failures(scope), Redactor())  # fmt: skip
    return Rig(speaker, tts, history, observer)


def frames_of(text: str) -> int:
    return -(-len(text) * BYTES_PER_CHAR // FRAME)


async def test_a_fixed_line_is_spoken_and_played_out() -> None:
    r = rig()
    reply = r.speaker.say("Hello there.", "greeting")
    assert r.speaker.current is reply and reply.kind == "greeting" and reply.turn == 0
    await settle()
    assert r.tts.texts() == ["Hello there."] and r.speaker.audio_arrived.is_set()
    played = r.speaker._scope.spawn(r.speaker.played(reply))
    frames = await play_out(r.playout)
    assert sum(frame is not None for frame in frames) == frames_of("Hello there.")
    assert await played is True
    assert r.speaker.current is reply  # played out, not cut: it stays the last reply


async def test_llm_replies_count_as_turns_fixed_lines_do_not() -> None:
    r = rig()
    first = r.speaker.begin("reply", stt_final_at=1.0)
    notice = r.speaker.begin("notice")
    second = r.speaker.begin("reply")
    assert (first.turn, notice.turn, second.turn) == (1, 1, 2)
    assert first.stt_final_at == 1.0 and r.speaker.turn == 2


async def test_a_new_line_cuts_the_active_one_as_a_barge_in_would() -> None:
    r = rig()
    first = r.speaker.say("A long first line.", "greeting")
    r.history.messages.append({"role": "assistant", "content": "A long first line."})
    await settle()
    r.playout.next_frame(0.0)  # one frame of it was heard
    second = r.speaker.say("Sorry.", "notice")
    await settle()
    (barge,) = r.record("barge_in")
    assert (barge["cause"], barge["kind"], barge["turn"]) == ("notice", "greeting", 0)
    assert first.heard == barge["heard"] == "A"
    assert first.tts.id in r.tts.cancelled
    assert r.history.messages[-1]["content"] == "A…"  # the history keeps what was heard
    assert r.speaker.current is second
    assert r.observer.events == []  # the agent cut itself: no barge-in in the metrics


async def test_a_barge_in_keeps_what_the_caller_heard_of_an_llm_reply() -> None:
    r = rig()
    reply = r.speaker.begin("reply")
    reply.conversing = True  # its turn is in the conversation
    reply.task = r.speaker._scope.spawn(
        r.speaker.speak(reply, r.speaker.send_sentence(reply, "Your order has shipped."))
    )
    await settle()
    for _ in range(3):
        r.playout.next_frame(0.0)
    r.playout.paused = True  # the machine paused it first
    r.speaker.interrupt(CommitBargeIn(Cause.SPEECH, reaction_ms=60.0))
    await settle()
    assert r.history.heard == ["Your"]  # 3 frames of 2 characters each, cut to a word
    assert not r.playout.pending and not r.playout.paused
    assert r.speaker.current is None and reply.task.done()
    (barge,) = r.record("barge_in")
    assert barge["reaction_ms"] == 60.0 and barge["cause"] == "speech"


async def test_what_the_agent_said_last_is_its_latest_line_the_caller_began_to_hear() -> None:
    """The turn-taking machine reads it at a tentative end (agent/turns/machine.py): a line not
    heard yet leaves the one before; a line cut off counts for what was heard of it."""
    r = rig()
    state = r.speaker.state
    assert state.last_said() == ""
    r.speaker.say("What's your first name?", "greeting")
    await settle()
    assert state.last_said() == ""  # not heard yet
    await play_out(r.playout)
    assert state.last_said() == "What's your first name?"
    r.speaker.begin("reply")  # the next reply, not heard yet
    assert state.last_said() == "What's your first name?"
    cut = r.speaker.say("Thanks Ana. And your phone number?", "notice")
    await settle()
    for _ in range(6):
        r.playout.next_frame(0.0)  # 12 characters of it were heard
    r.speaker.say("Sorry.", "notice")
    await settle()
    assert cut.heard is not None and state.last_said() == cut.heard
    assert cut.heard.startswith("Thanks") and "phone" not in cut.heard


async def test_committing_with_nothing_active_only_ends_the_pause() -> None:
    r = rig()
    r.playout.paused = True
    r.speaker.interrupt(CommitBargeIn(Cause.TURN, None))
    assert not r.playout.paused and r.record("barge_in") == [] and r.observer.events == []


async def speak_until_broken(r: Rig) -> Reply:
    """A reply of two sentences whose second the rig's TTS fails on; returns it when done."""
    reply = r.speaker.begin("reply")
    reply.conversing = True  # its turn is in the conversation

    async def feed() -> None:
        await r.speaker.send_sentence(reply, "Fine so far.")
        await r.speaker.send_sentence(reply, "Then broken.")

    reply.task = r.speaker._scope.spawn(r.speaker.speak(reply, feed()))
    await wait_for(reply.task.done)
    return reply


async def test_tts_failing_mid_reply_plays_what_arrived() -> None:
    r = rig(fail_on="broken")
    reply = await speak_until_broken(r)
    assert reply.tts_failed
    (error,) = r.record("error")
    assert error["where"] == "tts" and "broken" in error["error"]
    assert r.observer.events == [("error", ("tts", "http_status"))]
    frames = await play_out(r.playout)
    apology = fallback_audio(FallbackLine.APOLOGY, None)  # the policy's line, from memory
    played = [frame for frame in frames if frame is not None]
    assert len(played) == frames_of("Fine so far.") + len(apology.frames)
    assert played[-len(apology.frames) :] == list(apology.frames)  # after what arrived
    assert r.observer.decisions == ["tts_down_apology"]


async def test_on_an_hd_call_the_apology_from_memory_is_converted_after_the_16_khz_audio() -> None:
    """The TTS speaks 16 kHz s16le; the apology from memory is 8 kHz μ-law: it plays after
    what arrived, each of its frames converted once into 16 kHz (the same 20 ms, its level
    kept), not sent as μ-law octets the media would take for samples."""
    r = rig(PCM16_16K, fail_on="broken")
    assert (await speak_until_broken(r)).tts_failed
    played: list[bytes] = []
    while (frame := r.playout.next_frame(0.0)) is not None:  # all queued: no ticks to wait
        played.append(frame)
    apology = fallback_audio(FallbackLine.APOLOGY, None)
    assert len(played) == frames_of("Fine so far.") + len(apology.frames)
    assert {len(frame) for frame in played} == {PCM16_16K.frame_bytes}
    heard = b"".join(played[-len(apology.frames) :])
    recorded = ulaw_to_linear(b"".join(apology.frames))
    assert abs(linear_dbfs(heard) - linear_dbfs(recorded)) < 0.5


async def test_the_answers_audio_cuts_its_filler_line() -> None:
    r = rig(hold=True)
    reply = r.speaker.begin("reply")
    reply.conversing = True  # its turn is in the conversation
    reply.task = r.speaker._scope.spawn(
        r.speaker.speak(reply, r.speaker.send_sentence(reply, "Here it is."))
    )
    await settle()
    r.speaker._fillers.say(reply)  # the tool round was slow
    assert reply.filler is not None
    filler_reply = r.tts.replies[-1]
    filler_reply.release()
    await settle()
    r.tts.replies[0].release()  # the answer's audio arrives
    await wait_for(reply.task.done)
    assert reply.filler is None
    (stopped,) = r.record("filler_stopped")
    assert stopped["turn"] == 1


async def test_played_says_false_when_the_reply_is_dropped() -> None:
    r = rig()
    reply: Reply = r.speaker.say("Never heard.", "notice")
    await settle()
    played = r.speaker._scope.spawn(r.speaker.played(reply))
    await settle()
    r.speaker.interrupt(CommitBargeIn(Cause.DTMF, None))
    assert await played is False


async def test_a_reply_begun_on_a_held_clause_plays_its_audio_and_sends_only_the_rest() -> None:
    r = rig()
    held_tts = r.tts.start_reply()
    await held_tts.send_text("Your order has shipped,")  # synthesized before the turn ended
    assert not r.playout.pending  # held: nothing in the playout
    held = HeldSpeech(held_tts, "Your order has shipped,", 0.5)
    held.sent.set()
    reply = r.speaker.begin("reply", held=held, wasted_chars=7)
    assert reply.tts is held_tts and reply.held is held and reply.wasted_chars == 7

    async def feed() -> None:
        await r.speaker.send_sentence(reply, "Your order has shipped, it arrives Monday.")

    reply.task = r.speaker._scope.spawn(r.speaker.speak(reply, feed()))
    frames = await play_out(r.playout)
    assert r.tts.texts() == ["Your order has shipped,", "it arrives Monday."]  # once each
    said = "Your order has shipped,it arrives Monday."
    assert sum(frame is not None for frame in frames) == frames_of(said)


async def test_the_rest_of_the_sentence_waits_until_the_held_clause_was_sent() -> None:
    r = rig()
    held = HeldSpeech(r.tts.start_reply(), "Your order has shipped,", 0.5)  # still sending
    reply = r.speaker.begin("reply", held=held)
    task = r.speaker._scope.spawn(
        r.speaker.send_sentence(reply, "Your order has shipped, it arrives Monday.")
    )
    await settle()
    assert r.tts.texts() == [] and not task.done()  # it would overtake the clause
    held.sent.set()
    await task
    assert r.tts.texts() == ["it arrives Monday."]


async def cancelled_line(clear: bool) -> None:
    """A line whose task is cancelled before it starts (the call ends as it is queued)."""
    r = rig()
    r.speaker.say("Thank you for calling. Goodbye.", "notice")
    await r.speaker._scope.cancel_tasks()
    if clear:
        r.playout.clear()  # what the agent's close does


async def test_a_line_cancelled_before_it_started_is_freed_once_the_playout_is_cleared() -> None:
    """Its playout entry never finishes and keeps the speaker's first-frame callback, so
    the speaker, its state and the playout form a cycle until the playout is cleared."""
    with garbage_types("Speaker", "Playout") as kept:
        await cancelled_line(clear=False)
    assert {"Speaker", "Playout"} <= set(kept)
    with garbage_types("Speaker", "Playout") as left:
        await cancelled_line(clear=True)
    assert not {"Speaker", "Playout"} & set(left), left


# -- the caller's wait on the vendors (the failure policy's "one moment")


def hold_lines(a: Assistant) -> list[str]:
    """The failure policy's lines decided so far, by name."""
    return [line["decision"] for line in a.record("failure")]


async def answer_while_paused(a: Assistant) -> None:
    """The caller's turn ends and the agent answers it, its audio paused from the start
    (the room talking over the reply, as the turn-taking machine's PauseAgent does)."""
    await a.agent.prepare()
    a.agent.on_answered()
    a.agent.playout.paused = True
    now = asyncio.get_running_loop().time()
    a.agent.decisions.carry_out((StartReply("When do you open?", now, now),))


async def test_an_answer_ready_but_paused_over_the_room_gets_no_one_moment() -> None:
    """The vendors answered at once; the reply waits on the room's speech, past
    hold_line_after: nobody waits on a vendor, so the policy says nothing."""
    a = assistant(script=[Turn(text="Nine to six.")], failure_policy=QUICK_HOLD)
    await answer_while_paused(a)
    await wait_for(lambda: a.agent.playout.pending)  # its audio is there, paused
    await asyncio.sleep(3 * QUICK_HOLD.hold_line_after)
    assert hold_lines(a) == []
    await a.agent.close()


async def test_a_slow_tts_still_gets_one_moment_while_the_room_talks() -> None:
    """No audio by hold_line_after: the caller waits on the TTS, paused reply or not."""
    a = assistant(
        script=[Turn(text="Nine to six.")], tts=ScriptedTts(hold=True), failure_policy=QUICK_HOLD
    )
    await answer_while_paused(a)
    await wait_for(lambda: hold_lines(a) == ["hold_line"])
    a.tts.replies[-1].release()  # the answer's audio: the wait is over, no reminder
    await wait_for(lambda: a.agent.playout.pending)
    await asyncio.sleep(3 * QUICK_HOLD.hold_line_after)
    assert hold_lines(a) == ["hold_line"]
    await a.agent.close()
