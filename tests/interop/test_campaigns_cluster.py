"""Campaigns across gateways sharing a real PostgreSQL (tests/toolkit/postgres.py).

First the store alone: gateways' claims at once never take a contact twice, and the cap and
the pacing hold across them (counted in the database). Then the issue's test: two ``sipgw
serve`` processes (the assistant, on the fake AI services) on one database dial a campaign
of 200 contacts, through a Kamailio (the trunk's proxy: record-routed, both gateways'
calls through it), on four baresips: people who say "Hello?", phones always busy (486),
phones nobody answers, voicemail greetings with a beep (made with espeak-ng), and a few
people in a time zone where the calling hours are closed. The campaign asks for
answering-machine detection (``leave_message``, its own message) and retries every
outcome, voicemail included. One gateway is SIGKILLed halfway, during a call; the other
runs the campaign to its end.

Checked from the wire (:class:`~tests.toolkit.wire.UdpCapture`: every SIP message to and
from the proxy, on both legs, and the RTP both ways between the voicemail and the gateways,
in the kernel's order and with its times, so a loaded machine's late reading changes
nothing): no contact called twice at once, nor again once done; none lost; each retried as
configured (the number of calls and the delay before each retry); the campaign's cap held by
the cluster; the closed contacts never called; every voicemail got the message after its
greeting (both timed on the wire), whole; the call the crash cut retried by the campaign's
rules.
"""

from __future__ import annotations

import collections
import csv
import io
import itertools
import random
import re
import socket
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from sipgw.app.evaluation.audio import tone_share, write_wav
from sipgw.app.evaluation.gateway_process import GatewayProcess
from sipgw.app.evaluation.ports import PortRange, free_port, free_port_range
from sipgw.app.evaluation.process import running_processes
from sipgw.media.rtp import RtpPacket
from sipgw.sip.errors import MessageParseError
from sipgw.sip.message import SipRequest, parse_message
from tests.interop.test_campaigns_peers import (
    HOLDER,
    TOKEN,
    accounts,
    api,
    hold_every_account,
    wait_until,
)
from tests.toolkit.amdset.channel import scale_to, tone
from tests.toolkit.amdset.labelled import speak
from tests.toolkit.amdset.speech import RATE, Voice
from tests.toolkit.fakes.threaded import ThreadedFakes, fakes_in_threads
from tests.toolkit.peers.baresip import Baresip
from tests.toolkit.peers.kamailio import Kamailio
from tests.toolkit.postgres import PostgresServer
from tests.toolkit.wire import Datagram, UdpCapture

pytestmark = [pytest.mark.timeout(240), pytest.mark.usefixtures("nothing_left_running")]


@pytest.fixture(scope="module")
def server() -> Iterator[PostgresServer]:
    with PostgresServer() as running:
        yield running


# -- the test: two `sipgw serve`, real callees, a crash ---------------------------

PEOPLE, BUSY, NOBODY, VOICEMAIL = 60, 70, 45, 20
"""Contacts per kind of callee: people who say "Hello?" and hang up, phones always busy
(486), phones nobody answers, voicemail greetings with a beep; and :data:`CLOSED` more."""
CLOSED = 5
"""People twelve hours ahead of UTC, where the calling hours are closed."""
CALLEES = PEOPLE + BUSY + NOBODY + VOICEMAIL
CAMPAIGN = CALLEES + CLOSED  # 200
MAX_ATTEMPTS = 2
CONCURRENCY = 25
PER_SECOND = 30.0
RETRY = 0.5
"""Seconds before every retry (busy, no answer, failed, voicemail)."""
RING = 1.0
"""The campaign's ring timeout: a no-answer call lasts this long."""
OPENING_HZ, MESSAGE_HZ = 1300, 900
"""The fake TTS speaks the opening and the voicemail message as these tones."""
OPENING = "Hi {who}, this is a reminder from the clinic."
MESSAGE = "Please call us back."
GREETING = "You reached Ana, leave a message after the tone."
PERSON_CALL = 1.3
"""Seconds a person's call lasts: their file, whose end hangs up."""
RECORDING = 4.0
"""Seconds a voicemail records after its beep: then its file ends, and with it the call
(baresip hangs up). The campaign's message must be whole within them, on the voicemail's
clock: the peer's bound, not one of the gateway's."""
LONGEST_CALL = 9.0
"""The gateways' --max-call-seconds: longer than a voicemail's whole file (its greeting,
beep and :data:`RECORDING`, about 7.5 s), so that the voicemail ends its calls, not this cap
(at 6 s it cut messages a loaded machine's TTS sent late, and the test blamed the gateway)."""


