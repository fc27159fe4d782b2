"""Checking the PASSporT of an incoming call: the certificate fetch around the SIP core's
sans-IO check (:mod:`sipgw.sip.passportcheck`).

:class:`PassportVerifier` runs before a call is routed, for an INVITE of a trusted source
that carries a PASSporT (:attr:`sipgw.sip.verification.CallerVerification.needs_check`):

- without the ``cryptography`` library (the ``stir`` extra) or trust anchors
  (``SIPGW_STIR_CA_FILE``) the signature is recorded ``unverified`` with that reason, at
  once and without a fetch (and nothing else is judged: the status stays the carrier's);
- with them, a PASSporT whose claims are wrong (``iat`` older or newer than
  ``SIPGW_STIR_MAX_AGE``, ``orig`` or ``dest`` not the call's numbers) has ``failed``,
  without a fetch;
- otherwise :class:`CertificateFetcher` gets the certificate (https only, no redirects, at
  most :data:`MAX_CERTIFICATE` bytes within ``timeout`` seconds; kept for ``ttl`` seconds,
  a failure for :data:`FAILURE_TTL`; calls that need one at once share its fetch), and the
  core checks the signature against it. A certificate that cannot be fetched leaves the
  signature ``unverified`` with the reason.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from sipgw.foundation.handled_errors import forget_frames
from sipgw.foundation.http_body import body_within
from sipgw.sip.passportcheck import (
    MAX_AGE,
    NO_ANCHORS,
    NO_CRYPTOGRAPHY,
    SignatureCheck,
    TrustAnchors,
    check_claims,
    check_signature,
    crypto_available,
    load_trust_anchors,
)
from sipgw.sip.verification import CallerVerification

__all__ = [
    "FAILURE_TTL",
    "MAX_CERTIFICATE",
    "CertificateFetcher",
    "CertificateUnavailable",
    "PassportVerifier",
    "read_trust_anchors",
]

MAX_CERTIFICATE = 32 * 1024
"""Bytes a fetched certificate chain may have."""
FAILURE_TTL = 30.0
"""Seconds a failed fetch is remembered (no fetch of that URL meanwhile)."""
MAX_CACHED = 256
"""URLs whose certificate (or failure) is kept at once; the oldest goes first."""


class CertificateUnavailable(Exception):
    """A certificate URL could not be fetched; the message says why."""


def read_trust_anchors(path: str) -> TrustAnchors | None:
    """The roots of the CA bundle file at ``path`` (PEM); None for "" or without the
    ``cryptography`` library (the check then says why).

    Raises:
        ValueError: the file cannot be read or holds no certificate.
    """
    if not path or not crypto_available():
        return None
    try:
        anchors = load_trust_anchors(Path(path).read_bytes())
    except OSError as exc:
        raise ValueError(f"cannot read {path}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise ValueError(f"{path} is not a PEM CA bundle: {exc}") from None
    if not anchors.roots:
        raise ValueError(f"{path} holds no certificate")
    return anchors


class CertificateFetcher:
    """Fetches certificate chains over https, bounded in size and time, and keeps them.

    Args:
        timeout: seconds a fetch may take, connection included.
        ttl: seconds a fetched certificate is kept.
        ssl_context: how the server is checked (default: the system's CAs, which
            ``SSL_CERT_FILE`` can replace).
        clock: monotonic seconds (tests give their own).
    """

    def __init__(
        self,
        *,
        timeout: float = 2.0,
        ttl: float = 3600.0,
        ssl_context: ssl.SSLContext | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.timeout = timeout
        self.ttl = ttl
        self.ssl_context = ssl_context
        self.clock = clock
        self.fetches = 0
        """How many fetches went to the network (not answered from the cache)."""
        self._cache: dict[str, tuple[float, bytes | str]] = {}
        self._pending: dict[str, asyncio.Future[bytes]] = {}

    async def fetch(self, url: str) -> bytes:
        """The body served at ``url``.

        Raises:
            CertificateUnavailable: not https, the server failed, too large, too slow.
        """
        if not url.lower().startswith("https://"):
            raise CertificateUnavailable("the certificate URL is not https")
        now = self.clock()
        cached = self._cache.get(url)
        if cached is not None and cached[0] > now:
            if isinstance(cached[1], str):
                raise CertificateUnavailable(cached[1])
            return cached[1]
        pending = self._pending.get(url)
        if pending is None:  # calls that need the same certificate at once share a fetch
            pending = asyncio.ensure_future(self._fetch_now(url, now))
            self._pending[url] = pending
            pending.add_done_callback(lambda _: self._pending.pop(url, None))
        try:
            return await asyncio.shield(pending)
        finally:
            # a failure, raised here, holds this frame: it must not hold the task that
            # holds the failure (a cycle through the caller's frames too)
            del pending

    async def _fetch_now(self, url: str, now: float) -> bytes:
        self.fetches += 1
        try:
            async with asyncio.timeout(self.timeout):
                body = await self._get(url)
        except (CertificateUnavailable, TimeoutError) as exc:
            # raised from wait_for's frame, which holds its task; and from it, a refused
            # connection's errors, which hold their frames (aiohttp's `last_exc`)
            forget_frames(exc)
            reason = str(exc) or f"no certificate from {url} within {self.timeout:g} s"
            self._keep(url, now + FAILURE_TTL, reason)
            raise CertificateUnavailable(reason) from None
        self._keep(url, now + self.ttl, body)
        return body

    def _keep(self, url: str, until: float, value: bytes | str) -> None:
        self._cache.pop(url, None)
        while len(self._cache) >= MAX_CACHED:
            del self._cache[next(iter(self._cache))]
        self._cache[url] = (until, value)

    async def _get(self, url: str) -> bytes:
        import aiohttp

        context = self.ssl_context or ssl.create_default_context()
        try:
            async with (
                aiohttp.ClientSession() as session,
                session.get(url, allow_redirects=False, ssl=context) as response,
            ):
                if response.status != 200:
                    raise CertificateUnavailable(f"{url} answered {response.status}")
                body = await body_within(response, MAX_CERTIFICATE)
                if body is None:
                    raise CertificateUnavailable(f"{url} served more than {MAX_CERTIFICATE} bytes")
                return body
        except aiohttp.ClientError as exc:
            raise CertificateUnavailable(f"cannot fetch {url}: {exc}") from None


class PassportVerifier:
    """Checks the PASSporT signatures of incoming calls.

    Args:
        anchors: the trusted STI-CA roots (None: nothing is trusted, every signature is
            ``unverified``).
        fetcher: gets the certificates.
        max_age: seconds ``iat`` may be from now (RFC 8224 §6.2.1).
        wall: the wall clock, in seconds since the Unix epoch (``iat``'s clock).
    """

    def __init__(
        self,
        anchors: TrustAnchors | None,
        fetcher: CertificateFetcher | None = None,
        *,
        max_age: float = MAX_AGE,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.anchors = anchors
        self.fetcher = fetcher or CertificateFetcher()
        self.max_age = max_age
        self.wall = wall

    def at_once(
        self,
        verification: CallerVerification,
        caller_numbers: Sequence[str],
        called_numbers: Sequence[str],
    ) -> SignatureCheck | None:
        """What can be said without a fetch (None: the certificate is needed)."""
        if not crypto_available():
            return SignatureCheck("unverified", NO_CRYPTOGRAPHY)
        if self.anchors is None:
            return SignatureCheck("unverified", NO_ANCHORS)
        failed = check_claims(
            verification.token,
            now=self.wall(),
            caller_numbers=caller_numbers,
            called_numbers=called_numbers,
            max_age=self.max_age,
        )
        if failed is not None:
            return failed
        if not verification.certificate_url:
            return SignatureCheck("unverified", "the PASSporT names no certificate")
        return None

    async def check(
        self,
        verification: CallerVerification,
        caller_numbers: Sequence[str],
        called_numbers: Sequence[str],
    ) -> CallerVerification:
        """``verification`` with the check of its PASSporT's signature (fetching its
        certificate when that is needed)."""
        found = self.at_once(verification, caller_numbers, called_numbers)
        if found is None:
            try:
                chain = await self.fetcher.fetch(verification.certificate_url)
            except CertificateUnavailable as exc:
                found = SignatureCheck("unverified", str(exc))
            else:
                found = check_signature(verification.token, chain, self.anchors, now=self.wall())
        return verification.with_signature(found)
