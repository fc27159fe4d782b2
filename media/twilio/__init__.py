"""The Twilio Media Streams leg, sans-IO: its wire messages, one stream's audio, TwiML, signatures.

- :mod:`media.twilio.messages`: the JSON text frames Twilio sends and the ones we send back.
- :mod:`media.twilio.stream`: one bidirectional stream's audio both ways (jitter buffer,
  pacing, marks, ``clear``).
- :mod:`media.twilio.twiml`: the ``<Connect><Stream>`` TwiML that points a call at us.
- :mod:`media.twilio.signature`: ``X-Twilio-Signature`` on Twilio's webhooks and handshakes.
- :mod:`media.twilio.token`: the one-time token that binds a stream to the call our webhook
  answered (the handshake's signature covers the URL only).

See docs/legs.md.
"""
