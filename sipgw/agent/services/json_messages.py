"""The vendors' WebSocket messages as JSON objects: each text frame holds one.

A frame that is binary, or whose JSON is no object, is no message; one that is not JSON
at all is also logged (the vendor changed something, or the connection is not the
vendor's).
"""

from __future__ import annotations

import json
import logging
from typing import Any

__all__ = ["json_object"]


def json_object(raw: str | bytes, sender: str, log: logging.Logger) -> dict[str, Any] | None:
    """The message ``raw`` holds; None for a binary frame, JSON that is no object, or text
    that is no JSON (a warning on ``log`` naming ``sender``)."""
    if isinstance(raw, bytes):
        return None
    try:
        message = json.loads(raw)
    except ValueError:
        # its length only: a vendor's text may be the caller's words
        log.warning("%s sent a message that is not JSON (%d characters); ignored", sender, len(raw))
        return None
    return message if isinstance(message, dict) else None
