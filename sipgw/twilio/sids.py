"""Twilio-shaped SIDs for what the gateway makes: calls, conferences, queues, recordings."""

from __future__ import annotations

import secrets

__all__ = ["new_sid"]


def new_sid(prefix: str) -> str:
    """A Twilio-shaped SID: two letters and 32 hex digits (``CA...``, ``CF...``, ``QU...``)."""
    return prefix + secrets.token_hex(16)
