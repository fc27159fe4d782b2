"""The seam between the REST subset and the ``twiml`` agent.

A call created through ``Calls.json`` is an outbound call (``POST /api/calls``'s path) whose
agent is ``twiml`` and whose TwiML comes from ``twiml_url`` or ``twiml`` (the agent's fields
of a placed call's request). Its ``CallSid`` is made from its SIP Call-ID
(:func:`call_sid`), so the agent's webhooks and streams name the same call the API answered
with. A mid-call update hands the agent its new TwiML (:func:`redirect`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from sipgw.agent.twiml.webhook import call_sid_of
from sipgw.app.calls.callhandle import CallHandle
from sipgw.app.calls.outbound import PlacedCall
from sipgw.app.gateway import Gateway
from sipgw.app.upstream.callrequest import call_request

__all__ = ["MACHINE_DETECTION", "TWIML_AGENT", "call_sid", "place", "placed_call_body", "redirect"]

TWIML_AGENT = "twiml"
"""The agent that plays Twilio's part toward the app (its name in ``POST /api/calls``)."""
MACHINE_DETECTION = "machine_detection"
"""The key of a created call's body holding Twilio's ``MachineDetection`` parameters."""

call_sid = call_sid_of
"""The ``CallSid`` of a call, as the twiml agent names it in its webhooks and streams."""


def placed_call_body(
    to: str,
    from_: str,
    url: str | None,
    twiml: str | None,
    timeout: float,
    machine_detection: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """``POST /api/calls``'s body for a created call, and ``machine_detection``: Twilio's
    ``MachineDetection`` parameters as given (:func:`place` hands them to the agent)."""
    body: dict[str, Any] = {
        "target": to, "caller_id": from_, "agent": TWIML_AGENT, "ring_timeout": timeout,
    }  # fmt: skip
    if machine_detection:
        body[MACHINE_DETECTION] = dict(machine_detection)
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
    fields = dict(body)
    detection = fields.pop(MACHINE_DETECTION, None) or {}
    call = call_request(fields)
    factory = gateway.outbound.agent_named(TWIML_AGENT)
    twiml = call.twiml
    if twiml is not None and detection:
        twiml = dataclasses.replace(twiml, machine_detection=dict(detection))
    return await gateway.originate(
        call.target,
        agent=factory,
        caller_id=call.caller_id,
        ring_timeout=call.ring_timeout,
        twiml=twiml,
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
