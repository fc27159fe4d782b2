"""What the gateway tells a stranger about itself: nothing that names it, by default.

Issue 39: every response said ``Server: sipgw/0.1.0`` (over TCP to strangers too), the
challenge ``realm="sipgw"``, the SDP ``o=sipgw``/``s=sipgw``: a scanner knew the product
and its version, so which flaws to try. Now by default no Server or User-Agent header, the
realm ``sip``, and ``o=-``/``s=-`` (RFC 4566 §5.2, §5.3); an operator whose trunk wants
them sets ``SIPGW_USER_AGENT``, ``SIPGW_INBOUND_REALM``, ``SIPGW_SDP_USERNAME`` and
``SIPGW_SDP_SESSION_NAME``. A real gateway in process, a phone on 127.0.0.1 (allowed),
a stranger on 127.0.0.2 (challenged: inbound users are configured).
"""

from __future__ import annotations

import asyncio
import random
from typing import Any

import pytest

from sipgw import __version__
from sipgw.app.security.access import AccessConfig
from sipgw.sip.message import SipResponse, parse_message
from tests.toolkit.gateway_in_process import running_gateway

CONFIGURED: dict[str, Any] = {
    "user_agent": "acme-voice/2",
    "sdp_username": "acme",
    "sdp_session_name": "Acme call",
}


def request(method: str, port: int, transport: str, source: str, body: str = "") -> bytes:
    tag = f"{random.getrandbits(32):08x}"
    lines = [
        f"{method} sip:agent@127.0.0.1:{port} SIP/2.0",
        f"Via: SIP/2.0/{transport} {source}:5060;branch=z9hG4bK{tag};rport",
        "Max-Forwards: 70",
        f"From: <sip:bob@{source}>;tag={tag}",
        "To: <sip:agent@127.0.0.1>",
        f"Call-ID: fp-{tag}",
        f"CSeq: 1 {method}",
        f"Contact: <sip:bob@{source}:5060>",
        *(["Content-Type: application/sdp"] if body else []),
        f"Content-Length: {len(body)}",
    ]
    return ("\r\n".join(lines) + "\r\n\r\n" + body).encode()


async def over_tcp(port: int, data: bytes, source: str) -> bytes:
    """``data`` over a TCP connection from ``source``; the first final response."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=(source, 0))
    try:
        writer.write(data)
        while True:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5.0)
            response = parse_message(head)
            length = int(response.headers.get("Content-Length") or 0)
            body = await reader.readexactly(length)
            if isinstance(response, SipResponse) and response.status >= 200:
                return head + body
    finally:
        writer.close()


def named(data: bytes) -> list[str]:
    """What in ``data`` names the software or its version."""
    text = data.decode(errors="replace")
    found = [word for word in ("sipgw", __version__, "Server:", "User-Agent:") if word in text]
    return found


@pytest.mark.parametrize("configured", [False, True], ids=["default", "configured"])
async def test_responses_challenges_and_sdp_name_nothing_unless_configured(
    configured: bool,
) -> None:
    realm = "acme.example" if configured else AccessConfig().realm
    access = AccessConfig(allow_from=("127.0.0.1/32",), users=(("alice", "pw"),), realm=realm)
    settings: dict[str, Any] = CONFIGURED if configured else {}
    async with running_gateway(access=access, **settings) as (gateway, new_phone):
        port = gateway.sip.listening[0][2]
        phone = await new_phone()
        phone.send(request("OPTIONS", port, "UDP", "127.0.0.1").replace(
            b":5060;branch", f":{phone.sip_port};branch".encode()
        ))  # fmt: skip
        options_udp = await phone.expect(lambda m: isinstance(m, SipResponse))
        stranger = "127.0.0.2"
        options_tcp = await over_tcp(port, request("OPTIONS", port, "TCP", stranger), stranger)
        challenge = await over_tcp(
            port, request("INVITE", port, "TCP", "127.0.0.2", phone.sdp()), "127.0.0.2"
        )
        answered = await phone.invite()
        await phone.hang_up()
    assert isinstance(options_udp, SipResponse) and options_udp.status == 200
    assert options_tcp.startswith(b"SIP/2.0 200 ") and challenge.startswith(b"SIP/2.0 401 ")
    assert answered.status == 200
    sdp = answered.body.decode()
    wire = [options_udp.serialize(), options_tcp, challenge, answered.serialize()]
    if not configured:
        assert [named(data) for data in wire] == [[], [], [], []]
        assert b'realm="sip"' in challenge
        assert "\r\no=- " in sdp and "\r\ns=-\r\n" in sdp
    else:
        assert options_udp.headers.get("Server") == "acme-voice/2"
        assert b"\r\nServer: acme-voice/2\r\n" in options_tcp
        assert answered.headers.get("Server") == "acme-voice/2"
        assert b'realm="acme.example"' in challenge
        assert "\r\no=acme " in sdp and "\r\ns=Acme call\r\n" in sdp
