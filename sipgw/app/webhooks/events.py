"""The webhook events' JSON, made from the call feed's record of a call.

Every body is a Standard Webhooks envelope, ``{"type", "timestamp", "data"}``; ``data``
always holds the call (ids, direction, leg, line, caller, called, start/answer/end times), the
call's ``sequence`` number of this event (1, 2, ... in the order they happened) and its
``variables``; each type adds its own fields (docs/webhooks.md lists them):

- ``call.incoming``: an incoming call was admitted (before it is answered);
- ``call.answered``;
- ``call.ended``: an answered call ended: ``outcome`` (the end reason), ``duration_s``
  (from the answer), ``sip_status``, ``sip_reason``, ``sip_detail``, ``hint`` (see
  :func:`sip_status`), ``hung_up_by``, the
  ``transcript`` (as redacted in the call record), the recording's link, the post-call
  ``summary`` when there is one;
- ``call.transferred``: a transfer succeeded (``target``), just before its ``call.ended``;
- ``call.failed``: a call that was never answered: refused by the routes, cancelled, or
  (placed by us) busy, declined, unanswered, unreachable, refused by the far end (its
  status, reason phrase, Reason and Warning as it sent them, and our hint);
- ``callback.scheduled``: the assistant stored a callback (``callback``);
- ``message.taken``: the assistant took a message for the person the caller wanted
  (``message``: its ``message_id``, ``for``, ``name``, ``phone``, ``message``);
- ``call.amd``: who answered a call we placed, as answering-machine detection decided
  (``amd``: ``kind``, ``reason``, ``elapsed_ms``, ``mode``, ``action``; docs/amd.md);
- ``call.transcript``: a participant of a SIPREC recording session finished an utterance
  (``utterance``: :func:`utterance`; docs/siprec.md);
- ``call.suggestion``: agent assist's suggestion on a recording session (``suggestion``:
  :func:`suggestion`);
- ``call.ivr``: how a call we placed with a goal got through the phone menu that answered
  (``ivr``: ``goal``, ``outcome`` (``reached``, ``stuck``, ``voicemail``, ``hung_up``),
  ``reason``, ``digits``, ``steps``, ``elapsed_ms``; docs/ivr.md).

Campaigns send ``campaign.contact`` and ``campaign.finished`` (made by
:mod:`sipgw.app.campaigns.webhooks`; docs/campaigns.md).

A body longer than the limit loses transcript lines from its start until it fits
(``transcript_truncated``: how many).
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sipgw.app.calls.callfeed import CallEntry
from sipgw.sip.message import REASON_PHRASES

__all__ = [
    "EVENT_TYPES",
    "call_data",
    "encode",
    "envelope",
    "iso",
    "suggestion",
    "transcript",
    "utterance",
]

EVENT_TYPES = (
    "call.incoming",
    "call.answered",
    "call.ended",
    "call.transferred",
    "call.failed",
    "callback.scheduled",
    "message.taken",
    "call.amd",
    "call.ivr",
    "call.transcript",
    "call.suggestion",
    "campaign.contact",
    "campaign.finished",
)
"""Every event type sent today."""

_SPEAKERS = {"user": "caller", "assistant": "agent"}


def iso(seconds: float | None) -> str | None:
    """Unix seconds as an ISO 8601 UTC time with milliseconds (``...Z``)."""
    if seconds is None:
        return None
    stamp = datetime.fromtimestamp(seconds, UTC).isoformat(timespec="milliseconds")
    return stamp.replace("+00:00", "Z")


def transcript(entry: CallEntry) -> list[dict[str, Any]]:
    """What was said, in order: ``{"t", "speaker": "caller"|"agent", "text"}`` (redacted
    as in the call record; the agent's lines as heard, barge-ins cut); on a SIPREC recording
    session each participant's utterance, ``{"t", "speaker": "participant", "label",
    "participant", "text"}`` (:func:`utterance`)."""
    said = []
    for line in entry.transcript:
        if line.get("type") == "speech" and line.get("text"):
            said.append({"speaker": "participant", **utterance(line)})
            continue
        speaker = _SPEAKERS.get(str(line.get("type")))
        if speaker is not None and line.get("text"):
            said.append({"t": line.get("t"), "speaker": speaker, "text": line.get("text")})
    return said


def utterance(line: Mapping[str, Any]) -> dict[str, Any]:
    """A recording session's ``speech`` record line as the webhooks give it: ``t`` (seconds
    into the call), the stream's ``label``, the ``participant`` who said it as the
    recording's metadata names them (``id``, ``aor``, ``name``; "" where it says nothing),
    the ``text`` and its ``confidence``."""
    return {
        "t": line.get("t"),
        "label": line.get("label"),
        "participant": {
            "id": line.get("participant_id") or "",
            "aor": line.get("aor") or "",
            "name": line.get("name") or "",
        },
        "text": line.get("text"),
        "confidence": line.get("confidence"),
    }


def suggestion(line: Mapping[str, Any]) -> dict[str, Any]:
    """Agent assist's ``suggestion`` record line as the webhook gives it: ``t`` (seconds into
    the call), the ``text``, and how many ``utterances`` of the transcript it read."""
    return {"t": line.get("t"), "text": line.get("text"), "utterances": line.get("utterances")}


def call_data(entry: CallEntry, sequence: int, variables: Mapping[str, Any]) -> dict[str, Any]:
    """What every event says of its call."""
    return {
        "call": {
            "id": entry.id,
            "call_id": entry.call_id,
            "direction": entry.direction,
            "leg": entry.leg,
            "line": entry.line or None,
            "agent": entry.agent,
            "caller": entry.caller,
            "caller_name": entry.caller_name,
            "called": entry.called,
            "started": iso(entry.started),
            "answered": iso(entry.answered),
            "ended": iso(entry.ended),
        },
        "sequence": sequence,
        "variables": dict(variables),
    }


def sip_status(entry: CallEntry) -> dict[str, Any]:
    """``sip_status``, ``sip_reason``, ``sip_detail`` and ``hint``: for a placed call the
    far end refused, its own words (``403 Caller Origination Number is Invalid D35``, its
    Reason and Warning headers) and our hint (:class:`~sipgw.app.calls.hints.Refused`); else the
    status with its standard phrase, when there is a status."""
    if entry.refused is not None:
        return entry.refused.fields()
    status = entry.status
    return {
        "sip_status": status,
        "sip_reason": REASON_PHRASES.get(status) if status else None,
        "sip_detail": None,
        "hint": None,
    }


def envelope(kind: str, data: Mapping[str, Any], now: float | None = None) -> dict[str, Any]:
    """The Standard Webhooks body: ``{"type", "timestamp", "data"}``."""
    return {"type": kind, "timestamp": iso(time.time() if now is None else now), "data": data}


def encode(body: Mapping[str, Any], max_bytes: int) -> bytes:
    """``body`` as compact JSON of at most ``max_bytes``: transcript lines are dropped from
    the start (``transcript_truncated`` counts them) until it fits, then the summary.

    Raises:
        ValueError: it cannot be made to fit (the call's own fields alone are too long).
    """
    raw = _dumps(body)
    if len(raw) <= max_bytes:
        return raw
    data = dict(body["data"])
    lines: Sequence[Any] = data.get("transcript") or []
    dropped = 0
    while lines and len(raw) > max_bytes:
        cut = max(1, len(lines) // 4)
        lines, dropped = lines[cut:], dropped + cut
        data["transcript"], data["transcript_truncated"] = list(lines), dropped
        raw = _dumps({**body, "data": data})
    if len(raw) > max_bytes and "summary" in data:
        data["summary"] = {"truncated": True}
        raw = _dumps({**body, "data": data})
    if len(raw) > max_bytes:
        raise ValueError(f"a {body.get('type')} event of {len(raw)} bytes over {max_bytes}")
    return raw


def _dumps(body: Mapping[str, Any]) -> bytes:
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False, default=str).encode()
