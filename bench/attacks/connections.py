"""Attacks on the TCP and TLS listeners: locking out the trunk, stalled handshakes, keep-alives."""

from __future__ import annotations

import asyncio
import tempfile
import time
from typing import Any

from bench.attacks.common import forged_request, gateway_on_loop, statuses
from sipgw.app.security.access import AccessConfig
from tests.toolkit.tls import make_ca, make_server_cert

__all__ = ["crlf_keepalive", "lockout", "tls_handshakes"]

Stream = tuple[asyncio.StreamReader, asyncio.StreamWriter]


async def _connect(port: int, source: str) -> Stream | None:
    try:
        return await asyncio.open_connection("127.0.0.1", port, local_addr=(source, 0))
    except OSError:
        return None


async def _open(streams: list[Stream | None], settle: float = 0.5) -> int:
    """How many of ``streams`` the server still holds open after ``settle`` seconds."""
    await asyncio.sleep(settle)

    async def alive(stream: Stream | None) -> bool:
        if stream is None:
            return False
        try:
            return await asyncio.wait_for(stream[0].read(1), 0.05) != b""
        except TimeoutError:
            return True  # nothing to read and not closed
        except OSError:
            return False

    return sum(await asyncio.gather(*(alive(s) for s in streams)))


def _close(streams: list[Stream | None]) -> None:
    for stream in streams:
        if stream is not None:
            stream[1].close()


async def lockout(strangers: int = 32, per_stranger: int = 32) -> dict[str, Any]:
    """``strangers`` addresses open ``per_stranger`` connections each; then the trunk calls.

    The trunk is 127.0.0.1, the only address in ``--allow-from``; the strangers are
    127.0.2.x and send nothing. Default caps (32 per address, 1,024 in all).
    """
    access = AccessConfig(allow_from=("127.0.0.1",))
    async with gateway_on_loop(access=access, transports=("UDP", "TCP")) as gateway:
        port = gateway.ua.config.sip_port
        streams: list[Stream | None] = []
        for n in range(strangers):
            streams += await asyncio.gather(
                *(_connect(port, f"127.0.2.{n + 1}") for _ in range(per_stranger))
            )
        held = await _open(streams)
        trunk = await _connect(port, "127.0.0.1")
        answered: list[str] = []
        if trunk is not None:
            source, target = trunk[1].get_extra_info("sockname"), ("127.0.0.1", port)
            for n, method in enumerate(("OPTIONS", "INVITE")):
                trunk[1].write(forged_request(method, source, target, n, transport="TCP"))
            answered = await statuses(trunk[0], 1.5)
            trunk[1].close()
        _close(streams)
    return {
        "stranger_connections": strangers * per_stranger,
        "stranger_connections_held": held,
        "trunk_statuses": answered,
        "trunk_answered": "200" in answered,
    }


async def tls_handshakes(connections: int = 64) -> dict[str, Any]:
    """One address opens ``connections`` TCP connections to the TLS port and never handshakes."""
    with tempfile.TemporaryDirectory() as pki:
        cert = make_server_cert(make_ca(pki), pki, "sipgw")
        async with gateway_on_loop(
            transports=("UDP", "TLS"), tls_port=0, tls_cert=str(cert.cert), tls_key=str(cert.key)
        ) as gateway:
            (port,) = [p for name, _, p in gateway.sip.listening if name == "TLS"]
            streams = list(
                await asyncio.gather(*(_connect(port, "127.0.0.6") for _ in range(connections)))
            )
            held = await _open(streams, settle=1.0)
            _close(streams)
    return {"stalled_handshakes": connections, "held_after_1s": held}


async def crlf_keepalive(idle_timeout: float = 2.0, watch: float = 8.0) -> dict[str, Any]:
    """A connection that sends only CRLF keep-alives, every 0.5 s, for up to ``watch`` s."""
    async with gateway_on_loop(transports=("UDP", "TCP"), tcp_idle_timeout=idle_timeout) as gw:
        stream = await _connect(gw.ua.config.sip_port, "127.0.0.8")
        assert stream is not None
        reader, writer = stream
        start = time.monotonic()
        closed_after: float | None = None
        while time.monotonic() - start < watch:
            writer.write(b"\r\n\r\n")
            try:
                while True:
                    data = await asyncio.wait_for(reader.read(1024), 0.5)
                    if not data:
                        closed_after = time.monotonic() - start
                        break
            except TimeoutError:
                pass
            except OSError:
                closed_after = time.monotonic() - start
            if closed_after is not None:
                break
        writer.close()
    return {
        "idle_timeout_s": idle_timeout,
        "watched_s": watch,
        "closed_after_s": None if closed_after is None else round(closed_after, 1),
    }
