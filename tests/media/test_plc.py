"""sipgw.media.plc: pitch estimate, continuity at the joins, fading over long losses, G.711
round trip."""

from __future__ import annotations

import math
from array import array

import pytest

from sipgw.media import g711
from sipgw.media.codecs import codec_named
from sipgw.media.plc import Concealer, estimate_pitch

FRAME = 160


def sine(n: int, freq: float = 440.0, amp: float = 8000.0) -> list[int]:
    return [round(amp * math.sin(2 * math.pi * freq * i / 8000)) for i in range(n)]


def voiced(n: int, f0: float = 120.0, amp: float = 6000.0) -> list[int]:
    """A voiced-speech-like signal: ten harmonics of ``f0`` with falling amplitude and phases."""
    return [
        round(
            sum(amp / h * math.sin(2 * math.pi * f0 * h * i / 8000 + 0.7 * h) for h in range(1, 11))
            / 2
        )
        for i in range(n)
    ]


def encode(samples: list[int], codec: str = "PCMU") -> bytes:
    raw = array("h", samples).tobytes()
    return g711.linear_to_alaw(raw) if codec == "PCMA" else g711.linear_to_ulaw(raw)


def decode(chunk: bytes, codec: str = "PCMU") -> list[int]:
    raw = g711.alaw_to_linear(chunk) if codec == "PCMA" else g711.ulaw_to_linear(chunk)
    return array("h", raw).tolist()


def max_step(x: list[int]) -> int:
    return max(abs(b - a) for a, b in zip(x, x[1:], strict=False))


