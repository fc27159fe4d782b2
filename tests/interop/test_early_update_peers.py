"""A caller's UPDATE before the gateway answers (RFC 3311 §5.1), SIPp as the caller.

``sipgw serve`` runs an agent that talks in early media
(``tests/interop/apps/early_answer_agent.py``: 183 with SDP, its tone, the 200 OK
:data:`ANSWER_AFTER` s later). SIPp calls it requiring ``100rel``
(``scenarios/uac_early_update.xml``), PRACKs its reliable 180 and 183 (which must allow
UPDATE), then updates the session in the early dialog while the tone plays: an UPDATE with a
new offer moving its media to another port, which must get a 200 with our SDP answer, then an
UPDATE without SDP with a ``Session-Expires`` (a session refresh), which must get a 200 that
starts no session timer; then the call is answered, ACKed and hung up. Where the gateway's
RTP went is read from two sockets of the test's own, the old port and the new.
"""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

import pytest

from sipgw.app.evaluation.gateway_process import GatewayProcess
from sipgw.media.rtp import RtpPacket
from tests.interop.apps.early_answer_agent import ANSWER_AFTER
from tests.toolkit.peers.sipp import SippProcess, scenario

pytestmark = [pytest.mark.timeout(60), pytest.mark.usefixtures("nothing_left_running")]

AGENT = "tests.interop.apps.early_answer_agent:make"
BEFORE_UPDATE = 1.0
"""Seconds of early media before the scenario's UPDATE (its pause after the PRACK's 200)."""
AFTER_ACK = 1.0
"""Seconds from the ACK to SIPp's BYE (its ``-d``)."""


class Arrivals:
    """A caller's RTP socket on 127.0.0.1: notes when each datagram came (monotonic clock)
    and answers each with a packet of its own, as a phone sends its RTP to where ours
    comes from (the gateway sends only to a peer that shows itself: media/liveness.py);
    with ``answer_for``, only that many seconds from the first, as a phone that moves its
    media elsewhere stops sending from here (its packets would latch the call back:
    media/latching.py, rule 2)."""

    def __init__(self, ssrc: int, answer_for: float | None = None) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port: int = self.sock.getsockname()[1]
        self.ssrc = ssrc
        self.answer_for = answer_for
        self.times: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        seq = 0
        while not self._stop.is_set():
            try:
                _, source = self.sock.recvfrom(2048)
            except TimeoutError:
                continue
            self.times.append(time.monotonic())
            if self.answer_for is not None and self.times[-1] - self.times[0] > self.answer_for:
                continue
            seq += 1
            payload = b"\xff" * 160  # μ-law silence
            packet = RtpPacket(0, seq & 0xFFFF, seq * 160, self.ssrc, payload=payload)
            self.sock.sendto(packet.serialize(), source)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self.sock.close()


def test_a_caller_moves_its_media_with_an_update_while_the_greeting_plays_as_early_media(
    tmp_workdir: Path,
) -> None:
    # the caller stops sending from the old port just before its UPDATE moves the media
    old, new = Arrivals(0x1111, answer_for=BEFORE_UPDATE - 0.3), Arrivals(0x2222)
    try:
        with GatewayProcess(tmp_workdir, agent=AGENT, allow_from="127.0.0.0/8",
                            extra_args=["--ring-time", "0"]) as gw:  # fmt: skip
            args = ["-sf", scenario("uac_early_update.xml"), gw.target, "-s", "early",
                    "-m", "1", "-d", str(int(AFTER_ACK * 1000)), "-set", "oldport", str(old.port),
                    "-set", "newport", str(new.port)]  # fmt: skip
            with SippProcess(args, timeout=30, cwd=tmp_workdir / "sipp") as sipp:
                result = sipp.wait()
            gw.wait_log(r"call ended: remote-bye", 5)
            log = gw.log_text()
            assert gw.stop() == 0
    finally:
        old.close()
        new.close()
    result.assert_ok(successful=1)  # both UPDATEs got their 200, the first with SDP
    update_ok = next(m for m in result.received(r"^SIP/2.0 200") if "CSeq: 4 UPDATE" in m)
    assert "m=audio " in update_ok and "a=sendrecv" in update_ok, update_ok
    refresh_ok = next(m for m in result.received(r"^SIP/2.0 200") if "CSeq: 5 UPDATE" in m)
    # no SDP, and no session timer before the call is answered (it starts with the call)
    assert "Content-Type" not in refresh_ok and "Session-Expires" not in refresh_ok, refresh_ok
    assert f"media updated: sendrecv to 127.0.0.1:{new.port}" in log, log
    # Early media went to the first port for the second before the UPDATE, then only to the
    # new one, through the answer to the hang-up (ANSWER_AFTER s of early media, 1 s after).
    assert len(old.times) >= 0.8 * 50 * BEFORE_UPDATE, len(old.times)
    assert new.times and max(old.times) < min(new.times), (len(old.times), len(new.times))
    after = ANSWER_AFTER - BEFORE_UPDATE + AFTER_ACK
    assert len(new.times) >= 0.8 * 50 * after, len(new.times)
    assert max(new.times) - min(new.times) >= after - 0.5, (min(new.times), max(new.times))
