"""The echo path's estimate from two envelopes: the delay, the gain, how clear, the tail."""

from __future__ import annotations

import numpy as np

from sipgw.media.voice.echo_path import DECAYS, MIN_ACTIVE, estimate, fitted_decay, needed

MAX_LAG = 60


def envelope(steps: int, seed: int) -> np.ndarray:
    """Syllables' log power (dBFS) every 10 ms: 8-25 steps at -35..-20, gaps of 3-20 at -70."""
    rng = np.random.default_rng(seed)
    out = np.full(steps, -70.0)
    at = 0
    while at < steps:
        length = int(rng.integers(8, 26))
        out[at : at + length] = rng.uniform(-35, -20, size=min(length, steps - at))
        at += length + int(rng.integers(3, 21))
    return out


def echoed(ref: np.ndarray, lag: int, gain_db: float, floor: float = -60.0) -> np.ndarray:
    """The microphone: the reference ``lag`` steps late and ``gain_db`` down, over a floor."""
    mic = np.full(len(ref) - MAX_LAG, floor)
    late = ref[MAX_LAG - lag : len(ref) - lag] + gain_db
    out: np.ndarray = np.maximum(mic, late)
    return out


def test_the_delay_and_gain_are_read_from_a_clear_peak() -> None:
    ref = envelope(360, seed=1)
    found = estimate(ref, echoed(ref, 12, -6.0), MAX_LAG)
    assert found is not None and found.clear
    assert found.lag == 12 and abs(found.gain_db + 6.0) < 0.5 and found.correlation > 0.9


def test_another_voice_gives_no_clear_peak() -> None:
    ref = envelope(360, seed=2)
    other = envelope(360, seed=3)[MAX_LAG:] - 4.0
    found = estimate(ref, other, MAX_LAG)
    assert found is not None and not found.clear


def test_an_unclear_peak_may_be_left_unmeasured() -> None:
    """``measure_unclear=False`` (the guard's): the same verdict, lag and evidence; a peak
    the correlation rules out comes back without its gain, a clear one whole."""
    ref = envelope(360, seed=2)
    for mic in (echoed(ref, 12, -6.0), envelope(360, seed=3)[MAX_LAG:] - 4.0,
                echoed(ref, 40, -22.0, floor=-55.0)):  # fmt: skip
        full = estimate(ref, mic, MAX_LAG)
        quick = estimate(ref, mic, MAX_LAG, measure_unclear=False)
        assert full is not None and quick is not None
        assert (quick.clear, quick.lag, quick.active) == (full.clear, full.lag, full.active)
        if full.clear:
            assert quick == full
        elif np.isnan(quick.gain_db):
            assert full.correlation < needed(full.active) or (
                full.correlation - full.runner_up < 0.15
            )


def test_a_line_that_never_rises_is_unclear_without_the_correlation() -> None:
    """``measure_unclear=False``: a microphone that rises 3 dB at fewer than three steps
    (digital silence, a steady hum, an echo under the line's floor, two clicks) can meet no
    three onsets at any lag: unclear
    at once, on every row it would have stood on. Two more rises and it is correlated."""
    ref = envelope(360, seed=2)
    hum = -52.0 + 0.5 * np.sin(np.arange(300) / 7.0)
    clicks = np.full(300, -70.0)
    clicks[[50, 150]] = -30.0
    buried = echoed(ref, 40, -25.0, floor=-45.0)
    for mic in (np.full(300, -70.0), hum, buried, clicks):
        full = estimate(ref, mic, MAX_LAG)
        quick = estimate(ref, mic, MAX_LAG, measure_unclear=False)
        assert full is not None and not full.clear
        assert quick is not None and not quick.clear
        assert (quick.lag, quick.correlation) == (0, 0.0) and np.isnan(quick.gain_db)
        assert quick.active >= full.active > 0
    clicks[[100, 200, 250]] = -30.0
    quick = estimate(ref, clicks, MAX_LAG, measure_unclear=False)
    assert quick is not None and quick.correlation != 0.0


def test_too_little_of_the_agents_voice_is_no_evidence() -> None:
    ref = np.full(160, -70.0)
    ref[-20:] = -20.0
    assert estimate(ref, echoed(ref, 5, -6.0), MAX_LAG) is None
    mic = np.full(100, np.nan)  # nothing measured
    assert estimate(envelope(160, seed=4), mic, MAX_LAG) is None


def test_a_short_stretch_needs_a_higher_correlation() -> None:
    assert needed(MIN_ACTIVE) > needed(2 * MIN_ACTIVE) > needed(100 * MIN_ACTIVE) == 0.6


def test_a_ringing_echo_is_fitted_a_longer_tail() -> None:
    ref = envelope(360, seed=5)
    dry = echoed(ref, 10, -6.0)
    found = estimate(ref, dry, MAX_LAG)
    assert found is not None
    assert fitted_decay(ref, dry, found, MAX_LAG, 25, 1) == DECAYS[0]
    # Each step's echo rings on, 2 dB less each 10 ms, for 150 ms.
    lin = 10 ** (ref / 10)
    ringing = lin.copy()
    for k in range(1, 16):
        ringing[k:] = np.maximum(ringing[k:], lin[:-k] * 10 ** (-2 * k / 10))
    wet = echoed(10 * np.log10(ringing), 10, -6.0)
    found = estimate(ref, wet, MAX_LAG)
    assert found is not None and found.clear
    assert fitted_decay(ref, wet, found, MAX_LAG, 25, 1) < DECAYS[0]
