"""Digest authentication for SIP, both sides (RFC 3261 §22, RFC 8760).

Client side: a registrar or proxy answers a request with 401 (``WWW-Authenticate``)
or 407 (``Proxy-Authenticate``); :meth:`DigestClient.authorize` adds the matching
``Authorization`` / ``Proxy-Authorization`` to the request before it is sent again
with a new CSeq. RFC 8760 lets a server offer several algorithms: we answer
the strongest we support per realm (SHA-512-256, SHA-256, then MD5), with
``qop=auth`` whenever the server offers it (RFC 8760 §2.4; ``nc``/``cnonce`` as
in RFC 7616 §3.4).

When to stop retrying is decided from the request itself, so a caller needs
no extra state: if the request already carried our answer for that realm, the
challenge is not ``stale=true`` and our answer was the first use of its nonce
(``nc=00000001``, or no qop at all), the server refused the password; a
second try would only be refused again. A ``stale=true`` challenge (RFC 7616
§3.3: the nonce expired, the password was fine) or a refused re-use of an old
nonce (:meth:`DigestClient.reauthorize`, nc > 1) is answered again.

Server side: :class:`DigestServer` challenges requests from callers who must
authenticate (softphones, PBXs) and checks their answers. Its nonces carry
their issue time and an HMAC, under a secret (the process's, or one a cluster shares),
binding them to the address they were sent to and the realm; a wrong answer uses its nonce up, an
unusable nonce is answered ``stale=true`` whatever the password, and wrong
answers put the user's network, and past a bound the user, in an exponential backoff
during which nothing is checked (:mod:`sipgw.sip.guessing`; the class docstring says why it
is no oracle).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import random
import struct
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from enum import Enum

from sipgw.sip.errors import MessageParseError
from sipgw.sip.guessing import Backoff, Guessing
from sipgw.sip.message import SipRequest, SipResponse
from sipgw.sip.sourcekey import source_key

__all__ = [
    "ALGORITHMS",
    "Backoff",
    "Challenge",
    "Credentials",
    "DigestClient",
    "DigestServer",
    "Verdict",
    "digest_response",
    "parse_auth_params",
    "parse_challenges",
]


def _sha512_256(data: bytes) -> str:
    return hashlib.new("sha512_256", data).hexdigest()


def _available(name: str) -> bool:
    try:
        hashlib.new(name, b"")
    except ValueError:
        return False
    return True


_HASHES: dict[str, Callable[[bytes], str]] = {
    "MD5": lambda data: hashlib.md5(data, usedforsecurity=False).hexdigest(),
    "SHA-256": lambda data: hashlib.sha256(data).hexdigest(),
}
if _available("sha512_256"):
    _HASHES["SHA-512-256"] = _sha512_256

ALGORITHMS: tuple[str, ...] = tuple(
    name for name in ("SHA-512-256", "SHA-256", "MD5") if name in _HASHES
)
"""Algorithms we answer, strongest first (RFC 8760 §2.3); each also as ``-sess``."""


def _hash_of(algorithm: str) -> Callable[[bytes], str] | None:
    base = algorithm.upper().removesuffix("-SESS")
    return _HASHES.get(base)


# ---------------------------------------------------------------- parsing


def parse_auth_params(text: str) -> dict[str, str]:
    """The ``name=value`` pairs of a challenge or credentials (RFC 3261 §25.1).

    Values may be tokens or quoted strings (with backslash escapes); names
    are lower-cased. The leading scheme must have been removed.

    Raises:
        MessageParseError: unbalanced quotes or a pair without ``=``.
    """
    params: dict[str, str] = {}
    pos, end = 0, len(text)
    while pos < end:
        while pos < end and text[pos] in " \t\r\n,":
            pos += 1
        if pos >= end:
            break
        eq = text.find("=", pos)
        if eq < 0:
            raise MessageParseError(f"auth parameter without '=': {text[pos:]!r}", 400)
        name = text[pos:eq].strip().lower()
        pos = eq + 1
        while pos < end and text[pos] in " \t":
            pos += 1
        if pos < end and text[pos] == '"':
            chars: list[str] = []
            pos += 1
            while True:
                if pos >= end:
                    raise MessageParseError(f"unterminated quoted string in {text!r}", 400)
                char = text[pos]
                if char == "\\" and pos + 1 < end:
                    chars.append(text[pos + 1])
                    pos += 2
                    continue
                pos += 1
                if char == '"':
                    break
                chars.append(char)
            value = "".join(chars)
        else:
            comma = text.find(",", pos)
            stop = end if comma < 0 else comma
            value = text[pos:stop].strip()
            pos = stop
        if not name:
            raise MessageParseError(f"empty auth parameter name in {text!r}", 400)
        params[name] = value
    return params


def _split_scheme(value: str) -> tuple[str, str]:
    scheme, _, rest = value.strip().partition(" ")
    return scheme, rest


def _digest_params(values: Iterable[str]) -> Iterator[dict[str, str]]:
    """The parameters of each ``Digest`` value of an authentication header's ``values``;
    other schemes' and values that do not parse are left out."""
    for value in values:
        scheme, rest = _split_scheme(value)
        if scheme.lower() != "digest":
            continue
        try:
            params = parse_auth_params(rest)
        except MessageParseError:
            continue
        yield params


