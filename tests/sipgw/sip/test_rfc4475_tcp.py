"""Every RFC 4475 torture message over a real TCP connection to the endpoint: what it answers.

The expectations are test_rfc4475_ua.py's (the UAS core over UDP); only where
RFC 3261 §18.3 frames a stream differently from a datagram do they differ,
and those cases say why.
"""

from __future__ import annotations

import asyncio

import pytest

from sipgw.aio.endpoint import SipEndpoint, TransportConfig, open_sip_endpoint
from sipgw.sip.events import CallOffered, SipEvent
from sipgw.sip.framing import MessageFramed, StreamConnection
from tests.sipgw.aio.test_stream import make_ua
from tests.sipgw.sip.rfc4475_data import DATA_DIR
from tests.sipgw.sip.test_rfc4475_ua import EXPECTED

if DATA_DIR is None:  # the same data-availability rule as test_rfc4475.py
    pytest.skip("RFC 4475 messages not found (see test_rfc4475.py)", allow_module_level=True)

pytestmark = pytest.mark.timeout(30)

ON_A_STREAM: dict[str, tuple[list[int], bool, str]] = {
    "clerr": ([], False, "3.1.2.2 over TCP: Content-Length 9999, so wait for the rest"),
    "inv2543": ([400], False, "no Content-Length: fatal on a stream (§18.3), 400 then close"),
    "dblreq": (
        [405, 100],
        True,
        "on a stream the INVITE after the REGISTER is a message too; its Content-Length is "
        "short, so the rest of its body looks like a header section without Content-Length",
    ),
    "baddn": ([], False, "the message ends without the empty line: on a stream, wait for it"),
}
"""Where a stream differs from a datagram (file -> statuses, call offered, why)."""

QUIET = 0.3
"""Seconds without a byte after which the endpoint has said all it will say."""


async def exchange(name: str) -> tuple[list[int], bool, bool]:
    """Send one message on a fresh connection: statuses back, call offered, closed by us."""
    assert DATA_DIR is not None
    offered: list[SipEvent] = []
    config = TransportConfig(bind="127.0.0.1", sip_port=0, transports=("TCP",))
    endpoint: SipEndpoint = await open_sip_endpoint(
        config, make_ua, lambda e: offered.append(e) if isinstance(e, CallOffered) else None
    )
    try:
        port = endpoint.listening[0][2]
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write((DATA_DIR / f"{name}.dat").read_bytes())
        framing = StreamConnection()
        statuses: list[int] = []
        closed = False
        while True:
            try:
                data = await asyncio.wait_for(reader.read(65536), QUIET)
            except TimeoutError:
                break
            if not data:
                closed = True
                break
            framing.receive_data(data)
            while (event := framing.next_event()) is not None:
                assert isinstance(event, MessageFramed)
                statuses.append(int(event.data.split(b" ", 2)[1]))
        writer.close()
        return statuses, bool(offered), closed
    finally:
        endpoint.close()


@pytest.mark.parametrize("name", sorted(EXPECTED))
async def test_the_endpoint_answers_over_tcp_as_rfc4475_says(name: str) -> None:
    statuses, offered, why = ON_A_STREAM.get(name, EXPECTED[name])
    got, got_offered, closed = await exchange(name)
    assert got == statuses, why
    assert got_offered == offered, why
    # Framing errors (no or bad Content-Length) close the connection; nothing else does.
    assert closed == (name in ("inv2543", "ncl", "mcl01", "dblreq")), why
