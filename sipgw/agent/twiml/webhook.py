"""The app's voice webhook, called as Twilio calls it: the form, the signature, the limits.

Twilio's "TwiML Voice: Your response" and "Webhooks security" pages: a voice request is a
form POST (or a GET with the same parameters in the query) carrying ``CallSid``,
``AccountSid``, ``From``, ``To``, ``Caller``, ``Called``, ``CallStatus``, ``Direction``,
``ApiVersion`` (``2010-04-01``) and, for a call from a SIP domain, ``SipCallId`` and one
``SipHeader_<name>`` per ``X-`` header passed. It is signed with ``X-Twilio-Signature``:
HMAC-SHA1, keyed by the account's auth token, of the URL followed by each parameter's
name and value sorted by name, base64 (:func:`sipgw.twilio.signature.signature_for`), so
the official SDKs' ``RequestValidator`` accepts it as Twilio's.

:func:`fetch` reads at most ``max_bytes`` within ``timeout`` seconds (connect, headers and
body together) and follows no redirect; every failure is a :class:`FetchFailed` saying
what went wrong, never the auth token.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final
from urllib.parse import urlsplit, urlunsplit

import aiohttp
from yarl import URL

from sipgw.agent.base import CallControl
from sipgw.foundation.handled_errors import forget_frames
from sipgw.foundation.http_body import body_within
from sipgw.twilio.sids import new_sid
from sipgw.twilio.signature import signature_for

__all__ = [
    "API_VERSION",
    "FetchFailed",
    "Fetched",
    "TwilioIdentity",
    "call_params",
    "fetch",
    "new_sid",
]

API_VERSION: Final = "2010-04-01"
"""The ``ApiVersion`` Twilio sends (the version of its REST API)."""


class FetchFailed(Exception):
    """A webhook or a file could not be fetched (the message says why, never a secret)."""


@dataclass(frozen=True, slots=True)
class TwilioIdentity:
    """Who sipgw says it is to the app: the account and the token it signs with."""

    account_sid: str
    auth_token: str

    def __repr__(self) -> str:  # never the token, in a log or a traceback
        return f"TwilioIdentity(account_sid={self.account_sid!r}, auth_token='***')"


@dataclass(frozen=True, slots=True)
class Fetched:
    """A fetched body, its content type and the URL it came from."""

    body: bytes
    content_type: str
    url: str


def call_sid_of(call_id: str) -> str:
    """A call's ``CallSid``: ``CA`` and 32 hex digits of its SIP Call-ID's SHA-256, so the
    REST subset's ``sid`` of a created call and the webhooks' ``CallSid`` name the same call."""
    return "CA" + hashlib.sha256(call_id.encode()).hexdigest()[:32]


def _number_or_uri(number: str, uri: str) -> str:
    """Twilio's ``From``/``To``: the E.164 number when the address is one, else the URI."""
    digits = number.removeprefix("+")
    if digits.isascii() and digits.isdigit() and 3 <= len(digits) <= 15:
        return number
    return uri


def call_params(
    call: CallControl, call_sid: str, account_sid: str, status: str = "ringing"
) -> dict[str, str]:
    """The form of a voice request about ``call`` (see the module docstring)."""
    details = call.details
    caller = _number_or_uri(details.caller_number, call.caller)
    called = _number_or_uri(details.called_number, call.called)
    if call.direction == "outbound":
        direction = "outbound-api"
    else:
        direction = "inbound"
    params = {
        "CallSid": call_sid,
        "AccountSid": account_sid,
        "From": caller,
        "To": called,
        "Caller": caller,
        "Called": called,
        "CallStatus": status,
        "Direction": direction,
        "ApiVersion": API_VERSION,
        "CallerName": "" if details.withheld else details.variables.get("caller_name", ""),
    }
    if call.leg == "sip":
        params["SipCallId"] = call.call_id
        for name, value in details.headers.items():
            params[f"SipHeader_{name}"] = value
    return params


async def fetch(
    session: aiohttp.ClientSession,
    url: str,
    *,
    method: str = "POST",
    params: Mapping[str, str] | None = None,
    identity: TwilioIdentity | None = None,
    timeout: float,  # noqa: ASYNC109 - one deadline for connect, headers and body together
    max_bytes: int,
) -> Fetched:
    """``url`` fetched as Twilio fetches (signed when ``identity`` and ``params`` are given).

    Raises:
        FetchFailed: a timeout, a refused connection, a status other than 2xx, or a body
            longer than ``max_bytes``.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise FetchFailed(f"{_safe(url)}: not an http(s) URL")
    form = dict(params or {})
    target = URL(url)  # quoted once, as sent: the signature covers these very characters
    if method == "GET" and form:  # Twilio signs the URL with the query for a GET
        target, form = target.extend_query(form), {}
    url = str(target)
    headers = {"User-Agent": "TwilioProxy/1.1", "Accept": "*/*"}
    if identity is not None and params is not None:
        headers["X-Twilio-Signature"] = signature_for(identity.auth_token, url, form)
    try:
        async with asyncio.timeout(timeout):
            async with session.request(
                method, target, data=form if method == "POST" else None, headers=headers,
                allow_redirects=False,
            ) as response:  # fmt: skip
                if not 200 <= response.status < 300:
                    raise FetchFailed(f"{_safe(url)} answered {response.status}")
                body = await body_within(response, max_bytes)
                if body is None:
                    raise FetchFailed(f"{_safe(url)}: more than {max_bytes} bytes")
                return Fetched(body, response.headers.get("Content-Type", ""), url)
    except TimeoutError:
        raise FetchFailed(f"{_safe(url)}: no answer within {timeout:g} s") from None
    except aiohttp.ClientError as exc:
        forget_frames(exc)  # a refused connection's errors hold their frames, down to here
        raise FetchFailed(f"{_safe(url)}: {type(exc).__name__}: {exc}") from None


def _safe(url: str) -> str:
    """``url`` for a log line: no user info, no query (it may carry a token)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host += f":{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))[:200]
