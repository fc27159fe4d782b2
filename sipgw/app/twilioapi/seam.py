"""The seam between the REST subset and the ``twiml`` agent: the one module to touch at the merge.

A call created through ``Calls.json`` is an outbound call (``POST /api/calls``'s path) whose
agent is ``twiml`` and whose TwiML comes from ``twiml_url`` or ``twiml`` (the agent's fields
of a placed call's request). Its ``CallSid`` is made from its SIP Call-ID
(:func:`call_sid`), so the agent's webhooks and streams name the same call the API answered
with. A mid-call update hands the agent its new TwiML (:func:`redirect`).
"""

from __future__ import annotations

import hashlib
from typing import Any, cast

from sipgw.app.callhandle import CallHandle
from sipgw.app.callrequest import FIELDS, call_request
from sipgw.app.gateway import Gateway
from sipgw.app.outbound import CallOptions, PlacedCall

__all__ = ["TWIML_AGENT", "call_sid", "place", "placed_call_body", "redirect"]

TWIML_AGENT = "twiml"
"""The agent that plays Twilio's part toward the app (its name in ``POST /api/calls``)."""


def call_sid(call_id: str) -> str:
    """The ``CallSid`` of a call: ``CA`` and 32 hex digits of its SIP Call-ID's SHA-256."""
    return "CA" + hashlib.sha256(call_id.encode()).hexdigest()[:32]


def placed_call_body(
    to: str, from_: str, url: str | None, twiml: str | None, timeout: float
) -> dict[str, Any]:
    """``POST /api/calls``'s body for a created call."""
    body: dict[str, Any] = {
        "target": to, "caller_id": from_, "agent": TWIML_AGENT, "ring_timeout": timeout,
    }  # fmt: skip
    if twiml is not None:
        body["twiml"] = twiml
    else:
        body["twiml_url"] = url
    return body


async def place(gateway: Gateway, body: dict[str, Any]) -> PlacedCall:
    """Place the call ``body`` describes (:func:`placed_call_body`) with the ``twiml`` agent.

    Raises:
        ValueError: a bad field, or no ``twiml`` agent on this gateway (the message says).
    """
    if "twiml" not in FIELDS:
        raise ValueError(
            "this gateway runs no twiml agent (it cannot follow a Url or Twiml): nothing placed"
        )
    call = call_request(body)
    factory = gateway.outbound.agent_named(TWIML_AGENT)
    # the twiml branch's CallRequest.twiml (a TwimlSource: the url or the document), which
    # its Gateway.originate takes as twiml=, as POST /api/calls passes it
    options: dict[str, Any] = {
        "agent": factory, "caller_id": call.caller_id, "ring_timeout": call.ring_timeout,
        "twiml": getattr(call, "twiml", None),
    }  # fmt: skip
    return await gateway.originate(call.target, **cast(CallOptions, options))


def redirect(handle: CallHandle, url: str | None, twiml: str | None) -> str:
    """Hand the call's agent new TwiML (``Url`` or ``Twiml`` of an update); "" once done,
    else why not."""
    agent = handle.agent
    follow = getattr(agent, "redirect", None)
    if follow is None:
        return "this call's agent does not follow TwiML (it is not the twiml agent)"
    follow(url=url, twiml=twiml)
    return ""
