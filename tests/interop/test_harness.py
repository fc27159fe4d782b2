"""Self-tests of the interop harness: audio tools, ports, relay, gateway driver, real peers.

The real-peer tests prove baresip, linphonec and SIPp work on this machine (and inside a private
network namespace) before they are pointed at the gateway.
"""

from __future__ import annotations

import contextlib
import socket
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from sipgw.app.evaluation.audio import (
    AudioReport,
    analyse,
    analyse_samples,
    decode,
    encode,
    goertzel_dbfs,
    read_wav,
    tone_samples,
    wav_has_begun,
    wav_is_complete,
    write_pattern,
    write_tone,
    write_wav,
)
from sipgw.app.evaluation.gateway_process import GatewayProcess
from sipgw.app.evaluation.ports import free_port, free_port_range, port_is_free, udp_port_bound
from sipgw.app.evaluation.process import MissingProgram, PeerError, require_binary
from tests.toolkit.peers.baresip import Baresip
from tests.toolkit.peers.linphonec import Linphonec
from tests.toolkit.peers.relay import Impairment, UdpRelay
from tests.toolkit.peers.sipp import run_sipp, scenario, start_sipp, write_uac_media

pytestmark = [pytest.mark.timeout(60), pytest.mark.usefixtures("nothing_left_running")]

ToneWav = Callable[..., Path]


def _assert_tone(
    report: AudioReport, hz: float, dbfs: float = -9.0, *, min_active: float = 1.0
) -> None:
    desc = report.describe()
    assert report.dominant_hz is not None and abs(report.dominant_hz - hz) <= 5, desc
    assert report.fraction_at(hz) > 0.9, f"{desc} fraction_at({hz})={report.fraction_at(hz):.3f}"
    assert report.rms_dbfs is not None and abs(report.rms_dbfs - dbfs) <= 1.0, desc
    assert report.active_seconds >= min_active, desc


# =========================================================================== audio


def test_write_tone_and_analyse_exact(tmp_path: Path) -> None:
    path = write_tone(tmp_path / "t.wav", 1000, 2.0, dbfs=-9.0, lead_silence=0.5, tail_silence=0.3)
    samples, rate = read_wav(path)
    assert rate == 8000 and len(samples) == round(2.8 * 8000)
    r = analyse(path)
    assert r.duration == pytest.approx(2.8)
    assert r.active_seconds == pytest.approx(2.0)
    assert r.rms_dbfs == pytest.approx(-9.0, abs=0.01)
    assert r.dominant_hz == 1000
    assert r.fraction_at(1000) > 0.999
    assert r.fraction_at(440) < 0.001
    assert r.onset() == pytest.approx(0.5)
    assert r.onset(threshold_dbfs=-5.0) is None  # the tone is at -9 dBFS
    assert r.level_at(1000) == pytest.approx(-9.0, abs=0.05)
    assert 0.5 <= r.loudest_window[0] and r.loudest_window[1] <= 2.5


def test_write_pattern_segments(tmp_path: Path) -> None:
    path = write_pattern(tmp_path / "p.wav", [(440, 1.0), (None, 0.5), (1000, 1.0, -20.0)])
    r = analyse(path)
    assert r.duration == pytest.approx(2.5)
    assert r.active_seconds == pytest.approx(2.0)
    assert r.dominant_hz == 440  # the loudest 0.5 s is in the -9 dBFS part
    first, last = r.slice(0.0, 1.0), r.slice(1.5)
    assert first.dominant_hz == 440 and first.rms_dbfs == pytest.approx(-9.0, abs=0.01)
    assert last.dominant_hz == 1000 and last.rms_dbfs == pytest.approx(-20.0, abs=0.01)
    assert r.slice(1.0, 1.5).rms_dbfs is None and r.slice(1.0, 1.5).onset() is None
    assert r.fraction_at(1000, start=1.75, length=0.5) > 0.999
    assert r.level_at(1000, start=1.5, length=1.0) == pytest.approx(-20.0, abs=0.05)
    assert r.onset(threshold_dbfs=-30.0) == 0.0


