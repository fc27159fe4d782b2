"""Tones, sans-IO: DTMF as RTP events (RFC 4733) and in the audio, beeps and the fax tone."""