@dataclass(frozen=True)
class Voicemail:
    """What the voicemail callees play: a greeting, then a beep, then silence."""

    wav: Path
    speech_end: float
    beep_end: float


def _person_wav(path: Path) -> Path:
    """0.1 s of silence, "Hello?", then quiet: the file ends at :data:`PERSON_CALL`, and
    with it the call (baresip's aufile hangs up at the end of its source)."""
    spoken = speak("Hello?", Voice("en-us", 165, 45), random.Random(1), start=0.1)
    samples = [0.0] * round(0.1 * RATE) + scale_to(spoken.samples, -20.0)
    samples += [0.0] * (round(PERSON_CALL * RATE) - len(samples))
    return write_wav(path, [round(v) for v in samples])


def _voicemail_wav(path: Path) -> Voicemail:
    """A greeting (2 s of speech), a 1 kHz beep, then :data:`RECORDING` s of silence for
    the message."""
    spoken = speak(GREETING, Voice("en-us", 165, 45), random.Random(2), start=0.1)
    samples = [0.0] * round(0.1 * RATE) + scale_to(spoken.samples, -20.0)
    samples += [0.0] * round(0.3 * RATE)
    samples += tone(1000.0, 0.4, -18.0)
    beep_end = len(samples) / RATE
    samples += [0.0] * round(RECORDING * RATE)
    assert len(samples) / RATE < LONGEST_CALL - 1.0  # the voicemail hangs up first
    write_wav(path, [round(v) for v in samples])
    return Voicemail(path, spoken.spans[-1][1], beep_end)


@dataclass
class Callees:
    """The four baresips (each contact an account of one), the voicemail's recording."""

    people: Baresip
    busy: Baresip
    nobody: Baresip
    voicemail: Baresip
    voicemail_rtp: PortRange
    played: Voicemail

    @property
    def all(self) -> tuple[Baresip, Baresip, Baresip, Baresip]:
        return self.people, self.busy, self.nobody, self.voicemail

    def kind(self, port: int) -> str:
        return {b.sip_port: b.name for b in self.all}[port]


@pytest.fixture
def callees(tmp_workdir: Path) -> Iterator[Callees]:
    long_ring = {"call_local_timeout": "600"}  # the held calls ring all along
    people = Baresip(tmp_workdir, "people", user="p0",
                     account=accounts([f"p{i}" for i in range(PEOPLE + CLOSED)],
                                      ";answermode=auto"),
                     source_wav=_person_wav(tmp_workdir / "hello.wav"),
                     extra_config={"call_max_calls": "60"},
                     rtp_ports=free_port_range(120))  # fmt: skip
    busy_users = [f"b{i}" for i in range(BUSY)]
    busy = Baresip(tmp_workdir, "busy", user="b0", account=accounts(busy_users, ""),
                   extra_config={"call_max_calls": "1", **long_ring},
                   # baresip tries random ports of its range: with a pair for each of
                   # BUSY calls in 2 * BUSY + 10 it ran out of tries ("rtp_listen failed:
                   # Address already in use", about 1 run in 17); four times wider
                   rtp_ports=free_port_range(8 * BUSY + 10))  # fmt: skip
    nobody = Baresip(tmp_workdir, "nobody", user="n0",
                     account=accounts([f"n{i}" for i in range(NOBODY)] + [HOLDER], ""),
                     extra_config={"call_max_calls": str(BUSY + 60), **long_ring},
                     rtp_ports=free_port_range(2 * BUSY + 120))  # fmt: skip
    played = _voicemail_wav(tmp_workdir / "voicemail.wav")
    voicemail_rtp = free_port_range(120)
    voicemail = Baresip(tmp_workdir, "voicemail", user="v0",
                        account=accounts([f"v{i}" for i in range(VOICEMAIL)], ";answermode=auto"),
                        source_wav=played.wav, extra_config={"call_max_calls": "60"},
                        rtp_ports=voicemail_rtp)  # fmt: skip
    with people, busy, nobody, voicemail:
        hold_every_account(busy, nobody, busy_users)
        yield Callees(people, busy, nobody, voicemail, voicemail_rtp, played)
    for process in running_processes():
        process.kill()


