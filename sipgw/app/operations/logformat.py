"""How log lines are written: plain text, or one JSON object per line.

``SIPGW_LOG_FORMAT=json`` makes :func:`configure_logging` install a
:class:`JsonFormatter`: each line is an object with ``time`` (UTC, ISO 8601),
``level``, ``logger`` and ``message``; a call's lines (logged through
:class:`sipgw.app.calls.callhandle.CallLog`) add ``call`` (the log id: the Call-ID) and
``call_id`` (the SIP Call-ID); an exception adds ``exception`` (its
traceback as text). Secrets are masked before any formatter runs: the CLI's
log redaction (:mod:`sipgw.app.security.privacy`) redacts every record when it is
created, message, arguments and exception text included.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import TextIO

__all__ = ["LOG_FORMATS", "TEXT_FORMAT", "JsonFormatter", "configure_logging"]

LOG_FORMATS = ("text", "json")
"""The ``SIPGW_LOG_FORMAT`` choices."""

TEXT_FORMAT = "%(asctime)s %(levelname)-7s %(name)s %(message)s"
"""The text format's line layout."""


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line (with ``worker`` when it is not 0)."""

    def __init__(self, worker: int = 0) -> None:
        super().__init__()
        self.worker = worker

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        call = getattr(record, "call", None)
        fields: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
        }
        if self.worker:
            fields["worker"] = self.worker
        if call is not None:
            prefix = f"[{call}] "  # CallLog's text prefix: a field here
            if message.startswith(prefix):
                message = message[len(prefix) :]
            fields["call"] = call
            call_id = getattr(record, "call_id", None)
            if call_id is not None:
                fields["call_id"] = call_id
        fields["message"] = message
        if record.exc_info and record.exc_info[0] is not None and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            fields["exception"] = record.exc_text
        if record.stack_info:
            fields["stack"] = record.stack_info
        return json.dumps(fields, ensure_ascii=False, default=str)


def configure_logging(
    level: str, log_format: str = "text", stream: TextIO | None = None, *, worker: int = 0
) -> None:
    """Send the root logger's records to ``stream`` (stderr) at ``level``, as text or JSON.

    ``worker`` (``serve --workers``; 0 = none) tags each line: ``wN`` before the logger's
    name in text, a ``worker`` field in JSON. Above DEBUG, httpx2's per-request INFO lines
    and aioice's per-check ones (browser calls) are left out (their WARNINGs stay).
    """
    root = logging.getLogger()
    if root.handlers:  # as logging.basicConfig: an application's own set-up wins
        return
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    if log_format == "json":
        formatter: logging.Formatter = JsonFormatter(worker)
    else:
        tagged = TEXT_FORMAT.replace("%(name)s", f"w{worker} %(name)s")
        formatter = logging.Formatter(tagged if worker else TEXT_FORMAT)
    handler.setFormatter(formatter)
    root.addHandler(handler)
    root.setLevel(level)
    if root.getEffectiveLevel() > logging.DEBUG:
        # One INFO line per HTTP request (every LLM turn, every TTS stream) is
        # noise and event-loop CPU at hundreds of calls; --log-level DEBUG keeps it.
        logging.getLogger("httpx2").setLevel(logging.WARNING)
        # aioice logs every ICE candidate pair's checks of a browser call at INFO.
        logging.getLogger("aioice").setLevel(logging.WARNING)
