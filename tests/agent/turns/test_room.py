"""The room gate's count of the caller's speech (agent/turns/room.py)."""

from __future__ import annotations

from dataclasses import dataclass

from sipgw.agent.turns.room import (
    ROOM_CALLER_DB,
    ROOM_MIN_CALLER_MS,
    ROOM_PIECE_MS,
    ROOM_RUN_FRAMES,
    RoomGate,
)
from sipgw.media.voice.vad import FRAME_MS, VadConfig, VadEvent

CALLER = -18.0
ROOM = -30.0  # the room's level, once the detector knows it
ENOUGH = ROOM_MIN_CALLER_MS // FRAME_MS  # frames that make a turn the caller's


@dataclass
class Detector:
    """What the gate reads of a detector (sipgw.media.voice.vad.VoiceDetector)."""

    caller_dbfs: float | None = CALLER
    level_dbfs: float = CALLER
    room_dbfs: float | None = None
    speech_frames: int = 0
    speaking: bool = True
    loud: bool = True
    noise_dbfs: float = -100.0
    config: VadConfig = VadConfig()
    speech_ms: int = 0

    def push(self, frame: bytes | None) -> VadEvent:  # pragma: no cover - not called
        raise NotImplementedError

    judging: bool = False
    judged: tuple[bool, ...] = ()

    def judge_turns(self) -> None:
        self.judging = True

    def turn_judged(self, callers: bool) -> None:
        self.judged += (callers,)


def loud_frames(
    gate: RoomGate,
    level: float,
    frames: int,
    caller: float | None = CALLER,
    room: float | None = None,
) -> None:
    vad = Detector(caller_dbfs=caller, level_dbfs=level, room_dbfs=room)
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
    level up to it count, the quieter ones before them do not (the room's level known: no
    run needed)."""
    gate = RoomGate(True)
    loud_frames(gate, CALLER - 12, 3, room=ROOM)
    gate.quiet()
    loud_frames(gate, CALLER - 12, 2, room=ROOM)  # not counted (a start follows)...
    vad = Detector(level_dbfs=CALLER, room_dbfs=ROOM)
    gate.loud(vad, False)  # ...nor is this start frame on its own
    gate.started(Detector(speech_frames=3, room_dbfs=ROOM))
    assert gate.caller_frames == 1


def test_a_start_counts_all_its_frames_while_the_level_is_unknown() -> None:
    gate = RoomGate(True)
    gate.started(Detector(caller_dbfs=None, speech_frames=3, room_dbfs=ROOM))
    assert gate.caller_frames == 3


def test_without_the_rooms_level_short_runs_near_the_callers_level_are_the_rooms() -> None:
    """A quieter voice's loudest syllables reach the caller's level a few frames at a time,
    between its frames under it: however many such runs, none counts."""
    gate = RoomGate(True)
    for _ in range(10):
        loud_frames(gate, CALLER, ROOM_RUN_FRAMES - 1)
        loud_frames(gate, CALLER - 12, 2)
    assert gate.room_turn()


def test_without_the_rooms_level_a_run_counts_from_its_first_frame() -> None:
    gate = RoomGate(True)
    loud_frames(gate, CALLER, ROOM_RUN_FRAMES - 1)
    assert gate.caller_frames == 0
    loud_frames(gate, CALLER, 1)
    assert gate.caller_frames == ROOM_RUN_FRAMES


def test_quiet_frames_within_the_speech_do_not_break_a_run() -> None:
    """The detector's hangover: frames it hears as quiet inside its speech (over the room, the
    caller's speech comes in bursts) go on with the run; its speech's end ends it."""
    gate = RoomGate(True)
    loud_frames(gate, CALLER, 3)
    gate.quiet(speaking=True)
    loud_frames(gate, CALLER, ROOM_RUN_FRAMES - 3)
    assert gate.caller_frames == ROOM_RUN_FRAMES
    gate.quiet(speaking=False)
    gate.room_turn()
    loud_frames(gate, CALLER, 3)
    gate.quiet(speaking=False)
    loud_frames(gate, CALLER, ROOM_RUN_FRAMES - 3)
    assert gate.caller_frames == 0


def test_with_the_rooms_level_every_frame_near_the_callers_counts() -> None:
    """Once the detector knows the room's level its gate holds the room out, and hears the
    caller's own speech in short bursts: each frame near their level counts."""
    gate = RoomGate(True)
    for _ in range(ENOUGH):
        loud_frames(gate, CALLER, 1, room=ROOM)
        loud_frames(gate, CALLER - 12, 1, room=ROOM)
    assert not gate.room_turn()


