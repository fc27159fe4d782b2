"""Attacks on the shipped Kamailio config (docker/kamailio/kamailio.cfg), run by a real Kamailio.

Issue 21: the config relayed any in-dialog-looking request (``loose_route``, any ACK or BYE)
from anyone, with no sanity, pike or permissions checks, while the docs told operators to
put Kamailio's address in ``--allow-from``: behind it every internet INVITE arrived from an
allowed source. Measured on the old config: a stranger's INVITE was dispatched to a
gateway; a BYE, ACK or re-INVITE with a foreign Route went wherever the Route pointed (an
open relay); a flood of 200 INVITEs from one address reached the gateways.

Kamailio runs the shipped file as ``test_dispatcher.py`` starts it, in front of one
scripted gateway that answers the dispatcher's probes; the trunk is 127.0.0.1, the
stranger 127.0.0.66, the victim of the relay a listening socket on 127.0.0.77. What the
modules do is what Kamailio's documentation says: permissions' address file
(https://www.kamailio.org/docs/modules/5.5.x/modules/permissions.html, "address_file",
"allow_source_address", section 6 "Address File Format"), pike and htable as in Kamailio's
own default kamailio.cfg (route[REQINIT], WITH_ANTIFLOOD), sanity_check("17895", "7") as
there too, dispatcher's ds_is_from_list, rr's loose_route (RFC 3261 16.12: it follows the
topmost Route, ours or not, hence the check that it names this proxy, 16.4).
"""

from __future__ import annotations

import re
import signal
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from sipgw.app.evaluation.ports import free_port
from sipgw.app.evaluation.process import ManagedProcess
from sipgw.sip.message import SipRequest, make_response, parse_message
from tests.interop.test_dispatcher import start_dispatcher
from tests.toolkit.waiting import wait_for

pytestmark = [pytest.mark.timeout(90), pytest.mark.usefixtures("nothing_left_running")]

TRUNK = "127.0.0.1"
STRANGER = "127.0.0.66"
VICTIM = "127.0.0.77"


