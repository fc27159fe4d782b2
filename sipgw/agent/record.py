"""The per-call record: one JSON object per line, written as the call goes."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any, Protocol, runtime_checkable

from sipgw.foundation.private_files import make_private_dir, new_private_file
from sipgw.foundation.redact import Redactor

__all__ = ["CallRecord", "KeepsRecords"]

log = logging.getLogger("sipgw.agent")


class CallRecord:
    """Writes records to a new ``DIR/<start time>_<random>.jsonl``; every line is flushed.

    The name holds nothing the caller chose (its Call-ID is in the first record,
    ``type: call``), and the file is always a new one (never appended to), so
    two calls with one Call-ID cannot share a file. Each record gets ``t``:
    seconds since the record was opened. With no
    directory, records are kept in memory only (``lines``), e.g. for tests.
    Every string in a record goes through ``redactor`` (secrets, card numbers,
    the operator's pattern; :mod:`sipgw.foundation.redact`) before it is kept or written.
    The file is created ``0600`` and the directory ``0700``
    (:mod:`sipgw.foundation.private_files`). ``on_line``, when set, gets each line as it is
    kept (already redacted): the gateway's live feed for the dashboard.
    """

    def __init__(
        self, directory: Path | None, call_id: str, redactor: Redactor | None = None
    ) -> None:
        self.redactor = redactor
        self.call_id = call_id
        """The SIP Call-ID, for our log lines (the records carry it themselves)."""
        self.started = time.time()
        self._monotonic = time.monotonic()
        self.lines: list[dict[str, Any]] = []
        self.on_line: Callable[[dict[str, Any]], None] | None = None
        self.path: Path | None = None
        self._file: IO[str] | None = None
        if directory is not None:
            stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime(self.started))
            try:
                make_private_dir(directory)
                self.path, self._file = new_private_file(directory, stamp, ".jsonl")
            except OSError as exc:
                log.error("cannot write the records of call %s to %s: %s", call_id, directory, exc)
                self.path = None

    def write(self, record: dict[str, Any]) -> None:
        """Add one record (JSON-serializable; anything else is written as a string)."""
        if self.redactor is not None:
            record = self.redactor.redact_value(record)
        line = {"t": round(time.monotonic() - self._monotonic, 3), **record}
        self.lines.append(line)
        if self.on_line is not None:
            self.on_line(line)
        if self._file is not None:
            try:
                self._file.write(json.dumps(line, default=str, ensure_ascii=False) + "\n")
                self._file.flush()
            except OSError as exc:
                log.error("call record %s: %s", self.path, exc)
                self._file = None

    def close(self) -> None:
        """Close the file (idempotent)."""
        if self._file is not None:
            self._file.close()
            self._file = None


@runtime_checkable
class KeepsRecords(Protocol):
    """An agent factory whose agents keep call records: it also opens the record of a call
    that never reached an agent (a call we placed that was refused or not answered), in
    the same directory, redacted the same way."""

    def new_record(self, call_id: str) -> CallRecord | None:
        """A new record for ``call_id``; None when its agents keep none."""
        ...
