"""atheris harness for the SIP parser and stream framer.

The invariant, as in h11's and websockets' harnesses: the input either parses,
or raises ``MessageParseError``; any other exception is a bug. The first input
byte picks the mode: even = one UDP datagram (``parse_message``), odd = a TCP
stream fed to ``sipgw.sip.framing.StreamConnection`` in chunks of ``(byte >> 1) + 1``
octets (1 = one byte at a time), each framed message then checked like a
datagram; the framer itself must never raise. A parsed message must also
serialize and parse again, and a ``partial`` request must be answerable with
``make_response``.

Run (atheris is optional, ``pip install atheris``)::

    python tests/fuzz/fuzz_sip_parser.py -atheris_runs=100000 [corpus_dir]

Without atheris the module still imports; ``fuzz_one_input`` is also run over
seed inputs by ``tests/sipgw/sip/test_message.py``.
"""

from __future__ import annotations

import sys

from sipgw.sip.errors import MessageParseError
from sipgw.sip.framing import FramingFailed, FramingLimits, MessageFramed, StreamConnection
from sipgw.sip.message import RequestParseError, SipMessage, make_response, parse_message


def _check(msg: SipMessage) -> None:
    wire = msg.serialize()
    if parse_message(wire).serialize() != wire:
        raise AssertionError("serialize/parse round trip is not stable")


def _datagram(data: bytes) -> None:
    try:
        msg = parse_message(data)
    except RequestParseError as exc:
        make_response(exc.partial, exc.status_hint, to_tag="fuzz").serialize()
        return
    except MessageParseError:
        return
    _check(msg)


def _stream(data: bytes, chunk: int) -> None:
    conn = StreamConnection(FramingLimits(max_header_size=4096, max_body_size=8192))
    for i in range(0, len(data), chunk):
        conn.receive_data(data[i : i + chunk])
        while (event := conn.next_event()) is not None:
            if isinstance(event, FramingFailed):
                return
            if isinstance(event, MessageFramed):
                _datagram(event.data)


def fuzz_one_input(data: bytes) -> None:
    """Run one fuzz input; raise only on a bug."""
    if not data:
        return
    mode, payload = data[0], data[1:]
    if mode & 1:
        _stream(payload, (mode >> 1) + 1)
    else:
        _datagram(payload)


def main() -> None:
    """Entry point for atheris."""
    import atheris  # optional, not a dependency (see pyproject: ignore_missing_imports)

    atheris.instrument_all()
    atheris.Setup(sys.argv, fuzz_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
