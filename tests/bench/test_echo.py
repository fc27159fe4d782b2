"""bench.echo on a short set: the hybrid and the speakerphone, the energy detector, 16 s."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.echo import SHORT, main, run_all, table

pytestmark = pytest.mark.timeout(180)


def test_the_guard_takes_the_echo_out_and_lets_the_caller_through() -> None:
    result = run_all(SHORT, 16.0, ["energy"])
    rows = {(r["path"], r["guard"]): r for r in result["rows"]}
    assert len(rows) == 2 * len(SHORT)
    for path in SHORT:
        off, on = rows[(path.name, False)], rows[(path.name, True)]
        # Off, the echo pauses the agent again and again; on, only before the line has
        # shown its echo (the call's first second) and never cuts it off.
        assert off["false_pauses_per_min"] > on["false_pauses_per_min"]
        assert on["false_cuts_per_min"] == 0
        assert on["interruptions"] == off["interruptions"] > 0
        assert on["caught"] >= on["interruptions"] - 1
        assert on["onset_to_pause_ms_p50"] is not None
        assert on["stage_us_per_frame"] > off["stage_us_per_frame"]
    assert "false pauses/min" in table(result)


def test_the_command_writes_its_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "echo.json"
    names = [SHORT[0].name]
    assert (
        main(["--seconds", "8", "--paths", *names, "--detectors", "energy", "--json", str(out)])
        == 0
    )
    result = json.loads(out.read_text())
    assert {"machine", "seconds", "rows"} <= set(result) and len(result["rows"]) == 2
    assert SHORT[0].name in capsys.readouterr().out
