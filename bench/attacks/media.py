"""Attacks on the media: RTP aimed at a victim, RTP bleed, guessable ports."""

from __future__ import annotations

import asyncio
import random
import struct
import time
from typing import Any

from bench.attacks.common import Counter, count_udp, gateway_on_loop, wait_for
from sipgw.app.evaluation.phone import Phone
from sipgw.app.gateway import Gateway
from sipgw.media.ports import PortAllocator

__all__ = ["bleed", "hold_rtcp", "ports", "victim"]

_RTP = struct.Struct("!BBHII")


class AimingPhone(Phone):
    """A phone whose SDP names someone else's address (``target``) and a direction."""

    def __init__(
        self,
        gateway: tuple[str, int],
        target: tuple[str, int],
        direction: str,
        rtcp_port: int | None = None,
        **kw: Any,
    ) -> None:
        super().__init__(gateway, **kw)
        self.target = target
        self.direction = direction
        self.rtcp_port = rtcp_port
        """An ``a=rtcp:`` port (RFC 3605) to name, if any."""
        self.sent_octets = 0
        """What this phone sent on SIP (the INVITE and its ACK)."""

    def send(self, data: bytes) -> float:
        self.sent_octets += len(data)
        return super().send(data)

    def sdp(self, formats: str | None = None) -> str:
        host, port = self.target
        rtcp = f"a=rtcp:{self.rtcp_port}\r\n" if self.rtcp_port is not None else ""
        return (
            f"v=0\r\no=phone 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 {host}\r\nt=0 0\r\n"
            f"m=audio {port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=ptime:20\r\n"
            f"a={self.direction}\r\n{rtcp}"
        )


def _live(gateway: Gateway, call_id: str) -> bool:
    return any(h.call.call_id == call_id for h in gateway.handles.values())


async def victim(window: float = 40.0, rtp_timeout: float = 30.0) -> dict[str, Any]:
    """Three INVITEs aim RTP at listening victims (127.0.0.9); no caller sends any RTP.

    ``sendrecv`` and ``recvonly`` offers are ACKed; ``no_ack`` never is. For ``window``
    seconds: datagrams each victim gets (and of those, RTP packets and their octets against
    what the caller sent on SIP), and when the gateway ends each call (RTP timeout
    ``rtp_timeout``, the default; the pauses are the defaults too).
    """
    async with gateway_on_loop(rtp_timeout=rtp_timeout) as gateway:
        address = ("127.0.0.1", gateway.ua.config.sip_port)
        variants = ("sendrecv", "recvonly", "no_ack")
        victims = {name: await count_udp("127.0.0.9", keep=True) for name in variants}
        phones: dict[str, AimingPhone] = {}
        started: dict[str, float] = {}
        for name in variants:
            transport, _ = victims[name]
            target = transport.get_extra_info("sockname")
            direction = "recvonly" if name == "recvonly" else "sendrecv"
            phone = phones[name] = AimingPhone(address, target, direction)
            started[name] = time.monotonic()
            if name == "no_ack":
                phone.send(phone.request("INVITE", phone.sdp()))
            else:
                await phone.invite()
        await wait_for(lambda: all(_live(gateway, p.call_id) for p in phones.values()), 5.0)
        ended: dict[str, float | None] = dict.fromkeys(variants)
        deadline = min(started.values()) + window
        while time.monotonic() < deadline:
            for name, phone in phones.items():
                if ended[name] is None and not _live(gateway, phone.call_id):
                    ended[name] = time.monotonic() - started[name]
            await asyncio.sleep(0.1)
        results: dict[str, Any] = {}
        for name in variants:
            transport, counter = victims[name]
            transport.close()
            phone = phones[name]
            acked_at = phone.answered_at if name != "no_ack" else None
            results[name] = _victim_figures(counter, started[name], acked_at, ended[name])
            rtp_octets = sum(len(data) for data in counter.data if len(data) >= 12)
            results[name]["rtp_octets"] = rtp_octets
            results[name]["caller_sip_octets"] = phone.sent_octets
            results[name]["amplification_bytes"] = round(rtp_octets / phone.sent_octets, 1)
            phone.close()
    results["window_s"] = window
    results["rtp_timeout_s"] = rtp_timeout
    return results


def _victim_figures(
    counter: Counter, started: float, acked_at: float | None, ended: float | None
) -> dict[str, Any]:
    times = counter.times
    return {
        "packets": counter.packets,
        # RTP, not the one NUL octet that opens our NAT's mapping as a call is answered
        "rtp_packets": sum(1 for data in counter.data if len(data) >= 12),
        "before_ack": sum(1 for t in times if acked_at is None or t <= acked_at),
        "first_10s": sum(1 for t in times if t - started <= 10.0),
        "last_packet_s": round(times[-1] - started, 1) if times else None,
        "call_ended_s": None if ended is None else round(ended, 1),
    }


