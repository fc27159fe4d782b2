"""atheris harness for digest authentication parameters and verification.

Invariant: ``parse_auth_params`` returns or raises ``MessageParseError``;
``DigestServer.verify`` of a request carrying the input as its Authorization
header never raises and never says OK (no nonce of ours is in the input).

Run: ``python tests/fuzz/fuzz_auth.py -atheris_runs=200000 [corpus_dir]``
"""

from __future__ import annotations

import random
import sys

from sipgw.sip.auth import DigestServer, Verdict, parse_auth_params
from sipgw.sip.errors import MessageParseError
from sipgw.sip.message import SipRequest, parse_message

SEEDS = [
    b'Digest username="alice", realm="sipgw", nonce="abc", uri="sip:gw", response="0"',
    b'Digest username="a\\"b", qop=auth, nc=00000001, cnonce="x", algorithm=SHA-256',
    b"Digest ,,,,=",
    b'Digest realm="unterminated',
]
_SERVER = DigestServer("sipgw", {"alice": "secret"}, rng=random.Random(1))
_REQUEST = (
    b"INVITE sip:gw@192.0.2.1 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.2;branch=z9hG4bK1\r\n"
    b"From: <sip:alice@192.0.2.2>;tag=1\r\nTo: <sip:gw@192.0.2.1>\r\nCall-ID: c\r\n"
    b"CSeq: 1 INVITE\r\nAuthorization: %s\r\nContent-Length: 0\r\n\r\n"
)


def fuzz_one_input(data: bytes) -> None:
    """Run one fuzz input; raise only on a bug."""
    text = data.decode("utf-8", "replace")
    try:
        parse_auth_params(text.partition(" ")[2])
    except MessageParseError:
        pass
    line = data.replace(b"\r", b" ").replace(b"\n", b" ")
    try:
        request = parse_message(_REQUEST % line)
    except MessageParseError:
        return
    if isinstance(request, SipRequest) and _SERVER.verify(request, 0.0, "192.0.2.10") is Verdict.OK:
        raise AssertionError("credentials accepted without a nonce of ours")


def main() -> None:
    """Entry point for atheris."""
    import atheris  # optional, not a dependency (see pyproject: ignore_missing_imports)

    atheris.instrument_all()
    atheris.Setup(sys.argv, fuzz_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
