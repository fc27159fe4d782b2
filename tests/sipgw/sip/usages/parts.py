"""The pieces the dialog usages share, built without a user agent, for the tests of
:mod:`sipgw.sip.usages.context` and :mod:`sipgw.sip.usages.session`."""

from __future__ import annotations

import random

from sipgw.sip.addressing import Flow
from sipgw.sip.call import CallInfo
from sipgw.sip.config import UserAgentConfig
from sipgw.sip.dialog import Dialog
from sipgw.sip.message import SipRequest, SipResponse, parse_message
from sipgw.sip.transaction import RequestReceived, ServerTransaction
from sipgw.sip.usages.context import UsageContext
from sipgw.sip.usages.invite import parse_offer
from sipgw.sip.usages.session import CallSession
from tests.sipgw.sip.builders import CALLER, invite, parse_request

FROM_CALLER = Flow("UDP", CALLER)


def usage_context(**config: object) -> UsageContext:
    """A context with the gateway at 192.0.2.1:5060 and a seeded random source."""
    settings: dict[str, object] = {"public_host": "192.0.2.1", "sip_port": 5060, **config}
    return UsageContext(UserAgentConfig(**settings), random.Random(7))  # type: ignore[arg-type]


def received(
    ctx: UsageContext, data: bytes, flow: Flow = FROM_CALLER
) -> tuple[ServerTransaction, SipRequest]:
    """Hand ``data`` to the context's transactions; the new server transaction and request."""
    ctx.transactions.receive_request(parse_request(data), flow, 0.0)
    event = ctx.transactions.next_event()
    assert isinstance(event, RequestReceived), event
    return event.transaction, event.request


def incoming_call(ctx: UsageContext, data: bytes | None = None) -> CallSession:
    """An incoming call's session for an INVITE (not yet in the context's table)."""
    tx, request = received(ctx, data or invite())
    tag = ctx.new_tag()
    dialog = Dialog.for_uas(request, FROM_CALLER, local_tag=tag, local_cseq=1, nat_fix=True)
    info = CallInfo((request.call_id, tag), request.from_, request.to)
    return CallSession(info, request, tx, dialog, parse_offer(request))  # type: ignore[arg-type]


def sent_responses(ctx: UsageContext) -> list[SipResponse]:
    """What the context's transactions sent since the last call, as responses."""
    out = [parse_message(data) for data, _ in ctx.transactions.datagrams_to_send()]
    assert all(isinstance(m, SipResponse) for m in out), out
    return out  # type: ignore[return-value]
