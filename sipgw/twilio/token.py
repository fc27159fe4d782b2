"""A one-time token that binds a Media Stream to the call our webhook answered.

The handshake's ``X-Twilio-Signature`` covers the stream's URL alone (a GET, Twilio's
design: :mod:`sipgw.twilio.signature`), so it is the same for every stream to that URL:
replayed, it would open any number of streams, each a paid call, with ``customParameters``
the sender picks. Our webhook's request is signed over its form too (the ``CallSid``, the
``From``), so the webhook is where a stream is bound to its call: the TwiML we answer carries,
in a ``<Parameter>`` (:data:`TOKEN_PARAMETER`), a token that Twilio hands back in the
stream's ``start`` (``customParameters``).

The token is ``CALLSID.ISSUED.MAC``: ``ISSUED`` the time it was made (milliseconds of the
issuer's clock), ``MAC`` the HMAC-SHA256, keyed by a secret of this process, of the Call SID,
that time and the other parameters passed with it (``From``, ``To``, ``CallerName``), so none
of them can be changed. :meth:`StreamTokens.check` takes a token only if it is ours, for the
``start``'s Call SID, with the parameters as issued, issued at most :data:`TOKEN_LIFETIME`
seconds ago, and not used before: a Call SID's token opens one stream. The used Call SIDs
are remembered, at most ``most`` of them: past that the oldest is forgotten, but only once
its token has expired (it would be refused anyway); while all of them are unexpired, a new
token is refused (closed, never a used one forgotten early). Kept past their lifetime, they
also refuse the token a replayed webhook request (signed over a form that never changes)
would get for a Call SID whose stream ran already.

Several gateways share the key (``also``: the keys of a rotation still accepted) and, in
the app, the used Call SIDs (:mod:`sipgw.app.security.trust`): a token issued by one is then
taken once by any.

Sans-IO: every call takes ``now`` (seconds of one clock throughout; the app passes wall-clock
time, which gateways on several machines agree on).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from collections import OrderedDict
from collections.abc import Mapping
from typing import Final

__all__ = ["TOKEN_LIFETIME", "TOKEN_PARAMETER", "StreamTokenRefused", "StreamTokens"]

TOKEN_PARAMETER: Final = "sipgwStreamToken"
"""The ``<Parameter>`` name the token travels under (left out of the call's variables)."""
TOKEN_LIFETIME: Final = 30.0
"""Seconds a token stays valid after the webhook made it (Twilio opens the stream as soon
as it reads the TwiML: well under a second)."""

_SID = r"[A-Za-z0-9]{1,64}"
_TOKEN = re.compile(rf"(?P<sid>{_SID})\.(?P<issued>[0-9]{{1,18}})\.(?P<mac>[A-Za-z0-9_-]{{43}})")


class StreamTokenRefused(ValueError):
    """A stream's token is missing, not ours, for another call, expired or used."""


class StreamTokens:
    """Makes and checks the one-time stream tokens (see the module docstring).

    Args:
        key: the HMAC key (32 random bytes, made when the process starts).
        lifetime: seconds a token is valid.
        most: the most Call SIDs remembered as used at once.
        also: other keys whose tokens are taken (a rotation's; tokens are made with ``key``).
    """

    def __init__(
        self, key: bytes, lifetime: float = TOKEN_LIFETIME, most: int = 10_000,
        also: tuple[bytes, ...] = (),
    ) -> None:  # fmt: skip
        for each in (key, *also):
            if len(each) < 16:
                raise ValueError(f"a stream token key of {len(each)} bytes; 16 at least")
        self._key = key
        self._keys = (key, *also)
        self.lifetime = lifetime
        self.most = most
        self._used: OrderedDict[str, float] = OrderedDict()  # Call SID -> its token's expiry

    def issue(self, call_sid: str, parameters: Mapping[str, str], now: float) -> str:
        """The token for ``call_sid``'s stream, passed with ``parameters``, made at ``now``.

        Raises:
            ValueError: ``call_sid`` is not a Twilio SID (letters and digits).
        """
        if not re.fullmatch(_SID, call_sid):
            raise ValueError(f"CallSid {call_sid[:70]!r}: not a Twilio SID")
        issued = max(0, round(now * 1000))
        return f"{call_sid}.{issued}.{self._mac(call_sid, issued, parameters)}"

    def check(self, token: str, call_sid: str, parameters: Mapping[str, str], now: float) -> None:
        """Take ``token`` for the stream of ``call_sid`` that came with ``parameters`` (the
        ``start``'s ``customParameters`` but the token); it is used up.

        Raises:
            StreamTokenRefused: why the stream is refused (the message says it).
        """
        if not token:
            raise StreamTokenRefused("no stream token (not a stream of our webhook's TwiML)")
        match = _TOKEN.fullmatch(token)
        if match is None:
            raise StreamTokenRefused("a malformed stream token")
        if match["sid"] != call_sid:
            raise StreamTokenRefused(f"the stream token is for call {match['sid']}, not this one")
        issued = int(match["issued"])
        macs = (self._mac(call_sid, issued, parameters, key) for key in self._keys)
        if not any(hmac.compare_digest(match["mac"], mac) for mac in macs):
            raise StreamTokenRefused("the stream token is not ours or its parameters changed")
        expires = issued / 1000 + self.lifetime
        if now >= expires:
            raise StreamTokenRefused(f"the stream token expired {now - expires:.1f} s ago")
        if now < issued / 1000 - 1.0:  # made later than now: another clock's, or forged
            raise StreamTokenRefused("the stream token was issued in the future")
        if call_sid in self._used:
            raise StreamTokenRefused("the stream token was used already (a replayed stream)")
        used = self._used
        if len(used) >= self.most:
            if next(iter(used.values())) > now:
                raise StreamTokenRefused(f"{self.most} streams started in {self.lifetime:g} s")
            used.popitem(last=False)  # the oldest, expired: its token is refused anyway
        used[call_sid] = expires

    def __len__(self) -> int:
        """How many used Call SIDs are remembered."""
        return len(self._used)

    def _mac(
        self, call_sid: str, issued: int, parameters: Mapping[str, str], key: bytes | None = None
    ) -> str:
        signed = json.dumps([call_sid, issued, sorted(parameters.items())], ensure_ascii=True)
        digest = hmac.new(key or self._key, signed.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")