@dataclass(frozen=True, slots=True)
class Challenge:
    """One ``Digest`` challenge from a 401 or 407.

    Attributes:
        realm: the protection space; credentials are chosen by it.
        nonce: the server's nonce.
        algorithm: as the server wrote it, upper-cased (``MD5`` when absent).
        qop: the quality-of-protection options offered, lower-cased.
        opaque: returned unchanged, when present.
        stale: the previous nonce expired but the password was right.
        proxy: a 407 challenge (answered with ``Proxy-Authorization``).
    """

    realm: str
    nonce: str
    algorithm: str = "MD5"
    qop: tuple[str, ...] = ()
    opaque: str | None = None
    stale: bool = False
    proxy: bool = False

    @property
    def supported(self) -> bool:
        """Whether we can answer it (a known algorithm, and ``auth`` if qop is offered)."""
        if _hash_of(self.algorithm) is None:
            return False
        return not self.qop or "auth" in self.qop

    @property
    def strength(self) -> int:
        """Higher is stronger; used to pick among several challenges of one realm."""
        base = self.algorithm.removesuffix("-SESS")
        return len(ALGORITHMS) - ALGORITHMS.index(base) if base in ALGORITHMS else -1


def parse_challenges(response: SipResponse) -> list[Challenge]:
    """Every Digest challenge of a 401 (``WWW-Authenticate``) or 407 (``Proxy-Authenticate``).

    Challenges of other schemes and ones we cannot read are left out.
    """
    proxy = response.status == 407
    name = "Proxy-Authenticate" if proxy else "WWW-Authenticate"
    challenges = []
    for params in _digest_params(response.headers.get_all(name)):
        if "realm" not in params or "nonce" not in params:
            continue
        qop = tuple(q.strip().lower() for q in params.get("qop", "").split(",") if q.strip())
        challenges.append(
            Challenge(
                realm=params["realm"],
                nonce=params["nonce"],
                algorithm=params.get("algorithm", "MD5").upper(),
                qop=qop,
                opaque=params.get("opaque"),
                stale=params.get("stale", "").lower() == "true",
                proxy=proxy,
            )
        )
    return challenges


# ---------------------------------------------------------------- the computation


def digest_response(
    *,
    algorithm: str,
    username: str,
    realm: str,
    password: str,
    method: str,
    uri: str,
    nonce: str,
    qop: str | None = None,
    nc: str = "",
    cnonce: str = "",
) -> str:
    """The ``response`` value (RFC 7616 §3.4.1, RFC 8760 §2.1).

    Raises:
        ValueError: an algorithm we do not implement.
    """
    digest = _hash_of(algorithm)
    if digest is None:
        raise ValueError(f"unsupported digest algorithm {algorithm}")
    ha1 = digest(f"{username}:{realm}:{password}".encode())
    if algorithm.upper().endswith("-SESS"):
        ha1 = digest(f"{ha1}:{nonce}:{cnonce}".encode())
    ha2 = digest(f"{method}:{uri}".encode())
    if qop:
        return digest(f"{ha1}:{nonce}:{nc}:{cnonce}:{qop}:{ha2}".encode())
    return digest(f"{ha1}:{nonce}:{ha2}".encode())


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


# ---------------------------------------------------------------- client


