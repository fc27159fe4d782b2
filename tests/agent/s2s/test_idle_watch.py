"""The idle policy on a speech-to-speech call (agent/s2s/idle_watch.py), on the doubles of
tests/agent/s2s/parts.py: check-ins and the goodbye asked of the model, the hang-up once the
goodbye was heard, and the silences that do not count (the model speaking or generating, a
tool running, the caller speaking or holding)."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable, Iterator
from typing import Any

from sipgw.agent.conversation.caller_audio import NoiseSettings
from sipgw.agent.conversation.settings import BargeInSettings
from sipgw.agent.idle.policy import IdleSettings
from sipgw.agent.s2s.idle_watch import CHECK_IN_INSTRUCTIONS
from sipgw.agent.services.s2s.base import (
    CallerSpeechStarted,
    ReplyDone,
    ReplyStarted,
    ToolCallRequested,
)
from sipgw.agent.tools.registry import Tool
from sipgw.media import g711
from tests.agent.parts import settle
from tests.agent.s2s.parts import LOUD, SILENCE, Rig, rig, speak
from tests.toolkit.fakes.voice_base import quoted_line
from tests.toolkit.noisy_audio import background, mix

AFTER = 0.2
BYE = "Bye now."


def requests(r: Rig) -> list[str]:
    """The instructions of each reply the agent asked the model for."""
    return [sent[1] for sent in r.session.sent if sent[0] == "reply"]


class Model:
    """Speaks each reply asked for (100 ms; the quoted line, if the instructions give one)."""

    def __init__(self, r: Rig) -> None:
        self.r = r
        self.answered = 0

    def answer(self) -> None:
        asked = requests(self.r)
        while self.answered < len(asked):
            instructions = asked[self.answered]
            self.answered += 1
            text = quoted_line(instructions) or "Are you still with me?"
            speak(self.r.session, f"idle-{self.answered}", 100, text)


async def tick_until(
    r: Rig, done: Callable[[], bool], seconds: float = 3.0, model: Model | None = None
) -> float:
    """Run the agent's 20 ms ticks until ``done()`` (the model answering what it is asked,
    if given); returns how long it took."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    for _ in range(round(seconds / 0.02)):
        await settle()
        if done():
            break
        if model is not None:
            model.answer()
        r.agent.next_frame()
        await asyncio.sleep(0.02)
    return loop.time() - start


async def quiet(checks: int = 1, line: str = "Are you still there?", **settings: Any) -> Rig:
    idle = IdleSettings(after=AFTER, checks=checks, check_line=line, goodbye_line=BYE)
    r = rig(idle=idle, **settings)
    await r.agent.prepare()
    r.agent.on_answered()
    return r


async def test_a_quiet_caller_is_checked_on_then_hung_up_once_the_goodbye_was_heard() -> None:
    r = await quiet(checks=2)
    model = Model(r)
    await tick_until(r, lambda: r.call.hangups > 0, model=model)
    say = 'Say exactly this to the caller and nothing else: "{}"'
    assert requests(r) == [say.format("Are you still there?")] * 2 + [say.format(BYE)]
    assert r.call.hangups == 1
    assert not r.agent.playout.pending  # the goodbye played out before the BYE
    kinds = [(line["type"], line.get("text")) for line in r.agent.record.lines]
    assert kinds.index(("assistant", BYE)) < kinds.index(("hangup", None))
    assert [(s["step"], s.get("number")) for s in r.record("idle")] == [
        ("check_in", 1), ("check_in", 2), ("hang_up", None),
    ]  # fmt: skip
    assert r.record("hangup") == [{**r.record("hangup")[0], "by": "agent", "reason": "idle"}]
    assert [e for e in r.observer.events if e[0] == "idle"] == [
        ("idle", "check_in"), ("idle", "check_in"), ("idle", "hang_up"),
    ]  # fmt: skip
    await r.agent.close("local-bye")
    assert r.record("end")[0]["hung_up_for"] == "idle"


async def test_each_check_in_comes_after_the_silence_that_follows_the_agents_audio() -> None:
    r = await quiet(checks=1)
    speak(r.session, "long", 600, "A long answer.")  # 0.6 s of audio, then silence
    waited = await tick_until(r, lambda: bool(requests(r)))
    assert waited >= 0.6 + AFTER - 0.03, waited  # the reply's audio is no silence
    await r.agent.close()


async def test_the_model_words_the_check_in_when_no_line_is_given() -> None:
    r = await quiet(line="")
    await tick_until(r, lambda: bool(requests(r)))
    (asked,) = requests(r)
    (check,) = r.record("idle")
    assert asked == CHECK_IN_INSTRUCTIONS.format(seconds=round(check["silent_ms"] / 1000))
    assert check["by"] == "model"
    await r.agent.close()


