"""A dialog (RFC 3261 §12): the peer-to-peer relationship an INVITE sets up.

A dialog is created from either side:

* as UAS (§12.1.1), from the INVITE we received, with :meth:`Dialog.for_uas`:
  the route set is the INVITE's Record-Route in order, the remote target its
  Contact, and our tag is the one we put in the To of our responses;
* as UAC (§12.1.2), from the INVITE we sent and a 2xx or a 1xx with a To tag
  that we received, with :meth:`Dialog.for_uac`: the route set is the
  response's Record-Route reversed, the remote target its Contact, and the
  remote tag the To tag of the response.

Either way it then builds our in-dialog requests (§12.2.1.1, with strict
routing for a first route without ``lr``) and checks the CSeq of the peer's
(§12.2.2).
"""

from __future__ import annotations

from dataclasses import dataclass

from sipgw.sip.addressing import Flow, is_private_address, uri_flow
from sipgw.sip.errors import RemoteProtocolError
from sipgw.sip.headers import NameAddr, Via
from sipgw.sip.message import Headers, SipRequest, SipResponse
from sipgw.sip.uri import SipUri, Uri

__all__ = ["Dialog", "DialogId"]

DialogId = tuple[str, str, str]
"""Call-ID, local tag, remote tag (§12): what identifies a dialog on our side."""


