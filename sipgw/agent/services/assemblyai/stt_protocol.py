"""AssemblyAI's streaming v3 wire rules, sans-IO: close codes, the session's URL, messages.

Everything here is pure: what a close code or an HTTP refusal means (retried, final, a
rate limit), how the session's options become its query, and the JSON text frames both
ways. :class:`sipgw.agent.services.assemblyai.stt_connection.AssemblyAIConnection` does the I/O
with them; the rules come from docs/cloud-apis.md, "AssemblyAI streaming v3".
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Final
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from sipgw.agent.services.assemblyai.stt_options import AssemblyAISettings

__all__ = [
    "API_VERSION",
    "CLOSE_HINTS",
    "FATAL_LEGACY_CODES",
    "FORCE_ENDPOINT",
    "RETRYABLE_HTTP",
    "TERMINATE",
    "as_float",
    "as_int",
    "body_excerpt",
    "build_query_params",
    "close_is_fatal",
    "close_text",
    "describe_close",
    "error_text",
    "headers",
    "http_hint",
    "is_rate_limited",
    "param_value",
    "public_url",
    "session_url",
    "update_configuration",
]

logger = logging.getLogger("sipgw.agent.services.assemblyai.stt")  # the client's one logger

API_VERSION: Final = "2025-05-12"
"""Value of the ``AssemblyAI-Version`` header (what the official SDK sends)."""

TERMINATE: Final = json.dumps({"type": "Terminate"})
"""Ends the session (un-terminated sessions keep billing)."""

FORCE_ENDPOINT: Final = json.dumps({"type": "ForceEndpoint"})
"""Asks the server to end the current turn now."""

FATAL_LEGACY_CODES: Final = frozenset({4000, 4001, 4002, 4003})
"""Legacy close codes that are never retried (authentication and account failures)."""

RETRYABLE_HTTP: Final = frozenset({408, 429})
"""The HTTP 4xx upgrade refusals that are retried."""

CLOSE_HINTS: Final[dict[int, str]] = {
    1000: "normal closure",
    1006: "connection lost without a close frame",
    1008: "policy violation: authentication, account or concurrency",
    1011: "server internal error",
    1012: "service restart",
    1013: "temporary server condition, try again later",
    3005: "server error",
    3006: "invalid message",
    3007: "input duration or rate violation",
    3008: "session expired",
    3009: "too many concurrent sessions",
    4001: "not authorized",
    4002: "insufficient account balance",
    4003: "free-tier account",
}
"""What each close code means, for logs."""


def headers(api_key: str) -> dict[str, str]:
    """The upgrade request's headers: the API version and ``Authorization: <key>`` (no
    ``Bearer``; none with an empty key)."""
    sent = {"AssemblyAI-Version": API_VERSION}
    if api_key:
        sent["Authorization"] = api_key
    return sent


def update_configuration(fields: Mapping[str, object]) -> str:
    """The ``UpdateConfiguration`` message setting ``fields``.

    Raises:
        ValueError: ``fields`` contains ``type``.
        TypeError: A value is not JSON-serializable.
    """
    if "type" in fields:
        raise ValueError("'type' is not a configuration field")
    return json.dumps({"type": "UpdateConfiguration", **fields})


def close_text(reason: str, error_frame: str) -> str:
    """What a close is judged by: its reason and the Error frame sent just before it.

    The docs' errors "trigger on_error just prior to on_close" (common-errors.mdx):
    the Error frame says why, the close may not (a 1008 with an empty reason is a
    rate-limit refusal when the frame says "Too many concurrent sessions").
    """
    if error_frame and error_frame not in reason:
        return f"{reason}; {error_frame}" if reason else error_frame
    return reason


def close_is_fatal(code: int | None, reason: str) -> bool:
    """Whether a close (before or during a session) must not be retried.

    Auth and account failures are final: 1008 unless the reason is about
    concurrency or rate limits, and the legacy codes 4000-4003.
    """
    if code in FATAL_LEGACY_CODES:
        return True
    if code == 1008:
        text = reason.lower()
        return not any(word in text for word in ("concurren", "too many", "rate"))
    return False


def is_rate_limited(code: int | None, reason: str = "") -> bool:
    """Whether a close code (or HTTP status) means "too many sessions": 3009, 1008 with
    a concurrency or rate reason (docs/cloud-apis.md, "AssemblyAI streaming v3": handle
    both), or HTTP 429."""
    if code in (3009, 429):
        return True
    return code == 1008 and not close_is_fatal(code, reason)


def describe_close(code: int | None, reason: str) -> str:
    """Render a close code and reason for humans, e.g. ``1008 Unauthorized (...)``."""
    hint = CLOSE_HINTS.get(code or 0)
    if code is not None and 4000 <= code <= 4999 and hint is None:
        hint = "legacy error code"
    text = f"{code} {reason}".strip() if code is not None else reason or "closed"
    return f"{text} ({hint})" if hint else text


def http_hint(status: int) -> str:
    if status in (401, 403):
        return "authentication failed: check the API key (sent without 'Bearer')"
    if status == 429:
        return "rate limited: too many new sessions per minute"
    if status >= 500:
        return "server error"
    return "request rejected: check the URL and query parameters"


def body_excerpt(body: bytes | bytearray | None, limit: int = 200) -> str:
    text = (body or b"").decode("utf-8", errors="replace").strip()
    return f": {text[:limit]}" if text else ""


def param_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, list | tuple):
        return json.dumps(list(value))
    return json.dumps(value)


def build_query_params(
    settings: AssemblyAISettings, overrides: Mapping[str, object] | None = None
) -> dict[str, str]:
    """Return the session's query parameters, in the order they are sent.

    Args:
        settings: The configured options.
        overrides: Fields set later through ``UpdateConfiguration``; they are
            carried into the query of every reconnect. None values are left out.
    """
    params: dict[str, object] = {
        "speech_model": settings.speech_model,
        "encoding": settings.encoding,
        "sample_rate": settings.sample_rate,
    }
    if settings.keyterms_prompt:
        params["keyterms_prompt"] = list(settings.keyterms_prompt)
    optional = {
        "prompt": settings.prompt,
        "min_turn_silence": settings.min_turn_silence,
        "max_turn_silence": settings.max_turn_silence,
        "interruption_delay": settings.interruption_delay,
        "continuous_partials": settings.continuous_partials,
    }
    params.update((k, v) for k, v in optional.items() if v is not None)
    params.update(overrides or {})
    params.update(settings.extra_params)
    return {k: param_value(v) for k, v in params.items() if v is not None}


def session_url(settings: AssemblyAISettings, overrides: Mapping[str, object]) -> str:
    parts = urlsplit(settings.url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    query += list(build_query_params(settings, overrides).items())
    return urlunsplit(parts._replace(query=urlencode(query)))


def public_url(url: str) -> str:
    """The URL without its query (which may hold a temporary token)."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(query="", fragment=""))


def as_int(value: object, default: int = 0) -> int:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else default


def as_float(value: object, default: float = 0.0) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return default


def error_text(message: Mapping[str, object]) -> str:
    code = message.get("error_code")
    error = message.get("error", "unknown error")
    return f"server error {code}: {error}" if code is not None else f"server error: {error}"
