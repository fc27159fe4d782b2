"""bench/conference.py: the mix's CPU per participant, printed as a table and JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.conference import _tone, main


def test_a_short_run_prints_the_table_and_writes_the_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "conference.json"
    main(["--sizes", "3", "12", "--seconds", "0.2", "--repeats", "1", "--json", str(out)])
    printed = capsys.readouterr().out
    assert "participants" in printed and "% of a core per participant" in printed
    figures = json.loads(out.read_text())["figures"]
    assert set(figures) == {"3", "12"}
    assert all(f["us_per_participant_tick"] > 0 for f in figures.values())


def test_the_tones_are_twenty_ms_frames() -> None:
    frames = _tone(440.0, 5)
    assert len(frames) == 5 and {len(f) for f in frames} == {160}


@pytest.mark.parametrize("room", ["wide", "mixed"])
def test_a_wideband_or_mixed_room_runs_too(
    room: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "conference.json"
    main(["--sizes", "4", "--seconds", "0.2", "--repeats", "1", "--room", room,
          "--json", str(out)])  # fmt: skip
    figures = json.loads(out.read_text())["figures"]
    assert figures["4"]["us_per_participant_tick"] > 0
    assert json.loads(out.read_text())["params"]["room"] == room


def test_speaker_times_the_voice_detectors_too(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "conference.json"
    main(["--sizes", "3", "--seconds", "1.4", "--repeats", "1", "--speaker", "--json", str(out)])
    assert "speaker detector µs per participant a tick" in capsys.readouterr().out
    figures = json.loads(out.read_text())["figures"]["3"]
    assert figures["speaker_us_per_participant_tick"] > 0
    assert len(figures["speaker_us_runs"]) == 1
