"""The scripted STT fake: turns end on the caller's silence, never on the room's sound, and
carry the words the caller said (docs/cloud-apis.md §1.5, §1.7)."""

from __future__ import annotations

import asyncio
import json
import random
from functools import partial
from pathlib import Path

import pytest
from websockets.asyncio.client import connect

from sipgw.app.evaluation.fakes.assemblyai import FakeAssemblyAI, PartialDue, SpeechBegan, TurnDue
from sipgw.app.evaluation.fakes.assemblyai_script import (
    FRAME_BYTES,
    CallerScript,
    FrameCounts,
    Room,
    ScriptedSentence,
    ScriptedTurnDetector,
    words_said,
)
from sipgw.media.g711 import linear_to_ulaw, rms_dbfs

SENTENCE = "Sorry, can I stop you there for a second?"
ROOM = "Good evening."


def _frame(rng: random.Random, amplitude: int) -> bytes:
    pcm = b"".join(
        rng.randint(-amplitude, amplitude).to_bytes(2, "little", signed=True) for _ in range(160)
    )
    return linear_to_ulaw(pcm)


def make_loop(levels: list[int], seed: int = 1) -> list[bytes]:
    """One distinct μ-law frame per level (the noise's peak amplitude)."""
    rng = random.Random(seed)
    return [_frame(rng, level) for level in levels]


LOUD, QUIET = 8000, 100  # about -15 and -55 dBFS: over and under the room threshold


def script_of(
    frames: list[bytes], voiced: tuple[tuple[int, int], ...], room_text: str | None = ROOM
) -> CallerScript:
    sentence = ScriptedSentence(0, len(frames), SENTENCE, voiced, room_text)
    return CallerScript.from_loop(b"".join(frames), [sentence])


def run(detector: ScriptedTurnDetector, frames: list[bytes]) -> list[tuple[int, object]]:
    """Feed ``frames`` 100 ms at a time; each action with the stream ms it came at."""
    out: list[tuple[int, object]] = []
    for i in range(0, len(frames), 5):
        for action in detector.feed(b"".join(frames[i : i + 5])):
            out.append((detector.position_ms, action))
    return out


def finals(actions: list[tuple[int, object]]) -> list[TurnDue]:
    return [a for _, a in actions if isinstance(a, TurnDue)]


def test_frames_are_distinct_and_levels_are_what_the_tests_say() -> None:
    frames = make_loop([LOUD, QUIET])
    assert rms_dbfs(frames[0]) > -35 > rms_dbfs(frames[1])


def test_the_caller_turn_ends_on_the_callers_silence_not_the_rooms() -> None:
    # caller voiced in frames 10-40, the room loud all the time (a TV at the caller's level)
    frames = make_loop([LOUD] * 100)
    script = script_of(frames, ((10, 40),))
    detector = ScriptedTurnDetector(script, room="silent", min_turn_silence_ms=100)
    actions = run(detector, frames)
    assert [a for _, a in actions if isinstance(a, SpeechBegan)] == [SpeechBegan(200)]
    ended = finals(actions)
    assert ended == [TurnDue(200, 800, text=SENTENCE)]
    # the final comes min_turn_silence after frame 40 ends (800 ms), within the 100 ms feed
    at = next(ms for ms, a in actions if isinstance(a, TurnDue))
    assert 900 <= at < 1000


def test_the_room_makes_no_turn_when_silent() -> None:
    frames = make_loop([LOUD] * 60 + [QUIET] * 40)
    script = script_of(frames, ())
    assert run(ScriptedTurnDetector(script, room="silent"), frames) == []


def test_the_room_is_transcribed_as_the_room_when_asked() -> None:
    frames = make_loop([QUIET] * 10 + [LOUD] * 20 + [QUIET] * 30)
    script = script_of(frames, ())
    actions = run(ScriptedTurnDetector(script, room="transcribed"), frames)
    assert finals(actions) == [TurnDue(200, 600, text=ROOM)]
    # a background without voices (room_text None) is never transcribed
    quiet_script = script_of(frames, (), room_text=None)
    assert run(ScriptedTurnDetector(quiet_script, room="transcribed"), frames) == []


