"""What every verb handler shares (sipgw/agent/twiml/verbs/context.py): a recording
written where the operator serves it, or the failure logged and noted. The handlers
themselves run through TwimlAgent (tests/agent/twiml/test_agent.py)."""

from __future__ import annotations

import stat
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest

from sipgw.agent.twiml.verbs.context import VerbContext, VerbHandler


def _handler(directory: Path) -> tuple[VerbHandler, list[tuple[str, dict[str, object]]]]:
    notes: list[tuple[str, dict[str, object]]] = []
    ctx = SimpleNamespace(
        call=SimpleNamespace(call_id="c1"),
        settings=SimpleNamespace(recording_dir=directory, recording_url="https://rec.example/r/"),
        call_sid="CA1",
        steps=[],
        note=lambda kind, **fields: notes.append((kind, fields)),
    )
    return VerbHandler(cast(VerbContext, cast(Any, ctx))), notes


def test_a_recording_is_written_owner_only_and_its_url_given(tmp_path: Path) -> None:
    handler, notes = _handler(tmp_path / "recordings")
    url = handler.write_recording("RE1", b"RIFF....", "<Record>")
    assert url == "https://rec.example/r/RE1"
    written = tmp_path / "recordings" / "RE1.wav"
    assert written.read_bytes() == b"RIFF...."
    assert stat.S_IMODE(written.stat().st_mode) == 0o600
    assert notes == []


def test_a_recording_that_cannot_be_written_is_logged_and_noted(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocked = tmp_path / "a-file"
    blocked.write_text("not a directory")
    handler, notes = _handler(blocked / "recordings")
    assert handler.write_recording("RE1", b"RIFF", "<Dial record>") is None
    assert "[c1] <Dial record>: the recording could not be written" in caplog.text
    assert [kind for kind, _ in notes] == ["record_failed"]
