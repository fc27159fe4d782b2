"""Calls that do not come over SIP: a browser over WebRTC and a Twilio Media Stream.

Each is a :class:`~sipgw.app.legs.handle.LegHandle` among the gateway's calls, with the same
two faces as a SIP call's handle (the agent's call control, the ticker's participant), run by
:class:`~sipgw.app.legs.calls.LegCalls` through the steps of
:class:`~sipgw.app.calls.callpath.CallPath` that every call takes. Their media is ``media/``'s
(``media/twilio``, ``media/aio/twilio``, ``media/aio/browser``); the admin server serves their
endpoints (:mod:`sipgw.app.admin.twilio`, :mod:`sipgw.app.admin.phone`). docs/legs.md.
"""
