"""A digest password cracker that guesses from many source addresses (issue 39's attacker).

Each guess is what svcrack does, from any address the caller names: a request without
credentials, the 401's challenge, the same request again with the answer computed for
the guessed password; the result is the status of that answer. The request is a
MESSAGE with a text body (the "other" bucket, the most generous, and large enough for
its 401 to come back over UDP). :meth:`DigestCracker.answer` sends an answer from
another address than the one challenged (a nonce carried elsewhere).

In a private network namespace any 127.x.y.z address can be a source; IPv6 sources
must be added to ``lo`` first (``ip -6 addr add fd00::1/64 dev lo``; :func:`ipv6_sources`
adds them for a block and removes them after).
"""

from __future__ import annotations

import contextlib
import random
import socket
import subprocess
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from sipgw.sip.auth import Credentials, DigestClient
from sipgw.sip.errors import SipError
from sipgw.sip.message import SipRequest, SipResponse, parse_message

__all__ = ["DigestCracker", "Guess", "ipv4_sources", "ipv6_sources"]


def ipv4_sources(count: int, first: str = "127.1.0.1") -> list[str]:
    """``count`` loopback addresses from ``first`` on (all on ``lo`` already)."""
    a, b, c, d = (int(part) for part in first.split("."))
    base = (a << 24) | (b << 16) | (c << 8) | d
    return [
        ".".join(str((base + n) >> shift & 255) for shift in (24, 16, 8, 0)) for n in range(count)
    ]


@contextlib.contextmanager
def ipv6_sources(prefixes: Iterable[str], per_prefix: int) -> Iterator[list[str]]:
    """``per_prefix`` addresses of each /64 of ``prefixes`` (``fd00:0:0:1``), on ``lo``
    (nodad) while the block runs, removed after it: the suite's tests share one network
    namespace, and every address left on an interface is one more host candidate for each
    aiortc peer made after (aioice pairs every local address with every remote one: with
    100 left there, each in-process browser test took 11-17 s instead of 1-3 s)."""
    addresses = [f"{prefix}::{n + 1:x}" for prefix in prefixes for n in range(per_prefix)]
    commands = "".join(f"addr replace {a}/64 dev lo nodad\n" for a in addresses)
    subprocess.run(["ip", "-6", "-batch", "-"], input=commands, text=True, check=True)
    try:
        yield addresses
    finally:
        removals = "".join(f"addr del {a}/64 dev lo\n" for a in addresses)
        subprocess.run(["ip", "-6", "-force", "-batch", "-"], input=removals, text=True)


@dataclass(frozen=True, slots=True)
class Guess:
    """One guess's outcome.

    Attributes:
        source: the address it was sent from.
        password: the password guessed.
        status: the answer's final status (0: none within the timeout).
        stale: the answer got a new challenge with ``stale=true``.
    """

    source: str
    password: str
    status: int
    stale: bool = False

    @property
    def admitted(self) -> bool:
        """The answer got past the access check (anything but 401, 403 and silence)."""
        return self.status not in (0, 401, 403, 503)