async def hold_rtcp(window: float = 20.0) -> dict[str, Any]:
    """Calls put on hold the old way (``c=0.0.0.0``, RFC 3264 §8.4) with ``a=inactive``,
    which no RTP timeout ends: what reaches this host (127.0.0.1) for ``window`` seconds
    at the port above the SDP's RTP port, and at the port an ``a=rtcp:`` line names.
    Linux delivers a datagram sent to 0.0.0.0 to the sender's own host."""
    async with gateway_on_loop() as gateway:
        address = ("127.0.0.1", gateway.ua.config.sip_port)
        victims = {name: await count_udp("127.0.0.1") for name in ("rtp_port_plus_1", "a_rtcp")}
        phones = []
        for name, (transport, _) in victims.items():
            port = transport.get_extra_info("sockname")[1]
            if name == "a_rtcp":
                phone = AimingPhone(address, ("0.0.0.0", 9), "inactive", rtcp_port=port)
            else:
                phone = AimingPhone(address, ("0.0.0.0", port - 1), "inactive")
            phones.append(phone)
            await phone.invite()
        await asyncio.sleep(window)
        results: dict[str, Any] = {}
        for name, (transport, counter) in victims.items():
            transport.close()
            results[name] = {"datagrams": counter.packets, "octets": counter.octets}
        for phone in phones:
            await phone.hang_up()
            phone.close()
    results["window_s"] = window
    return results


def _rtp(sequence: int, ssrc: int) -> bytes:
    return _RTP.pack(0x80, 0, sequence & 0xFFFF, (160 * sequence) & 0xFFFFFFFF, ssrc) + bytes(
        [0xFF] * 160
    )


async def bleed(talk: float = 1.0, spray: float = 4.0) -> dict[str, Any]:
    """A caller talks ``talk`` seconds, then goes quiet while 127.0.0.7 sprays RTP at its port.

    For ``spray`` seconds, 50 packets a second (PCMU, the attacker's own SSRC, in sequence):
    what the sprayer receives, what the caller still receives; then the caller talks again.
    """
    async with gateway_on_loop() as gateway:
        phone = Phone(("127.0.0.1", gateway.ua.config.sip_port))
        await phone.invite()
        assert phone.remote_rtp is not None
        phone.start_audio()
        await asyncio.sleep(talk)
        await phone.stop_audio()
        heard_before = len(phone.heard)
        attacker, got = await count_udp("127.0.0.7")
        start = time.monotonic()
        n = 0
        while (elapsed := time.monotonic() - start) < spray:
            attacker.sendto(_rtp(n, 0xBAD0BAD0), phone.remote_rtp)
            n += 1
            await asyncio.sleep(max(0.0, start + n * 0.02 - time.monotonic()))
        caller_during = len(phone.heard) - heard_before
        phone.start_audio()
        await asyncio.sleep(1.0)
        (handle,) = gateway.handles.values()
        latched = handle.session.latched if handle.session is not None else None
        await phone.stop_audio()
        await phone.hang_up()
        phone.close()
        attacker.close()
    return {
        "sprayed": n,
        "attacker_received": got.packets,
        "caller_received_while_quiet": caller_during,
        "caller_expected_while_quiet": round(elapsed * 50),
        "latched_after": "caller" if latched and latched[0] == "127.0.0.1" else str(latched),
    }


async def ports(calls: int = 5) -> dict[str, Any]:
    """The RTP port of ``calls`` calls in a row (5: one caller's burst), and of 200
    allocations from the allocator with random releases in between."""
    seen: list[int] = []
    async with gateway_on_loop() as gateway:
        for _ in range(calls):
            phone = Phone(("127.0.0.1", gateway.ua.config.sip_port))
            await phone.invite()
            assert phone.remote_rtp is not None
            seen.append(phone.remote_rtp[1])
            await phone.hang_up()
            phone.close()
            await wait_for(lambda: not gateway.handles, 5.0)
    allocator = PortAllocator(10000, 20000)
    drawn = []
    for _ in range(200):
        port = allocator.allocate()
        assert port is not None
        drawn.append(port)
        if random.random() < 0.5:
            allocator.release(drawn[random.randrange(len(drawn))])
    steps = [b - a for a, b in zip(drawn, drawn[1:], strict=False)]
    return {
        "call_ports": seen,
        "call_port_steps": [b - a for a, b in zip(seen, seen[1:], strict=False)],
        "allocations": len(drawn),
        "next_port_is_previous_plus_2": sum(1 for s in steps if s == 2),
    }