async def test_the_caller_speaking_starts_the_silence_and_the_check_ins_over() -> None:
    r = await quiet(checks=1)
    model = Model(r)
    # The first check-in, said and heard to its end.
    await tick_until(r, lambda: model.answered == 1 and not r.agent.idle.speaking(), model=model)
    r.caller([LOUD] * 10 + [SILENCE] * 20)  # "yes, I'm here" (the local VAD hears it)
    r.session.push(CallerSpeechStarted(asyncio.get_running_loop().time()))
    await tick_until(r, lambda: len(requests(r)) == 2, model=model)
    # Heard, the caller gets the check-ins again before the goodbye.
    steps = [(s["step"], s.get("number")) for s in r.record("idle")]
    assert steps == [("check_in", 1), ("check_in", 1)]
    assert r.call.hangups == 0
    await r.agent.close()


async def test_a_keypad_digit_is_the_caller_making_a_sound() -> None:
    r = await quiet()
    await tick_until(r, lambda: False, seconds=AFTER * 0.75)
    r.agent.on_dtmf("5")
    waited = await tick_until(r, lambda: bool(requests(r)))
    assert waited >= AFTER - 0.03, waited
    await r.agent.close()


async def test_a_reply_being_generated_is_no_silence() -> None:
    r = await quiet()
    r.session.push(ReplyStarted("r1", asyncio.get_running_loop().time()))  # no audio yet
    await tick_until(r, lambda: False, seconds=AFTER * 3)
    assert not r.record("idle")
    await r.agent.close()


async def test_a_tool_running_is_no_silence() -> None:
    r = await quiet()
    release = asyncio.Event()

    async def slow(ctx: Any, arguments: dict[str, Any]) -> str:
        await release.wait()
        return "done"

    r.agent.resources.tools.register(
        Tool("slow", "Takes its time.", {"type": "object", "properties": {}}, slow)
    )
    now = asyncio.get_running_loop().time()
    r.session.push(ReplyStarted("r1", now), ToolCallRequested("r1", "c1", "slow", "{}"),
                   ReplyDone("r1", "completed", now))  # fmt: skip
    await tick_until(r, lambda: False, seconds=AFTER * 3)
    assert not r.record("idle")  # the caller waits on the tool
    release.set()
    await tick_until(r, lambda: bool(r.session.sent))
    speak(r.session, "r2", 100, "It is done.")  # the model's reply to the result
    waited = await tick_until(r, lambda: bool(requests(r)))
    assert [sent[0] for sent in r.session.sent] == ["tool_result", "reply"]
    assert waited >= 0.1 + AFTER - 0.03, waited  # after the reply's audio
    await r.agent.close()


async def test_silence_on_hold_does_not_count() -> None:
    r = await quiet()
    r.agent.on_hold(True)
    await asyncio.sleep(AFTER * 2)  # the gateway asks for no frames while held
    await tick_until(r, lambda: False, seconds=AFTER / 2)
    assert not requests(r) and not r.record("idle")
    r.agent.on_hold(False)
    waited = await tick_until(r, lambda: bool(requests(r)))
    assert waited >= AFTER - 0.03 and len(requests(r)) == 1
    assert [line["held"] for line in r.record("hold")] == [True, False]
    await r.agent.close()


async def test_off_asks_nothing() -> None:
    r = rig(idle=IdleSettings(after=None))
    await r.agent.prepare()
    r.agent.on_answered()
    await tick_until(r, lambda: False, seconds=AFTER * 3)
    assert not requests(r) and r.call.hangups == 0
    await r.agent.close()


async def test_a_goodbye_the_model_never_says_still_ends_the_call() -> None:
    r = await quiet(checks=0, action_line_timeout=0.3)
    waited = await tick_until(r, lambda: r.call.hangups > 0)  # no model answers
    assert r.call.hangups == 1 and AFTER + 0.3 - 0.05 <= waited, waited
    assert r.record("hangup")[0]["reason"] == "idle"
    await r.agent.close()


async def test_music_on_the_callers_side_is_silence_to_the_model_detector() -> None:
    """The idle checks hear the caller through the configured detector: with the model's,
    music on the caller's side (no voice) lets the check-in come; the energy detector takes
    its notes for the caller's speech (from 0.8 s in: the first second comes before the
    answer)."""
    samples = mix([0], background("music", 3.0), 0.0)  # -20 dBFS, as loud as a voice
    ulaw = g711.linear_to_ulaw(b"".join(v.to_bytes(2, "little", signed=True) for v in samples))
    music = [ulaw[i : i + 160] for i in range(0, len(ulaw) - 159, 160)]
    asked = {}
    for detector in ("energy", "model"):
        idle = IdleSettings(after=AFTER, checks=1, check_line="Still there?", goodbye_line=BYE)
        r = rig(idle=idle, barge_in=BargeInSettings(noise=NoiseSettings(detector=detector)))
        await r.agent.prepare()
        frames = iter(music)
        for frame in itertools.islice(frames, 50):
            r.agent.on_caller_audio(frame)
            await asyncio.sleep(0)  # the model's batch runs in the loop's wake-up
        r.agent.on_answered()

        def hear(r: Rig = r, frames: Iterator[bytes] = frames) -> bool:
            r.agent.on_caller_audio(next(frames))
            return bool(requests(r))

        await tick_until(r, hear, seconds=AFTER * 3)
        asked[detector] = bool(requests(r))
        await r.agent.close()
    assert asked == {"energy": False, "model": True}
