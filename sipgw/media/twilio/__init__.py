"""The Twilio Media Streams leg, sans-IO: its wire messages, one stream's audio, TwiML, signatures.

- :mod:`sipgw.media.twilio.messages`: the JSON text frames Twilio sends and the ones we send back.
- :mod:`sipgw.media.twilio.stream`: one bidirectional stream's audio both ways (jitter buffer,
  pacing, marks, ``clear``).
- :mod:`sipgw.media.twilio.twiml`: the ``<Connect><Stream>`` TwiML that points a call at us.
- :mod:`sipgw.media.twilio.signature`: ``X-Twilio-Signature`` on Twilio's webhooks and handshakes.
- :mod:`sipgw.media.twilio.token`: the one-time token that binds a stream to the call our webhook
  answered (the handshake's signature covers the URL only).

See docs/legs.md.
"""