@pytest.mark.parametrize("hz", [300.0, 1000.0, 2000.0, 3400.0])
@pytest.mark.parametrize("dbfs", [-3.01, -20.0, -45.0])
def test_goertzel_dbfs_reads_tone_level(hz: float, dbfs: float) -> None:
    samples = tone_samples(hz, 0.5, dbfs)  # 4000 samples: every hz here is on a DFT bin
    assert goertzel_dbfs(samples, hz) == pytest.approx(dbfs, abs=0.05)
    assert goertzel_dbfs(samples, hz + 200) < dbfs - 40


def test_silence_and_empty_recordings(tmp_path: Path) -> None:
    empty = analyse(write_wav(tmp_path / "empty.wav", []))
    assert empty.duration == 0 and empty.rms_dbfs is None and empty.onset() is None
    assert empty.dominant_hz is None and empty.fraction_at(1000) == 0.0
    quiet = analyse_samples([0] * 8000)
    assert quiet.active_seconds == 0 and quiet.rms_dbfs is None and quiet.dominant_hz is None
    assert goertzel_dbfs([], 1000) == -120.0


def test_wav_is_complete_and_read_wav_of_unfinished_files(tmp_path: Path) -> None:
    path = write_tone(tmp_path / "t.wav", 440, 0.1)
    assert wav_is_complete(path)
    raw = path.read_bytes()
    assert len(raw) == 44 + 1600
    with path.open("ab") as f:  # a recorder still writing: header sizes lag the file
        f.write(b"\0\0" * 160)
    assert not wav_is_complete(path)
    assert len(read_wav(path)[0]) == 800  # the header's data size wins when it is set
    # being recorded: data size 0, the samples are read anyway
    path.write_bytes(raw[:4] + bytes(4) + raw[8:40] + bytes(4) + raw[44:])
    assert not wav_is_complete(path) and len(read_wav(path)[0]) == 800
    # linphonec's final header counts the 44 header bytes in the data size
    size = len(raw).to_bytes(4, "little")
    path.write_bytes(raw[:4] + (len(raw) + 32).to_bytes(4, "little") + raw[8:40] + size + raw[44:])
    assert wav_is_complete(path) and len(read_wav(path)[0]) == 800
    assert not wav_is_complete(tmp_path / "missing.wav")


def test_wav_has_begun_once_the_recorder_wrote_its_header(tmp_path: Path) -> None:
    """A recorder creates the file, then writes the header (libsndfile: one 44-byte write)."""
    path = write_tone(tmp_path / "t.wav", 440, 0.1)
    raw = path.read_bytes()
    for cut in (0, 4, 12, 36, 43):  # created, not (wholly) written yet
        path.write_bytes(raw[:cut])
        assert not wav_has_begun(path)
        with pytest.raises(ValueError, match="not a RIFF/WAVE file|no data chunk"):
            read_wav(path)
    path.write_bytes(raw[:44])  # the header alone: no samples yet
    assert wav_has_begun(path) and read_wav(path) == ([], 8000)
    path.write_bytes(raw)
    assert wav_has_begun(path) and not wav_has_begun(tmp_path / "missing.wav")


