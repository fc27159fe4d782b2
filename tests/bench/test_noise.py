"""bench.noise: a smoke test of the script end to end, and its headline on music checked
(the model detector takes none of the melody for the caller, the energy one does)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bench.noise import CALLERS, INTERRUPTIONS, OPENING, measure
from tests.toolkit.amdset.speech import Voice
from tests.toolkit.noisy_audio import room_voices
from tests.toolkit.voice_identity import digest, same_audio

pytestmark = pytest.mark.timeout(120)

REPO = Path(__file__).resolve().parents[2]


def test_noise_bench_tiny_run(tmp_path: Path) -> None:
    out = tmp_path / "noise.json"
    proc = subprocess.run(
        [sys.executable, "-m", "bench.noise", "--seconds", "8", "--snr", "10",
         "--backgrounds", "street", "--json", str(out)],
        cwd=REPO, capture_output=True, text=True, timeout=110,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "false pauses/min" in proc.stdout
    figures = json.loads(out.read_text())["results"]["street@10dB"]
    assert set(figures) == {"energy", "model"}
    assert figures["model"]["interruptions"] == 1


def test_music_under_the_reply_is_no_caller_to_the_model() -> None:
    figures = measure("music", 20.0, 12.0, ["energy", "model"])
    assert figures["energy"]["false_barge_ins_per_min"] > 0
    assert figures["model"]["false_barge_ins_per_min"] == 0
    assert figures["model"]["false_turns_per_min"] == 0
    assert figures["model"]["interruptions_caught"] == figures["model"]["interruptions"] == 2


def test_cpu_at_many_calls_batches_the_models_steps() -> None:
    """``--calls``: the batched detector runs the model once per wake-up for the calls
    whose frame completed a chunk; a quiet line after the opening runs it not at all."""
    from bench.noise import cpu_at

    noisy = cpu_at(4, 1.0, 2, "batched", "noisy")
    assert noisy["cpu_ms_per_call_s"] > 0
    assert 1 < noisy["streams_per_run"] <= 2  # two calls a wake-up, one run for both
    quiet = cpu_at(4, 1.0, 4, "batched", "quiet")
    # The runs are the openings' (4 s); after them the quiet line is not stepped.
    assert quiet["model_runs_per_s"] < noisy["model_runs_per_s"]
    assert "model_runs_per_s" not in cpu_at(2, 1.0, 2, "energy", "quiet")


def test_cpu_at_greets_first_so_the_listener_is_stepped_sparsely() -> None:
    """The opening plays the agent's greeting before the caller's first turn (as
    :func:`bench.noise.play` does), so the model detector learns the caller's level and,
    under the reply, steps the quieter chunks one in two: fewer streams a run than calls a
    wake-up (every call's chunks complete on the same frames)."""
    from bench.noise import cpu_at

    noisy = cpu_at(4, 4.0, 4, "batched", "noisy")
    assert noisy["streams_per_run"] < 0.95 * 4


def test_callers_pooled_per_engine() -> None:
    """``--callers``: each caller's figures, then per engine over its callers together (a
    sentence not paused counts as not stopped within 240 ms)."""
    from bench.noise import TICK_PHASES_MS, pooled

    one = {"minutes": 1.0, "false_pauses": 3, "false_barge_ins_per_min": 3.0, "undone": 1,
           "false_turns": 0, "interruptions": 2, "interruptions_caught": 1,
           "stops_ms": [100.0] * len(TICK_PHASES_MS)}  # fmt: skip
    other = {**one, "false_pauses": 0, "false_barge_ins_per_min": 0.0, "undone": 0,
             "interruptions_caught": 2, "stops_ms": [300.0] * 2 * len(TICK_PHASES_MS)}  # fmt: skip
    f = pooled([one, other])
    assert f["false_pauses_per_min"] == 1.5
    assert f["worst_caller_false_pauses_per_min"] == 3.0
    assert f["undone_per_min"] == 0.5
    assert (f["interruptions_caught"], f["interruptions"]) == (3, 4)
    assert f["paused_within_240_ms"] == 0.25  # one of four sentences
    assert f["stop_ms_p50"] == 300.0


def test_a_caller_in_another_engine_says_every_sentence(tmp_path: Path) -> None:
    out = tmp_path / "noise.json"
    proc = subprocess.run(
        [sys.executable, "-m", "bench.noise", "--seconds", "8", "--snr", "10",
         "--backgrounds", "music", "--pipelines", "model",
         "--callers", "flite slt", "espeak en-us", "--json", str(out)],
        cwd=REPO, capture_output=True, text=True, timeout=110,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    figures = json.loads(out.read_text())
    assert figures["callers"] == {"flite slt": "flite", "espeak en-us": "espeak-ng"}
    assert figures["results"]["music@10dB/flite slt"]["model"]["interruptions"] == 1
    assert set(figures["by_engine"]) == {"music@10dB/model/flite", "music@10dB/model/espeak-ng"}
    assert "callers' engine" in proc.stdout


def test_the_callers_voices_differ_from_each_other_and_from_the_rooms() -> None:
    """Each caller's voice gives its own samples, and none is a room's voice (this espeak-ng
    ignores the variants of ``en-gb``: two of the callers were once the TV's reader)."""
    rooms = room_voices()
    voices = {Voice(v) for v, _ in (OPENING, *INTERRUPTIONS)}
    voices |= {voice for voice in CALLERS.values() if voice is not None}
    callers = {digest(voice) for voice in voices}
    assert len(callers) == len(voices)  # each caller's voice its own
    assert not callers & {digest(voice) for voice in rooms.values()}
    # No caller is a room's voice at another pitch (the babble's second and fourth voices
    # are one voice, the TV's reader, at three pitches: a room's own).
    shared = same_audio([*voices, *rooms.values()])
    assert [{v.name for v in group} for group in shared] == [{"en-gb"}], shared
