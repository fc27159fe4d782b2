"""Which webhook events a call makes, and where they go: the call feed to the outbox.

:class:`CallWebhooks` subscribes to the gateway's call feed
(:class:`~sipgw.app.calls.callfeed.CallFeed`) and turns its events into webhook events
(:mod:`~sipgw.app.webhooks.events`), each sent to the URL of the call's line (its
``webhook_url``; else ``SIPGW_WEBHOOK_URL``) and signed with the line's secret (else the
gateway's). A call's events are numbered (``sequence``) in the order they happen; its
``call.ended`` waits until the agent's record is complete (its last words are written as
it closes, :class:`~sipgw.app.calls.callfeed.RecordEnds`) and for the post-call summary when
the line has one (bounded by the summary's own timeout), and comes last. Nothing here
waits on the network or the disk: events are handed to
:class:`~sipgw.app.webhooks.delivery.WebhookDelivery`, which queues them.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sipgw.app.calls.callfeed import CallEntry, CallFeed, FeedEvent, RecordEnds
from sipgw.app.lines.reload import Lines
from sipgw.app.lines.routesfile import LineSpec
from sipgw.app.webhooks.delivery import WebhookDelivery
from sipgw.app.webhooks.events import (
    call_data,
    encode,
    envelope,
    sip_status,
    suggestion,
    transcript,
    utterance,
)
from sipgw.app.webhooks.outbox import NewEvent
from sipgw.app.webhooks.signing import WebhookSecret
from sipgw.foundation.stopping import finish_or_cancel

__all__ = ["CallWebhooks", "Destination", "Summarize"]

log = logging.getLogger("sipgw.webhooks")

Summarize = Callable[[CallEntry, LineSpec | None], Awaitable[dict[str, Any] | None]]
"""The post-call summary of a call (None when its line has none, or it failed)."""


@dataclass(frozen=True, slots=True)
class Destination:
    """Where a line's events go."""

    url: str
    line: str
    """The line whose secret signs them ("" = the gateway's)."""