@dataclass(slots=True)
class Dialog:
    """One dialog as we see it, whichever side created it.

    Attributes:
        call_id: the Call-ID of every request in the dialog.
        local_tag: our tag (the To tag of a UAS, the From tag of a UAC).
        remote_tag: the peer's tag.
        local_uri: our address with our tag; the From of our requests.
        remote_uri: the peer's address with its tag; the To of our requests.
        remote_target: the peer's Contact URI (updated by target refreshes).
        route_set: the Route values of our requests, in order.
        source: the flow the dialog was set up on (where the peer's message came from).
        local_cseq: the CSeq number of our last request.
        remote_cseq: the CSeq number of the peer's last request; None until it
            sends one (a UAC's dialog, §12.1.2).
        nat_fix: send in-dialog requests to ``source`` instead of the Contact
            when the Contact is a private address the request did not come from.
    """

    call_id: str
    local_tag: str
    remote_tag: str
    local_uri: str
    remote_uri: str
    remote_target: Uri
    route_set: list[str]
    source: Flow
    local_cseq: int
    remote_cseq: int | None
    nat_fix: bool = True

    @classmethod
    def for_uas(
        cls, invite: SipRequest, source: Flow, *, local_tag: str, local_cseq: int, nat_fix: bool
    ) -> Dialog:
        """The dialog our 1xx/2xx to ``invite`` establishes (RFC 3261 §12.1.1).

        An RFC 2543 INVITE may lack a Contact (RFC 4475 §3.4.1): the From is
        then where in-dialog requests go.
        """
        contacts = invite.contacts
        return cls(
            call_id=invite.call_id,
            local_tag=local_tag,
            remote_tag=invite.from_.tag or "",
            local_uri=f"{invite.headers.get('To')};tag={local_tag}",
            remote_uri=invite.headers.get("From") or "",
            remote_target=contacts[0].uri if contacts else invite.from_.uri,
            route_set=invite.headers.get_all("Record-Route"),
            source=source,
            local_cseq=local_cseq,
            remote_cseq=invite.cseq.number,
            nat_fix=nat_fix,
        )

    @classmethod
    def for_uac(
        cls, invite: SipRequest, response: SipResponse, source: Flow, *, nat_fix: bool = True
    ) -> Dialog:
        """The dialog a 2xx (or a 1xx with a To tag) to our ``invite`` establishes (§12.1.2).

        Args:
            invite: the INVITE we sent (its From carries our tag).
            response: the response that creates the dialog.
            source: the flow the response came from.
            nat_fix: as the attribute.

        Raises:
            RemoteProtocolError: the response has no To tag, so it creates no dialog.
        """
        remote_tag = response.to.tag
        if not remote_tag:
            raise RemoteProtocolError("a response without a To tag creates no dialog")
        contacts = response.contacts
        return cls(
            call_id=invite.call_id,
            local_tag=invite.from_.tag or "",
            remote_tag=remote_tag,
            local_uri=invite.headers.get("From") or "",
            remote_uri=response.headers.get("To") or "",
            # A 1xx from an RFC 2543 element may lack a Contact: keep the URI we called.
            remote_target=contacts[0].uri if contacts else invite.request_uri,
            route_set=response.headers.get_all("Record-Route")[::-1],
            source=source,
            local_cseq=invite.cseq.number,
            remote_cseq=None,
            nat_fix=nat_fix,
        )

    @property
    def id(self) -> DialogId:
        """Call-ID, local tag, remote tag."""
        return (self.call_id, self.local_tag, self.remote_tag)

    def check_remote_cseq(self, request: SipRequest) -> None:
        """Accept the CSeq of an in-dialog request from the peer (§12.2.2).

        Raises:
            RemoteProtocolError: 500 for a CSeq lower than the last one.
        """
        number = request.cseq.number
        if self.remote_cseq is not None and number < self.remote_cseq:
            raise RemoteProtocolError("CSeq out of order", 500)
        self.remote_cseq = number

    def refresh_target(self, message: SipRequest | SipResponse) -> None:
        """A target refresh request or its 2xx: its Contact is the new remote target (§12.2)."""
        contacts = message.contacts
        if contacts:
            self.remote_target = contacts[0].uri

    def next_request(
        self, method: str, via: Via, *, user_agent: str, extra: Headers | None = None
    ) -> tuple[SipRequest, Flow]:
        """Build an in-dialog request and where it goes (RFC 3261 §12.2.1.1).

        ACK and CANCEL reuse the CSeq number of the request they belong to;
        every other method takes the next one.
        """
        if method not in ("ACK", "CANCEL"):
            self.local_cseq += 1
        headers = Headers()
        headers.add("Via", str(via))
        target = str(self.remote_target)
        destination = self._next_hop()
        if self.route_set:
            first = destination
            if isinstance(first, SipUri) and "lr" not in first.params:
                # Strict routing (§12.2.1.1): the first route becomes the R-URI
                # and the remote target goes last in the Route set.
                strict = SipUri(
                    first.scheme,
                    first.user,
                    first.password,
                    first.host,
                    first.port,
                    dict(first.params),
                )
                target = str(strict)
                for route in self.route_set[1:]:
                    headers.add("Route", route)
                headers.add("Route", f"<{self.remote_target}>")
            else:
                for route in self.route_set:
                    headers.add("Route", route)
        headers.add("Max-Forwards", "70")
        headers.add("From", self.local_uri)
        headers.add("To", self.remote_uri)
        headers.add("Call-ID", self.call_id)
        headers.add("CSeq", f"{self.local_cseq} {method}")
        if user_agent:  # optional (RFC 3261 §20.41); none by default
            headers.add("User-Agent", user_agent)
        for name, value in extra or ():
            headers.add(name, value)
        return SipRequest(method, target, headers), self._flow_to(destination, via.transport)

    def request_flow(self, default_transport: str = "UDP") -> Flow:
        """Where our next in-dialog request goes (§12.2.1.1; RFC 3263 without DNS).

        The first Route, else the remote target; its ``transport`` parameter
        or ``sips`` scheme picks the transport, ``default_transport`` otherwise.
        Build the request's Via for this flow's transport, then call
        :meth:`next_request` with it.
        """
        return self._flow_to(self._next_hop(), default_transport)

    def _next_hop(self) -> Uri:
        if self.route_set:
            return NameAddr.parse(self.route_set[0]).uri
        return self.remote_target

    def _flow_to(self, uri: Uri, transport: str) -> Flow:
        if self.source.reliable and not self.route_set:
            return self.source  # reuse the connection the dialog came on
        if not isinstance(uri, SipUri):
            return self.source
        flow = uri_flow(uri, transport)
        host = flow.address[0]
        if (
            self.nat_fix
            and not self.route_set
            and is_private_address(host)
            and flow.address != self.source.address
        ):
            return self.source  # Contact written behind a NAT: answer where it came from
        return flow
