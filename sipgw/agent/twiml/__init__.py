"""Apps built for Twilio on a SIP call: sipgw plays Twilio\x27s part (docs/twilio-apps.md)."""
