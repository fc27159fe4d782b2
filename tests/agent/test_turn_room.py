"""The room gate's count of the caller's speech (agent/turn_room.py)."""

from __future__ import annotations

from dataclasses import dataclass

from sipgw.agent.turn_room import ROOM_CALLER_DB, ROOM_MIN_CALLER_MS, ROOM_PIECE_MS, RoomGate
from sipgw.media.vad import FRAME_MS, VadConfig, VadEvent

CALLER = -18.0
ENOUGH = ROOM_MIN_CALLER_MS // FRAME_MS  # frames that make a turn the caller's


@dataclass
class Detector:
    """What the gate reads of a detector (sipgw.media.vad.VoiceDetector)."""

    caller_dbfs: float | None = CALLER
    level_dbfs: float = CALLER
    speech_frames: int = 0
    speaking: bool = True
    loud: bool = True
    noise_dbfs: float = -100.0
    config: VadConfig = VadConfig()
    speech_ms: int = 0

    def push(self, frame: bytes | None) -> VadEvent:  # pragma: no cover - not called
        raise NotImplementedError


def loud_frames(gate: RoomGate, level: float, frames: int, caller: float | None = CALLER) -> None:
    vad = Detector(caller_dbfs=caller, level_dbfs=level)
    for _ in range(frames):
        gate.loud(vad, True)


def test_frames_near_the_callers_level_make_the_turn_theirs() -> None:
    gate = RoomGate(True)
    loud_frames(gate, CALLER - ROOM_CALLER_DB, ENOUGH)
    assert not gate.room_turn()


def test_frames_further_under_it_are_the_rooms() -> None:
    gate = RoomGate(True)
    loud_frames(gate, CALLER - ROOM_CALLER_DB - 0.5, 10 * ENOUGH)
    assert gate.room_turn()


def test_one_frame_short_is_the_rooms() -> None:
    gate = RoomGate(True)
    loud_frames(gate, CALLER, ENOUGH - 1)
    assert gate.room_turn()


def test_every_loud_frame_counts_while_the_callers_level_is_unknown() -> None:
    gate = RoomGate(True)
    loud_frames(gate, CALLER - 20, ENOUGH, caller=None)
    assert not gate.room_turn()


def test_each_final_starts_the_count_again() -> None:
    gate = RoomGate(True)
    loud_frames(gate, CALLER, ENOUGH)
    assert not gate.room_turn()
    assert gate.room_turn()


def test_a_start_counts_its_frames_near_the_callers_level() -> None:
    """The detector's start covers its latest loud frames: those in a row near the caller's
    level up to it count, the quieter ones before them do not."""
    gate = RoomGate(True)
    loud_frames(gate, CALLER - 12, 3)
    gate.quiet()
    loud_frames(gate, CALLER - 12, 2)  # not counted (a start follows)...
    vad = Detector(level_dbfs=CALLER)
    gate.loud(vad, False)  # ...nor is this start frame on its own
    gate.started(Detector(speech_frames=3))
    assert gate.caller_frames == 1


def test_a_start_counts_all_its_frames_while_the_level_is_unknown() -> None:
    gate = RoomGate(True)
    gate.started(Detector(caller_dbfs=None, speech_frames=3))
    assert gate.caller_frames == 3


def test_off_every_final_is_the_callers() -> None:
    gate = RoomGate(False)
    assert not gate.room_turn()


def test_a_held_final_carries_its_count_to_the_next() -> None:
    """Words held at a final (a piece the early end split off) are judged with the next
    final: the count goes on."""
    gate = RoomGate(True)
    loud_frames(gate, CALLER, ENOUGH - 2)
    assert gate.room_turn()
    gate.carry()
    loud_frames(gate, CALLER, 2)
    assert not gate.room_turn()


def test_a_frame_under_the_callers_level_ends_the_run_near_it() -> None:
    gate = RoomGate(True)
    loud_frames(gate, CALLER, 3)
    loud_frames(gate, CALLER - 12, 1)
    loud_frames(gate, CALLER, 1)
    gate.started(Detector(speech_frames=5))
    assert gate.caller_frames == 4 + 1  # 4 counted while speaking, 1 of the start's run


def test_a_final_with_a_little_of_the_callers_speech_may_be_a_piece_of_theirs() -> None:
    gate = RoomGate(True)
    loud_frames(gate, CALLER, ROOM_PIECE_MS // FRAME_MS)
    assert gate.room_turn() and gate.piece
    loud_frames(gate, CALLER - 12, ENOUGH)
    assert gate.room_turn() and not gate.piece