@dataclass
class Agent:
    """What the gate reads of the agent's side (sipgw.agent.turns.actions.AgentState)."""

    pending: bool = True
    audible: bool = True

    def active_reply_started_at(self) -> float | None:  # pragma: no cover - not called
        return 0.0


def test_over_the_agents_audio_short_runs_are_the_rooms_with_its_level_known() -> None:
    """Over a reply the detector's gate lets the room's loudest words through (the caller's
    level less 6 dB): there frames near the caller's level count only in runs."""
    agent = Agent()
    gate = RoomGate(True, agent=agent)
    for _ in range(10):
        loud_frames(gate, CALLER, ROOM_RUN_FRAMES - 1, room=ROOM)
        loud_frames(gate, CALLER - 12, 2, room=ROOM)
    assert gate.room_turn()
    agent.audible = False  # paused: still queued
    for _ in range(10):
        loud_frames(gate, CALLER, ROOM_RUN_FRAMES - 1, room=ROOM)
        loud_frames(gate, CALLER - 12, 2, room=ROOM)
    assert gate.room_turn()
    loud_frames(gate, CALLER, ENOUGH, room=ROOM)  # the caller talking over it
    assert not gate.room_turn()


def test_runs_hold_to_the_end_of_the_speech_that_met_the_agents_audio() -> None:
    """The room's voice that paused or cut a reply goes on in the same run of the detector's
    speech: its frames still count only in runs, until that speech ends."""
    agent = Agent()
    gate = RoomGate(True, agent=agent)
    loud_frames(gate, CALLER, ROOM_RUN_FRAMES - 1, room=ROOM)
    agent.pending = agent.audible = False  # cut
    for _ in range(10):
        loud_frames(gate, CALLER - 12, 2, room=ROOM)
        loud_frames(gate, CALLER, ROOM_RUN_FRAMES - 1, room=ROOM)
    assert gate.room_turn()
    gate.quiet(speaking=False)
    for _ in range(ENOUGH):
        loud_frames(gate, CALLER, 1, room=ROOM)
        loud_frames(gate, CALLER - 12, 1, room=ROOM)
    assert not gate.room_turn()


def test_over_the_agents_audio_a_quiet_frame_breaks_a_run_with_the_callers_level_known() -> None:
    """The café's loudest talker over a reply: bursts of 2-4 frames near the caller's level
    between frames the detector hears as quiet, inside one run of its speech. Over the agent's
    audio those quiet frames break the run; without the agent they do not."""
    agent = Agent()
    gate = RoomGate(True, agent=agent)
    for _ in range(10):
        loud_frames(gate, CALLER, ROOM_RUN_FRAMES - 1, room=ROOM)
        gate.quiet(speaking=True)
    assert gate.room_turn()
    for _ in range(10):
        loud_frames(gate, CALLER, ROOM_RUN_FRAMES, room=ROOM)  # the caller's syllables
        gate.quiet(speaking=True)
    assert not gate.room_turn()
    gate.quiet(speaking=False)
    agent.pending = agent.audible = False
    for _ in range(10):
        loud_frames(gate, CALLER, ROOM_RUN_FRAMES - 1)  # the room's level unknown: runs
        gate.quiet(speaking=True)
    assert not gate.room_turn()


def test_over_the_agents_audio_quiet_frames_break_no_run_while_the_callers_level_is_unknown() -> (
    None
):
    """At a call's start, over a long greeting that taught the detector the room's level, the
    caller's first sentence reaches its gate in bursts: with nothing to hold it to, every loud
    frame is near and the bursts go on with the run."""
    gate = RoomGate(True, agent=Agent())
    for _ in range(4):
        loud_frames(gate, CALLER, ROOM_RUN_FRAMES - 1, caller=None, room=ROOM)
        gate.quiet(speaking=True)
    assert not gate.room_turn()


