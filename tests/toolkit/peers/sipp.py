"""SIPp 3.6.1 (Debian ``sip-tester``) runs, and the media pcaps its scenarios play.

``run_sipp(["-sf", scenario("options.xml"), "127.0.0.1:5080", "-s", "echo", "-m", "1"],
timeout=10, cwd=workdir)`` adds ``-nostdin``, ``-i``/``-mi 127.0.0.1``, free ``-p``/``-mp`` ports,
a global ``-timeout`` and trace files in ``cwd`` unless the arguments already set them, and
returns a :class:`SippResult` (exit code 0 = every call succeeded, 1 = some call failed, 97/99 =
stopped without calls...). For SIPp running alongside other peers (a UAS, or a load
generator) use :class:`SippProcess` (``start_sipp``); ``timeout=None`` runs it until
:meth:`SippProcess.stop`. Scenario files live in ``scenarios/`` beside this module.
"""

from __future__ import annotations

import csv
import itertools
import re
import signal
import struct
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from sipgw.app.evaluation.audio import encode, tone_samples
from sipgw.app.evaluation.ports import free_port, free_port_range, wait_udp_bound
from sipgw.app.evaluation.process import ManagedProcess, PeerError, require_binary, tail

__all__ = [
    "SCENARIO_DIR",
    "SippProcess",
    "SippResult",
    "rtp_event_payload",
    "run_sipp",
    "scenario",
    "start_sipp",
    "stat_count",
    "stat_row",
    "write_rtp_pcap",
    "write_uac_media",
]

SCENARIO_DIR = Path(__file__).resolve().parent / "scenarios"
TRACES = ("stat", "messages", "errors", "screen")
PCAP_DIR = Path("/usr/share/sip-tester")  # packaged g711a.pcap (A-law!), dtmf_2833_*.pcap
_run_ids = itertools.count(1)


def scenario(name: str) -> str:
    """Absolute path of a scenario in :data:`SCENARIO_DIR`."""
    path = SCENARIO_DIR / name
    if not path.is_file():
        raise FileNotFoundError(f"no SIPp scenario {path}")
    return str(path)


# --------------------------------------------------------------------------- results


@dataclass
class SippResult:
    """Outcome of one SIPp run."""

    cmd: list[str]
    returncode: int | None  # None: killed by the harness timeout
    stdout: str
    stderr: str
    successful: int | None  # from the -trace_stat CSV, else the final screen
    failed: int | None
    cwd: Path
    log_path: Path
    files: dict[str, Path] = field(default_factory=dict)  # stat, messages, errors, screen
    stat: dict[str, str] = field(default_factory=dict)  # the last -trace_stat row, by column

    @property
    def ok(self) -> bool:
        """Every call succeeded (exit code 0)."""
        return self.returncode == 0

    @property
    def timed_out(self) -> bool:
        return self.returncode is None

    def file_text(self, kind: str) -> str:
        path = self.files.get(kind)
        try:
            return path.read_text("utf-8", "replace") if path else ""
        except OSError:
            return ""

    @property
    def messages(self) -> str:
        """The ``-trace_msg`` log: every SIP message sent and received."""
        return self.file_text("messages")

    @property
    def errors(self) -> str:
        """The ``-trace_err`` log: unexpected messages and errors."""
        return self.file_text("errors")

    def received(self, first_line: str) -> list[str]:
        """Received messages whose first line matches the regex ``first_line``."""
        out = []
        for block in re.split(r"\n-{20,}[^\n]*\n", self.messages):
            head, _, body = block.partition(" message received")
            if not body:
                continue
            msg = body.split("\n\n", 1)[-1].lstrip("\n")
            if re.search(first_line, msg.split("\n", 1)[0]):
                out.append(msg)
        return out

    def describe(self, lines: int = 30) -> str:
        parts = [
            f"sipp: {' '.join(self.cmd)}",
            f"returncode={self.returncode} successful={self.successful} failed={self.failed}",
            f"--- stdout tail ({self.log_path}) ---\n{tail(self.log_path, lines)}",
        ]
        if self.stderr.strip():
            parts.append(f"--- stderr ---\n{self.stderr[-4000:]}")
        if self.errors:
            parts.append(
                f"--- errors ({self.files['errors']}) ---\n{tail(self.files['errors'], lines)}"
            )
        if self.messages:
            parts.append(
                f"--- messages tail ({self.files['messages']}) ---\n"
                f"{tail(self.files['messages'], lines)}"
            )
        return "\n".join(parts)

    def assert_ok(self, successful: int | None = None) -> SippResult:
        """Raise PeerError (with logs) unless every call succeeded (and ``successful`` did)."""
        if not self.ok or (successful is not None and self.successful != successful):
            want = "" if successful is None else f" (expected {successful} successful)"
            raise PeerError(f"SIPp run failed{want}\n{self.describe()}")
        return self