def test_a_burst_of_the_room_is_a_word_not_its_whole_line() -> None:
    # 60 ms of the room, then quiet: one word, no punctuation, so the turn waits for
    # max_turn_silence as a caller's unfinished words do (§1.7), not min_turn_silence
    line = "So I told him the meeting had moved to Thursday."
    frames = make_loop([QUIET] * 10 + [LOUD] * 3 + [QUIET] * 80)
    script = script_of(frames, (), room_text=line)
    detector = ScriptedTurnDetector(
        script, room="transcribed", min_turn_silence_ms=100, max_turn_silence_ms=1000
    )
    actions = run(detector, frames)
    assert finals(actions) == [TurnDue(200, 260, text="So")]
    at = next(ms for ms, a in actions if isinstance(a, TurnDue))
    assert 1260 <= at < 1400


def test_the_rooms_dips_between_words_do_not_end_a_turn_apiece() -> None:
    # the room talks in 200 ms bursts with 120 ms dips (over min_turn_silence): one turn,
    # whose words grow with the room's speech until its line ends with its full stop
    line = "So I told him the meeting had moved to Thursday."
    frames = make_loop(([LOUD] * 10 + [QUIET] * 6) * 12 + [QUIET] * 60)
    script = script_of(frames, (), room_text=line)
    actions = run(ScriptedTurnDetector(script, room="transcribed"), frames)
    assert [t.text for t in finals(actions)] == [line]
    partials = [a.text for _, a in actions if isinstance(a, PartialDue)]
    assert partials and all(line.startswith(p or "") and p != line for p in partials)


def test_the_room_never_carries_the_callers_turn_past_their_silence() -> None:
    frames = make_loop([LOUD] * 70 + [QUIET] * 30)
    script = script_of(frames, ((10, 40),))
    actions = run(ScriptedTurnDetector(script, room="transcribed"), frames)
    ended = finals(actions)
    # the room's turn from the first frame becomes the caller's when they speak into it
    assert ended[0] == TurnDue(0, 800, text=SENTENCE)
    # after it, the room's own voices are turns of the room's words, never the caller's
    assert [t.text for t in ended[1:]] == [ROOM]


def test_a_room_turn_the_caller_speaks_into_carries_their_next_sentence_once() -> None:
    # two segments: the first sentence, then the room talking as the second begins, a pause
    # of 200 ms inside the second sentence (its first clause must not end it)
    frames = make_loop([QUIET] * 50 + [LOUD] * 50)
    other = "Wait, that is not the address I gave you."
    sentences = [
        ScriptedSentence(0, 50, SENTENCE, ((0, 20),), ROOM),
        ScriptedSentence(50, 50, other, ((10, 15), (25, 40)), ROOM),
    ]
    script = CallerScript.from_loop(b"".join(frames), sentences)
    actions = run(ScriptedTurnDetector(script, room="transcribed"), frames)
    assert [t.text for t in finals(actions)] == [SENTENCE, other]


def test_a_pause_inside_the_sentence_is_a_partial_not_an_end() -> None:
    frames = make_loop([LOUD] * 100)
    script = script_of(frames, ((0, 10), (20, 40)))  # "Sorry," then 200 ms, then the rest
    actions = run(ScriptedTurnDetector(script, min_turn_silence_ms=100), frames)
    partials = [a for _, a in actions if isinstance(a, PartialDue) and a.silence]
    assert len(partials) == 1
    assert partials[0].text and not partials[0].text.endswith("?")
    assert SENTENCE.startswith(partials[0].text)
    assert finals(actions) == [TurnDue(0, 800, text=SENTENCE)]


def test_max_turn_silence_ends_a_sentence_in_two_turns_and_loses_no_word() -> None:
    frames = make_loop([LOUD] * 200)
    script = script_of(frames, ((0, 10), (80, 100)))  # a 1.4 s pause in the sentence
    detector = ScriptedTurnDetector(script, min_turn_silence_ms=100, max_turn_silence_ms=1000)
    texts = [t.text for t in finals(run(detector, frames))]
    assert len(texts) == 2
    assert texts[0] and not texts[0].endswith("?")
    assert f"{texts[0]} {texts[1]}" == SENTENCE


