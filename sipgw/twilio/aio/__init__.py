"""Twilio's asyncio adapters: thin loops around the sans-IO modules of ``sipgw.twilio``."""
