"""Transfers to a person: warm transfer (hold music, the person consulted, then joined), the
consultation call's agent, and the transfers section (docs/assistant.md, "Warm transfer")."""