@dataclass(frozen=True, slots=True)
class Credentials:
    """A username and password; the password never appears in the repr.

    Attributes:
        username: the authentication user name.
        password: the secret.
        realm: answer only challenges of this realm; None = any realm.
    """

    username: str
    password: str = field(repr=False)
    realm: str | None = None


def _header_name(proxy: bool) -> str:
    return "Proxy-Authorization" if proxy else "Authorization"


@dataclass(slots=True)
class _Answered:
    challenge: Challenge
    nc: int = 0


class DigestClient:
    """Answers 401/407 challenges with one set of credentials.

    One client serves a registration or a call (or an account's several of
    them): it remembers the last challenge of each realm, so later requests
    can carry credentials up front (:meth:`reauthorize`).

    Args:
        credentials: who we are.
        rng: random source for ``cnonce`` (inject in tests).
    """

    def __init__(self, credentials: Credentials, rng: random.Random | None = None) -> None:
        self.credentials = credentials
        self._rng = rng or random.SystemRandom()
        self._answered: dict[tuple[str, bool], _Answered] = {}

    def authorize(self, request: SipRequest, response: SipResponse) -> bool:
        """Add credentials to ``request`` for the challenges in ``response``.

        ``request`` is the request that was challenged (its old credentials
        for a realm are replaced); the caller sends it again with a new CSeq
        and branch. Returns False when it must not be retried: no challenge
        we can answer, or the password was already refused (see the module
        docstring).
        """
        best: dict[str, Challenge] = {}
        for challenge in parse_challenges(response):
            if not challenge.supported:
                continue
            if self.credentials.realm is not None and challenge.realm != self.credentials.realm:
                continue
            current = best.get(challenge.realm)
            if current is None or challenge.strength > current.strength:
                best[challenge.realm] = challenge
        if not best:
            return False
        for challenge in best.values():
            if self._refused(request, challenge):
                return False
        for challenge in best.values():
            answered = _Answered(challenge)
            self._answered[(challenge.realm, challenge.proxy)] = answered
            self._add(request, answered)
        return True

    def reauthorize(self, request: SipRequest) -> bool:
        """Add credentials computed on the last nonce of each realm (nonce count + 1).

        For a refresh (re-REGISTER) or a second request to the same server:
        saves a round trip when the server still accepts the nonce. Returns
        whether anything was added.
        """
        for answered in self._answered.values():
            self._add(request, answered)
        return bool(self._answered)

    def forget(self) -> None:
        """Drop remembered challenges (e.g. after the server refused them)."""
        self._answered.clear()

    def _refused(self, request: SipRequest, challenge: Challenge) -> bool:
        if challenge.stale:
            return False
        name = _header_name(challenge.proxy)
        for params in _digest_params(request.headers.get_all(name)):
            if params.get("realm") != challenge.realm:
                continue
            nc = params.get("nc")
            # First use of a nonce refused: the password is wrong. A re-used
            # nonce (nc > 1) refused just means the server wants a new one.
            return nc is None or _nc_value(nc) <= 1
        return False

    def _add(self, request: SipRequest, answered: _Answered) -> None:
        challenge = answered.challenge
        name = _header_name(challenge.proxy)
        kept = [v for v in request.headers.get_all(name) if _realm_of(v) != challenge.realm]
        request.headers.remove(name)
        for value in kept:
            request.headers.add(name, value)
        request.headers.add(name, self._credentials_value(request, answered))

    def _credentials_value(self, request: SipRequest, answered: _Answered) -> str:
        challenge = answered.challenge
        creds = self.credentials
        qop = "auth" if challenge.qop else None
        nc = cnonce = ""
        if qop or challenge.algorithm.endswith("-SESS"):
            cnonce = f"{self._rng.getrandbits(64):016x}"
        if qop:
            answered.nc += 1
            nc = f"{answered.nc:08x}"
        response = digest_response(
            algorithm=challenge.algorithm,
            username=creds.username,
            realm=challenge.realm,
            password=creds.password,
            method=request.method,
            uri=request.uri,
            nonce=challenge.nonce,
            qop=qop,
            nc=nc,
            cnonce=cnonce,
        )
        parts = [
            f"username={_quote(creds.username)}",
            f"realm={_quote(challenge.realm)}",
            f"nonce={_quote(challenge.nonce)}",
            f"uri={_quote(request.uri)}",
            f"response={_quote(response)}",
            f"algorithm={challenge.algorithm}",
        ]
        if cnonce:
            parts.append(f"cnonce={_quote(cnonce)}")
        if qop:
            parts += [f"qop={qop}", f"nc={nc}"]
        if challenge.opaque is not None:
            parts.append(f"opaque={_quote(challenge.opaque)}")
        return "Digest " + ", ".join(parts)


