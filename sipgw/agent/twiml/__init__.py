"""Apps built for Twilio on a SIP call: sipgw plays Twilio's part (docs/twilio-apps.md).

The ``twiml`` and ``stream`` agents; the formats they speak (TwiML, the Media Streams
messages, signatures) are ``sipgw.twilio``'s.
"""