def _last_int(text: str, label: str) -> int | None:
    hits = re.findall(rf"{label}\s*\|\s*\d+\s*\|\s*(\d+)", text)
    return int(hits[-1]) if hits else None


def stat_row(path: Path) -> dict[str, str]:
    """The last row of a ``-trace_stat`` CSV, by column name (empty when there is none)."""
    try:
        with path.open(newline="") as f:
            rows = [row for row in csv.reader(f, delimiter=";") if row]
    except OSError:
        return {}
    if len(rows) < 2:
        return {}
    return dict(zip(rows[0], rows[-1], strict=False))


def stat_count(stat: dict[str, str], column: str) -> int | None:
    """A counter of a :func:`stat_row` (``"SuccessfulCall(C)"``...), or None."""
    try:
        return int(float(stat[column]))
    except (KeyError, ValueError):
        return None


# --------------------------------------------------------------------------- running


def _has(args: Sequence[str], *options: str) -> bool:
    return any(a in options for a in args)


class SippProcess:
    """A SIPp run in the background (context manager); ``wait()`` gives the :class:`SippResult`.

    ``traces`` names the trace files SIPp writes (``stat``, ``messages``, ``errors``,
    ``screen``); a load run keeps only ``stat``, a measured one none (logging every message
    costs CPU). ``timeout=None`` runs SIPp without a time bound, as its own process
    (``pid``), until :meth:`stop`; ``cpu`` pins it with ``taskset``.
    """

    def __init__(
        self,
        args: Sequence[str],
        *,
        timeout: float | None,
        cwd: str | Path,
        name: str | None = None,
        local_ip: str = "127.0.0.1",
        traces: Collection[str] = TRACES,
        cpu: int | None = None,
    ) -> None:
        self.cwd = Path(cwd).resolve()
        self.cwd.mkdir(parents=True, exist_ok=True)
        run = next(_run_ids)
        self.name = name or f"sipp{run}"
        self.timeout = timeout
        args = [str(a) for a in args]
        extra: list[str] = []
        if not _has(args, "-nostdin"):
            extra.append("-nostdin")
        if not _has(args, "-i"):
            extra += ["-i", local_ip]
        if not _has(args, "-mi"):
            extra += ["-mi", local_ip]
        if _has(args, "-p"):
            self.local_port = int(args[args.index("-p") + 1])
        else:
            self.local_port = free_port()
            extra += ["-p", str(self.local_port)]
        if not _has(args, "-mp"):
            extra += ["-mp", str(free_port_range(4).lo)]  # RTP (+1) and video (+2, +3)
        if timeout is not None and not _has(args, "-timeout"):
            # SIPp's own global timeout ends the run with statistics before the hard kill
            extra += ["-timeout", f"{max(1, int(timeout) - 1)}s", "-timeout_error"]
        self.files = {
            "stat": self.cwd / f"{self.name}_stat.csv",
            "messages": self.cwd / f"{self.name}_messages.log",
            "errors": self.cwd / f"{self.name}_errors.log",
            "screen": self.cwd / f"{self.name}_screen.log",
        }
        if "stat" in traces and not _has(args, "-trace_stat"):
            extra += ["-trace_stat", "-stf", str(self.files["stat"]), "-fd", "1"]
        if "messages" in traces and not _has(args, "-trace_msg"):
            extra += ["-trace_msg", "-message_file", str(self.files["messages"])]
        if "errors" in traces and not _has(args, "-trace_err"):
            extra += ["-trace_err", "-error_file", str(self.files["errors"])]
        if "screen" in traces and not _has(args, "-trace_screen"):
            extra += ["-trace_screen", "-screen_file", str(self.files["screen"])]
        self.cmd = ["sipp", *args, *extra]
        self.log_path = self.cwd / f"{self.name}.log"
        self.stderr_path = self.cwd / f"{self.name}.stderr"
        self.process = ManagedProcess(
            self.name,
            self.cmd,
            log_path=self.log_path,
            stderr_path=self.stderr_path,
            lifetime=None if timeout is None else timeout + 1,
            kill_after=2,
            cwd=self.cwd,
            cpu=cpu,
        )
        self.result: SippResult | None = None

    def start(self) -> SippProcess:
        require_binary("sipp")
        self.process.start()
        return self

    @property
    def target(self) -> str:
        """``127.0.0.1:PORT`` of SIPp's SIP socket (``-p``)."""
        return f"127.0.0.1:{self.local_port}"

    @property
    def pid(self) -> int | None:
        """The started program's pid (SIPp's own when ``timeout`` is None)."""
        return self.process.pid

    @property
    def alive(self) -> bool:
        return self.process.alive

    def stop(self, timeout: float = 10.0) -> SippResult:
        """SIGTERM, wait up to ``timeout`` s (then SIGKILL), and collect the result."""
        self.process.send_signal(signal.SIGTERM)
        return self.wait(timeout)

    def wait_ready(self, timeout: float = 5.0) -> SippProcess:
        """Wait until SIPp has bound its SIP port (before another peer calls it)."""
        if not wait_udp_bound(self.local_port, timeout):
            self.process.kill()
            raise PeerError(
                f"SIPp did not bind UDP {self.local_port} within {timeout}s\n"
                f"{self.process.log_tail()}"
            )
        return self

    def __enter__(self) -> SippProcess:
        return self if self.process.proc is not None else self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.process.kill()

    def wait(self, timeout: float | None = None) -> SippResult:
        """Wait for SIPp to finish (SIGKILL after ``timeout``, default the run's) and collect."""
        if self.result is not None:
            return self.result
        if timeout is None and self.timeout is not None:
            timeout = self.timeout + 3
        rc = self.process.wait(3600.0 if timeout is None else timeout)
        if rc is None:
            self.process.kill()
        elif rc == 124 and self.timeout is not None:  # timeout(1) had to stop it
            rc = None
        output = self.process.log_text()
        stat = stat_row(self.files["stat"])
        successful = stat_count(stat, "SuccessfulCall(C)")
        failed = stat_count(stat, "FailedCall(C)")
        screen = output + "\n" + _read(self.files["screen"])
        if successful is None:
            successful = _last_int(screen, "Successful call")
        if failed is None:
            failed = _last_int(screen, "Failed call")
        self.result = SippResult(
            cmd=self.cmd,
            returncode=rc,
            stdout=output,
            stderr=_read(self.stderr_path),
            successful=successful,
            failed=failed,
            cwd=self.cwd,
            log_path=self.log_path,
            files={k: p for k, p in self.files.items() if p.exists()},
            stat=stat,
        )
        return self.result


