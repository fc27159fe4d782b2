"""The secrets the test suite configures: distinctive, so a scan can find any leak.

Every API key and SIP password a test hands the gateway, a fake or a peer is one
of these (``<kind>-CANARY-<10 hex digits>``). At the end of the run,
``tests/conftest.py`` scans every log and record the run wrote for them
(:func:`find_canaries`) and fails the run if one appears. Wrong passwords a test
uses on purpose (``guess``, ``wrong``) are not canaries.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

__all__ = [
    "ADMIN_TOKEN",
    "API_KEY_VARIABLES",
    "ASSEMBLYAI_KEY",
    "CANARIES",
    "CANARY_RE",
    "ELEVENLABS_KEY",
    "INBOUND_PASSWORD",
    "OPENAI_KEY",
    "SIP_PASSWORD",
    "SIP_PASSWORD_2",
    "find_canaries",
]

ASSEMBLYAI_KEY = "aai-CANARY-7d1f3b9e5a"
OPENAI_KEY = "sk-CANARY-4c8e2a6f0b"
ELEVENLABS_KEY = "el-CANARY-9b3d7f1a5c"
SIP_PASSWORD = "sip-CANARY-2e6a0c4f8d"
"""A registrar's or proxy's password (what the gateway authenticates with)."""
SIP_PASSWORD_2 = "sip-CANARY-6a0e4c8b2f"
"""A second account's password."""
INBOUND_PASSWORD = "in-CANARY-5f9b3d7a1e"
"""A caller's password (what the gateway challenges for)."""
ADMIN_TOKEN = "adm-CANARY-3c7e1a5b9d"
"""The admin server's bearer token (and the dashboard's login)."""

API_KEY_VARIABLES: dict[str, str] = {
    "ASSEMBLYAI_API_KEY": ASSEMBLYAI_KEY,
    "OPENAI_API_KEY": OPENAI_KEY,
    "ELEVENLABS_API_KEY": ELEVENLABS_KEY,
}
"""The vendors' key variables, set to the canaries (what ``--agent assistant`` requires)."""

CANARIES: tuple[str, ...] = (
    ASSEMBLYAI_KEY,
    OPENAI_KEY,
    ELEVENLABS_KEY,
    SIP_PASSWORD,
    SIP_PASSWORD_2,
    INBOUND_PASSWORD,
    ADMIN_TOKEN,
)
CANARY_RE = re.compile(rb"[A-Za-z]+-CANARY-[0-9a-f]{10}")
"""Any canary, also ones a test makes up in the same shape."""


def find_canaries(paths: Iterable[Path]) -> list[tuple[Path, str]]:
    """``(path, canary)`` for each file in ``paths`` that contains a canary (read as bytes)."""
    found: list[tuple[Path, str]] = []
    for path in paths:
        try:
            data = path.read_bytes()
        except OSError:  # removed meanwhile, or not readable
            continue
        for match in sorted({m.group().decode() for m in CANARY_RE.finditer(data)}):
            found.append((path, match))
    return found
