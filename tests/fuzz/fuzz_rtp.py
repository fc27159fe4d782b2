"""atheris harness for the RTP port: RTP, RTCP and STUN-looking datagrams.

Invariant: ``RtpPacket.parse`` returns or raises ``RtpParseError`` (and a
parsed packet serializes to a packet that parses equal); ``TelephoneEvent.parse``
returns or raises ``DtmfParseError``; ``MediaSession.receive`` never raises,
whatever the datagram, and counts it. The input is split on the first two
octets' length into several datagrams fed to one session.

Run: ``python tests/fuzz/fuzz_rtp.py -atheris_runs=200000 [corpus_dir]``
"""

from __future__ import annotations

import sys

from sipgw.media.rtp import RtpPacket, RtpParseError
from sipgw.media.session import MediaSession, StreamParams
from sipgw.media.tones.dtmf import DtmfParseError, TelephoneEvent

PEER = ("192.0.2.20", 40000)
SEEDS = [
    bytes.fromhex("8000000100000a0000000007") + b"\xff" * 160,  # PCMU
    bytes.fromhex("b000000100000a0000000007") + bytes(4) + b"\xbe\xde\x00\x01" + bytes(4),
    bytes.fromhex("80e5000200000a0000000007") + bytes.fromhex("0a0a00a0"),  # DTMF *
    bytes.fromhex("80c80006") + bytes(24),  # RTCP SR
    bytes.fromhex("000100002112a442") + bytes(12),  # STUN Binding request
    bytes.fromhex("a000000100000a0000000007ff"),  # padding that lies
]


def _datagrams(data: bytes) -> list[bytes]:
    out: list[bytes] = []
    pos = 0
    while pos < len(data) and len(out) < 16:
        size = data[pos] + 1
        out.append(data[pos + 1 : pos + 1 + size])
        pos += 1 + size
    return out


def fuzz_one_input(data: bytes) -> None:
    """Run one fuzz input; raise only on a bug."""
    try:
        packet = RtpPacket.parse(data)
    except RtpParseError:
        pass
    else:
        if packet.extension_profile is not None or not packet.extension:
            if RtpPacket.parse(packet.serialize()) != packet:
                raise AssertionError("RTP round trip")
    try:
        TelephoneEvent.parse(data[12:])
    except DtmfParseError:
        pass
    session = MediaSession(StreamParams(remote=PEER, telephone_event_pt=101), now=0.0)
    datagrams = [data, *_datagrams(data)]
    for n, datagram in enumerate(datagrams):
        session.receive(datagram, PEER, n * 0.02)
        session.poll_ingress(n * 0.02)
    if session.stats.packets_in != len(datagrams):
        raise AssertionError("a datagram was not counted")


def main() -> None:
    """Entry point for atheris."""
    import atheris  # optional, not a dependency (see pyproject: ignore_missing_imports)

    atheris.instrument_all()
    atheris.Setup(sys.argv, fuzz_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
