"""CallRecord: one new, owner-only file per call, named by nothing the caller chose."""

from __future__ import annotations

import json
import re
import stat
from pathlib import Path

from sipgw.agent.record import CallRecord
from sipgw.foundation.redact import Redactor


def test_two_calls_with_one_call_id_never_share_a_file(tmp_path: Path) -> None:
    """Issue 21: the file name came from the caller's Call-ID and the file was opened for
    append, so a second call with the same Call-ID (in the same second) wrote into the
    first call's record. Now each record is a new file with a random name."""
    first = CallRecord(tmp_path, "victim-call@pbx")
    second = CallRecord(tmp_path, "victim-call@pbx")
    first.write({"type": "call", "call_id": "victim-call@pbx"})
    second.write({"type": "user", "text": "forged line"})
    first.close()
    second.close()
    assert first.path is not None and second.path is not None and first.path != second.path
    for record in (first, second):
        assert record.path is not None
        assert re.fullmatch(r"\d{8}-\d{6}_[0-9a-f]{12}\.jsonl", record.path.name)
        assert "victim" not in record.path.name
        assert stat.S_IMODE(record.path.stat().st_mode) == 0o600
    lines = [json.loads(line) for line in first.path.read_text().splitlines()]
    assert [line["type"] for line in lines] == ["call"]


def test_a_hostile_call_id_names_no_path(tmp_path: Path) -> None:
    record = CallRecord(tmp_path / "calls", "../../etc/passwd\x00", Redactor())
    record.write({"type": "call"})
    record.close()
    assert record.path is not None and record.path.parent == tmp_path / "calls"
    assert list((tmp_path / "calls").iterdir()) == [record.path]


def test_without_a_directory_records_stay_in_memory() -> None:
    record = CallRecord(None, "c")
    record.write({"type": "call", "text": "x"})
    assert record.path is None and record.lines[0]["type"] == "call"
