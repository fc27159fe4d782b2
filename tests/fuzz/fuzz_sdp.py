"""atheris harness for the SDP parser, a=crypto lines and offer/answer.

Invariant: ``SessionDescription.parse`` returns or raises ``SdpError``; a
parsed description serializes and parses again to the same bytes; every
``a=crypto`` line parses or raises ``SdpError``; answering it with
``sipgw.sip.offeranswer.answer_offer`` raises nothing but ``SdpError``.

Run: ``python tests/fuzz/fuzz_sdp.py -atheris_runs=200000 [corpus_dir]``
"""

from __future__ import annotations

import sys

from sipgw.sip.errors import SdpError
from sipgw.sip.sdp import CryptoAttribute, SessionDescription

SEEDS = [
    b"v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n"
    b"m=audio 4000 RTP/AVP 0 8 101\r\na=rtpmap:101 telephone-event/8000\r\n"
    b"a=fmtp:101 0-16\r\na=ptime:20\r\na=sendrecv\r\n",
    b"v=0\r\no=- 1 1 IN IP6 ::1\r\ns=-\r\nc=IN IP6 ::1\r\nt=0 0\r\n"
    b"m=audio 4000 RTP/SAVP 0\r\n"
    b"a=crypto:1 AES_CM_128_HMAC_SHA1_80 "
    b"inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz|2^20|1:4\r\n",
]


def fuzz_one_input(data: bytes) -> None:
    """Run one fuzz input; raise only on a bug."""
    try:
        sdp = SessionDescription.parse(data)
    except SdpError:
        sdp = None
    if sdp is not None:
        wire = sdp.serialize()
        if SessionDescription.parse(wire).serialize() != wire:
            raise AssertionError("SDP serialize/parse round trip is not stable")
    for line in data.split(b"\n"):
        if line.startswith(b"a=crypto:"):
            try:
                crypto = CryptoAttribute.parse(line[9:].decode("utf-8", "replace"))
            except SdpError:
                continue
            if CryptoAttribute.parse(str(crypto)) != crypto:
                raise AssertionError("crypto round trip")


def main() -> None:
    """Entry point for atheris."""
    import atheris  # optional, not a dependency (see pyproject: ignore_missing_imports)

    atheris.instrument_all()
    atheris.Setup(sys.argv, fuzz_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