class Listener:
    """A UDP socket that keeps what it receives; as a gateway it answers OPTIONS with 200."""

    def __init__(self, host: str, answer_options: bool = False) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((host, 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.answer_options = answer_options
        self.received: list[bytes] = []
        self.probes_answered = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                data, addr = self.sock.recvfrom(65535)
            except OSError:
                continue
            message = None
            try:
                message = parse_message(data)
            except Exception:
                pass
            if isinstance(message, SipRequest) and message.method == "OPTIONS":
                if self.answer_options:
                    self.sock.sendto(make_response(message, 200).serialize(), addr)
                    self.probes_answered += 1
                continue
            self.received.append(data)

    def methods(self) -> list[str]:
        return [data.split(b" ", 1)[0].decode(errors="replace") for data in self.received]

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self.sock.close()


def request(
    method: str,
    source: socket.socket,
    uri: str,
    *,
    to_tag: str = "",
    route: str = "",
    n: int = 1,
    cseq: str = "",
) -> bytes:
    host, port = source.getsockname()
    lines = [
        f"{method} {uri} SIP/2.0",
        f"Via: SIP/2.0/UDP {host}:{port};branch=z9hG4bK{method.lower()}{n};rport",
        "Max-Forwards: 70",
        f"From: <sip:attacker@{host}>;tag=a{n}",
        "To: <sip:agent@sipgw>" + (f";tag={to_tag}" if to_tag else ""),
        f"Call-ID: attack-{method.lower()}-{n}@{host}",
        f"CSeq: {cseq or f'1 {method}'}",
        f"Contact: <sip:attacker@{host}:{port}>",
    ]
    if route:
        lines.append(f"Route: {route}")
    lines.append("Content-Length: 0")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


@contextmanager
def kamailio_in_front(tmp_workdir: Path) -> Iterator[tuple[ManagedProcess, int, Listener]]:
    """The shipped config in front of one scripted gateway (both list entries point at it)."""
    gateway = Listener(TRUNK, answer_options=True)
    kam, port = start_dispatcher(tmp_workdir, [gateway.port, free_port()], TRUNK)
    try:
        # Kamailio's first probe answered marks the gateway up (a fixed 1.5 s was too
        # short for a slow start on a loaded machine)
        wait_for(lambda: gateway.probes_answered, 10, kam.log_tail)
        yield kam, port, gateway
    finally:
        kam.send_signal(signal.SIGTERM)
        if kam.wait(5) is None:
            kam.kill()
        gateway.close()


def logged(kam: ManagedProcess, text: str, within: float = 5.0) -> bool:
    """``text`` is in Kamailio's log, or comes within ``within`` s (its lines reach the harness
    in bursts: the dispatcher tests were caught reading them too early)."""
    return kam.lines.search(re.escape(text), within) is not None


def sender(host: str) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((host, 0))
    sock.settimeout(0.5)
    return sock


def replies(sock: socket.socket, wait: float = 1.0) -> list[int]:
    statuses = []
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        try:
            data, _ = sock.recvfrom(65535)
        except OSError:
            continue
        if data.startswith(b"SIP/2.0 "):
            statuses.append(int(data.split(b" ", 2)[1]))
    return statuses


@pytest.mark.parametrize("method", ["BYE", "ACK", "INVITE"])
@pytest.mark.parametrize("who", [TRUNK, STRANGER])
def test_an_in_dialog_request_with_a_foreign_route_is_not_relayed(
    tmp_workdir: Path, method: str, who: str
) -> None:
    """Before: relayed to the Route's address (an open relay), from anyone."""
    victim = Listener(VICTIM)
    with kamailio_in_front(tmp_workdir) as (kam, port, gateway), sender(who) as sock:
        target = f"sip:victim@{VICTIM}:{victim.port}"
        route = f"<sip:{VICTIM}:{victim.port};lr>"
        sock.sendto(request(method, sock, target, to_tag="x", route=route), (TRUNK, port))
        answered = replies(sock)
        time.sleep(0.5)
        assert victim.received == [], f"{method} relayed to the victim"
        assert gateway.received == []
        if who == TRUNK and method != "ACK":
            assert answered == [404]  # a trunk learns why; an ACK gets no reply
        if who == STRANGER:
            assert answered == []  # a stranger learns nothing
            assert logged(kam, f"dropped {method} from {STRANGER}"), kam.log_tail()
    victim.close()


def test_a_strangers_invite_reaches_no_gateway(tmp_workdir: Path) -> None:
    """Before: dispatched to a gateway, which saw it come from Kamailio (an allowed source)."""
    with kamailio_in_front(tmp_workdir) as (kam, port, gateway), sender(STRANGER) as sock:
        sock.sendto(request("INVITE", sock, f"sip:agent@{TRUNK}:{port}"), (TRUNK, port))
        assert replies(sock) == []
        assert gateway.methods() == []
        assert logged(kam, f"dropped INVITE from {STRANGER}"), kam.log_tail()
        with sender(TRUNK) as trunk:  # the trunk's INVITE still goes through
            trunk.sendto(request("INVITE", trunk, f"sip:agent@{TRUNK}:{port}", n=2), (TRUNK, port))
            deadline = time.monotonic() + 5
            while "INVITE" not in gateway.methods() and time.monotonic() < deadline:
                time.sleep(0.05)
        assert gateway.methods().count("INVITE") == 1


def test_a_flood_from_one_address_is_banned_by_pike(tmp_workdir: Path) -> None:
    """200 INVITEs from one stranger: one ban line, a few notices, nothing reaches a gateway."""
    with kamailio_in_front(tmp_workdir) as (kam, port, gateway), sender(STRANGER) as sock:
        for n in range(200):
            sock.sendto(request("INVITE", sock, f"sip:agent@{TRUNK}:{port}", n=n), (TRUNK, port))
        assert logged(kam, f"pike: banning {STRANGER}"), kam.log_tail()
        time.sleep(1.0)
        log = kam.log_text()
        # One ban (a line per UDP worker at most: they race on the first burst) ...
        assert 1 <= log.count(f"pike: banning {STRANGER}") <= 4
        # ... after about PIKE_DENSITY (16) logged drops: the rest of the 200 pass unlogged.
        assert log.count(f"dropped INVITE from {STRANGER}") <= 32
        assert gateway.methods() == [] and replies(sock, 0.2) == []


def test_a_malformed_request_from_a_trunk_is_dropped(tmp_workdir: Path) -> None:
    with kamailio_in_front(tmp_workdir) as (kam, port, gateway), sender(TRUNK) as sock:
        bad = request("INVITE", sock, f"sip:agent@{TRUNK}:{port}", cseq="1 BYE")  # CSeq method
        sock.sendto(bad, (TRUNK, port))
        time.sleep(0.5)
        assert gateway.methods() == []
        assert logged(kam, "dropped a malformed INVITE"), kam.log_tail()
