"""The Kamailio runner against real softphones: registration with digest auth, routing to
registered users, forking, the 407-challenging outbound proxy, restart.

These prove the toolkit the gateway's registration, outbound-call and transport tests stand on,
where those tests do not: a softphone registering over TCP, linphonec with SHA-256, the
registrar's digest rules, the proxy forwarding to an address, a restart. A softphone
registered over UDP or TLS (with SRTP) and called through Kamailio is proven by the
gateway's own calls (tests/interop/test_kamailio_transports.py).
"""

from __future__ import annotations

import hashlib
import re
import secrets
import socket
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from sipgw.app.evaluation.audio import analyse
from sipgw.app.evaluation.process import PeerError
from tests.toolkit.peers.baresip import Baresip
from tests.toolkit.peers.kamailio import Kamailio
from tests.toolkit.peers.linphonec import Linphonec

pytestmark = [pytest.mark.timeout(90), pytest.mark.usefixtures("nothing_left_running")]

ToneWav = Callable[..., Path]
USERS = {"alice": "alice-pw", "bob": "bob-pw", "lin": "lin-pw"}


def assert_heard(path: Path, hz: float, min_active: float = 1.0) -> None:
    report = analyse(path)
    desc = report.describe()
    assert report.dominant_hz is not None and abs(report.dominant_hz - hz) <= 5, desc
    assert report.fraction_at(hz) > 0.9, desc
    assert report.active_seconds >= min_active, desc


def call_and_check(caller: Baresip, callee: Baresip, uri: str) -> None:
    """``caller`` (sending 1 kHz) calls ``uri``; ``callee`` (440 Hz, auto-answer) must answer;
    after 1.5 s the caller hangs up and both must have heard the other's tone."""
    caller.dial(uri)
    caller.wait_event("CALL_ESTABLISHED", 10)
    callee.wait_event("CALL_ESTABLISHED", 5)
    time.sleep(1.5)
    caller.hangup()
    caller.wait_event("CALL_CLOSED", 5)
    callee.wait_event("CALL_CLOSED", 5)
    assert_heard(callee.recordings()[0], 1000)
    assert_heard(caller.recordings()[0], 440)


# --------------------------------------------------------------------------- baresip, MD5


def test_baresip_registers_and_is_called_through_kamailio(
    tmp_workdir: Path, tone_wav: ToneWav
) -> None:
    """alice registers over TCP (MD5, qop=auth); bob (UDP) calls her AOR through Kamailio,
    which relays across transports; audio flows both ways. (Over UDP and TLS: the baresips
    of test_kamailio_transports.py.)"""
    transport = "tcp"
    with Kamailio(tmp_workdir, users=USERS) as kam:
        ca = kam.tls_cert.ca_cert if kam.tls_cert else None
        with (
            Baresip(
                tmp_workdir,
                "alice",
                user="alice",
                source_wav=tone_wav(440),
                tls_ca=ca,
                account=kam.account_line(
                    "alice", transport=transport, params="answermode=auto;audio_codecs=pcmu"
                ),
            ) as alice,
            Baresip(
                tmp_workdir,
                "bob",
                user="bob",
                source_wav=tone_wav(1000),
                account=kam.account_line("bob", params="audio_codecs=pcmu"),
            ) as bob,
        ):
            alice.wait_registered()
            bob.wait_registered()
            (contact,) = kam.wait_registered("alice", transport=transport)
            assert contact.expires > 0
            challenge = rf"REGISTER challenge aor=alice .*\({transport} from"
            kam.wait_events(lambda e: re.search(challenge, e))
            kam.wait_events("REGISTER ok aor=alice")
            with pytest.raises(AssertionError, match=r"within 0\.3 s; last seen: .*REGISTER ok"):
                kam.wait_events("REGISTER ok aor=nobody", timeout=0.3)
            call_and_check(bob, alice, kam.aor("alice"))


# --------------------------------------------------------------------------- SHA-256