@pytest.fixture
def services(tmp_workdir: Path) -> Iterator[ThreadedFakes]:
    with fakes_in_threads(
        tmp_workdir, {"reminder": OPENING_HZ, "call us back": MESSAGE_HZ}
    ) as fakes:
        fakes.stt.default_transcript = ""  # no words: detection hears the audio alone
        yield fakes


def _window() -> tuple[str, str]:
    """Calling hours open now in UTC (and UTC+1), closed twelve hours ahead."""
    hour = datetime.now(UTC).hour
    return f"{(hour - 2) % 24:02d}:00-{(hour + 3) % 24:02d}:00", "Etc/GMT-12"


@dataclass
class WireCall:
    """One call from a gateway to a callee, from the SIP on the wire (kernel times)."""

    call_id: str
    user: str
    """The contact: the Request-URI's user (an account of its callee)."""
    callee: int
    """The callee's SIP port."""
    gateway: int
    """The gateway's SIP port."""
    invited: float
    gateway_rtp: int | None
    answered: float | None = None
    callee_rtp: int | None = None
    ended: float | None = None
    cut: bool = False
    """Open when the gateway that placed it was killed: ended there."""


def _sdp_port(body: bytes) -> int | None:
    found = re.search(rb"^m=audio (\d+) ", body, re.MULTILINE)
    return int(found.group(1)) if found else None


def calls_on_wire(
    datagrams: list[Datagram], proxy: int, gateways: set[int],
    cut: tuple[int, float] | None = None,
) -> dict[str, WireCall]:  # fmt: skip
    """The calls ``gateways`` placed through the ``proxy`` (SIP ports), by Call-ID (the same
    on both legs): each from its INVITE to the proxy to the first BYE, CANCEL or final
    refusal on either leg, whoever sent it; ``cut``: a gateway's port and the moment it was
    killed, where its calls still open end."""
    calls: dict[str, WireCall] = {}
    for d in datagrams:
        if proxy not in (d.src_port, d.dst_port):
            continue
        try:
            message = parse_message(d.data)
            call_id, method = message.call_id, message.cseq.method
        except MessageParseError:
            continue  # a keep-alive
        call = calls.get(call_id)
        if isinstance(message, SipRequest):
            if message.method == "INVITE" and call is None and d.src_port in gateways:
                found = re.fullmatch(r"sip:(\w+)@[\d.]+:(\d+)", message.uri)
                assert found is not None, message.uri
                calls[call_id] = WireCall(call_id, found[1], int(found[2]), d.src_port, d.at,
                                          _sdp_port(message.body or b""))  # fmt: skip
            elif message.method in ("BYE", "CANCEL") and call and call.ended is None:
                call.ended = d.at
        elif call is not None and method == "INVITE":
            if 200 <= message.status < 300 and call.answered is None:
                call.answered, call.callee_rtp = d.at, _sdp_port(message.body or b"")
            elif message.status >= 300 and call.ended is None:
                call.ended = d.at
    if cut is not None:
        port, at = cut
        for call in calls.values():
            if call.gateway == port and call.invited < at and (call.ended or 1e18) > at:
                call.ended, call.cut = at, True
    return calls


def _message_heard(capture: list[Datagram], call: WireCall) -> tuple[float, float, float] | None:
    """(start, end) seconds into the call of the voicemail message the gateway sent, by the
    RTP timestamps of its stream to the callee (from its first packet, sent once the 200 OK
    arrived: the call's start), and the kernel's time of its first packet; the ports of
    another call before or after are told apart by the stream's SSRC."""
    assert call.answered is not None and call.ended is not None
    sent = [
        d for d in capture
        if d.src_port == call.gateway_rtp and d.dst_port == call.callee_rtp
        and call.answered <= d.at <= call.ended + 0.5
    ]  # fmt: skip
    if not sent:
        return None
    packets = [RtpPacket.parse(d.data) for d in sent]
    ssrc, first = packets[0].ssrc, packets[0].timestamp
    frames = [(((p.timestamp - first) % 2**32) / 8000, d.at)
              for d, p in zip(sent, packets, strict=True)
              if p.ssrc == ssrc and tone_share(p.payload, MESSAGE_HZ) > 0.6]  # fmt: skip
    return (frames[0][0], frames[-1][0] + 0.02, frames[0][1]) if frames else None