def run(signal: list[int], lost: set[int], codec: str = "PCMU") -> list[int]:
    """Frames of ``signal`` through a Concealer, the frames in ``lost`` concealed."""
    plc = Concealer(codec_named(codec))
    out: list[int] = []
    for k in range(len(signal) // FRAME):
        if k in lost:
            chunk = plc.conceal(FRAME) or g711.silence_frame(codec, FRAME)
        else:
            chunk = plc.played(encode(signal[k * FRAME : (k + 1) * FRAME], codec))
        out += decode(chunk, codec)
    return out


@pytest.mark.parametrize("period", [40, 57, 80, 100, 120])
def test_pitch_of_a_periodic_signal(period: int) -> None:
    # a pulse-train-like waveform: fundamental plus strong harmonics
    x = [
        round(3000 * sum(math.cos(2 * math.pi * h * i / period) / h for h in range(1, 6)))
        for i in range(390)
    ]
    assert estimate_pitch(x) == period


def test_pitch_of_a_tone_and_a_voice_and_of_silence() -> None:
    assert abs(estimate_pitch(sine(390, 8000 / 54.4)) - 54.4) < 1
    assert abs(estimate_pitch(voiced(390, 120.0)) - 8000 / 120) < 1
    assert estimate_pitch([0] * 390) == 120


@pytest.mark.parametrize("make", [sine, voiced], ids=["sine", "voiced"])
@pytest.mark.parametrize("lost", [{10}, {10, 11}, {10, 11, 12}], ids=["20ms", "40ms", "60ms"])
def test_no_discontinuity_at_the_joins(make: object, lost: set[int]) -> None:
    assert callable(make)
    signal: list[int] = make(FRAME * 20)
    natural = max_step(signal)
    out = run(signal, lost)
    start = min(lost) * FRAME
    end = (max(lost) + 1) * FRAME
    # The step into the substitute and the steps through the return are no
    # larger than the signal's own steepest step (plus μ-law rounding).
    limit = natural * 1.2 + 200
    assert max_step(out[start - 2 : start + 40]) <= limit
    assert max_step(out[end - 40 : end + 2 * FRAME]) <= limit
    # The substitute is no hole: the first 10 ms are at full level.
    first = out[start : start + 80]
    assert max(map(abs, first)) > 0.8 * max(map(abs, signal))


def test_repeating_the_last_frame_would_fail_the_join_check() -> None:
    """The check above can fail: a plain frame repeat of the 440 Hz tone jumps at the join."""
    signal = sine(FRAME * 20)
    repeated = signal[: 10 * FRAME] + signal[9 * FRAME : 10 * FRAME]
    assert max_step(repeated[10 * FRAME - 2 : 10 * FRAME + 40]) > max_step(signal) * 1.2 + 200


def test_long_loss_fades_to_silence() -> None:
    signal = voiced(FRAME * 10)
    plc = Concealer()
    for k in range(10):
        plc.played(encode(signal[k * FRAME : (k + 1) * FRAME]))
    out: list[int] = []
    for _ in range(3):
        chunk = plc.conceal(FRAME)
        assert chunk is not None
        out += decode(chunk)
    assert plc.conceal(FRAME) is None  # 60 ms: exhausted
    peak = [max(map(abs, out[i : i + 80])) for i in range(0, 480, 80)]  # per 10 ms
    full = max(map(abs, signal))
    assert peak[0] > 0.8 * full  # the first 10 ms at full level
    assert all(a > b for a, b in zip(peak[1:], peak[2:], strict=False))  # then falling
    # 20 % less per 10 ms: the last 10 ms start at 20 % and end near zero
    assert peak[5] < 0.25 * full
    assert max(map(abs, out[-8:])) < 0.02 * full
    assert plc.concealed_samples == 480


def test_return_after_an_exhausted_loss_fades_in() -> None:
    signal = sine(FRAME * 20)
    out = run(signal, set(range(10, 15)))
    back = out[15 * FRAME : 15 * FRAME + 80]
    assert max(map(abs, back[:8])) < 0.2 * max(map(abs, signal))  # from silence
    assert out[15 * FRAME + 80 :] == decode(encode(signal[15 * FRAME + 80 :]))  # then untouched


def test_good_frames_pass_untouched_and_without_a_copy() -> None:
    plc = Concealer()
    chunk = encode(sine(FRAME))
    assert plc.played(chunk) is chunk
    assert not plc.in_loss
    assert Concealer().conceal(FRAME) is None  # nothing to go on yet
    assert Concealer(max_samples=0).conceal(FRAME) is None


@pytest.mark.parametrize("codec", ["PCMU", "PCMA"])
def test_g711_round_trip_and_alaw(codec: str) -> None:
    codes = bytes(range(256))
    again = encode(decode(codes, codec), codec)
    assert decode(again, codec) == decode(codes, codec)  # exact in linear terms
    signal = voiced(FRAME * 15)
    out = run(signal, {10}, codec)
    assert out[: 10 * FRAME] == decode(encode(signal[: 10 * FRAME], codec), codec)
    assert max_step(out[10 * FRAME - 2 : 11 * FRAME + 80]) <= max_step(signal) * 1.2 + 200


def test_deterministic_and_reset() -> None:
    signal = voiced(FRAME * 20)
    assert run(signal, {7, 12, 13}) == run(signal, {7, 12, 13})
    plc = Concealer()
    plc.played(encode(signal[:FRAME]))
    plc.reset()
    assert plc.conceal(FRAME) is None
    with pytest.raises(ValueError):
        Concealer(max_samples=-1)


def test_the_history_is_the_newest_audio_in_order_however_long_the_call() -> None:
    """The recent chunks are a ring (4 slots for 20 ms frames): after 40 frames, a loss
    continues from the last three exactly as a concealer that heard only those three
    would (a ring read in the wrong order, or a stale slot, would give another history
    and another substitute)."""
    signal = voiced(40 * FRAME)
    frames = [encode(signal[k * FRAME : (k + 1) * FRAME]) for k in range(40)]
    long_call, fresh = Concealer(), Concealer()
    for frame in frames:
        long_call.played(frame)
    for frame in frames[-3:]:  # 480 samples: more than the 390 the history takes
        fresh.played(frame)
    assert long_call.conceal(FRAME) == fresh.conceal(FRAME) is not None
    assert long_call.conceal(FRAME) == fresh.conceal(FRAME)


@pytest.mark.parametrize("sizes", [[160] * 6 + [40] * 9, [80] * 9 + [26] * 20, [400, 160, 30, 160]])
def test_the_history_survives_chunks_getting_shorter(sizes: list[int]) -> None:
    """Shorter chunks need more slots for the same 390 samples: the ring widens in the
    middle of the stream and keeps its order, so a loss continues from the newest 390
    samples as a concealer given them as one chunk would."""
    signal = voiced(sum(sizes))
    ringed, whole = Concealer(), Concealer()
    start = 0
    for size in sizes:
        ringed.played(encode(signal[start : start + size]))
        start += size
    whole.played(encode(signal[-390:]))
    assert ringed._recent_audio()[-390:] == encode(signal[-390:])  # what _start will take
    assert ringed.conceal(FRAME) == whole.conceal(FRAME) is not None
