"""The echo guard, sans-IO: the agent's frames and the caller's in, echo-only verdicts out.

The agent's voice here is noise shaped into syllables (80-250 ms, gaps of 30-200 ms), the
echo paths those of :mod:`tests.toolkit.echo_paths`; every frame is fed as the gateway feeds
it: the agent's frame sent, then the caller's frame heard.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pytest

from sipgw.media import g711
from sipgw.media.voice import echo as echo_module
from sipgw.media.voice.echo import LOOK_FRAMES, SEARCH_FRAMES, EchoGuard
from sipgw.media.voice.echo_path import estimate
from tests.toolkit.echo_paths import PATHS, EchoPath, encode, varied

RATE = 8000
FRAME = 160


def syllables(seconds: float, seed: int, dbfs: float = -20.0) -> np.ndarray:
    """Speech-like noise: syllables of 80-250 ms at ``dbfs`` with gaps of 30-200 ms."""
    rng = np.random.default_rng(seed)
    out = np.zeros(round(seconds * RATE))
    at = 0
    while at < len(out):
        length = int(rng.uniform(0.08, 0.25) * RATE)
        shape = np.hanning(length) ** 0.5 * 10 ** (rng.uniform(-6, 0) / 20)
        part = rng.standard_normal(length) * shape
        out[at : at + length] = part[: len(out) - at]
        at += length + int(rng.uniform(0.03, 0.2) * RATE)
    return out * 32767 * 10 ** (dbfs / 20) * 1.5


def hiss(samples: int, dbfs: float = -60.0) -> np.ndarray:
    return np.random.default_rng(99).standard_normal(samples) * 32767 * 10 ** (dbfs / 20)


def run(
    agent: np.ndarray, mic: np.ndarray, guard: EchoGuard | None = None
) -> tuple[EchoGuard, list[bool]]:
    """Feed the call frame by frame; the guard and its verdict on each caller frame."""
    guard = guard or EchoGuard()
    sent, heard = encode(agent), encode(mic)
    flags = []
    for k in range(len(agent) // FRAME):
        frame = sent[k * FRAME : (k + 1) * FRAME]
        guard.sent(frame if frame.strip(b"\xff") else None)
        flags.append(guard.heard(heard[k * FRAME : (k + 1) * FRAME]))
    return guard, flags


def levels(samples: np.ndarray) -> np.ndarray:
    """Each frame's level (dBFS)."""
    frames = samples[: len(samples) // FRAME * FRAME].reshape(-1, FRAME)
    level: np.ndarray = 10 * np.log10(np.mean(frames**2, axis=1) / 32767**2 + 1e-12)
    return level


def plain(delay_ms: float, down_db: float) -> EchoPath:
    """An echo without reflections."""
    return EchoPath("plain", delay_ms, -down_db)


@pytest.mark.parametrize(
    ("delay_ms", "down_db"), [(10, 0), (40, 6), (120, 12), (300, 6), (200, 30), (60, 20)]
)
def test_the_delay_and_level_are_found(delay_ms: float, down_db: float) -> None:
    agent = syllables(6.0, seed=1)
    echo = plain(delay_ms, down_db).apply(agent)
    guard, _ = run(agent, echo + hiss(len(agent)))
    assert guard.path is not None
    assert abs(guard.path.lag * 10 - delay_ms) <= 20
    assert abs(guard.path.gain_db + down_db) <= 3


def test_the_path_is_found_within_the_first_second_of_the_agents_voice() -> None:
    agent = syllables(6.0, seed=2)
    guard = EchoGuard()
    sent, heard = encode(agent), encode(PATHS["hybrid"].apply(agent) + hiss(len(agent)))
    found = None
    for k in range(len(agent) // FRAME):
        guard.sent(sent[k * FRAME : (k + 1) * FRAME])
        guard.heard(heard[k * FRAME : (k + 1) * FRAME])
        if guard.path is not None:
            found = k
            break
    assert found is not None and found * 20 <= 1000


def test_a_drifting_delay_is_followed() -> None:
    agent = syllables(24.0, seed=3)
    drifting = dataclasses.replace(PATHS["hybrid"], drift_ms_per_s=3.0)  # 40 ms to 112 ms
    guard, flags = run(agent, drifting.apply(agent) + hiss(len(agent)))
    assert guard.path is not None
    assert abs(guard.path.lag * 10 - drifting.delay_at(24.0)) <= 30
    late = levels(drifting.apply(agent))[-250:] > -45
    assert np.mean(np.array(flags[-250:])[late]) >= 0.9


@pytest.mark.parametrize("name", ["hybrid", "speakerphone", "handset"])
def test_echo_only_frames_are_flagged_with_the_reverberation_tail(name: str) -> None:
    agent = syllables(10.0, seed=4)
    echo = PATHS[name].apply(agent)
    guard, flags = run(agent, echo + hiss(len(agent)))
    assert guard.path is not None
    audible = levels(echo) > -50  # the echo over the line's hiss, the tail's frames too
    after = np.arange(len(flags)) >= 50  # the path is known within the first second
    assert np.mean(np.array(flags)[audible & after]) >= 0.97
    assert guard.flagged == sum(flags)


def test_the_speakerphones_tail_is_fitted_longer_than_the_hybrids() -> None:
    agent = syllables(8.0, seed=5)
    decays = {}
    for name in ("hybrid", "speakerphone"):
        guard, _ = run(agent, PATHS[name].apply(agent) + hiss(len(agent)))
        assert guard.path is not None
        decays[name] = guard.path.decay_db
    assert decays["speakerphone"] < decays["hybrid"]


@pytest.mark.parametrize(("name", "down_db"), [("hybrid", 6), ("speakerphone", 12)])
def test_the_caller_talking_over_the_echo_passes(name: str, down_db: float) -> None:
    agent = syllables(12.0, seed=6)
    path = varied(PATHS[name], PATHS[name].delay_ms, down_db)
    echo = path.apply(agent)
    caller = np.zeros(len(agent))
    caller[4 * RATE :] = syllables(8.0, seed=7)
    guard, flags = run(agent, echo + caller + hiss(len(agent)))
    assert guard.path is not None
    over = levels(caller) > levels(echo) + 6  # the caller's syllables over the echo
    assert np.mean(np.array(flags)[over]) <= 0.1
    clearly = levels(caller) > levels(echo) + 10
    assert np.mean(np.array(flags)[clearly]) <= 0.05
    assert guard.path is not None  # the double talk did not make it lose the path


def test_nothing_is_flagged_on_a_line_without_echo() -> None:
    agent = syllables(10.0, seed=8)
    caller = syllables(10.0, seed=21, dbfs=-24.0)
    guard, flags = run(agent, caller + hiss(len(agent)))
    assert guard.path is None and not any(flags)


def found_at(
    agent: np.ndarray, echo: np.ndarray, monkeypatch: pytest.MonkeyPatch, at: int | None = None
) -> tuple[EchoGuard, int | None, int]:
    """Feed the agent's audio (silence as None) and its echo over hiss until the guard finds
    a path: the guard, the frame it did (None: never), and its estimates so far; ``at``: the
    frame whose guard is returned if none is found by then."""
    guard = EchoGuard()
    sent, heard = encode(agent), encode(echo + hiss(len(agent)))
    estimates = 0

    def counted(*args: Any, **kwargs: Any) -> Any:
        nonlocal estimates
        estimates += 1
        return estimate(*args, **kwargs)

    monkeypatch.setattr(echo_module, "estimate", counted)
    for k in range(len(agent) // FRAME):
        said = agent[k * FRAME : (k + 1) * FRAME].any()
        guard.sent(sent[k * FRAME : (k + 1) * FRAME] if said else None)
        guard.heard(heard[k * FRAME : (k + 1) * FRAME])
        if guard.path is not None:
            return guard, k, estimates
        if k == at:
            break
    return guard, None, estimates


def replies(seconds: float, seed: int, each: float = 1.0, every: float = 3.0) -> np.ndarray:
    """The agent's short replies: ``each`` s of syllables every ``every`` s."""
    out = np.zeros(round(seconds * RATE))
    for k, at in enumerate(np.arange(0.0, seconds - each, every)):
        start = round(at * RATE)
        out[start : start + round(each * RATE)] = syllables(each, seed=seed + k)
    return out


@pytest.mark.parametrize(("kind", "period_ms"), [("speech", 0), ("replies", 3000)])
def test_a_line_without_echo_is_looked_at_less_often_and_an_echo_that_starts_later_is_found(
    monkeypatch: pytest.MonkeyPatch, kind: str, period_ms: int
) -> None:
    """No peak on full evidence (a second of the agent's voice: in one window, or over short
    replies, 1 s every 3 s, no window of which holds it): the wait between estimates doubles to
    SEARCH_FRAMES (an estimate a second, not ten); a phone put on speaker later is found
    within SEARCH_FRAMES of when a guard looking every LOOK_FRAMES finds it (and, between
    replies, by the next one)."""
    agent = syllables(20.0, seed=14) if kind == "speech" else replies(45.0, seed=40)
    starts = 10 if kind == "speech" else 30
    echo = PATHS["hybrid"].apply(agent)
    echo[: starts * RATE] = 0.0
    guard, none, estimates = found_at(agent, echo, monkeypatch, at=starts * 50 - 1)
    assert none is None and guard.path is None and guard._next_look == SEARCH_FRAMES
    assert estimates <= 2 * starts + 20, estimates  # looking every 100 ms: 90-180
    _, found, _ = found_at(agent, echo, monkeypatch)
    monkeypatch.setattr(echo_module, "SEARCH_FRAMES", LOOK_FRAMES)
    _, eager, _ = found_at(agent, echo, monkeypatch)
    assert found is not None and eager is not None
    assert eager <= found <= eager + SEARCH_FRAMES + period_ms // 20, (eager, found)


def test_a_caller_who_starts_at_the_agents_first_words_is_not_muted() -> None:
    """Before the line has shown an echo nothing is flagged: the caller who talks from the
    agent's first frame on, on a line without echo and on one with it."""
    agent = syllables(3.0, seed=10)
    caller = syllables(3.0, seed=31)
    guard, flags = run(agent, caller + hiss(len(agent)))
    assert not any(flags)
    echo = PATHS["hybrid"].apply(agent)
    guard, flags = run(agent, caller + echo + hiss(len(agent)))
    over = levels(caller) > levels(echo) + 6
    assert np.mean(np.array(flags)[over]) <= 0.05
    assert not any(flags[:LOOK_FRAMES])


def test_nothing_is_measured_while_the_agent_is_quiet() -> None:
    guard = EchoGuard()
    caller = encode(syllables(2.0, seed=12))
    for k in range(len(caller) // FRAME):
        guard.sent(None)
        assert not guard.heard(caller[k * FRAME : (k + 1) * FRAME])
    assert guard.path is None and guard.comfort_noise()  # no floor yet: the quietest noise


def test_a_path_whose_echo_is_gone_is_dropped() -> None:
    agent = syllables(16.0, seed=13)
    echo = PATHS["hybrid"].apply(agent)
    echo[6 * RATE :] = 0.0  # the phone taken off its speaker
    guard, flags = run(agent, echo + hiss(len(agent)))
    assert guard.path is None
    assert not any(flags[-200:])


def test_the_comfort_noise_is_at_the_lines_floor() -> None:
    agent = syllables(4.0, seed=14)
    guard, _ = run(agent, PATHS["hybrid"].apply(agent) + hiss(len(agent), -55.0))
    noise = [g711.rms_dbfs(guard.comfort_noise()) for _ in range(4)]
    assert all(-62 <= level <= -50 for level in noise)
    assert len({guard.comfort_noise() for _ in range(4)}) == 4  # not one frame repeated


def test_a_16_bit_reference_is_taken_as_well() -> None:
    agent = syllables(5.0, seed=15)
    pcm = np.clip(np.round(agent), -32768, 32767).astype("<i2").tobytes()
    heard = encode(PATHS["hybrid"].apply(agent) + hiss(len(agent)))
    guard = EchoGuard(linear_reference=True)
    for k in range(len(agent) // FRAME):
        guard.sent(pcm[2 * k * FRAME : 2 * (k + 1) * FRAME])
        guard.heard(heard[k * FRAME : (k + 1) * FRAME])
    assert guard.path is not None and abs(guard.path.lag * 10 - 40) <= 20


def test_a_path_found_late_retracts_what_was_heard_before_it_once() -> None:
    """What the caller's side sounded before the path was found was the agent's echo: the
    guard says so once, with the frame that found it."""
    agent = syllables(4.0, seed=16)
    guard = EchoGuard()
    sent, heard = encode(agent), encode(PATHS["hybrid"].apply(agent) + hiss(len(agent)))
    said = []
    for k in range(len(agent) // FRAME):
        guard.sent(sent[k * FRAME : (k + 1) * FRAME])
        before = guard.path
        guard.heard(heard[k * FRAME : (k + 1) * FRAME])
        said.append(guard.take_retraction())
        if said[-1]:
            assert before is None and guard.path is not None
    assert said.count(True) == 1


def test_no_retraction_when_the_caller_talked_before_the_path_was_found() -> None:
    agent = syllables(4.0, seed=17)
    caller = np.zeros(len(agent))
    caller[: RATE // 2] = syllables(0.5, seed=31)  # the caller talks over the first words
    guard = EchoGuard()
    sent = encode(agent)
    heard = encode(PATHS["hybrid"].apply(agent) + caller + hiss(len(agent)))
    said = []
    for k in range(len(agent) // FRAME):
        guard.sent(sent[k * FRAME : (k + 1) * FRAME])
        guard.heard(heard[k * FRAME : (k + 1) * FRAME])
        said.append(guard.take_retraction())
    assert guard.path is not None and not any(said)
