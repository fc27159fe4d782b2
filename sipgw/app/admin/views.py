"""What the admin API says about a call: its summary and, for one call, its transcript."""

from __future__ import annotations

import time
from typing import Any

from sipgw.app.calls.callfeed import TRANSCRIPT_TYPES, agent_name
from sipgw.app.calls.callhandle import CallHandle
from sipgw.app.legs.handle import LegHandle

__all__ = ["TRANSCRIPT_TYPES", "call_detail", "call_summary"]


def call_summary(handle: CallHandle) -> dict[str, Any]:
    """One active call: ids, parties, direction, leg, agent, state and duration (seconds)."""
    call = handle.call
    return {
        "id": call.log_id,
        "call_id": call.call_id,
        "caller": handle.caller,
        "called": handle.called,
        "direction": handle.direction,
        "leg": handle.leg,
        "agent": agent_name(handle.agent),
        "state": handle.state,
        "duration_s": round(time.monotonic() - handle.started, 1),
    }


def call_detail(handle: CallHandle) -> dict[str, Any]:
    """:func:`call_summary` plus the call's variables, the media in use, RTP counters and
    quality (loss, jitter, round-trip time, estimated MOS; sipgw.media.quality) so far, and the
    transcript so far.

    ``transcript`` is None when the agent keeps no call record (the echo agent),
    else the record's turn lines (:data:`TRANSCRIPT_TYPES`) in order.
    """
    detail = call_summary(handle)
    detail["variables"] = dict(handle.details.variables)
    media = handle.call.media
    detail["media"] = (
        None
        if media is None
        else {
            "codec": media.codec,
            "remote": f"{media.remote_address}:{media.remote_port}",
            "direction": media.direction,
            "srtp": media.srtp is not None,
        }
    )
    session = handle.session
    if session is not None:
        jitter = session.jitter.stats
        detail["rtp"] = {
            "packets_in": session.stats.packets_in,
            "packets_out": session.sender.packets_sent,
            "lost": jitter.lost,
            "late": jitter.late,
            "jitter_ms": round(jitter.jitter * 1000, 1),
            "frames_inserted": jitter.inserted_frames,
            "frames_dropped": jitter.compressed_frames,
            "loud_adjustments": jitter.loud_adjustments,
            "reanchors": jitter.reanchors,
        }
        detail["quality"] = session.quality().record()
    if isinstance(handle, LegHandle):  # a browser or Twilio call: its leg's figures
        detail["media"] = handle.media.describe()
        quality = handle.media.quality()
        if quality is not None:
            detail["quality"] = quality.record()
    record = handle.agent.record if handle.agent is not None else None
    detail["transcript"] = (
        [line for line in record.lines if line.get("type") in TRANSCRIPT_TYPES]
        if record is not None
        else None
    )
    return detail