def _nc_value(text: str) -> int:
    try:
        return int(text, 16)
    except ValueError:
        return 0


def _realm_of(value: str) -> str | None:
    scheme, rest = _split_scheme(value)
    try:
        return parse_auth_params(rest).get("realm")
    except MessageParseError:
        return None


# ---------------------------------------------------------------- server


class Verdict(Enum):
    """The result of checking a request's credentials."""

    OK = "ok"
    """The right password for a known user, on a fresh nonce."""
    STALE = "stale"
    """The nonce cannot be used (expired, another source's, replayed, used up): the
    answer was not checked; challenge again with stale=true."""
    BAD = "bad"
    """Unknown user, wrong password, or malformed credentials (the nonce is used up)."""
    BACKOFF = "backoff"
    """The user's answers from this network are held after wrong passwords: the answer
    was not checked, and is refused like a wrong one (the nonce is used up)."""
    MISSING = "missing"
    """No credentials for our realm: challenge."""
    PENDING = "pending"
    """The user's guessing state is kept elsewhere (:attr:`DigestServer.shared`) and not
    loaded: nothing was checked nor used up; load it (:meth:`DigestServer.install`) and
    verify the request again."""


_NONCE_STAMP = struct.Struct(">dI")  # the issue time, and a serial: no two nonces alike
_NONCE_MAC = 12  # octets of HMAC-SHA-256 kept (96 bits)
_USED_UP = 1 << 32  # a nonce count no answer can exceed (nc is 8 hex digits)