def test_linphonec_registers_with_sha256_and_is_called(
    tmp_workdir: Path, tone_wav: ToneWav
) -> None:
    """linphonec registers over TLS with SHA-256 + qop=auth (baresip 1.0 cannot: "Function
    not implemented"), and a baresip calls its AOR through Kamailio."""
    transport = "tls"
    with Kamailio(tmp_workdir, users=USERS, algorithm="SHA-256") as kam:
        ca = kam.tls_cert.ca_cert if kam.tls_cert else None
        with (
            Linphonec(
                tmp_workdir,
                "lin",
                user="lin",
                autoanswer=True,
                play=tone_wav(440),
                transports=("udp", transport),
                tls_ca=ca,
            ) as lin,
            Baresip(tmp_workdir, "caller", user="caller", source_wav=tone_wav(1000)) as caller,
        ):
            lin.register(f"sip:lin@{kam.hostport()}", kam.uri(transport=transport), USERS["lin"])
            kam.wait_registered("lin", transport=transport)
            caller.dial(kam.aor("lin"))
            caller.wait_event("CALL_ESTABLISHED", 10)
            time.sleep(2.0)
            caller.hangup()
            caller.wait_event("CALL_CLOSED", 5)
            lin.wait_ended()
            assert_heard(lin.recording(), 1000)
            assert_heard(caller.recordings()[0], 440, min_active=0.5)


# --------------------------------------------------------------------------- raw digest


def _send(sock: socket.socket, dest: tuple[str, int], text: str) -> str:
    sock.sendto(text.replace("\n", "\r\n").encode(), dest)
    data, _ = sock.recvfrom(65535)
    return data.decode()


def _register(sock: socket.socket, kam: Kamailio, cseq: int, extra: str = "") -> str:
    port = sock.getsockname()[1]
    return _send(
        sock,
        (kam.host, kam.sip_port),
        f"REGISTER sip:{kam.hostport()} SIP/2.0\n"
        f"Via: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK{secrets.token_hex(6)};rport\n"
        "Max-Forwards: 70\n"
        f"From: <sip:alice@{kam.hostport()}>;tag=raw1\n"
        f"To: <sip:alice@{kam.hostport()}>\n"
        "Call-ID: raw-register-1\n"
        f"CSeq: {cseq} REGISTER\n"
        f"Contact: <sip:alice@127.0.0.1:{port}>\n"
        f"{extra}"
        "Content-Length: 0\n\n",
    )


def _challenge(response: str) -> dict[str, str]:
    m = re.search(r"^WWW-Authenticate: Digest (.*)$", response, re.M)
    assert m, response
    return dict(re.findall(r'(\w+)="?([^",\r]+)"?', m[1]))


def _authorization(kam: Kamailio, ch: dict[str, str], nc: int, algorithm: str) -> str:
    def h(text: str) -> str:
        return hashlib.new("sha256" if algorithm == "SHA-256" else "md5", text.encode()).hexdigest()

    uri, cnonce = f"sip:{kam.hostport()}", "0a4f113b"
    ha1 = h(f"alice:{ch['realm']}:{USERS['alice']}")
    ha2 = h(f"REGISTER:{uri}")
    resp = h(f"{ha1}:{ch['nonce']}:{nc:08x}:{cnonce}:auth:{ha2}")
    return (
        f'Authorization: Digest username="alice", realm="{ch["realm"]}", nonce="{ch["nonce"]}", '
        f'uri="{uri}", response="{resp}", algorithm={algorithm}, cnonce="{cnonce}", '
        f"qop=auth, nc={nc:08x}\n"
    )


