"""The per-call record: one JSON object per line, written as the call goes."""

from __future__ import annotations

import json
import logging
import re
import time
from pathlib import Path
from typing import IO, Any

__all__ = ["CallRecord"]

log = logging.getLogger("sipgw.agent")


class CallRecord:
    """Appends records to ``DIR/<start time>_<call id>.jsonl``; every line is flushed.

    Each record gets ``t``: seconds since the record was opened. With no
    directory, records are kept in memory only (``lines``), e.g. for tests.
    """

    def __init__(self, directory: Path | None, call_id: str) -> None:
        self.started = time.time()
        self._monotonic = time.monotonic()
        self.lines: list[dict[str, Any]] = []
        self.path: Path | None = None
        self._file: IO[str] | None = None
        if directory is not None:
            safe = re.sub(r"[^A-Za-z0-9._-]", "_", call_id)[:80]
            stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime(self.started))
            try:
                directory.mkdir(parents=True, exist_ok=True)
                self.path = directory / f"{stamp}_{safe}.jsonl"
                self._file = self.path.open("a", encoding="utf-8")
            except OSError as exc:
                log.error("cannot write call records to %s: %s", directory, exc)
                self.path = None

    def write(self, record: dict[str, Any]) -> None:
        """Add one record (JSON-serializable; anything else is written as a string)."""
        line = {"t": round(time.monotonic() - self._monotonic, 3), **record}
        self.lines.append(line)
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
