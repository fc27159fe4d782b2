"""Key presses as tones in a real caller's audio (media/tones/dtmf_detect.py): baresip, no RFC 4733.

baresip 1.0 always offers telephone-event, so its INVITE goes through a small SIP relay here
that takes telephone-event out of the SDP, as a carrier whose trunk has no RFC 4733 does; the
answer then has none either, and RTP flows straight between baresip and the gateway. baresip
plays a WAV of key tones made with sox as its audio; the digits reach the agent (the gateway
logs each one given to it, as the RFC 4733 test of test_echo_gateway.py checks).
"""

from __future__ import annotations

import re
import select
import socket
import subprocess
import threading
from pathlib import Path
from types import TracebackType

import pytest

from sipgw.app.evaluation.gateway_process import GatewayProcess
from sipgw.media.tones.dtmf_tones import DTMF_FREQUENCIES
from tests.toolkit.peers.baresip import Baresip

pytestmark = [
    pytest.mark.interop,
    pytest.mark.timeout(90),
    pytest.mark.usefixtures("nothing_left_running"),
]

DIGITS = "159#0*"


def key_tones_wav(path: Path, digits: str, lead: float = 1.0, tail: float = 20.0) -> Path:
    """``digits`` as their tone pairs made by sox (100 ms each, 100 ms apart, about -14 dBm0 a
    tone), after ``lead`` seconds of silence and before ``tail`` (baresip hangs up when its
    file ends)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    out = ["-r", "8000", "-c", "1", "-b", "16", "-e", "signed-integer"]
    parts = []
    for n, digit in enumerate(digits):
        low, high = DTMF_FREQUENCIES[digit]
        part = path.with_name(f"{path.stem}-{n}.wav")
        subprocess.run(
            ["sox", "-c", "2", "-r", "8000", "-n", *out, str(part), "synth", "0.1", "sine",
             str(low), "sine", str(high), "remix", "-", "vol", "0.2", "pad", "0", "0.1"],
            check=True, timeout=30,
        )  # fmt: skip
        parts.append(str(part))
    subprocess.run(["sox", *parts, str(path), "pad", str(lead), str(tail)], check=True, timeout=30)
    return path


class TelephoneEventStripper:
    """A SIP relay on 127.0.0.1 that forwards a peer's requests to the gateway with
    telephone-event taken out of their SDP, and the gateway's replies back to the peer."""

    def __init__(self, gateway: tuple[str, int]) -> None:
        self.gateway = gateway
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.peer: tuple[str, int] | None = None
        self.stripped = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> TelephoneEventStripper:
        self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self.sock.close()

    def _run(self) -> None:
        while not self._stop.is_set():
            readable, _, _ = select.select([self.sock], [], [], 0.1)
            if not readable:
                continue
            data, source = self.sock.recvfrom(65535)
            if source == self.gateway:
                if self.peer is not None:
                    self.sock.sendto(data, self.peer)
            else:
                self.peer = source
                self.sock.sendto(self.strip(data), self.gateway)

    def strip(self, message: bytes) -> bytes:
        head, sep, body = message.partition(b"\r\n\r\n")
        types = re.findall(rb"a=rtpmap:(\d+) telephone-event/", body)
        if not sep or not types:
            return message
        lines = []
        for line in body.split(b"\r\n"):
            if any(
                line.startswith(b"a=%s:%s " % (a, pt)) for pt in types for a in (b"rtpmap", b"fmtp")
            ):
                continue
            if line.startswith(b"m=audio "):
                fields = line.split(b" ")
                line = b" ".join(fields[:3] + [f for f in fields[3:] if f not in types])
            lines.append(line)
        body = b"\r\n".join(lines)
        head = re.sub(
            rb"(?im)^(content-length|l)[ \t]*:[ \t]*\d+", rb"Content-Length: %d" % len(body), head
        )
        self.stripped += 1
        return head + sep + body


def test_baresip_key_tones_without_telephone_event_reach_the_agent(tmp_workdir: Path) -> None:
    wav = key_tones_wav(tmp_workdir / "audio" / "keys.wav", DIGITS)
    with (
        GatewayProcess(tmp_workdir, extra_args=["--log-level", "DEBUG"]) as gw,
        TelephoneEventStripper(gw.address) as relay,
        Baresip(tmp_workdir, "a", user="a", source_wav=wav) as caller,
    ):
        caller.dial(f"sip:echo@127.0.0.1:{relay.port}")
        caller.wait_event("CALL_ESTABLISHED", 5)
        for digit in DIGITS:
            gw.wait_log(rf"DTMF {re.escape(digit)} \(in-band tones\)", 8)
        caller.hangup()
        caller.wait_event("CALL_CLOSED", 5)
        assert relay.stripped >= 1
        log = gw.log_text()
        heard = re.findall(r"DTMF (\S) \(([^)]*)\)", log)
        assert heard == [(digit, "in-band tones") for digit in DIGITS], heard
        assert "telephone-event" not in "".join(re.findall(r"media: .*", log))
        assert gw.stop() == 0