def test_g711_codecs() -> None:
    assert encode([0]) == b"\xff" and decode(b"\xff\x7f") == [0, 0]
    assert decode(b"\x00\x80") == [-32124, 32124]
    assert encode([0], "PCMA") == b"\xd5" and decode(b"\xd5\x55", "PCMA") == [8, -8]
    tone = tone_samples(1000, 0.1, -9.0)
    for codec in ("PCMU", "PCMA"):
        back = decode(encode(tone, codec), codec)
        assert len(back) == len(tone)
        assert goertzel_dbfs(back, 1000) == pytest.approx(-9.0, abs=0.1)
        assert all(abs(a - b) <= max(16, abs(a) // 16) for a, b in zip(tone, back, strict=True))


# =========================================================================== ports


def test_free_ports_are_unique_and_bindable() -> None:
    ports = [free_port(span=2) for _ in range(20)]
    taken = [p + d for p in ports for d in (0, 1)]
    assert len(set(taken)) == len(taken)
    assert all(1024 < p < 65535 for p in ports)
    for p in ports[:5]:
        assert port_is_free(p, 2)
        for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
            with socket.socket(socket.AF_INET, kind) as s:
                s.bind(("127.0.0.1", p + 1))


def test_free_port_range_is_even_and_skips_busy_ports() -> None:
    rng = free_port_range(10)
    assert rng.lo % 2 == 0 and rng.size == 10 and str(rng) == f"{rng.lo}-{rng.hi}"
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as busy:
        busy.bind(("127.0.0.2", 0))
        assert not port_is_free(busy.getsockname()[1])


# =========================================================================== relay


def _udp(host: str, port: int = 0) -> socket.socket:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    # room for a few hundred queued datagrams: the tests send in bursts before reading
    with contextlib.suppress(OSError):
        s.setsockopt(socket.SOL_SOCKET, getattr(socket, "SO_RCVBUFFORCE", 33), 1 << 21)
    s.bind((host, port))
    s.settimeout(2.0)
    return s


def _recv_all(sock: socket.socket, count: int, timeout: float = 2.0) -> list[bytes]:
    out: list[bytes] = []
    deadline = time.monotonic() + timeout
    while len(out) < count and time.monotonic() < deadline:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            out.append(sock.recv(2048))
        except TimeoutError:
            break
    return out


def _relay_pair(**kwargs: object) -> tuple[UdpRelay, socket.socket, socket.socket, int]:
    port = free_port()
    gw = _udp("127.0.0.1", port)  # the "gateway" side binds the private address
    relay = UdpRelay([port], **kwargs).start()  # type: ignore[arg-type]
    peer = _udp("127.0.0.1")
    return relay, gw, peer, port


def test_relay_forwards_exactly_both_ways() -> None:
    relay, gw, peer, port = _relay_pair()
    with relay, gw, peer:
        for i in range(50):
            peer.sendto(b"up%03d" % i, ("127.0.0.2", port))
        got = []
        for _ in range(50):
            data, src = gw.recvfrom(2048)
            got.append(data)
            assert src == ("127.0.0.2", port)
        assert got == [b"up%03d" % i for i in range(50)]
        assert relay.peer_address(port) == peer.getsockname()
        for i in range(50):
            gw.sendto(b"dn%03d" % i, ("127.0.0.2", port))
        assert _recv_all(peer, 50) == [b"dn%03d" % i for i in range(50)]
        assert relay.wait_until(lambda r: r.stats(port).to_peer.forwarded == 50, 2)
        st = relay.stats(port)
        up, down = st.to_gateway, st.to_peer
        assert (up.received, up.forwarded, up.dropped, up.errors) == (50, 50, 0, 0)
        assert (down.received, down.forwarded, down.dropped, down.unroutable) == (50, 50, 0, 0)
        assert relay.error is None


def test_relay_reorders_and_duplicates() -> None:
    relay, gw, peer, port = _relay_pair(to_gateway=Impairment(reorder=0.25, reorder_ms=100), seed=3)
    with relay, gw, peer:
        sent = [b"%03d" % i for i in range(40)]
        for data in sent:
            peer.sendto(data, ("127.0.0.2", port))
        got = _recv_all(gw, 40)
        st = relay.stats(port).to_gateway
        assert sorted(got) == sent and got != sent, got  # all arrive, some late
        assert 0 < st.reordered < 40
        late = got[len(got) - st.reordered :]
        assert late == sorted(late)  # the held-back ones arrive last, in order
        relay.set_impairment(port, to_gateway=Impairment(duplicate=1.0))
        for data in sent[:10]:
            peer.sendto(data, ("127.0.0.2", port))
        dup = _recv_all(gw, 20)
        assert dup == [d for d in sent[:10] for _ in (0, 1)]
        assert relay.stats(port).to_gateway.duplicated == 10


def _lost_ids(seed: int) -> set[int]:
    relay, gw, peer, port = _relay_pair(to_gateway=Impairment(loss=0.3), seed=seed)
    with relay, gw, peer:
        for i in range(200):
            peer.sendto(b"%d" % i, ("127.0.0.2", port))
        assert relay.wait_until(
            lambda r: r.stats(port).to_gateway.received == 200 and r.pending == 0, 3
        )
        st = relay.stats(port).to_gateway
        got = {int(d) for d in _recv_all(gw, st.forwarded)}
        assert st.forwarded == len(got) and st.dropped == 200 - len(got)
        return set(range(200)) - got


def test_relay_seeded_loss_is_deterministic() -> None:
    first, again, other = _lost_ids(7), _lost_ids(7), _lost_ids(8)
    assert first == again
    assert first != other
    assert 30 <= len(first) <= 90  # 30 % of 200, loosely


def test_relay_delay_and_jitter() -> None:
    relay, gw, peer, port = _relay_pair(
        to_gateway=Impairment(delay_ms=60, jitter_ms=20, distribution="gaussian"), seed=1
    )
    with relay, gw, peer:
        t0 = time.monotonic()
        for i in range(20):
            peer.sendto(b"%02d" % i, ("127.0.0.2", port))
        first = gw.recv(100)
        elapsed = time.monotonic() - t0
        rest = _recv_all(gw, 19)
        assert elapsed >= 0.02, elapsed  # 60 ms +- 20 ms (gaussian, clipped at 0)
        assert [first, *rest] == [b"%02d" % i for i in range(20)]  # preserve_order


# =========================================================================== gateway driver

_STUB = """
import argparse, os, signal, socket, sys, time
ap = argparse.ArgumentParser()
ap.add_argument("cmd")
for opt in ("--bind", "--sip-port", "--rtp-ports", "--public-ip", "--agent",
            "--overload-lateness-ms", "--overload-cpu-percent"):
    ap.add_argument(opt)
ap.add_argument("--fail", action="store_true")
a = ap.parse_args()
if a.fail:
    print("boom: cannot start", file=sys.stderr)
    sys.exit(2)
terms = []
signal.signal(signal.SIGTERM, lambda *_: terms.append(1))  # before announcing readiness
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((a.bind, int(a.sip_port)))
print("flag=%s rtp=%s public=%s" % (os.environ.get("STUB_FLAG"), a.rtp_ports, a.public_ip))
print("listening on udp:%s:%d" % s.getsockname())
while not terms:
    time.sleep(0.01)
time.sleep(0.1)
print("SIGTERM x%d, bye" % len(terms))
sys.exit(0)
"""


def test_gateway_driver_with_stub_program(tmp_workdir: Path) -> None:
    stub = tmp_workdir / "stub_gateway.py"
    stub.write_text(_STUB)
    with GatewayProcess(
        tmp_workdir,
        public_ip="127.0.0.2",
        program=[sys.executable, str(stub)],
        extra_env={"STUB_FLAG": "on"},
    ) as gw:
        assert gw.sip_host == "127.0.0.1" and gw.sip_port > 0
        assert gw.uri() == f"sip:echo@127.0.0.1:{gw.sip_port}"
        assert gw.uri("bob") == f"sip:bob@127.0.0.1:{gw.sip_port}"
        first = gw.pid
        # ``with`` started it: a second start is refused, not a second gateway left running
        with pytest.raises(PeerError, match="already running"):
            gw.start()
        assert gw.pid == first
        assert gw.uri(host="127.0.0.2") == f"sip:echo@127.0.0.2:{gw.sip_port}"
        assert gw.target == f"127.0.0.1:{gw.sip_port}"
        assert gw.wait_log(r"flag=(\S+)")[1] == "on"
        assert f"rtp={gw.rtp_ports}" in gw.log_text() and "public=127.0.0.2" in gw.log_text()
        assert gw.stop(timeout=5) == 0
        assert "SIGTERM x1, bye" in gw.log_text()
        assert not gw.alive


def test_gateway_driver_reports_startup_failure(tmp_workdir: Path) -> None:
    stub = tmp_workdir / "stub_gateway.py"
    stub.write_text(_STUB)
    gw = GatewayProcess(tmp_workdir, program=[sys.executable, str(stub)], extra_args=["--fail"])
    with pytest.raises(PeerError, match=r"(?s)exited with code 2.*boom: cannot start"):
        gw.start()
    assert not gw.alive


def test_missing_program_fails_naming_the_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(MissingProgram, match="apt-get install .*baresip-core"):
        require_binary("baresip")


# =========================================================================== real peers


def test_baresip_to_baresip_tones_both_ways(tmp_workdir: Path, tone_wav: ToneWav) -> None:
    a_src = tone_wav(1000, 30, -9.0, lead_silence=0.3)
    b_src = tone_wav(440, 30, -12.0)
    with (
        Baresip(tmp_workdir, "b", user="b", answermode="auto", source_wav=b_src) as b,
        Baresip(tmp_workdir, "a", user="a", source_wav=a_src) as a,
    ):
        a.dial(b.uri)
        est = a.wait_event("CALL_ESTABLISHED", 5)
        assert est["peeruri"] == b.uri
        b.wait_event("CALL_ESTABLISHED", 5)
        time.sleep(1.5)  # the call's length: let audio flow
        a.hangup()
        assert a.wait_event("CALL_CLOSED", 5)["param"]
        assert b.wait_event("CALL_CLOSED", 5)["param"] == "Connection reset by peer"
        b_dec, b_enc = b.recordings()
        a_dec, a_enc = a.recordings()
    heard_by_b, heard_by_a = analyse(b_dec), analyse(a_dec)
    _assert_tone(heard_by_b, 1000, -9.0)
    _assert_tone(heard_by_a, 440, -12.0)
    _assert_tone(analyse(b_enc), 440, -12.0)
    onset_b, onset_a = heard_by_b.onset(), heard_by_a.onset()
    assert onset_b is not None and abs(onset_b - 0.3) <= 0.06, heard_by_b.describe()
    assert onset_a is not None and onset_a <= 0.06, heard_by_a.describe()


def test_baresip_dtmf_reaches_other_baresip(tmp_workdir: Path, tone_wav: ToneWav) -> None:
    src = tone_wav(1000)
    with (
        Baresip(tmp_workdir, "b", user="b", answermode="auto", source_wav=src) as b,
        Baresip(tmp_workdir, "a", user="a", source_wav=src) as a,
    ):
        a.dial(b.uri)
        a.wait_event("CALL_ESTABLISHED", 5)
        a.send_dtmf("1#9")
        got = [b.wait_event("CALL_DTMF_START", 2)["param"] for _ in range(3)]
        assert got == ["1", "#", "9"]
        a.hangup()
        b.wait_event("CALL_CLOSED", 5)


def test_baresip_calls_autoanswering_linphonec(tmp_workdir: Path, tone_wav: ToneWav) -> None:
    with (
        Linphonec(tmp_workdir, "lin", play=tone_wav(440), autoanswer=True, codecs=["PCMU"]) as lin,
        Baresip(tmp_workdir, "a", user="a", source_wav=tone_wav(1000)) as a,
    ):
        a.dial(lin.uri)
        a.wait_event("CALL_ESTABLISHED", 5)
        lin.wait(r"Call \d+ with .* connected", 5)
        time.sleep(1.2)  # the call's length
        a.send_dtmf("5")
        lin.wait(r"Receiving tone 5", 3)
        a.hangup()
        a.wait_event("CALL_CLOSED", 5)
        lin.wait_ended(5)
        a_dec, _ = a.recordings()
        lin_rx = lin.recording()
    _assert_tone(analyse(a_dec), 440)
    # linphonec ducks its recording briefly around DTMF and plays with gaps between loops
    _assert_tone(analyse(lin_rx), 1000, min_active=0.8)


def test_sipp_embedded_uac_against_baresip(tmp_workdir: Path) -> None:
    with Baresip(tmp_workdir, "b", user="b", answermode="auto") as b:
        res = run_sipp(
            ["-sn", "uac", f"127.0.0.1:{b.sip_port}", "-s", "b", "-m", "2", "-l", "1", "-d", "200"],
            timeout=15,
            cwd=tmp_workdir / "sipp",
        )
        res.assert_ok(successful=2)
        assert res.failed == 0
        assert len(res.received(r"^SIP/2.0 200")) == 4  # 2 x (INVITE, BYE)


def test_sipp_options_against_baresip(tmp_workdir: Path) -> None:
    with Baresip(tmp_workdir, "b", user="b", answermode="auto") as b:
        res = run_sipp(
            ["-sf", scenario("options.xml"), f"127.0.0.1:{b.sip_port}", "-s", "b", "-m", "1"],
            timeout=10,
            cwd=tmp_workdir / "sipp",
        )
        res.assert_ok(successful=1)
        (reply,) = res.received(r"^SIP/2.0 200")
        assert "Allow:" in reply


def test_sipp_cancel_against_ringing_baresip(tmp_workdir: Path) -> None:
    with Baresip(tmp_workdir, "m", user="m") as m:  # no answermode: it rings
        res = run_sipp(
            ["-sf", scenario("uac_cancel.xml"), f"127.0.0.1:{m.sip_port}", "-s", "m", "-m", "1"],
            timeout=10,
            cwd=tmp_workdir / "sipp",
        )
        res.assert_ok(successful=1)
        assert len(res.received(r"^SIP/2.0 487")) == 1  # our ACK stopped its retransmissions
        assert m.wait_event("CALL_CLOSED", 3)


def test_sipp_pcap_uac_tone_and_dtmf_against_baresip(tmp_workdir: Path) -> None:
    cwd = tmp_workdir / "sipp"
    _, seconds = write_uac_media(cwd, tone_hz=1000, seconds=1.2, digits="4*", after_seconds=0.3)
    with Baresip(tmp_workdir, "b", user="b", answermode="auto") as b:
        res = run_sipp(
            ["-sf", scenario("uac_pcap.xml"), f"127.0.0.1:{b.sip_port}", "-s", "b", "-m", "1"]
            + ["-d", str(int(seconds * 1000) + 200)],
            timeout=15,
            cwd=cwd,
        )
        res.assert_ok(successful=1)
        digits = [b.wait_event("CALL_DTMF_START", 2)["param"] for _ in range(2)]
        assert digits == ["4", "*"]
        b.wait_event("CALL_CLOSED", 3)
        dec, _ = b.recordings()
    _assert_tone(analyse(dec), 1000)


def test_baresip_calls_sipp_uas_with_rtp_echo(tmp_workdir: Path, tone_wav: ToneWav) -> None:
    uas = start_sipp(
        ["-sf", scenario("uas.xml"), "-rtp_echo", "-m", "1"], timeout=15, cwd=tmp_workdir / "uas"
    )
    with uas, Baresip(tmp_workdir, "a", user="a", source_wav=tone_wav(1000)) as a:
        uas.wait_ready()
        assert udp_port_bound(uas.local_port)
        a.dial(f"sip:uas@{uas.target}")
        a.wait_event("CALL_ESTABLISHED", 5)
        time.sleep(1.2)  # the call's length
        a.hangup()
        a.wait_event("CALL_CLOSED", 5)
        uas.wait(timeout=5).assert_ok(successful=1)
        dec, _ = a.recordings()
    _assert_tone(analyse(dec), 1000)  # its own tone, echoed by SIPp
