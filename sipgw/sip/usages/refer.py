"""Transfers with REFER and the NOTIFYs that report on them (RFC 3515, RFC 5589).

We send REFER in the call's dialog (``Refer-To`` the target, ``Referred-By``
us); its final response says whether the caller's phone accepted the
transfer. The application may add ``X-`` headers to the REFER and
User-to-User data (RFC 7433), which goes two ways: into the Refer-To URI as
an embedded header (RFC 3261 §19.1.1), so that a transferee that places the
new call copies it into its INVITE to the target (§19.1.5), and as a header
of the REFER itself, which a PBX that carries the transfer out reads (Asterisk
hands a REFER's headers to the dialplan: ``GET_TRANSFERRER_DATA``).

The implicit subscription then brings NOTIFYs with ``Event: refer`` and a
message/sipfrag body (RFC 3420) holding the status line of the phone's
INVITE to the target (§2.4.5). Each step reaches the application as
a :class:`~sipgw.sip.events.TransferUpdated`.

A phone that accepted the REFER but never sends the final NOTIFY would
leave the transfer pending for good (the caller on hold, the agent waiting):
once the REFER is accepted, ``notify_timeout`` is armed (the caller's phone
rings the target meanwhile: the application gives its ring timeout and a
margin), and when it passes without a final NOTIFY the transfer is reported
failed (408). RFC 6665 §4.1.2.4 gives up the same way on a subscription
whose first NOTIFY does not come (Timer N). A final NOTIFY that comes later
still reports a success (the caller did reach the target), not a second
failure.

An attended transfer (RFC 5589 §7) refers the caller to the peer of another
call of ours (the consultation) with that dialog in a ``Replaces`` header
of the Refer-To URI (:func:`replacing_target`): the caller's phone copies it
into its INVITE, and the peer's phone swaps its dialog with us for the new one
(RFC 3891 §3), then ends ours with a BYE.
"""

from __future__ import annotations

from functools import partial
from urllib.parse import quote

from sipgw.sip.call import CallState
from sipgw.sip.customheaders import check_custom_headers, embed_in_uri
from sipgw.sip.dialog import Dialog
from sipgw.sip.errors import InvalidState, LocalProtocolError, RemoteProtocolError, SipError
from sipgw.sip.events import TransferStage, TransferUpdated
from sipgw.sip.headers import NameAddr
from sipgw.sip.message import Headers, SipRequest, SipResponse
from sipgw.sip.transaction import Outcome, ServerTransaction
from sipgw.sip.uri import SipUri, Uri, copy_uri, parse_uri
from sipgw.sip.usages.context import UsageContext
from sipgw.sip.usages.session import CallSession

__all__ = [
    "DEFAULT_NOTIFY_TIMEOUT",
    "ReferUsage",
    "replacing_target",
    "sipfrag_status",
    "tokens",
]

DEFAULT_NOTIFY_TIMEOUT = 75.0
"""Seconds after a REFER's 2xx without a final NOTIFY before the transfer is reported
failed, unless the caller gives its own: a 60 s ring and 15 s for the phone's call setup."""


def sipfrag_status(body: bytes) -> tuple[int | None, str]:
    """The status line of a message/sipfrag body (RFC 3420), e.g. ``SIP/2.0 180 Ringing``."""
    first = body.split(b"\n", 1)[0].decode("utf-8", "replace").strip()
    parts = first.split(" ", 2)
    if len(parts) >= 2 and parts[0].upper().startswith("SIP/") and parts[1].isdigit():
        return int(parts[1]), parts[2] if len(parts) == 3 else ""
    return None, ""


def tokens(values: list[str]) -> frozenset[str]:
    """The comma-separated tokens of header values (Allow, Supported), lower case."""
    return frozenset(t.strip().lower() for value in values for t in value.split(",") if t.strip())


def replacing_target(dialog: Dialog) -> Uri:
    """Where an attended transfer sends the caller: the peer's Contact with a ``Replaces``
    header naming ``dialog`` (RFC 5589 §7.1; RFC 3891 §3: ``to-tag`` is the tag of the
    UA that receives the INVITE, ours is its ``from-tag``), escaped as a URI header
    (RFC 3261 §19.1.1).

    Raises:
        LocalProtocolError: the peer's Contact is no SIP URI.
    """
    target = copy_uri(dialog.remote_target)
    if not isinstance(target, SipUri):
        raise LocalProtocolError(f"cannot refer to {target}: not a SIP URI")
    replaces = f"{dialog.call_id};to-tag={dialog.remote_tag};from-tag={dialog.local_tag}"
    target.headers = [("Replaces", quote(replaces, safe=""))]
    return target