class DigestCracker:
    """Guesses ``user``'s password at the gateway ``target`` (host, port) over UDP.

    Args:
        target: the gateway's address.
        user: whose password to guess.
        timeout: seconds to wait for each response.
    """

    def __init__(self, target: tuple[str, int], user: str, timeout: float = 2.0) -> None:
        self.target = target
        self.user = user
        self.timeout = timeout
        self._sockets: dict[str, socket.socket] = {}
        self._rng = random.Random()
        self.sent = 0

    def close(self) -> None:
        """Close every socket."""
        for sock in self._sockets.values():
            sock.close()
        self._sockets.clear()

    def __enter__(self) -> DigestCracker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def guess(self, password: str, source: str) -> Guess:
        """Challenge and answer from ``source``."""
        challenge = self.challenge(source)
        if challenge is None:
            return Guess(source, password, 0)
        return self.answer(challenge, password, source)

    def challenge(self, source: str) -> SipResponse | None:
        """The 401 a request without credentials from ``source`` gets (None: another answer)."""
        response = self._exchange(self._request(), source)
        return response if response is not None and response.status == 401 else None

    def answer(self, challenge: SipResponse, password: str, source: str) -> Guess:
        """Answer ``challenge`` for ``password``, sending from ``source``."""
        request = self._request(cseq=2)
        client = DigestClient(Credentials(self.user, password), self._rng)
        if not client.authorize(request, challenge):
            return Guess(source, password, 0)
        response = self._exchange(request, source)
        if response is None:
            return Guess(source, password, 0)
        stale = response.status == 401 and "stale=true" in (
            response.headers.get("WWW-Authenticate") or ""
        )
        return Guess(source, password, response.status, stale)

    def probe(self, sources: list[str]) -> int:
        """Send one request without credentials from each of ``sources`` at once; how many
        challenges (401s) came back within the timeout (the flood guard answers the
        rest with one 503 or nothing)."""
        requests = [(source, self._request()) for source in sources]
        for source, request in requests:
            self._socket(source).sendto(request.serialize(), self.target)
            self.sent += 1
        challenged = 0
        deadline = time.monotonic() + self.timeout
        for source, request in requests:
            response = self._receive(source, request, deadline)
            challenged += response is not None and response.status == 401
        return challenged

    def run(self, passwords: Iterable[str], sources: list[str], seconds: float) -> list[Guess]:
        """Guess ``passwords`` in turn, rotating over ``sources``, for at most ``seconds``."""
        guesses: list[Guess] = []
        end = time.monotonic() + seconds
        for n, password in enumerate(passwords):
            if time.monotonic() >= end:
                break
            guesses.append(self.guess(password, sources[n % len(sources)]))
        return guesses

    def _request(self, cseq: int = 1) -> SipRequest:
        host, port = self.target
        where = f"[{host}]" if ":" in host else host
        tag = f"{self._rng.getrandbits(32):08x}"
        body = "guess " + "x" * 600  # its 401 must fit (the gateway's UDP replies are no larger)
        text = (
            f"MESSAGE sip:agent@{where}:{port} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP {where}:5060;branch=z9hG4bK{self._rng.getrandbits(48):x};rport\r\n"
            "Max-Forwards: 70\r\n"
            f"From: <sip:{self.user}@{where}>;tag={tag}\r\n"
            f"To: <sip:agent@{where}>\r\n"
            f"Call-ID: {self._rng.getrandbits(64):x}@cracker\r\n"
            f"CSeq: {cseq} MESSAGE\r\n"
            "User-Agent: Zoiper rv2.10.19.5\r\n"
            "Content-Type: text/plain\r\n"
            f"Content-Length: {len(body)}\r\n\r\n{body}"
        )
        message = parse_message(text.encode())
        assert isinstance(message, SipRequest)
        return message

    def _socket(self, source: str) -> socket.socket:
        sock = self._sockets.get(source)
        if sock is None:
            family = socket.AF_INET6 if ":" in source else socket.AF_INET
            sock = socket.socket(family, socket.SOCK_DGRAM)
            sock.bind((source, 0))
            sock.settimeout(self.timeout)
            self._sockets[source] = sock
        return sock

    def _exchange(self, request: SipRequest, source: str) -> SipResponse | None:
        """Send ``request`` from ``source``; its first final response (None: none in time)."""
        self._socket(source).sendto(request.serialize(), self.target)
        self.sent += 1
        return self._receive(source, request, time.monotonic() + self.timeout)

    def _receive(self, source: str, request: SipRequest, deadline: float) -> SipResponse | None:
        sock = self._socket(source)
        while (left := deadline - time.monotonic()) > 0:
            sock.settimeout(left)
            try:
                data = sock.recv(65536)
            except TimeoutError:
                return None
            try:
                response = parse_message(data)
            except SipError:
                continue
            if isinstance(response, SipResponse) and response.status >= 200:
                if response.call_id == request.call_id:
                    return response
        return None
