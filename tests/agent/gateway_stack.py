"""What the in-process end-to-end tests of both AI agents share: the gateway running an
agent, a scripted phone calling it, its call record, keypad digits as RFC 4733 events.

``tests/agent/assistant/test_agent.py`` (the pipeline against its three fakes) and
``tests/agent/s2s/stack.py`` (the speech-to-speech agents against theirs) extend
:class:`GatewayStack` with their services.
"""

from __future__ import annotations

import asyncio
import json
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sipgw.app.evaluation.phone import Phone, sdp_audio_port
from sipgw.media.rtp import RtpPacket
from sipgw.sip.message import SipResponse


@dataclass
class GatewayStack:
    """A gateway answering with one agent, and where that agent writes its call records."""

    gateway: Any
    new_caller: Any
    records: Path

    async def call(self, extra: Sequence[str] = ()) -> tuple[Phone, SipResponse, Phone]:
        """A call: the phone as SIP caller (``extra`` header lines in its INVITE), the
        answer, the same phone sending audio."""
        caller = await self.new_caller()
        ok = await caller.invite(extra=extra)
        assert ok.status == 200, ok
        return caller, ok, caller.start_audio()

    def record(self) -> list[dict[str, Any]]:
        """The (one) call's record, line by line."""
        (path,) = self.records.glob("*.jsonl")
        return [json.loads(line) for line in path.read_text().splitlines()]

    def lines(self, kind: str) -> list[dict[str, Any]]:
        """The record's lines of one type."""
        return [line for line in self.record() if line["type"] == kind]


async def send_digits(caller: Phone, ok: SipResponse, events: Sequence[int]) -> None:
    """Keypad digits as RFC 4733 events (10 = *, 11 = #), each 80 ms with three ends."""
    remote = ("127.0.0.1", sdp_audio_port(ok))
    for n, digit in enumerate(events):
        for k, end in enumerate([False, True, True, True]):
            payload = struct.pack("!BBH", digit, (0x80 if end else 0) | 10, 160 * (k + 1))
            packet = RtpPacket(
                payload_type=101,
                sequence_number=9000 + 10 * n + k,
                timestamp=90000 + 8000 * n,
                ssrc=0x5EED,
                payload=payload,
            )
            caller.rtp.sendto(packet.serialize(), remote)
            await asyncio.sleep(0.02)