class DigestServer:
    """Challenges requests and verifies the answers (we are the UAS).

    Theory of operation: guessing a password must be slow and must not tell more
    than "no".

    * A nonce carries its issue time, a serial number and an HMAC, under a secret (the
      process's, or the cluster's), of those, the realm and the address it was sent to: it
      is good for ``nonce_lifetime`` seconds, from that address, in this realm only.
    * Every answer that is checked uses up its nonce unless it is right; a right
      one may be followed by others on the same nonce with a higher count
      (RFC 7616 §3.4.5). Used nonces are remembered in a bounded table; when it
      overflows, every nonce issued before the ones it forgot counts as used.
    * A nonce that cannot be used - expired, another address's or realm's, from
      before a restart, replayed, used up - gets a new challenge with
      ``stale=true`` *without the answer being checked*, so it is no oracle:
      right and wrong passwords get the same reply. (RFC 7616 §3.3 says a server
      SHOULD set stale only for a valid digest; checking it is exactly the oracle
      an attacker with old nonces wants, and a phone with the wrong password gets
      its 403 on the fresh nonce one round trip later.)
    * Wrong answers are counted per user and per source network
      (:mod:`sipgw.sip.guessing`), and while a network is held the user's answers from
      it are not checked (:attr:`Verdict.BACKOFF`, refused like wrong ones). Only
      configured users have such state, each a bounded table of networks, so its memory
      is bounded by the users file; an unknown user's answers are refused like wrong ones.

    Several gateways (or worker processes) act as one server when they share what decides
    a verdict, each handed in, never fetched here:

    * the nonce secret: :meth:`set_secrets` (nonces are made under the current one and
      checked under it and the previous ones, so a rotation keeps the nonces issued just
      before it good), and :attr:`epoch` (added to ``now`` in a nonce's issue time, so
      servers on different monotonic clocks agree on it: the app sets wall minus
      monotonic time);
    * the users' guessing state, with :attr:`shared`: a user's state is then held here
      only while the application has installed it (:meth:`install`, loaded from its
      store), and a request of a user whose state is not installed gets
      :attr:`Verdict.PENDING` (nothing checked, its nonce not used); the application
      loads the state, installs it, verifies the request again, takes the state back
      (:meth:`take`) and stores it, all of it while it holds the user's row
      (:mod:`sipgw.app.security.trust` says why that keeps the bound).

    Args:
        realm: our protection space (shown by softphones).
        users: user name -> password.
        rng: random source for the nonce secret (inject in tests).
        algorithm: the algorithm we challenge with (``MD5`` or ``SHA-256``;
            several softphones still speak only MD5).
        nonce_lifetime: seconds a nonce stays valid.
        backoff: how wrong answers slow down guessing.
        max_nonces: used nonces remembered at most.
    """

    def __init__(
        self,
        realm: str,
        users: Mapping[str, str],
        rng: random.Random | None = None,
        algorithm: str = "MD5",
        nonce_lifetime: float = 300.0,
        backoff: Backoff | None = None,
        max_nonces: int = 16_384,
    ) -> None:
        if _hash_of(algorithm) is None:
            raise ValueError(f"unsupported digest algorithm {algorithm}")
        self.realm = realm
        self.algorithm = algorithm.upper()
        self.nonce_lifetime = nonce_lifetime
        self.backoff = backoff or Backoff()
        self.max_nonces = max_nonces
        self._users = dict(users)
        rng = rng or random.SystemRandom()
        self._secrets: tuple[bytes, ...] = (rng.getrandbits(256).to_bytes(32, "big"),)
        self.epoch = 0.0
        """Added to ``now`` in a nonce's issue time (see the class docstring)."""
        self.shared = False
        """Users' guessing state is installed by the application (the class docstring)."""
        self._opaque = f"{rng.getrandbits(64):016x}"
        self._used: OrderedDict[str, tuple[int, float]] = OrderedDict()
        self._forgotten = float("-inf")  # the latest issue time of a used nonce forgotten
        self._guessing: dict[str, Guessing] = {}
        self._serial = rng.getrandbits(32)

    def __repr__(self) -> str:
        return f"DigestServer(realm={self.realm!r}, users={sorted(self._users)!r})"

    def set_secrets(self, current: bytes, previous: tuple[bytes, ...] = ()) -> None:
        """Make nonces under ``current`` from now on; take nonces made under it or under
        ``previous`` (a rotation's older secrets)."""
        if len(current) < 16 or any(len(old) < 16 for old in previous):
            raise ValueError("a nonce secret of 16 bytes at least")
        self._secrets = (current, *previous)

    def share(self) -> None:
        """From now on the users' guessing state is installed by the application
        (:attr:`shared`); what this process counted so far is let go."""
        self.shared = True
        self._guessing.clear()

    def install(self, username: str, state: Guessing) -> None:
        """Hold ``username``'s guessing state (loaded from the application's store)."""
        if username in self._users:
            self._guessing[username] = state

    def take(self, username: str) -> Guessing | None:
        """Let go of ``username``'s state (with :attr:`shared`, to be stored)."""
        return self._guessing.pop(username, None)

    def challenge(self, now: float, source: str, stale: bool = False) -> str:
        """A ``WWW-Authenticate`` / ``Proxy-Authenticate`` value with a fresh nonce for
        ``source`` (the IP literal the challenge is sent to)."""
        self._serial = (self._serial + 1) & 0xFFFFFFFF
        stamp = _NONCE_STAMP.pack(now + self.epoch, self._serial)
        mac = self._mac(self._secrets[0], stamp, source)
        nonce = base64.urlsafe_b64encode(stamp + mac).decode().rstrip("=")
        parts = [
            f"realm={_quote(self.realm)}",
            f"nonce={_quote(nonce)}",
            f"opaque={_quote(self._opaque)}",
            f"algorithm={self.algorithm}",
            'qop="auth"',
        ]
        if stale:
            parts.append("stale=true")
        return "Digest " + ", ".join(parts)

    def verify(self, request: SipRequest, now: float, source: str, proxy: bool = False) -> Verdict:
        """Check the request's ``Authorization`` (or ``Proxy-Authorization``) for our
        realm, from ``source`` (an IP literal); see the class docstring."""
        params = self._credentials_for_realm(request, proxy)
        if params is None:
            return Verdict.MISSING
        nonce = params.get("nonce", "")
        issued = self._nonce_time(nonce, source)
        if issued is None or not now - self.nonce_lifetime <= issued <= now + 1.0:
            return Verdict.STALE
        nc = params.get("nc")
        count = _nc_value(nc) if nc is not None else 0
        if not self._unused(nonce, issued, count):
            return Verdict.STALE  # a replay, or used up by a wrong answer (RFC 7616 §3.4.5)
        username = params.get("username")
        if self.shared and username in self._users and username not in self._guessing:
            return Verdict.PENDING  # its state is in the application's store
        user = self._user(username)
        network = self.backoff.network(source)
        if user is not None and now < user.held_until(network, now):
            self._use(nonce, issued, _USED_UP)
            return Verdict.BACKOFF
        if username is None or not self._answer_matches(request, params, username):
            self._use(nonce, issued, _USED_UP)
            if user is not None:
                user.failed(network, now)
            return Verdict.BAD
        self._use(nonce, issued, count)
        if user is not None:
            user.succeeded(network, now)
        return Verdict.OK

    def username(self, request: SipRequest, proxy: bool = False) -> str | None:
        """The user name the request's credentials for our realm claim (checked or not)."""
        params = self._credentials_for_realm(request, proxy)
        return None if params is None else params.get("username")

    def backoff_until(self, username: str, source: str, now: float) -> float:
        """Until when ``username``'s answers from ``source`` are not checked (past = now)."""
        user = self._user(username)
        if user is None:
            return float("-inf")
        return user.held_until(self.backoff.network(source), now)

    def _user(self, username: str | None) -> Guessing | None:
        if username is None or username not in self._users:
            return None
        user = self._guessing.get(username)
        if user is None:
            user = self._guessing[username] = Guessing(self.backoff)
        return user

    def _answer_matches(self, request: SipRequest, params: dict[str, str], username: str) -> bool:
        password = self._users.get(username)
        if password is None:
            return False
        if params.get("uri") != request.uri:
            return False  # answers for another request (RFC 7616 §3.4.6)
        algorithm = params.get("algorithm", "MD5").upper()
        if algorithm != self.algorithm:
            return False
        qop = params.get("qop")
        if qop is not None and qop.lower() != "auth":
            return False
        expected = digest_response(
            algorithm=algorithm,
            username=username,
            realm=self.realm,
            password=password,
            method=request.method,
            uri=request.uri,
            nonce=params.get("nonce", ""),
            qop=qop,
            nc=params.get("nc", ""),
            cnonce=params.get("cnonce", ""),
        )
        return hmac.compare_digest(expected, params.get("response", "").lower())

    def _credentials_for_realm(self, request: SipRequest, proxy: bool) -> dict[str, str] | None:
        for params in _digest_params(request.headers.get_all(_header_name(proxy))):
            if params.get("realm") == self.realm:
                return params
        return None

    def _mac(self, secret: bytes, stamp: bytes, source: str) -> bytes:
        bound = b"\0".join((stamp, self.realm.encode(), source_key(source, 32, 128).encode()))
        return hmac.new(secret, bound, hashlib.sha256).digest()[:_NONCE_MAC]

    def _nonce_time(self, nonce: str, source: str) -> float | None:
        """When we issued ``nonce`` to ``source``; None if we did not."""
        try:
            raw = base64.urlsafe_b64decode(nonce + "=" * (-len(nonce) % 4))
        except ValueError:
            return None
        if len(raw) != _NONCE_STAMP.size + _NONCE_MAC:
            return None
        stamp, mac = raw[: _NONCE_STAMP.size], raw[_NONCE_STAMP.size :]
        if not any(
            hmac.compare_digest(mac, self._mac(key, stamp, source)) for key in self._secrets
        ):
            return None
        value: float = _NONCE_STAMP.unpack(stamp)[0]
        return value - self.epoch

    def _unused(self, nonce: str, issued: float, count: int) -> bool:
        """Whether ``count`` is a first or higher use of ``nonce`` (RFC 7616 §3.4.5)."""
        previous = self._used.get(nonce)
        if previous is None:
            return issued > self._forgotten
        return count > previous[0]

    def _use(self, nonce: str, issued: float, count: int) -> None:
        used = self._used
        used[nonce] = (count, issued)
        used.move_to_end(nonce)
        while len(used) > self.max_nonces:
            _, (_, forgotten) = used.popitem(last=False)
            self._forgotten = max(self._forgotten, forgotten)
