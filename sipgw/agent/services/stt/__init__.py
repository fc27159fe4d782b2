"""Streaming speech-to-text, whoever the vendor: the contract, the uplink, the outlet."""
