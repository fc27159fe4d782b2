"""Calls that do not come over SIP: a browser over WebRTC and a Twilio Media Stream.

Each is a :class:`~sipgw.app.legs.handle.LegHandle` among the gateway's calls, with the same
two faces as a SIP call's handle (the agent's call control, the ticker's participant), run by
:class:`~sipgw.app.legs.calls.LegCalls` through the steps of
:class:`~sipgw.app.calls.callpath.CallPath` that every call takes. The browser's leg is
:mod:`sipgw.app.legs.browser` (its media ``media/browser``, ``media/aio/browser``), served by
:mod:`sipgw.app.admin.phone`; Twilio's is :mod:`sipgw.app.twilio.leg` (its wire
``sipgw/twilio/``), served by :mod:`sipgw.app.twilio.endpoints`. docs/legs.md.
"""
