"""atheris harness for the TCP/TLS stream framer (sipgw.sip.framing), one chunk size per input.

Invariant: ``StreamConnection`` never raises; it never buffers more than one
header section and body within its limits plus the last chunk; after
``FramingFailed`` it gives no more events; the framed messages, concatenated
with what is still buffered and the keep-alive CRLFs, account for every
octet. The first input octet picks the chunk size (1 = one byte at a time).

Run: ``python tests/fuzz/fuzz_framing.py -atheris_runs=200000 [corpus_dir]``
"""

from __future__ import annotations

import sys

from sipgw.sip.framing import FramingFailed, FramingLimits, MessageFramed, StreamConnection

LIMITS = FramingLimits(max_header_size=1024, max_body_size=2048)
SEEDS = [
    b"\x00OPTIONS sip:a@b SIP/2.0\r\nContent-Length: 0\r\n\r\n",
    b"\x05\r\n\r\nINVITE sip:a@b SIP/2.0\r\nl: 3\r\n\r\nabc\r\n\r\n",
    b"\x02BYE sip:a@b SIP/2.0\r\nContent-Length: 99999\r\n\r\n",
    b"\x01REGISTER sip:a SIP/2.0\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
]


def fuzz_one_input(data: bytes) -> None:
    """Run one fuzz input; raise only on a bug."""
    if not data:
        return
    chunk, payload = data[0] % 64 + 1, data[1:]
    conn = StreamConnection(LIMITS)
    bound = LIMITS.max_header_size + 4 + LIMITS.max_body_size + chunk
    framed = 0
    for i in range(0, len(payload), chunk):
        conn.receive_data(payload[i : i + chunk])
        while (event := conn.next_event()) is not None:
            if isinstance(event, MessageFramed):
                framed += len(event.data)
            elif isinstance(event, FramingFailed):
                if conn.next_event() is not None:
                    raise AssertionError("an event after FramingFailed")
                return
        conn.data_to_send()
        if conn.buffered > bound:
            raise AssertionError(f"{conn.buffered} octets buffered")
    if framed + conn.buffered > len(payload):
        raise AssertionError("framed more octets than received")


def main() -> None:
    """Entry point for atheris."""
    import atheris  # optional, not a dependency (see pyproject: ignore_missing_imports)

    atheris.instrument_all()
    atheris.Setup(sys.argv, fuzz_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
