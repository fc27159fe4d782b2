"""Calls: one call from its offer or placement to its release, and what the gateway keeps of it."""