class ReferUsage:
    """Transfers of every call; see the module docstring."""

    def __init__(self, ctx: UsageContext) -> None:
        self.ctx = ctx

    def refer(
        self,
        session: CallSession,
        target: Uri | str,
        now: float,
        headers: tuple[tuple[str, str], ...] = (),
        user_to_user: str | None = None,
        notify_timeout: float = DEFAULT_NOTIFY_TIMEOUT,
    ) -> None:
        """Ask the caller's phone to call ``target`` (a URI, or its text) instead.

        Args:
            headers: ``X-`` headers for the REFER (checked against header injection).
            user_to_user: a User-to-User value (:func:`~sipgw.sip.customheaders.user_to_user`),
                on the REFER and embedded in a SIP Refer-To URI.
            notify_timeout: seconds after the REFER's 2xx without a final NOTIFY before
                the transfer is reported failed (see the module docstring).

        Raises:
            InvalidState: the call is not confirmed.
            LocalProtocolError: ``target`` is not a URI, or a header is not allowed.
        """
        if session.state is not CallState.CONFIRMED or session.bye_pending:
            raise InvalidState(f"cannot transfer a call in state {session.state.name}")
        if isinstance(target, str):
            try:
                target = parse_uri(target)
            except SipError:
                raise LocalProtocolError(f"transfer target {target!r} is not a URI") from None
        try:
            custom = check_custom_headers(headers)
        except ValueError as exc:
            raise LocalProtocolError(str(exc)) from None
        if user_to_user and isinstance(target, SipUri):
            target = embed_in_uri(target, "User-to-User", user_to_user)
        extra = Headers()
        extra.add("Refer-To", f"<{target}>")
        if user_to_user:
            extra.add("User-to-User", user_to_user)
        extra.add("Referred-By", f"<{NameAddr.parse(session.dialog.local_uri).uri}>")
        extra.add("Contact", self.ctx.session_contact(session))
        for name, value in custom:
            extra.add(name, value)
        self._settle(session, "open")
        answered = partial(self._answered, session, notify_timeout)
        self.ctx.send_in_dialog(session, "REFER", now, answered, extra)

    def _answered(
        self, session: CallSession, notify_timeout: float, outcome: Outcome, now: float
    ) -> None:
        accepted = isinstance(outcome, SipResponse) and outcome.status < 300
        stage = TransferStage.ACCEPTED if accepted else TransferStage.REJECTED
        self.ctx.events.append(TransferUpdated(session.info, stage, outcome.status, outcome.reason))
        if not accepted:
            self._settle(session, "done")
        elif session.refer == "open" and session.refer_deadline is None:  # no final NOTIFY yet
            wait = partial(self._no_final_notify, session, notify_timeout)
            session.refer_deadline = self.ctx.heap.schedule(now + notify_timeout, wait)

    def _no_final_notify(self, session: CallSession, waited: float, now: float) -> None:
        session.refer_deadline = None
        if session.refer != "open":
            return
        self._settle(session, "timed out")
        reason = f"no final NOTIFY {waited:g} s after the REFER was accepted"
        self.ctx.events.append(TransferUpdated(session.info, TransferStage.FAILED, 408, reason))

    def _settle(self, session: CallSession, state: str) -> None:
        """Where the last REFER stands (``CallSession.refer``), its deadline cancelled."""
        self.ctx.heap.cancel(session.refer_deadline)
        session.refer_deadline = None
        session.refer = state

    def notify(
        self, session: CallSession, tx: ServerTransaction, request: SipRequest, now: float
    ) -> None:
        """Progress of our REFER (RFC 3515 §2.4.5).

        Raises:
            RemoteProtocolError: 489 for an event we did not subscribe to.
        """
        event = (request.headers.get("Event") or "").split(";")[0].strip().lower()
        if event != "refer":
            raise RemoteProtocolError(f"no subscription to {event or 'that event'}", 489)
        state = (request.headers.get("Subscription-State") or "").split(";")[0].strip().lower()
        status, reason = sipfrag_status(request.body)
        self.ctx.respond(tx, request, 200, now)
        timed_out = session.refer == "timed out"  # its failure was reported already
        if status is None:
            if state == "terminated":
                self._settle(session, "done")
                if not timed_out:
                    update = TransferUpdated(
                        session.info, TransferStage.FAILED, 0, "subscription terminated"
                    )
                    self.ctx.events.append(update)
            return
        if status < 200:
            stage = TransferStage.PROGRESS
        elif status < 300:
            stage = TransferStage.SUCCEEDED
        else:
            stage = TransferStage.FAILED
        if stage is not TransferStage.PROGRESS:
            self._settle(session, "done")
        if timed_out and stage is not TransferStage.SUCCEEDED:
            return  # late news of a failure already reported
        self.ctx.events.append(TransferUpdated(session.info, stage, status, reason))
