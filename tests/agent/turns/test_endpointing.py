"""The local end of turn: confirmed speech followed by ``silence_ms`` of quiet frames."""

from __future__ import annotations

from sipgw.agent.turns.endpointing import SilenceEndpointer


def feed(endpointer: SilenceEndpointer, frames: str) -> list[int]:
    """Feed frames ("s": speaking and loud, "l": loud but not yet speech, ".": quiet while
    the detector still says speaking, "_": quiet and not speaking); the frames ending a turn."""
    ends = []
    for n, frame in enumerate(frames):
        speaking = frame in "s."
        loud = frame in "sl"
        if endpointer.push(speaking, loud):
            ends.append(n)
    return ends


def test_the_turn_ends_after_silence_ms_of_quiet_frames_following_speech() -> None:
    endpointer = SilenceEndpointer(silence_ms=100)  # 5 frames
    assert feed(endpointer, "sss" + "." * 4 + "_" * 10) == [7]
    assert not endpointer.in_turn


def test_loud_frames_restart_the_count() -> None:
    endpointer = SilenceEndpointer(silence_ms=100)
    assert feed(endpointer, "ss...s....s" + "_" * 5) == [15]


def test_noise_that_never_became_speech_ends_no_turn() -> None:
    endpointer = SilenceEndpointer(silence_ms=100)
    assert feed(endpointer, "ll__l_" + "_" * 20) == []
    assert not endpointer.in_turn


def test_each_turn_ends_once_and_reset_forgets_one_in_progress() -> None:
    endpointer = SilenceEndpointer(silence_ms=60)
    assert feed(endpointer, "ss___" + "_" * 10 + "ss___") == [4, 19]
    feed(endpointer, "ss_")
    endpointer.reset()
    assert feed(endpointer, "_" * 10) == []
