"""Streaming text-to-speech, whoever the vendor: the contract and the re-framing."""
