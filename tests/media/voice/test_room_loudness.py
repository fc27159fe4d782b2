"""The room's loudest frames under the agent's audio (media/voice/room_loudness.py), sans-IO."""

from __future__ import annotations

from sipgw.media.voice.room_loudness import (
    LAG_FRAMES,
    MARGIN_DB,
    MIN_FRAMES,
    WINDOW_FRAMES,
    RoomLoudness,
)

FLOOR = -50.0


def room(levels: list[float], loudness: RoomLoudness | None = None) -> RoomLoudness:
    loudness = loudness or RoomLoudness(FLOOR)
    for level in levels:
        loudness.hear(level, listening=True)
    return loudness


def test_no_gate_before_min_frames_have_counted_after_the_lag() -> None:
    loudness = room([-30.0] * (MIN_FRAMES + LAG_FRAMES - 1))
    assert loudness.gate is None and not loudness.over(0.0)
    loudness.hear(-30.0, listening=True)
    assert loudness.gate == -30.0 + MARGIN_DB


def test_the_gate_is_over_all_but_the_loudest_half_percent() -> None:
    # A full window (500 frames): two loud frames in it are under half a percent, three not.
    loudness = room([-5.0] * 2 + [-30.0] * (WINDOW_FRAMES - 2 + LAG_FRAMES))
    assert loudness.gate == -30.0 + MARGIN_DB
    assert loudness.over(-27.0) and not loudness.over(-29.0)
    loudness = room([-5.0] * 3 + [-30.0] * (WINDOW_FRAMES - 3 + LAG_FRAMES))
    assert loudness.gate == -5.0 + MARGIN_DB


def test_a_speech_start_drops_the_frames_not_counted_yet() -> None:
    loudness = room([-30.0] * (MIN_FRAMES + LAG_FRAMES))
    # The caller's first frames, louder, then their speech starts (listening: false).
    for _ in range(LAG_FRAMES):
        loudness.hear(-15.0, listening=True)
    loudness.hear(-15.0, listening=False)
    room([-30.0] * (2 * LAG_FRAMES), loudness)
    assert loudness.gate == -30.0 + MARGIN_DB  # none of the caller's frames counted


def test_quiet_frames_do_not_count_so_a_silent_room_has_no_gate() -> None:
    loudness = room([-80.0] * (2 * WINDOW_FRAMES))
    assert loudness.gate is None
    # The room starts talking later: learned from its own sound, not against the silence.
    room([-30.0] * (MIN_FRAMES + LAG_FRAMES), loudness)
    assert loudness.gate == -30.0 + MARGIN_DB


def test_the_window_forgets_frames_older_than_its_length() -> None:
    loudness = room([-20.0] * WINDOW_FRAMES)
    assert loudness.gate == -20.0 + MARGIN_DB
    room([-35.0] * (WINDOW_FRAMES + LAG_FRAMES), loudness)
    assert loudness.gate == -35.0 + MARGIN_DB


# -- through the model detector and the turn-taking machine (an injected clock)

SOFT_ONSET = ("en-us+m4", "No, no, I wanted the earlier appointment.")  # 80 ms of "n", 12 dB soft


class Agent:
    """The agent's reply plays (or is paused) throughout; the caller's first turn aside."""

    def __init__(self) -> None:
        self.audible = self.pending = False

    def active_reply_started_at(self) -> float | None:
        return 0.0 if self.pending else None


def _frames(samples: list[int]) -> list[bytes]:
    from tests.media.voice.test_model_vad import frames

    return frames(samples)


def test_a_soft_onset_over_a_quiet_room_pauses_before_the_callers_level_and_holds() -> None:
    from sipgw.agent.turns.machine import CommitBargeIn, PauseAgent, ResumeAgent, TurnTaker
    from sipgw.media import g711
    from sipgw.media.voice.model_vad import ModelVoiceDetector
    from sipgw.media.voice.vad import VadConfig
    from tests.toolkit.noisy_audio import background, mix, speech

    agent = Agent()
    detector = ModelVoiceDetector(
        VadConfig(start_ms=60, hangover_ms=300),
        agent_audible=lambda: agent.audible, agent_pending=lambda: agent.pending,
    )  # fmt: skip
    turns = TurnTaker(agent, detector=detector)
    clock = iter(range(1, 10**6))

    def hear(samples: list[int]) -> list[tuple[int, object]]:
        """The frames' pauses, resumes and cuts, by frame."""
        return [
            (i, action)
            for i, frame in enumerate(_frames(samples))
            for action in turns.receive_audio(frame, next(clock) * 0.02)
            if isinstance(action, PauseAgent | ResumeAgent | CommitBargeIn)
        ]

    babble = list(background("babble", 12.0))  # 20 dB under the caller: the room
    agent.audible = agent.pending = True  # the greeting over the room
    hear(mix([0], babble[: 3 * 8000], 20.0))
    agent.audible = agent.pending = False  # the caller's first turn: their level
    hear(mix(list(speech("Hi, I am calling about my order.")), babble[3 * 8000 : 6 * 8000], 20.0))
    assert detector.caller_dbfs is not None
    agent.audible = agent.pending = True  # the reply plays over the room alone: no pause
    assert not hear(mix([0], babble[6 * 8000 : 9 * 8000], 20.0))
    said = list(speech(SOFT_ONSET[1], SOFT_ONSET[0]))
    mixed = mix(said, babble[9 * 8000 :], 20.0)
    bar = detector.caller_dbfs - 6.0
    callers_level = None
    for i, frame in enumerate(_frames(mixed)):
        if g711.rms_dbfs(frame) >= bar:
            callers_level = i
            break
    found = hear(mixed)
    kinds = [type(a) for _, a in found]
    assert kinds[:2] == [PauseAgent, CommitBargeIn]  # paused, never resumed, then cut
    paused = next(i for i, a in found if isinstance(a, PauseAgent))
    assert callers_level is not None and paused <= callers_level - 3  # 60 ms or more sooner
    assert detector.retracted == 0