def _greeting_end_on_wire(capture: list[Datagram], call: WireCall, speech_end: float) -> float:
    """The kernel's time at which the voicemail's greeting ended on its way to the gateway:
    the arrival of the packet that carries its last word's end, ``speech_end`` into its file
    by the packets' RTP timestamps (baresip sends its file from its start, every frame), less
    the part of that packet after it."""
    assert call.answered is not None and call.ended is not None
    sent = [
        d for d in capture
        if d.src_port == call.callee_rtp and d.dst_port == call.gateway_rtp
        and call.invited <= d.at <= call.ended  # the port pair is this call's
    ]  # fmt: skip
    packets = [RtpPacket.parse(d.data) for d in sent]
    ssrc = packets[0].ssrc if packets else None
    audio = [
        (d, p) for d, p in zip(sent, packets, strict=True) if p.ssrc == ssrc and p.payload_type == 0
    ]
    assert audio, call
    start = audio[0][1].timestamp
    for d, p in audio:
        position = ((p.timestamp - start) % 2**32 + len(p.payload)) / 8000
        if position >= speech_end:
            return d.at - (position - speech_end)
    raise AssertionError(f"the voicemail's packets end before its greeting: {call}")


def _placed_after(at: float, gateway: int, calls: dict[str, WireCall], kinds: set[int]) -> bool:
    """Whether ``gateway`` has a call to ``kinds`` answered since ``at`` and still up."""
    return any(c.gateway == gateway and c.callee in kinds and c.answered is not None
               and c.answered >= at and c.ended is None for c in calls.values())  # fmt: skip


@pytest.fixture
def trunk(tmp_workdir: Path) -> Iterator[Kamailio]:
    """Kamailio as the trunk's proxy: every call out goes through it (record-routed)."""
    users = {"nobody": "unused-0123456789"}  # (the config's password switch needs one)
    with Kamailio(tmp_workdir, "trunk", users=users, transports=("udp",),
                  nat_helper=False) as proxy:  # fmt: skip
        yield proxy


