"""Call records and the callback database: owner-only, whatever the umask; redacted."""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import stat
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest

from sipgw.agent.record import CallRecord
from sipgw.agent.tools.callback_store import CallbackStore
from sipgw.foundation.private_files import tighten_file, write_private_atomic
from sipgw.foundation.redact import Redactor


@pytest.fixture
def open_umask() -> Iterator[None]:
    """A umask that would leave files world-readable and writable."""
    old = os.umask(0)
    try:
        yield
    finally:
        os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.usefixtures("open_umask")
def test_call_record_is_owner_only_and_redacted(tmp_path: Path) -> None:
    directory = tmp_path / "calls" / "2026"
    record = CallRecord(directory, "call/1@host", Redactor(["TOPSECRET-KEY"]))
    record.write({"type": "user", "text": "my card is 4111 1111 1111 1111"})
    record.write({"type": "error", "error": "HTTP 401 for key TOPSECRET-KEY"})
    record.close()
    assert record.path is not None
    assert mode(record.path) == 0o600
    assert mode(directory) == 0o700 and mode(directory.parent) == 0o700
    text = record.path.read_text()
    assert "4111" not in text and "TOPSECRET" not in text
    lines = [json.loads(line) for line in text.splitlines()]
    assert lines[0]["text"] == "my card is [card ****1111]"
    assert record.lines[1]["error"] == "HTTP 401 for key ***"


def test_open_record_directory_is_warned_about_not_changed(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    directory = tmp_path / "shared"
    directory.mkdir()
    directory.chmod(0o755)
    with caplog.at_level(logging.WARNING, "sipgw.agent"):
        CallRecord(directory, "a").close()
        CallRecord(directory, "b").close()
    assert mode(directory) == 0o755
    assert [r.getMessage() for r in caplog.records] == [
        f"{directory} is readable by others (mode 755): call data in it is private; chmod 700 it"
    ]


def test_existing_file_is_tightened(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "old.jsonl"
    path.write_text("{}\n")
    path.chmod(0o644)
    with caplog.at_level(logging.WARNING, "sipgw.agent"):
        tighten_file(path)
    assert mode(path) == 0o600
    assert "made 0600" in caplog.text
    tighten_file(tmp_path / "missing")  # nothing to do


@pytest.mark.usefixtures("open_umask")
async def test_callback_database_and_its_journal_are_owner_only(tmp_path: Path) -> None:
    db = tmp_path / "data" / "callbacks.sqlite3"
    store = CallbackStore(db)
    await store.add(call_id="c1", phone="+15550100", requested_time="now", reason="r", notes="",
              due_at=0.0, now=0.0)  # fmt: skip
    assert mode(db) == 0o600 and mode(db.parent) == 0o700
    # SQLite gives its journal files the database's mode: look at one while it exists
    with closing(sqlite3.connect(db)) as conn:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("CREATE TABLE t (x)")
        wal = db.with_name(db.name + "-wal")
        assert wal.exists() and mode(wal) == 0o600


async def test_existing_callback_database_is_tightened(tmp_path: Path) -> None:
    db = tmp_path / "callbacks.sqlite3"
    await CallbackStore(db).add(call_id="c1", phone="+15550100", requested_time="now", reason="r",
                          notes="", due_at=0.0, now=0.0)  # fmt: skip
    db.chmod(0o644)
    await CallbackStore(db).get(1)
    assert mode(db) == 0o600


@pytest.mark.usefixtures("open_umask")
def test_atomic_write_is_owner_only_and_whole(tmp_path: Path) -> None:
    path = tmp_path / "line.ulaw"
    path.write_bytes(b"old")
    path.chmod(0o644)
    write_private_atomic(path, b"\xff" * 320)
    assert path.read_bytes() == b"\xff" * 320 and mode(path) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["line.ulaw"]  # no temporary left


def test_atomic_write_that_fails_leaves_the_old_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "line.ulaw"
    path.write_bytes(b"old")

    def full_disk(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", full_disk)
    with pytest.raises(OSError, match="No space left"):
        write_private_atomic(path, b"new")
    assert path.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["line.ulaw"]
