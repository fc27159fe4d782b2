"""atheris harness for SIPREC metadata (RFC 7865) and recording sessions' bodies.

Invariant: ``parse_metadata`` returns an ``RsMetadata`` or raises ``RemoteProtocolError``
(status hint 400), never anything else; what it returns answers ``sender_of`` for any label
and merges with itself (``updated``); the body's metadata part is found or not, never an
error (``sipgw.sip.body.body_part`` through ``recording_metadata``).

Run: ``python tests/fuzz/fuzz_rsmetadata.py -atheris_runs=200000 [corpus_dir]``
"""

from __future__ import annotations

import sys

from sipgw.sip.errors import RemoteProtocolError
from sipgw.sip.message import SipRequest, parse_message
from sipgw.sip.rsmetadata import parse_metadata
from sipgw.sip.srs import recording_metadata

SEEDS = [
    b'<?xml version="1.0" encoding="UTF-8"?>\n'
    b'<recording xmlns="urn:ietf:params:xml:ns:recording:1"><datamode>complete</datamode>'
    b'<participant participant_id="p1"><nameID aor="sip:alice@a.example"><name>Alice</name>'
    b'</nameID></participant><stream stream_id="s1" session_id="x"><label>96</label></stream>'
    b'<participantstreamassoc participant_id="p1"><send>s1</send><recv>s2</recv>'
    b"</participantstreamassoc></recording>",
    b'<recording xmlns="urn:ietf:params:xml:ns:recording:1"><datamode>partial</datamode>'
    b'<participant id="p2"><aor>sip:b@b.example</aor><send>s2</send></participant>'
    b'<stream id="s2"><label>97</label></stream></recording>',
]
_HEAD = (
    b"INVITE sip:rec@192.0.2.1 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.9;branch=z9hG4bKf\r\n"
    b"From: <sip:src@192.0.2.9>;tag=1\r\nTo: <sip:rec@192.0.2.1>\r\nCall-ID: f@x\r\n"
    b"CSeq: 1 INVITE\r\nContent-Type: multipart/mixed;boundary=b\r\n"
)


def fuzz_one_input(data: bytes) -> None:
    """Run one fuzz input; raise only on a bug."""
    try:
        metadata = parse_metadata(data)
    except RemoteProtocolError as exc:
        if exc.status_hint != 400:
            raise AssertionError(f"status hint {exc.status_hint}") from exc
    else:
        for label in ("96", "97", ""):
            metadata.sender_of(label)
        metadata.updated(metadata)
    body = b"--b\r\nContent-Type: application/rs-metadata+xml\r\n\r\n" + data + b"\r\n--b--\r\n"
    message = parse_message(_HEAD + b"Content-Length: %d\r\n\r\n" % len(body) + body)
    assert isinstance(message, SipRequest)
    recording_metadata(message)


def main() -> None:
    """Entry point for atheris."""
    import atheris  # optional, not a dependency (see pyproject: ignore_missing_imports)

    atheris.instrument_all()
    atheris.Setup(sys.argv, fuzz_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