def test_a_campaign_runs_across_two_gateways_and_a_crash(
    server: PostgresServer, tmp_workdir: Path, callees: Callees, services: ThreadedFakes,
    trunk: Kamailio,
) -> None:  # fmt: skip
    database = server.new_database()
    hours, closed_zone = _window()
    kinds = {"p": callees.people, "b": callees.busy, "n": callees.nobody, "v": callees.voicemail}
    counts = {"p": PEOPLE, "b": BUSY, "n": NOBODY, "v": VOICEMAIL}
    rows = []
    for i in range(max(counts.values())):  # the kinds interleaved, as a real list mixes them
        for kind, count in counts.items():
            if i < count:
                zone = "UTC" if i % 2 else "Etc/GMT-1"
                rows.append(f"sip:{kind}{i}@127.0.0.1:{kinds[kind].sip_port},{kind}{i},{zone}")
    closed = [f"p{PEOPLE + i}" for i in range(CLOSED)]
    rows += [f"sip:{u}@127.0.0.1:{callees.people.sip_port},{u},{closed_zone}" for u in closed]
    ports = [free_port(), free_port()]

    def gateway(name: str, port: int) -> GatewayProcess:
        env = {
            **services.env, "SIPGW_DATABASE_URL": database, "SIPGW_CLUSTER_NAME": name,
            "SIPGW_ADMIN_PORT": str(port), "SIPGW_ADMIN_TOKEN": TOKEN,
            "SIPGW_DIAL_ALLOW": ",".join(f"sip:*@127.0.0.1:{b.sip_port}" for b in callees.all),
            "SIPGW_OUTBOUND_PROXY": f"sip:127.0.0.1:{trunk.sip_port}",
            "SIPGW_CAMPAIGN_MAX_PER_SECOND": "50", "SIPGW_CAMPAIGN_MAX_CONCURRENCY": "50",
            "SIPGW_OUTBOUND_GREETING": OPENING,
        }  # fmt: skip
        return GatewayProcess(tmp_workdir / name, name=name, agent="assistant", lifetime=200,
                              extra_env=env, rtp_port_count=4 * CONCURRENCY,  # all on one
                              extra_args=("--max-call-seconds", str(LONGEST_CALL)))  # fmt: skip

    first, second = gateway("gw-a", ports[0]), gateway("gw-b", ports[1])
    urls = [f"http://127.0.0.1:{port}" for port in ports]
    # the RTP into the voicemail (the message) and into the gateways (the greeting, heard)
    ranges = [
        (callees.voicemail_rtp.lo, callees.voicemail_rtp.hi),
        (first.rtp_ports.lo, first.rtp_ports.hi),
        (second.rtp_ports.lo, second.rtp_ports.hi),
    ]
    # where the test marks the crash on the wire: a port of its own (other tests dial the
    # discard port, 9, as a party that never answers)
    marker = free_port()
    with UdpCapture([trunk.sip_port, marker], ranges) as capture:
        try:
            with ThreadPoolExecutor(2) as starting:  # both at once (an error is raised here)
                list(starting.map(GatewayProcess.start, (first, second)))
            gateways = {first.address[1], second.address[1]}
            created = api(urls[0], "/api/campaigns", {
                "name": "cluster", "csv": "number,who,time_zone\r\n" + "\r\n".join(rows) + "\r\n",
                "hours": hours, "per_second": PER_SECOND, "concurrency": CONCURRENCY,
                "max_attempts": MAX_ATTEMPTS, "ring_timeout": RING, "amd": "leave_message",
                "amd_message": MESSAGE,
                "retry": {"busy": RETRY, "no_answer": RETRY, "failed": RETRY, "voicemail": RETRY},
            })  # fmt: skip
            campaign = created["id"]
            assert [c["id"] for c in api(urls[1], "/api/campaigns")["campaigns"]] == [campaign]
            budget = _campaign_seconds()

            def progress() -> dict[str, int]:
                shown: dict[str, int] = api(urls[1], f"/api/campaigns/{campaign}")["progress"]
                return shown

            def finals() -> int:
                return progress()["completed"] + progress()["failed"]

            half = (PEOPLE + MAX_ATTEMPTS * (BUSY + NOBODY + VOICEMAIL)) // 2
            wait_until(lambda: progress()["dialled"] >= half, budget, "half the calls made")
            # halfway, kill gw-a with a call of its up (answered just now, by a person or a
            # voicemail): its contact must be retried by the campaign's rules
            # (each look parses only what came since: parsing the whole capture ten times a
            # second starved this process's fake AI services under load, and a look that
            # took seconds found a person's 1.3 s call over by the kill)
            since, seen = time.time(), len(capture.datagrams())
            talking = {callees.people.sip_port, callees.voicemail.sip_port}
            wait_until(lambda: _placed_after(since, first.address[1], calls_on_wire(
                capture.datagrams()[seen:], trunk.sip_port, gateways), talking), budget,
                "a call of gw-a's up")  # fmt: skip
            first.stop(9)  # SIGKILL: its calls are cut, their contacts stay "dialing"
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as mark:
                mark.bind(("127.0.0.1", marker))  # to itself: no other socket has the port
                mark.sendto(b"killed", ("127.0.0.1", marker))
            # gw-b finds gw-a's claims at its next pass (one every 2 s at least)
            second.wait_log(r"interrupted: the dialing process", budget)
            wait_until(lambda: finals() == CALLEES, budget, "every open contact done")
            shown = api(urls[1], f"/api/campaigns/{campaign}")
            results = api(urls[1], f"/api/campaigns/{campaign}/results.csv")
            assert second.stop() == 0
            assert not second.tracebacks(), second.tracebacks()
        finally:
            first.close()
            second.close()
        datagrams = capture.datagrams()
    (killed_at,) = [d.at for d in datagrams if d.dst_port == marker]
    calls = calls_on_wire(datagrams, trunk.sip_port, gateways, (first.address[1], killed_at))
    _check(calls, datagrams, callees, results, second.log_text(),
           first.log_text() + second.log_text(), closed, shown)  # fmt: skip


def _campaign_seconds() -> float:
    """How long the campaign may take, by its settings: its calls CONCURRENCY at a time,
    each as long as its kind's (a person's file, the ring timeout, the longest call for a
    voicemail's greeting and message), started PER_SECOND, a retry delay between a
    contact's attempts; three times over for a loaded machine."""
    calls = PEOPLE + MAX_ATTEMPTS * (BUSY + NOBODY + VOICEMAIL)
    seconds = PEOPLE * PERSON_CALL + MAX_ATTEMPTS * (NOBODY * RING + VOICEMAIL * LONGEST_CALL)
    return 3 * (calls / PER_SECOND + seconds / CONCURRENCY + MAX_ATTEMPTS * RETRY)