def test_with_the_agent_silent_every_frame_counts_again() -> None:
    gate = RoomGate(True, agent=Agent(pending=False, audible=False))
    for _ in range(ENOUGH):
        loud_frames(gate, CALLER, 1, room=ROOM)
        loud_frames(gate, CALLER - 12, 1, room=ROOM)
    assert not gate.room_turn()


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
    loud_frames(gate, CALLER, 3, room=ROOM)
    loud_frames(gate, CALLER - 12, 1, room=ROOM)
    loud_frames(gate, CALLER, 1, room=ROOM)
    gate.started(Detector(speech_frames=5, room_dbfs=ROOM))
    assert gate.caller_frames == 4 + 1  # 4 counted while speaking, 1 of the start's run


def test_a_final_with_a_little_of_the_callers_speech_may_be_a_piece_of_theirs() -> None:
    gate = RoomGate(True)
    loud_frames(gate, CALLER, ROOM_PIECE_MS // FRAME_MS, room=ROOM)
    assert gate.room_turn() and gate.piece
    loud_frames(gate, CALLER - 12, ENOUGH)
    assert gate.room_turn() and not gate.piece


def test_a_tail_over_a_tentative_reply_is_the_callers_with_a_piece_of_their_speech() -> None:
    """The rest of a sentence the early end split ("please?"), said over the reply to its
    first part, holds little of the caller's speech near their level: a piece makes it theirs."""
    gate = RoomGate(True)
    loud_frames(gate, CALLER, ROOM_PIECE_MS // FRAME_MS, room=ROOM)
    assert not gate.room_turn(tail=True)
    loud_frames(gate, CALLER, ROOM_PIECE_MS // FRAME_MS - 1, room=ROOM)
    assert gate.room_turn(tail=True)
    loud_frames(gate, CALLER, ROOM_PIECE_MS // FRAME_MS, room=ROOM)
    assert gate.room_turn()


def test_near_frames_are_the_run_in_a_row_near_the_callers_level() -> None:
    """What says the caller went on after a forced end: the room's voice under their level
    is not them."""
    gate = RoomGate(True)
    loud_frames(gate, CALLER - 12, 5)
    assert gate.near_frames == 0
    loud_frames(gate, CALLER, 3)
    assert gate.near_frames == 3
    gate.quiet(speaking=True)
    assert gate.near_frames == 0


def test_the_caller_goes_on_on_frames_near_their_level_with_the_gate_on() -> None:
    gate = RoomGate(True)
    loud_frames(gate, CALLER - 12, 4)
    assert gate.caller_run(4) == 0
    assert RoomGate(False).caller_run(4) == 4


def test_the_detector_is_told_which_finals_were_the_callers() -> None:
    """With the gate on, the detector learns the caller's level from the finals the gate
    takes for theirs only; a piece carried to the next final waits for it; a final with no
    words tells nothing. Off, nothing is told."""
    vad = Detector()
    gate = RoomGate(True, vad)
    assert vad.judging
    loud_frames(gate, CALLER, ENOUGH)
    room = gate.room_turn()
    gate.settled(said=True, room=room, held=True)
    assert not room and vad.judged == (True,)
    loud_frames(gate, CALLER, 3, room=ROOM)  # a piece with some of the caller's speech: carried
    room = gate.room_turn()
    gate.settled(said=True, room=room, held=True)
    assert room and vad.judged == (True,) and gate.caller_frames == 3
    room = gate.room_turn()  # the room's, its words recorded
    gate.settled(said=True, room=room, held=False)
    gate.settled(said=False, room=False, held=True)
    assert vad.judged == (True, False)
    off = Detector()
    gate = RoomGate(False, off)
    loud_frames(gate, CALLER, ENOUGH)
    gate.settled(said=True, room=gate.room_turn(), held=True)
    assert not off.judging and off.judged == ()


def test_a_final_after_the_echo_guard_retracted_the_speech_is_not_the_callers() -> None:
    """Gate on or off: the speech since the last final was the agent's echo, found late."""
    for on in (True, False):
        gate = RoomGate(on)
        loud_frames(gate, CALLER, 40)
        gate.echo_heard()
        assert gate.room_turn() and not gate.piece
        assert not gate.room_turn(joined=True)  # once: the next final is judged as ever


def test_new_speech_after_the_retraction_is_the_callers() -> None:
    gate = RoomGate(False)
    gate.echo_heard()
    gate.started(Detector(speech_frames=3))
    assert not gate.echo and not gate.room_turn()
