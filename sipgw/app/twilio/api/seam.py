"""The seam between the REST subset and the ``twiml`` agent.

A call created through ``Calls.json`` is an outbound call (``POST /api/calls``'s path) whose
agent is ``twiml`` and whose TwiML comes from ``twiml_url`` or ``twiml`` (the agent's fields
of a placed call's request). Its ``CallSid`` is made from its SIP Call-ID
(:func:`call_sid`), so the agent's webhooks and streams name the same call the API answered
with. A mid-call update hands the agent its new TwiML (:func:`redirect`).
"""

from __future__ import annotations

from typing import Any

from sipgw.agent.twiml.webhook import call_sid_of
from sipgw.app.calls.callhandle import CallHandle
from sipgw.app.calls.outbound import PlacedCall
from sipgw.app.gateway import Gateway
from sipgw.app.upstream.callrequest import call_request

__all__ = ["TWIML_AGENT", "call_sid", "place", "placed_call_body", "redirect"]

TWIML_AGENT = "twiml"
"""The agent that plays Twilio's part toward the app (its name in ``POST /api/calls``)."""


call_sid = call_sid_of
"""The ``CallSid`` of a call, as the twiml agent names it in its webhooks and streams."""


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
    call = call_request(body)
    factory = gateway.outbound.agent_named(TWIML_AGENT)
    return await gateway.originate(
        call.target,
        agent=factory,
        caller_id=call.caller_id,
        ring_timeout=call.ring_timeout,
        twiml=call.twiml,
    )


def redirect(handle: CallHandle, url: str | None, twiml: str | None) -> str:
    """Hand the call's agent new TwiML (``Url`` or ``Twiml`` of an update); "" once done,
    else why not."""
    agent = handle.agent
    try:
        if agent is not None and agent.follow_twiml(url, twiml):
            return ""
    except ValueError as exc:
        return str(exc)
    return "this call's agent does not run TwiML (it is not the twiml agent), or it has ended"