def _read(path: Path) -> str:
    try:
        return path.read_text("utf-8", "replace")
    except OSError:
        return ""


def start_sipp(
    args: Sequence[str], *, timeout: float, cwd: str | Path, name: str | None = None
) -> SippProcess:
    """Start SIPp in the background (see :class:`SippProcess`)."""
    return SippProcess(args, timeout=timeout, cwd=cwd, name=name).start()


def run_sipp(
    args: Sequence[str], *, timeout: float, cwd: str | Path, name: str | None = None
) -> SippResult:
    """Run SIPp to completion (bounded by ``timeout`` s) and return its :class:`SippResult`."""
    with SippProcess(args, timeout=timeout, cwd=cwd, name=name) as proc:
        return proc.wait()


# --------------------------------------------------------------------------- media pcaps


def rtp_event_payload(digit: str, end: bool, duration: int, volume: int = 10) -> bytes:
    """RFC 4733 telephone-event payload for ``digit`` (0-9 * # A-D)."""
    events = "0123456789*#ABCD"
    code = events.index(digit.upper())
    return struct.pack("!BBH", code, (0x80 if end else 0) | (volume & 0x3F), duration)


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = int(sum(struct.unpack(f"!{len(data) // 2}H", data)))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def write_rtp_pcap(
    path: str | Path,
    packets: Sequence[tuple[float, bytes]],
    *,
    src: tuple[str, int] = ("127.0.0.1", 40000),
    dst: tuple[str, int] = ("127.0.0.1", 40002),
) -> Path:
    """Write ``(time_s, rtp_packet)`` pairs as an Ethernet/IPv4/UDP pcap (what SIPp replays).

    SIPp's ``play_pcap_audio`` keeps the RTP header and timing and replaces addresses and ports
    with the call's.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    out = bytearray(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
    sip, dip = (bytes(int(x) for x in a.split(".")) for a in (src[0], dst[0]))
    for ident, (t, rtp) in enumerate(packets):
        udp = struct.pack("!HHHH", src[1], dst[1], 8 + len(rtp), 0) + rtp
        ip = struct.pack(
            "!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), ident & 0xFFFF, 0, 64, 17, 0, sip, dip
        )
        ip = ip[:10] + struct.pack("!H", _checksum(ip)) + ip[12:]
        frame = b"\0\0\0\0\0\x02" + b"\0\0\0\0\0\x01" + b"\x08\x00" + ip + udp
        sec = int(t)
        usec = round((t - sec) * 1e6)
        out += struct.pack("<IIII", sec, usec, len(frame), len(frame)) + frame
    path.write_bytes(bytes(out))
    return path


def write_uac_media(
    cwd: str | Path,
    *,
    tone_hz: float | None = 1000.0,
    seconds: float = 2.0,
    digits: str = "",
    after_seconds: float = 0.5,
    dbfs: float = -9.0,
    digit_ms: int = 160,
    gap_ms: int = 100,
    payload_type: int = 0,
    event_payload_type: int = 101,
    ssrc: int = 0x5EED0001,
    name: str = "uac_media.pcap",
) -> tuple[Path, float]:
    """Write the pcap that ``uac_pcap.xml`` plays into ``cwd``; returns (path, duration s).

    Mu-law (PT 0) audio of a ``tone_hz`` sine (None: silence) for ``seconds``, then each digit as
    RFC 4733 events (``digit_ms`` long, 3 end packets, audio paused) followed by ``gap_ms`` of
    silence, then ``after_seconds`` more tone. One SSRC, continuous sequence numbers and
    timestamps, 20 ms packets.
    """
    packets: list[tuple[float, bytes]] = []
    seq, ts, t = 0, 0, 0.0

    def rtp(pt: int, marker: bool, payload: bytes, stamp: int) -> bytes:
        return (
            struct.pack("!BBHII", 0x80, (0x80 if marker else 0) | pt, seq & 0xFFFF, stamp, ssrc)
            + payload
        )

    def audio(duration: float, hz: float | None, first: bool = False) -> None:
        nonlocal seq, ts, t
        n = round(duration / 0.02)
        samples = tone_samples(hz, n * 0.02, dbfs) if hz else [0] * (n * 160)
        for i in range(n):
            chunk = encode(samples[i * 160 : (i + 1) * 160])
            packets.append((t, rtp(payload_type, first and i == 0, chunk, ts)))
            seq, ts, t = seq + 1, ts + 160, t + 0.02

    audio(seconds, tone_hz, first=True)
    for digit in digits:
        start_ts = ts
        steps = max(1, digit_ms // 20)
        for i in range(1, steps + 1):
            end = i == steps
            for _ in range(3 if end else 1):
                payload = rtp_event_payload(digit, end, i * 160)
                packets.append((t, rtp(event_payload_type, i == 1, payload, start_ts)))
                seq += 1
            t += 0.02
        ts = start_ts + steps * 160
        audio(gap_ms / 1000, None)
    if after_seconds > 0:
        audio(after_seconds, tone_hz)
    path = write_rtp_pcap(Path(cwd) / name, packets)
    return path, t
