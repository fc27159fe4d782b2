"""The app's Twilio front ends, on the admin server: the Media Streams leg and the REST subset.

- :mod:`sipgw.app.twilio.endpoints`: a Twilio number's voice webhook (``/twilio/voice``) and
  its Media Stream (``/twilio/stream``), run as a call by :mod:`sipgw.app.twilio.leg` (the
  stream as a leg among the gateway's calls). docs/legs.md.
- :mod:`sipgw.app.twilio.api`: Twilio's REST API, the part an app's call control uses
  (``Calls.json``), with its status callbacks. docs/twilio-api.md.

Twilio's wire formats are ``sipgw.twilio``'s; the ``twiml`` and ``stream`` agents (an app
built for Twilio answering SIP calls) are ``sipgw.agent.twiml``'s.
"""
