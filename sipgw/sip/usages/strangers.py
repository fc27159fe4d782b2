"""Requests from sources outside the allow list, answered without keeping state.

Over UDP anyone can put any source address on a packet. A request that creates a
transaction holds memory for 32 s (Timer H or J) and, for an INVITE refused with
403 or 401, sends the response up to eleven times (Timer G): a flood from forged
addresses then grows memory without bound and aims ten times its own bytes at the
addresses it forged. So a *stranger* - a source that is not in the
access policy's allow list - gets a transaction only for what can be its business:

* a request inside a dialog we have with it (a softphone that authenticated
  hangs up), or a CANCEL of an INVITE transaction we have;
* a request outside a dialog whose digest credentials verified (RFC 3261 §22).

Everything else it sends is answered statelessly (:mod:`sipgw.sip.stateless`, RFC 3261
§8.2.7), within the size of its request over UDP:

* OPTIONS: 200 (503 while draining or overloaded), as a probe expects, after the
  checks of RFC 3261 §8.2.1-8.2.2 an allowed source's OPTIONS passes too (416 for a
  Request-URI that is no SIP URI, 420 for a Require we do not support: RFC 4475
  §3.3.2, §3.3.5);
* a request naming a dialog or an INVITE we do not have: 481 (§12.2.2, §9.2);
* anything else the access policy refuses: 403, or 401 with a digest challenge
  when inbound users are configured (reported as
  :class:`~sipgw.sip.events.RequestRefused`).

With ``--allow-from any`` every source is allowed and nothing here applies.
"""

from __future__ import annotations

from collections.abc import Callable

from sipgw.sip.access import AccessPolicy, Refusal
from sipgw.sip.addressing import Flow, response_flow
from sipgw.sip.errors import RemoteProtocolError, SipError
from sipgw.sip.events import RequestRefused
from sipgw.sip.message import SipRequest
from sipgw.sip.stateless import StatelessResponder
from sipgw.sip.transaction import server_key
from sipgw.sip.usages.context import (
    ACCEPT,
    ALLOW,
    DRAIN_RETRY_AFTER,
    SUPPORTED,
    Rejection,
    UsageContext,
)

__all__ = ["StrangerUsage"]


class StrangerUsage:
    """See the module docstring.

    Args:
        ctx: the user agent's shared state.
        access: who is allowed by address, and the digest check for the rest.
        responder: builds and trims the stateless responses.
        check: the UAS core's checks of RFC 3261 §8.2.1-8.2.2 (raise
            RemoteProtocolError, or :class:`Rejection` with its header fields).
    """

    def __init__(
        self,
        ctx: UsageContext,
        access: AccessPolicy,
        responder: StatelessResponder,
        check: Callable[[SipRequest], None] = lambda req: None,
    ) -> None:
        self.ctx = ctx
        self.access = access
        self.responder = responder
        self.check = check
        self.answered = 0
        """Requests from strangers answered without a transaction."""
        self.pending: str | None = None
        """The user whose guessing state the last request :meth:`answer` took waits for
        (:attr:`~sipgw.sip.access.Refusal.PENDING`); None: it was answered."""

    def answer(self, req: SipRequest, flow: Flow, size: int, now: float) -> bool:
        """Answer ``req`` statelessly if it is a stranger's and none of its business.

        Args:
            req: the request (parsed, Via stamped, past the flood guard).
            flow: where it came from.
            size: its size on the wire, octets (what a UDP response may not exceed).
            now: the current time.

        Returns:
            True when it was answered (or dropped) here; False when it goes on to
            the transaction layer: an allowed source, an ACK, a retransmission,
            something of an existing dialog or INVITE, or verified credentials.

        Raises:
            SipError: a header needed to decide cannot be read (the caller drops it).
        """
        self.pending = None
        source = flow.address[0]
        if req.method == "ACK" or source in self.access.allow:
            return False
        transactions = self.ctx.transactions
        if transactions.knows(req):
            return False  # a retransmission of what we took before
        headers: tuple[tuple[str, str], ...] = ()
        if req.to.tag:
            if self.ctx.find_dialog(req) is not None:
                return False
            status = 481
        elif req.method == "CANCEL":
            key = server_key(req)
            if transactions.server.get((*key[:-1], "INVITE")) is not None:
                return False
            status = 481
        elif req.method == "OPTIONS":
            try:
                self.check(req)
            except RemoteProtocolError as exc:
                status = exc.status_hint
                headers = exc.headers if isinstance(exc, Rejection) else ()
            else:
                busy = self.ctx.draining or self.ctx.overload_retry_after is not None
                status = 503 if busy else 200
                headers = self._options_headers(status)
        else:
            refused = self.access.check(req, source, now)
            if refused is None:
                return False  # its credentials verified
            if refused.refusal is Refusal.PENDING:
                self.pending = refused.username
                return True  # held by the user agent until the state is loaded
            self.ctx.events.append(
                RequestRefused(flow.address, req.method, str(req.from_.uri), refused.refusal,
                               refused.username)
            )  # fmt: skip
            status, headers = refused.status, refused.headers
        self._send(req, flow, status, headers, size)
        return True

    def _options_headers(self, status: int) -> tuple[tuple[str, str], ...]:
        if status == 503:  # as UsageContext answers it: the drain's value wins
            ctx, retry = self.ctx, self.ctx.overload_retry_after
            return (
                ("Retry-After", str(DRAIN_RETRY_AFTER if ctx.draining or not retry else retry)),
            )
        return (
            ("Allow", ALLOW),
            ("Accept", ACCEPT),
            ("Accept-Encoding", "identity"),
            ("Supported", SUPPORTED),
        )

    def _send(
        self,
        req: SipRequest,
        flow: Flow,
        status: int,
        headers: tuple[tuple[str, str], ...],
        size: int,
    ) -> None:
        response = self.responder.build(req, status, headers=headers)
        data = self.responder.fit(response, None if flow.reliable else size)
        self.answered += 1
        if data is None:
            return  # even the bare response is larger than the request: nothing
        try:
            destination = response_flow(req.top_via, flow)
        except SipError:
            destination = flow
        self.ctx.transactions.send_stateless(data, destination)
