"""The session timer usage (RFC 4028): keep a call's session refreshed, or end it.

:mod:`sipgw.sip.sessiontimer` decides, per INVITE/UPDATE, which session timer the
2xx announces (pure negotiation). This module acts on it:

* a request whose Session-Expires is below our Min-SE gets 422 (§6, §8.1);
* after each 2xx that set or refreshed the timer (the ACK of the INVITE's,
  a re-INVITE's or UPDATE's 2xx), the deadline restarts (§10): as the
  refresher we send an UPDATE without SDP at half the interval; otherwise we
  send BYE when no refresh came ``min(32, interval/3)`` s before expiry;
* a refresh of ours that gets no response or 408/481 means the session is
  gone (§10): BYE; any other error stops our refreshes and the call goes on.
"""

from __future__ import annotations

from functools import partial

from sipgw.sip.call import CallState
from sipgw.sip.events import EndReason
from sipgw.sip.message import Headers, SipRequest, SipResponse
from sipgw.sip.sessiontimer import negotiate, parse_session_expires
from sipgw.sip.transaction import NoResponse, Outcome
from sipgw.sip.usages.context import SUPPORTED, Rejection, UsageContext
from sipgw.sip.usages.session import CallSession

__all__ = ["SessionTimerUsage"]


class SessionTimerUsage:
    """Session timers of every call; see the module docstring."""

    def __init__(self, ctx: UsageContext) -> None:
        self.ctx = ctx

    def check(self, request: SipRequest) -> None:
        """Refuse a session interval below our Min-SE.

        Raises:
            Rejection: 422 with Min-SE (RFC 4028 §8.1).
        """
        value = request.headers.get("Session-Expires")
        if value is None:
            return
        seconds, _ = parse_session_expires(value)
        minimum = self.ctx.config.min_session_expires
        if seconds < minimum:
            raise Rejection("session interval too small", 422, [("Min-SE", str(minimum))])

    def announce(self, session: CallSession, request: SipRequest, response: SipResponse) -> None:
        """Put the session timer agreed for ``request`` into its 2xx (RFC 4028 §9)."""
        timer = negotiate(request.headers, session.peer_allow)
        session.session_timer = timer
        if timer is None:
            return
        response.headers.add("Session-Expires", timer.header)
        if not timer.we_refresh:
            response.headers.add("Require", "timer")  # the UAC must refresh

    def restart(self, session: CallSession, now: float) -> None:
        """After a 2xx that set or refreshed the timer: refresh, or expect a refresh (§10)."""
        heap = self.ctx.heap
        heap.cancel(session.session_deadline)
        session.session_deadline = None
        timer = session.session_timer
        if timer is None:
            return
        if timer.we_refresh:
            deadline, action = now + timer.refresh_after, self._refresh
        else:
            deadline, action = now + timer.expire_after, self._expire
        session.session_deadline = heap.schedule(deadline, partial(action, session))

    def _expire(self, session: CallSession, now: float) -> None:
        session.session_deadline = None
        self.ctx.hang_up(session, EndReason.SESSION_EXPIRED, now)

    def _refresh(self, session: CallSession, now: float) -> None:
        """Refresh the session with an UPDATE without SDP (RFC 4028 §7.4, RFC 3311)."""
        session.session_deadline = None
        timer = session.session_timer
        if timer is None or session.state is not CallState.CONFIRMED:
            return
        extra = Headers()
        extra.add("Session-Expires", f"{timer.interval};refresher=uac")  # we are its UAC
        extra.add("Supported", SUPPORTED)
        extra.add("Contact", self.ctx.session_contact(session))
        self.ctx.send_in_dialog(session, "UPDATE", now, partial(self._refreshed, session), extra)

    def _refreshed(self, session: CallSession, outcome: Outcome, now: float) -> None:
        """§10: a refresh that times out or gets 408/481 means the session is gone."""
        status = 408 if isinstance(outcome, NoResponse) else outcome.status
        if 200 <= status < 300:
            self.restart(session, now)
        elif status in (408, 481) and session.state is CallState.CONFIRMED:
            self.ctx.hang_up(session, EndReason.SESSION_EXPIRED, now, status)
        # other errors (e.g. 405): stop refreshing; the call goes on