def test_force_endpoint_gives_the_words_said_and_the_rest_next() -> None:
    frames = make_loop([LOUD] * 100)
    script = script_of(frames, ((0, 40),))
    detector = ScriptedTurnDetector(script)
    detector.feed(b"".join(frames[:20]))
    forced = detector.force_endpoint()
    assert len(forced) == 1 and isinstance(forced[0], TurnDue)
    first = forced[0].text
    assert first and SENTENCE.startswith(first) and first != SENTENCE
    rest = finals(run(detector, frames[20:]))
    assert [f"{first} {t.text}" for t in rest] == [SENTENCE]


def test_early_partial_carries_the_words_so_far() -> None:
    frames = make_loop([LOUD] * 100)
    script = script_of(frames, ((0, 80),))
    detector = ScriptedTurnDetector(script, partial_after_ms=800)
    actions = run(detector, frames)
    early = [a for _, a in actions if isinstance(a, PartialDue) and not a.silence]
    assert len(early) == 1 and early[0].text
    sentence = script.sentences[0]
    assert early[0].text == " ".join(SENTENCE.split()[: words_said(sentence, 39)])


def test_a_call_from_any_point_of_the_loop_and_a_lost_frame() -> None:
    frames = make_loop([LOUD] * 100)
    script = script_of(frames, ((10, 40),))
    counts = FrameCounts()
    detector = ScriptedTurnDetector(script, counts=counts)
    stream = frames[50:] + frames[:50] + frames[50:]  # joins mid-loop, comes round once
    stream[60] = bytes(FRAME_BYTES)  # concealment: not in the loop
    actions = run(detector, stream)
    assert finals(actions) == [TurnDue(1200, 1800, text=SENTENCE)]
    assert (counts.located, counts.followed, counts.unknown) == (len(stream) - 1, 1, 0)


def test_words_said_spreads_the_words_over_the_voiced_span() -> None:
    sentence = ScriptedSentence(0, 100, "one two three four.", ((10, 50),))
    assert [words_said(sentence, f) for f in (0, 9, 10, 19, 20, 48, 49, 80)] == [
        0, 0, 1, 1, 2, 3, 4, 4
    ]  # fmt: skip


async def test_over_a_real_socket_the_turn_is_the_callers_sentence() -> None:
    frames = make_loop([LOUD] * 100)
    script = script_of(frames, ((10, 40),))
    factory = partial(ScriptedTurnDetector, script, room="silent")
    fake = FakeAssemblyAI(api_key="k", detector_factory=factory, check_rate=False)
    await fake.start()
    try:
        query = "speech_model=u3-rt-pro&encoding=pcm_mulaw&sample_rate=8000"
        async with connect(f"{fake.url}?{query}", additional_headers={"Authorization": "k"}) as ws:
            assert json.loads(await ws.recv())["type"] == "Begin"
            for i in range(0, 100, 5):
                await ws.send(b"".join(frames[i : i + 5]))
            await ws.send(json.dumps({"type": "Terminate"}))
            turns: list[dict[str, object]] = []
            async with asyncio.timeout(5):
                async for message in ws:
                    data = json.loads(message)
                    if data["type"] == "Turn":
                        turns.append(data)
    finally:
        await fake.aclose()
    assert [(t["end_of_turn"], t["transcript"]) for t in turns] == [(True, SENTENCE)]
    assert turns[0]["utterance"] == SENTENCE and turns[0]["turn_is_formatted"] is True


@pytest.mark.parametrize("room", ["silent", "transcribed"])
def test_script_round_trips_through_its_file(tmp_path: Path, room: Room) -> None:
    frames = make_loop([LOUD] * 100)
    sentence = ScriptedSentence(0, 100, SENTENCE, ((10, 40),), ROOM)
    (tmp_path / "loop.ulaw").write_bytes(b"".join(frames))
    (tmp_path / "loop.json").write_text(json.dumps(CallerScript.to_json("loop.ulaw", [sentence])))
    script = CallerScript.load(tmp_path / "loop.json")
    assert script.sentences == (sentence,)
    assert finals(run(ScriptedTurnDetector(script, room=room), frames))[0].text == SENTENCE
