"""The SRS asks the SRC for its metadata: the metadata snapshot request (RFC 7866 §9.3).

A recording session may come without metadata (RFC 7866 §6.1.2 lets the SRC send it
later), or with a document the SRS cannot read; the SRS then needs a snapshot of it to say
who speaks on each stream. RFC 7866 §9.3: the SRS sends, in the recording session's
dialog, an UPDATE (or a re-INVITE) whose body is an ``application/rs-metadata-request``
with ``Content-Disposition: recording-session``, its text the reason for the request; the
SRC answers it (200), then sends the complete metadata in a re-INVITE or UPDATE of its own
(which :mod:`sipgw.sip.usages.modify` hands on as
:class:`~sipgw.sip.events.RecordingMetadataReceived`).

We send an UPDATE without SDP (RFC 3311 §5.1: it changes no session, so there is no offer
to glare with), once the dialog is confirmed, to an SRC whose Allow lists UPDATE (or that
sent none). It is bounded: at most :data:`MAX_SNAPSHOT_REQUESTS` per session, whatever the
SRC answers or sends after, so that an SRC that never sends usable metadata is never asked
in a loop. The SRC's answer comes to the application as
:class:`~sipgw.sip.events.RecordingSnapshotAnswered` (for its log).
"""

from __future__ import annotations

from functools import partial
from typing import Final

from sipgw.sip.call import CallState
from sipgw.sip.errors import InvalidState
from sipgw.sip.events import RecordingSnapshotAnswered
from sipgw.sip.message import Headers
from sipgw.sip.siprec import METADATA_DISPOSITION
from sipgw.sip.transaction import NoResponse, Outcome
from sipgw.sip.usages.context import UsageContext
from sipgw.sip.usages.refer import tokens
from sipgw.sip.usages.session import CallSession

__all__ = ["MAX_SNAPSHOT_REQUESTS", "REQUEST_TYPE", "SnapshotUsage"]

MAX_SNAPSHOT_REQUESTS: Final = 2
"""The most metadata snapshot requests one recording session is sent."""
REQUEST_TYPE: Final = "application/rs-metadata-request"
"""The snapshot request's media type (RFC 7866 §9.3, §11.2)."""
_MAX_REASON = 200  # characters of the reason sent: a line of text, never a document


class SnapshotUsage:
    """Metadata snapshot requests; see the module docstring."""

    def __init__(self, ctx: UsageContext) -> None:
        self.ctx = ctx

    def request(self, session: CallSession, reason: str, now: float) -> bool:
        """Ask the SRC of a recording session we answered for a metadata snapshot.

        Returns:
            Whether the request went out: not past :data:`MAX_SNAPSHOT_REQUESTS`, and not to
            an SRC whose Allow leaves UPDATE out.

        Raises:
            InvalidState: the call is no recording session of ours, or not confirmed.
        """
        if session.recording_ports is None:
            raise InvalidState("only a recording session's SRC is asked for metadata")
        if session.state is not CallState.CONFIRMED:
            raise InvalidState(f"cannot ask for metadata in state {session.state.name}")
        if session.snapshot_requests >= MAX_SNAPSHOT_REQUESTS:
            return False
        allow = tokens(session.peer_allow)
        if allow and "update" not in allow:
            return False
        session.snapshot_requests += 1
        extra = Headers()
        extra.add("Contact", self.ctx.session_contact(session))  # with +sip.srs
        extra.add("Content-Type", REQUEST_TYPE)
        extra.add("Content-Disposition", METADATA_DISPOSITION)  # RFC 7866 §9.3
        text = " ".join(reason.split())[:_MAX_REASON] or "metadata snapshot request"
        answered = partial(self._answered, session)
        self.ctx.send_in_dialog(session, "UPDATE", now, answered, extra, text.encode() + b"\r\n")
        return True

    def _answered(self, session: CallSession, outcome: Outcome, now: float) -> None:
        status = 408 if isinstance(outcome, NoResponse) else outcome.status
        if session.state is CallState.CONFIRMED:
            self.ctx.events.append(RecordingSnapshotAnswered(session.info, status))