@pytest.mark.parametrize("algorithm", ["MD5", "SHA-256"])
def test_registrar_digest_qop_nonce_count_and_423(tmp_workdir: Path, algorithm: str) -> None:
    """The challenge names the algorithm and qop=auth; a correct answer registers; replaying
    the same nc is refused with stale=true; nc+1 works; an Expires under min_expires gets 423."""
    with (
        Kamailio(tmp_workdir, users=USERS, algorithm=algorithm, min_expires=60) as kam,
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock,
    ):
        sock.bind(("127.0.0.1", 0))
        sock.settimeout(5)
        first = _register(sock, kam, 1, "Expires: 120\n")
        assert first.startswith("SIP/2.0 401"), first
        ch = _challenge(first)
        assert ch["realm"] == kam.realm and ch["qop"] == "auth"
        assert ch["algorithm"] == algorithm

        ok = _register(sock, kam, 2, "Expires: 120\n" + _authorization(kam, ch, 1, algorithm))
        assert ok.startswith("SIP/2.0 200"), ok
        assert [r.expires > 0 for r in kam.wait_registered("alice")] == [True]

        replay = _register(sock, kam, 3, "Expires: 120\n" + _authorization(kam, ch, 1, algorithm))
        assert replay.startswith("SIP/2.0 401"), replay
        assert _challenge(replay).get("stale", "").lower() == "true", replay

        again = _register(sock, kam, 4, "Expires: 120\n" + _authorization(kam, ch, 2, algorithm))
        assert again.startswith("SIP/2.0 200"), again

        brief = _register(sock, kam, 5, "Expires: 10\n" + _authorization(kam, ch, 3, algorithm))
        assert brief.startswith("SIP/2.0 423"), brief
        assert re.search(r"^Min-Expires: 60\r?$", brief, re.M), brief


# --------------------------------------------------------------------------- proxy roles


def test_outbound_proxy_challenges_invites_and_forwards(
    tmp_workdir: Path, tone_wav: ToneWav
) -> None:
    """With challenge_invites, bob's INVITE gets 407 first; once authorized it is forked to both
    of alice's contacts (one answers, the other is cancelled); then bob calls a UA that is not
    registered at all (its own URI) through the proxy, which forwards it."""
    with Kamailio(tmp_workdir, users=USERS, challenge_invites=True) as kam:
        line = kam.account_line("alice", params="answermode=auto;audio_codecs=pcmu")
        with (
            Baresip(
                tmp_workdir, "alice", user="alice", source_wav=tone_wav(440), account=line
            ) as a1,
            Baresip(
                tmp_workdir,
                "alice2",
                user="alice",
                account=line.replace("answermode=auto", "answermode=manual"),
            ) as a2,
            Baresip(
                tmp_workdir, "carol", user="carol", source_wav=tone_wav(440), answermode="auto"
            ) as carol,
            Baresip(
                tmp_workdir,
                "bob",
                user="bob",
                source_wav=tone_wav(1000),
                account=kam.account_line("bob", params=f'audio_codecs=pcmu;outbound="{kam.uri()}"'),
            ) as bob,
        ):
            for ua in (a1, a2, bob):
                ua.wait_registered()
            assert len(kam.wait_registered("alice", count=2)) == 2
            call_and_check(bob, a1, kam.aor("alice"))
            a2.wait_event("CALL_CLOSED", 5)  # the forked branch it never answered: CANCEL
            kam.wait_events(lambda e: e.startswith("INVITE challenge from=bob"))
            kam.wait_events(lambda e: e == "INVITE authorized au=bob")
            branches = kam.wait_events(lambda e: e.startswith("BRANCH "), count=2)
            assert len(branches) == 2, kam.events()

            time.sleep(1.1)  # recordings are named by the second
            call_and_check(bob, carol, carol.uri)
            kam.wait_events(lambda e: e.startswith("FORWARD INVITE") and carol.uri in e)


def test_restart_keeps_ports_and_loses_registrations(tmp_workdir: Path) -> None:
    with Kamailio(tmp_workdir, users=USERS) as kam:
        with Baresip(
            tmp_workdir, "alice", user="alice", account=kam.account_line("alice", regint=600)
        ) as alice:
            alice.wait_registered()
            kam.wait_registered("alice")
            ports = (kam.sip_port, kam.tls_port)
            kam.restart(down_for=0.2)
            assert (kam.sip_port, kam.tls_port) == ports
            assert kam.registrations() == {}
            with pytest.raises(PeerError):
                kam.wait_registered("alice", timeout=0.5)
            assert kam.starts == 2
            assert "REGISTER ok" in kam.log_text()  # the first run's log is kept
