"""Twilio's stream status callbacks, sans-IO: ``<Stream statusCallback statusCallbackMethod>``.

Twilio's "TwiML Voice: <Stream>" page: when a stream has ``statusCallback``, Twilio requests
it (POST, or GET with ``statusCallbackMethod="GET"``) as the stream starts, stops or fails,
with ``AccountSid``, ``CallSid``, ``StreamSid``, ``StreamName`` (the ``name`` given, else the
``StreamSid``), ``StreamEvent`` (``stream-started``, ``stream-stopped``, ``stream-error``),
``StreamError`` (on ``stream-error``: why) and ``Timestamp`` (ISO 8601, UTC), signed with
``X-Twilio-Signature`` like every request of the account. :class:`StreamStatus` says which
event is due (each once, in order: started, then stopped or error) and builds its form; the
``twiml`` agent posts it (sipgw/agent/twiml/verbs/stream.py).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Final, Literal

__all__ = ["StreamEvent", "StreamStatus"]

StreamEvent = Literal["stream-started", "stream-stopped", "stream-error"]
MAX_ERROR: Final = 300
"""Most characters of ``StreamError`` (the reason sipgw logged)."""


class StreamStatus:
    """The status callbacks of one stream.

    Args:
        url: the ``statusCallback`` (absolute).
        method: ``POST`` or ``GET``.
        account_sid, call_sid, stream_sid: who and what the events are about.
        name: the ``<Stream name>`` ("" for none: the ``StreamSid`` stands for it).
    """

    def __init__(
        self, url: str, method: str, account_sid: str, call_sid: str, stream_sid: str, name: str
    ) -> None:
        self.url = url
        self.method = method
        self._base = {
            "AccountSid": account_sid,
            "CallSid": call_sid,
            "StreamSid": stream_sid,
            "StreamName": name or stream_sid,
        }
        self.started = False
        self.ended = False

    def event(self, event: StreamEvent, now: float, error: str = "") -> dict[str, str] | None:
        """The form of ``event`` at ``now`` (Unix seconds), or None when it is not due: a
        stream starts once, and ends once (stopped only after it started; an error at any
        time), nothing after its end."""
        if self.ended or (event == "stream-started" and self.started):
            return None
        if event == "stream-stopped" and not self.started:
            return None
        if event == "stream-started":
            self.started = True
        else:
            self.ended = True
        form = {**self._base, "StreamEvent": event, "Timestamp": _iso(now)}
        if event == "stream-error":
            form["StreamError"] = error[:MAX_ERROR]
        return form


def _iso(now: float) -> str:
    """``2026-11-25T20:10:00.123Z``: ISO 8601 in UTC, to the millisecond."""
    stamp = datetime.fromtimestamp(now, UTC).isoformat(timespec="milliseconds")
    return stamp.replace("+00:00", "Z")