class CallWebhooks:
    """The call feed's events as webhooks (see the module docstring).

    Args:
        feed: the gateway's call feed.
        delivery: queues, stores and posts the events.
        url: ``SIPGW_WEBHOOK_URL`` ("" = none).
        secret: ``SIPGW_WEBHOOK_SECRET`` (None = none).
        lines: the routes file's lines, if any (their URLs and secrets).
        max_bytes: the largest event body.
        link_base: the admin server's base URL for recording links ("" = no links).
        summarize: the post-call summary, if any.
    """

    def __init__(
        self,
        feed: CallFeed,
        delivery: WebhookDelivery,
        *,
        url: str = "",
        secret: WebhookSecret | None = None,
        lines: Lines | None = None,
        max_bytes: int = 262144,
        link_base: str = "",
        summarize: Summarize | None = None,
    ) -> None:
        self.feed = feed
        self.delivery = delivery
        self.url = url
        self.secret = secret
        self.lines = lines
        self.max_bytes = max_bytes
        self.link_base = link_base.rstrip("/")
        self.summarize = summarize
        self._sequence: dict[str, int] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self.record_ends = RecordEnds(feed)
        self._unsubscribe = feed.subscribe(self.on_feed)

    # ------------------------------------------------------------------ where

    def _line(self, name: str) -> LineSpec | None:
        if self.lines is None or not name:
            return None
        line = self.lines.table.lines.get(name)
        return None if line is None else line.spec

    def destination(self, line_name: str) -> Destination | None:
        """Where a call on ``line_name`` sends its events (None = nowhere)."""
        spec = self._line(line_name)
        url = self.url if spec is None or spec.webhook_url is None else spec.webhook_url
        if not url:
            return None
        own = spec is not None and spec.webhook_secret is not None
        return Destination(url, line_name if own else "")

    def secret_for(self, line_name: str) -> WebhookSecret | None:
        """The secret of ``line_name``'s events ("" = the gateway's)."""
        spec = self._line(line_name)
        if spec is not None and spec.webhook_secret is not None:
            return WebhookSecret.parse(spec.webhook_secret)
        return self.secret

    # ------------------------------------------------------------------ the feed

    def on_feed(self, event: FeedEvent) -> None:
        """One feed event: the webhook events it makes (synchronous, never waits)."""
        try:
            self._on_feed(event)
        except Exception:
            log.exception("webhook for %s of call %s not made", event.kind, event.call)

    def _on_feed(self, event: FeedEvent) -> None:
        kind, data = event.kind, event.data
        if kind == "call_refused":
            refused = self._refused_entry(data)
            self._send("call.failed", refused, {**sip_status(refused), "outcome": "rejected",
                                                "why": data.get("why", "")},
                       at=refused.ended)  # fmt: skip
            self._sequence.pop(refused.id, None)
            return
        entry = self.feed.find(event.call)
        if entry is None:
            return
        if kind == "call_started" and entry.direction == "inbound":
            self._send("call.incoming", entry, {}, at=entry.started)
        elif kind == "call_answered":
            self._send("call.answered", entry, {}, at=entry.answered)
        elif kind == "amd":
            self._send("call.amd", entry, {"amd": data})
        elif kind == "ivr":
            self._send("call.ivr", entry, {"ivr": data})
        elif kind == "transcript" and data.get("type") == "speech":
            self._send("call.transcript", entry, {"utterance": utterance(data)})
        elif kind == "transcript" and data.get("type") == "suggestion":
            self._send("call.suggestion", entry, {"suggestion": suggestion(data)})
        elif kind == "transcript" and _tool_succeeded(data, "schedule_callback"):
            self._send("callback.scheduled", entry, {"callback": _callback(data)})
        elif kind == "transcript" and _tool_succeeded(data, "take_message"):
            self._send("message.taken", entry, {"message": _result(data, "taken")})
        elif kind == "call_ended":
            self._ended(entry)

    def _ended(self, entry: CallEntry) -> None:
        if entry.transferred_to:
            self._send("call.transferred", entry, {"target": entry.transferred_to},
                       at=entry.ended)  # fmt: skip
        if entry.answered is None:
            fields = {**sip_status(entry), "outcome": entry.outcome, "hung_up_by": entry.hung_up_by}
            self._send("call.failed", entry, fields, at=entry.ended)
            self._sequence.pop(entry.id, None)
            return
        task = asyncio.get_running_loop().create_task(self._when_complete(entry))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _when_complete(self, entry: CallEntry) -> None:
        """``call.ended`` once the record is complete (the agent's last words) and the
        summary made, if any."""
        summary: dict[str, Any] | None = None
        try:
            await self.record_ends.wait(entry)
            if self.summarize is not None:
                summary = await self.summarize(entry, self._line(entry.line))
        except Exception:
            log.exception("[%s] post-call summary failed", entry.id)
        self._send_ended(entry, summary)

    def _send_ended(self, entry: CallEntry, summary: dict[str, Any] | None) -> None:
        duration = None
        if entry.answered is not None and entry.ended is not None:
            duration = round(entry.ended - entry.answered, 1)
        fields: dict[str, Any] = {
            "outcome": entry.outcome,
            "duration_s": duration,
            **sip_status(entry),
            "hung_up_by": entry.hung_up_by,
            "transcript": transcript(entry),
            "talk": entry.talk,
            "recording": entry.recording is not None,
        }
        if entry.recording is not None and self.link_base:
            fields["recording_url"] = f"{self.link_base}/api/recent/{entry.id}/recording.wav"
        if summary is not None:
            fields["summary"] = summary
        # Stamped when the call ended, not when sent: the wait for the record and the
        # summary would otherwise put it after the next call's first event.
        self._send("call.ended", entry, fields, at=entry.ended)
        self._sequence.pop(entry.id, None)

    # ------------------------------------------------------------------ out

    def _send(
        self, kind: str, entry: CallEntry, fields: Mapping[str, Any], at: float | None = None
    ) -> None:
        """Queue one event; its ``timestamp`` is ``at`` (when it happened), else now."""
        where = self.destination(entry.line)
        if where is None:
            return
        sequence = self._sequence[entry.id] = self._sequence.get(entry.id, 0) + 1
        data = {**call_data(entry, sequence, entry.variables), **fields}
        try:
            body = encode(envelope(kind, data, at), self.max_bytes)
        except ValueError as exc:
            log.error("[%s] %s webhook not sent: %s", entry.id, kind, exc)
            return
        event_id = f"msg_{secrets.token_hex(12)}"
        if entry.trace:
            self.delivery.trace(entry.id, entry.trace)
        self.delivery.enqueue([NewEvent(event_id, where.url, where.line, entry.id, kind, body)])

    def _refused_entry(self, data: Mapping[str, Any]) -> CallEntry:
        return CallEntry(
            id=str(data["id"]), call_id=str(data["call_id"]), caller=str(data["caller"]),
            caller_name=data.get("caller_name"), called=str(data["called"]),
            direction="inbound", started=float(data["started"]), state="ended",
            ended=data.get("ended"), outcome="rejected", line=str(data.get("line") or ""),
            status=data.get("status"),
        )  # fmt: skip

    async def stop(self, grace: float) -> None:
        """Stop listening; wait up to ``grace`` s for the summaries still running (their
        ``call.ended`` is queued then, or without the summary once the grace is over)."""
        self._unsubscribe()
        await finish_or_cancel(self._tasks, grace)
        self.record_ends.close()


def _tool_succeeded(line: Mapping[str, Any], tool: str) -> bool:
    """A call record line of the tool ``tool`` that did its work (``schedule_callback``
    stored a callback, ``take_message`` a message)."""
    return line.get("type") == "tool_call" and line.get("name") == tool and bool(line.get("ok"))


def _callback(line: Mapping[str, Any]) -> dict[str, Any]:
    """The stored callback, from the tool's result (its id, number and due time)."""
    return _result(line, "scheduled")


def _result(line: Mapping[str, Any], flag: str) -> dict[str, Any]:
    """A tool's result as an object, without its ``flag`` (``scheduled``, ``taken``)."""
    result = line.get("result")
    if isinstance(result, str):
        try:
            result = json.loads(result)
        except ValueError:
            result = {"result": result}
    found = dict(result) if isinstance(result, dict) else {}
    found.pop(flag, None)
    return found