def _check(
    calls: dict[str, WireCall], datagrams: list[Datagram], callees: Callees, results: str,
    survivor_log: str, dialled: str, closed: list[str], shown: dict[str, Any],
) -> None:  # fmt: skip
    by_contact: dict[str, list[WireCall]] = {}
    for call in sorted(calls.values(), key=lambda c: c.invited):
        by_contact.setdefault(call.user, []).append(call)
    # never twice at once: each call ended on the wire before the next to the same contact
    # began, and each retry waited its delay (from the moment the gateway learnt the end)
    for user, made in by_contact.items():
        for earlier, later in zip(made, made[1:], strict=False):
            assert earlier.ended is not None, (user, made)
            assert later.invited - earlier.ended >= RETRY, (user, made)
    # the cap is the cluster's: the callees never had more of the campaign's calls at once
    # (a call on the wire lies within its claim: claimed before its INVITE, recorded after
    # its end; the kernel's times order every callee's messages on one clock)
    edges = sorted((t, step) for c in calls.values()
                   for t, step in ((c.invited, 1), (c.ended or 1e18, -1)))  # fmt: skip
    at_once = max(itertools.accumulate(step for _, step in edges))
    print(f"{len(calls)} calls, at most {at_once} at once at the callees")
    assert at_once <= CONCURRENCY, at_once
    assert len({c.gateway for c in calls.values()}) == 2, "one gateway placed every call"
    table = {row["who"]: row for row in csv.DictReader(io.StringIO(results))}
    interrupted = set(re.findall(r"row \d+, sip:(\w+)@\S+: interrupted", survivor_log))
    cut = {c.user for c in calls.values() if c.cut}
    assert cut and cut <= interrupted, (cut, interrupted)  # the crash lost only its calls
    expected = {"p": ("person", "done", 1), "b": ("busy", "failed", MAX_ATTEMPTS),
                "n": ("no_answer", "failed", MAX_ATTEMPTS),
                "v": ("machine", "done", MAX_ATTEMPTS)}  # fmt: skip
    for user, row in table.items():
        if user in closed:
            assert user not in by_contact and row["state"] == "pending", row
            assert row["attempts"] == "0", row
            continue
        outcome, state, attempts = expected[user[0]]
        made = by_contact.get(user, [])
        if user in interrupted:  # the cut claim counts, whether its INVITE went or not
            assert row["state"] in (state, "failed"), row  # failed: the cut was its last
            assert len(made) <= int(row["attempts"]) <= MAX_ATTEMPTS, (user, made, row)
            continue
        assert (row["state"], row["outcome"]) == (state, outcome), row
        assert len(made) == int(row["attempts"]) == attempts, (user, made, row)
        assert len(re.findall(rf"dialing row \d+, sip:{user}@", dialled)) == attempts
    # every voicemail got the campaign's message, after its greeting, heard whole
    played = callees.played
    for call in calls.values():
        if call.callee != callees.voicemail.sip_port or call.cut:
            continue
        heard = _message_heard(datagrams, call)
        assert heard is not None, call
        start, end, sent_at = heard
        # after the greeting: timed on the wire, one clock for both, the kernel's (the
        # gateway's timestamps count from its first packet, which a loaded gateway may
        # send late after the 200 OK, and the callee's file from its own first packet)
        greeting_end = _greeting_end_on_wire(datagrams, call, played.speech_end)
        assert sent_at >= greeting_end, (call, sent_at - greeting_end, heard, played)
        assert end - start >= len(MESSAGE) * 0.020 - 0.1, (call, heard)
    # the progress the API shows is the results': people and machines done, the rest final
    ended = collections.Counter(
        row["outcome"] if row["state"] == "done" else row["state"] for row in table.values()
    )
    progress = shown["progress"]
    shown_counts = (progress["person"], progress["machine"], progress["failed"], progress["left"])
    assert shown_counts == (ended["person"], ended["machine"], ended["failed"], CLOSED), progress
    assert shown["state"] == "running"  # the closed contacts wait for their hours
