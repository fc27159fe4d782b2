"""Twilio on the wire, sans-IO: what the gateway and Twilio (or an app built for it) exchange.

The layer between ``media`` and ``agent``: it imports ``sipgw.media`` and nothing else of
ours, and both the ``twiml`` agent (``sipgw/agent/twiml/``) and the app's Twilio front ends
(``sipgw/app/twilio/``) use it. docs/architecture.md, "Layers".

- :mod:`sipgw.twilio.signature`: ``X-Twilio-Signature`` on webhooks, status callbacks and
  stream handshakes, checked and made.
- :mod:`sipgw.twilio.twiml`: the ``<Connect><Stream>`` TwiML that points a call at us;
  :mod:`sipgw.twilio.document`: a TwiML document read into verbs.
- :mod:`sipgw.twilio.token`: the one-time token that binds a stream to the call our webhook
  answered (the handshake's signature covers the URL only).
- :mod:`sipgw.twilio.messages`: the Media Streams JSON text frames, both ways.
- :mod:`sipgw.twilio.stream`: one bidirectional stream's audio at the app's end (jitter
  buffer, pacing, marks, ``clear``); :mod:`sipgw.twilio.streamside`: Twilio's end of one,
  played toward an app; :mod:`sipgw.twilio.streamstatus`: the stream status callbacks' forms.
- :mod:`sipgw.twilio.aio`: the asyncio adapters (:mod:`sipgw.twilio.aio.connection`, one
  stream's WebSocket around :mod:`~sipgw.twilio.stream`).

``media`` is imported first: it chooses the compiled or the pure-Python path
(:mod:`sipgw.media._accel`) before any compiled module of this package can be found.
"""

import sipgw.media  # noqa: F401
