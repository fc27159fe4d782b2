"""baresip 1.0.0 (Debian ``baresip-core``) as a headless SIP peer driven over ``ctrl_tcp``.

Audio is file based: the call sends ``source_wav`` (must be 8 kHz mono s16; when the file ends
baresip hangs up, so make it longer than the call) and the ``sndfile`` filter records the received
and sent audio of every call to ``dump-<time>-dec.wav`` / ``-enc.wav`` in the recording dir
(names have 1 s resolution: do not start two calls on one instance within a second). RTP gaps are
not represented in recordings.

Quirks handled here: ``net_interface 127.0.0.1`` (else SDP carries eth0's address), SIP port + 1 is
taken by TLS (ports are allocated with span 2), SIGTERM/quit waits up to ~32 s for pending
transactions (teardown SIGKILLs), incoming requests must address the account user (else 404).
"""

from __future__ import annotations

import contextlib
import datetime
import json
import re
import socket
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from sipgw.app.evaluation.audio import wav_has_begun, wav_is_complete, write_pattern
from sipgw.app.evaluation.ports import PortRange, free_port, free_port_range
from sipgw.app.evaluation.process import ManagedProcess, PeerContext, PeerError, require_binary

__all__ = ["Baresip", "CtrlClient"]

MODULE_DIR = Path("/usr/lib/baresip/modules")


class CtrlClient:
    """Client for baresip's ctrl_tcp: netstring-framed JSON commands, responses and events."""

    def __init__(self, port: int, host: str = "127.0.0.1", connect_timeout: float = 1.0) -> None:
        self.sock = socket.create_connection((host, port), timeout=connect_timeout)
        self.sock.settimeout(None)
        self._cond = threading.Condition()
        self._responses: dict[str, dict[str, Any]] = {}
        self.events: list[dict[str, Any]] = []  # every event, with "received_at" (monotonic)
        self._consumed: set[int] = set()
        self.closed = False
        self._seq = 0
        self._reader = threading.Thread(target=self._read, name=f"ctrl-{port}", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        buf = b""
        try:
            while True:
                chunk = self.sock.recv(65536)
                if not chunk:
                    break
                buf += chunk
                while True:
                    head, sep, rest = buf.partition(b":")
                    if not sep or not head.isdigit():
                        break
                    n = int(head)
                    if len(rest) < n + 1:
                        break
                    payload, buf = rest[:n], rest[n + 1 :]
                    self._dispatch(json.loads(payload))
        except (OSError, ValueError):
            pass
        with self._cond:
            self.closed = True
            self._cond.notify_all()

    def _dispatch(self, msg: dict[str, Any]) -> None:
        with self._cond:
            if msg.get("event"):
                msg["received_at"] = time.monotonic()
                self.events.append(msg)
            elif msg.get("response"):
                self._responses[str(msg.get("token"))] = msg
            self._cond.notify_all()

    def request(
        self, command: str, params: str | None = None, timeout: float = 5.0
    ) -> dict[str, Any]:
        """Send one command and return its response (``{"ok": bool, "data": str, ...}``)."""
        with self._cond:
            self._seq += 1
            token = f"t{self._seq}"
        obj: dict[str, Any] = {"command": command, "token": token}
        if params is not None:
            obj["params"] = params
        data = json.dumps(obj).encode()
        try:
            self.sock.sendall(b"%d:%s," % (len(data), data))
        except OSError as exc:
            raise PeerError(f"ctrl_tcp: cannot send {command!r}: {exc}") from exc
        deadline = time.monotonic() + timeout
        with self._cond:
            while token not in self._responses:
                left = deadline - time.monotonic()
                if left <= 0 or self.closed:
                    raise PeerError(f"ctrl_tcp: no response to {command!r} within {timeout}s")
                self._cond.wait(left)
            return self._responses.pop(token)

    def wait_event(
        self, etype: str, timeout: float, param: str | None = None
    ) -> dict[str, Any] | None:
        """Oldest not yet returned event of ``etype`` (and ``param``); None on timeout."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for i, ev in enumerate(self.events):
                    if i in self._consumed or ev.get("type") != etype:
                        continue
                    if param is not None and ev.get("param") != param:
                        continue
                    self._consumed.add(i)
                    return ev
                left = deadline - time.monotonic()
                if left <= 0 or self.closed:
                    return None
                self._cond.wait(left)

    def consume_all(self) -> None:
        """Take every event so far as returned (:meth:`wait_event` waits for new ones)."""
        with self._cond:
            self._consumed.update(range(len(self.events)))

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(OSError):
            self.sock.close()
        self._reader.join(timeout=2)


def _rtp_range(spec: PortRange | str | None) -> str:
    if spec is None:
        return str(free_port_range(10))
    return str(spec)


class Baresip(PeerContext):
    """A headless baresip UA (context manager).

    ``Baresip(workdir, "b", user="b", answermode="auto", source_wav=tone)`` writes
    ``workdir/b/{config,accounts}``, records to ``workdir/b/rec`` and logs to ``workdir/b.log``.
    Ports default to free ones. ``account`` replaces the whole account line (``{sip_port}`` is
    filled in); otherwise it is ``<sip:USER@HOST:PORT>;regint=0;audio_codecs=CODEC``
    plus ``;answermode=...`` and ``account_params``.

    Registering: pass an account line such as ``Kamailio.account_line(user, transport="tls")``
    (``<sip:USER@REGISTRAR;transport=tls>;auth_pass=PW;regint=60``; ``;outbound="URI"`` sends
    every request through a proxy) and call :meth:`wait_registered`. ``tls_ca`` (``sip_cafile``)
    is the CA that TLS servers are checked against, ``tls_certificate`` (``sip_certificate``,
    certificate + key in one PEM) baresip's own. ``mediaenc="srtp-mand"`` loads ``srtp.so``
    and makes SDES-SRTP mandatory (``srtp`` offers it). ``host`` is the address SIP and RTP
    bind to (default 127.0.0.1); ctrl_tcp always listens on 127.0.0.1.
    baresip 1.0 digest supports MD5 only (SHA-256 challenges fail "Function not implemented").
    """

    def __init__(
        self,
        workdir: str | Path,
        name: str = "baresip",
        *,
        user: str = "b",
        source_wav: str | Path | None = None,
        codec: str = "pcmu",
        answermode: str | None = None,
        account: str | None = None,
        account_params: str = "",
        sip_port: int | None = None,
        rtp_ports: PortRange | str | None = None,
        ctrl_port: int | None = None,
        lifetime: float = 90.0,
        sip_trace: bool = True,
        extra_config: Mapping[str, str] | None = None,
        start_timeout: float = 5.0,
        mediaenc: str | None = None,
        tls_ca: str | Path | None = None,
        tls_certificate: str | Path | None = None,
        modules: Sequence[str] = (),
        host: str = "127.0.0.1",
    ) -> None:
        self.workdir = Path(workdir).resolve()
        self.name = name
        self.user = user
        self.codec = codec
        self.answermode = answermode
        self._account_template = account
        self.account_params = account_params
        self._fixed_ports = sip_port is not None or ctrl_port is not None or rtp_ports is not None
        self.sip_port = sip_port or 0
        self.ctrl_port = ctrl_port or 0
        self._rtp_spec = rtp_ports
        self.rtp_ports = ""
        self.lifetime = lifetime
        self.sip_trace = sip_trace
        self.extra_config = dict(extra_config or {})
        self.start_timeout = start_timeout
        self.mediaenc = mediaenc
        self.host = host
        self.tls_ca = Path(tls_ca).resolve() if tls_ca else None
        self.tls_certificate = Path(tls_certificate).resolve() if tls_certificate else None
        self.modules = list(modules)
        if mediaenc and "srtp.so" not in self.modules and mediaenc.startswith("srtp"):
            self.modules.append("srtp.so")
        self.config_dir = self.workdir / name
        self.rec_dir = self.config_dir / "rec"
        self.log_path = self.workdir / f"{name}.log"
        self.source_wav = Path(source_wav).resolve() if source_wav else None
        self.process: ManagedProcess | None = None
        self.ctrl: CtrlClient | None = None

    # ------------------------------------------------------------------ setup
    @property
    def account_line(self) -> str:
        if self._account_template is not None:
            line = self._account_template.format(sip_port=self.sip_port, user=self.user)
        else:
            line = (
                f"<sip:{self.user}@{self.host}:{self.sip_port}>;regint=0;audio_codecs={self.codec}"
            )
            if self.answermode:
                line += f";answermode={self.answermode}"
            if self.account_params:
                line += ";" + self.account_params.lstrip(";")
        if self.mediaenc and ";mediaenc=" not in line:
            line += f";mediaenc={self.mediaenc}"
        return line

    @property
    def aor(self) -> str:
        """The account's address of record (the URI in the account line's ``<...>``)."""
        line = self.account_line
        if line.startswith("<") and ">" in line:
            return line[1 : line.index(">")]
        return line.split(";", 1)[0]

    @property
    def uri(self) -> str:
        """SIP URI that reaches this UA's account."""
        return f"sip:{self.user}@{self.host}:{self.sip_port}"

    def _write_config(self) -> None:
        self.config_dir.mkdir(parents=True, exist_ok=True)
        self.rec_dir.mkdir(parents=True, exist_ok=True)
        if self.source_wav is None:
            # nothing to say: 2 minutes of digital silence (the call ends when the file does)
            self.source_wav = write_pattern(self.config_dir / "silence.wav", [(None, 120.0)])
        settings: dict[str, str] = {
            "poll_method": "epoll",
            "net_interface": self.host,
            "sip_listen": f"{self.host}:{self.sip_port}",
            "call_local_timeout": "30",
            "call_max_calls": "4",
            "audio_source": f"aufile,{self.source_wav}",
            "audio_buffer": "20-160",
            "ausrc_format": "s16",
            "auplay_format": "s16",
            "auenc_format": "s16",
            "audec_format": "s16",
            "rtp_ports": self.rtp_ports,
            "rtcp_mux": "no",
            "jitter_buffer_delay": "1-10",
            "rtp_stats": "yes",
            "module_path": str(MODULE_DIR),
            "statmode_default": "off",
            "ringback_disabled": "yes",
            "ctrl_tcp_listen": f"127.0.0.1:{self.ctrl_port}",
            "snd_path": str(self.rec_dir),
        }
        if self.tls_ca is not None:
            settings["sip_cafile"] = str(self.tls_ca)
        if self.tls_certificate is not None:
            settings["sip_certificate"] = str(self.tls_certificate)
        settings.update(self.extra_config)
        lines = ["# written by tests/toolkit/peers/baresip.py"]
        lines += [f"{key}\t{value}" for key, value in settings.items()]
        # no audio driver: nothing plays; sndfile still records what is decoded and encoded
        lines += [
            "module\tg711.so",
            "module\taufile.so",
            "module\tsndfile.so",
            *(f"module\t{mod}" for mod in self.modules),
            "module_tmp\taccount.so",
            "module_app\tmenu.so",
            "module_app\tctrl_tcp.so",
        ]
        (self.config_dir / "config").write_text("\n".join(lines) + "\n")
        (self.config_dir / "accounts").write_text(self.account_line + "\n")

    @property
    def rtp_port_range(self) -> range:
        """The ports its RTP may use (``rtp_ports``, ``lo-hi``), once started."""
        lo, hi = (int(part) for part in self.rtp_ports.split("-"))
        return range(lo, hi + 1)

    def start(self) -> Baresip:
        """Write the config, start baresip and connect to ctrl_tcp (retrying on port races)."""
        require_binary("baresip")
        for mod in ("ctrl_tcp.so", "sndfile.so", "aufile.so", "g711.so"):
            if not (MODULE_DIR / mod).exists():
                raise PeerError(f"baresip module {MODULE_DIR / mod} missing (package baresip-core)")
        attempts = 1 if self._fixed_ports else 3
        last_error = ""
        for _ in range(attempts):
            if not self._fixed_ports or not self.sip_port:
                self.sip_port = free_port(span=2)  # TLS binds sip_port + 1
            if not self._fixed_ports or not self.ctrl_port:
                self.ctrl_port = free_port()
            self.rtp_ports = _rtp_range(self._rtp_spec)
            self._write_config()
            argv = ["baresip", "-4", "-f", str(self.config_dir)]
            if self.sip_trace:
                argv.append("-s")
            self.process = ManagedProcess(
                f"baresip-{self.name}", argv, log_path=self.log_path, lifetime=self.lifetime
            )
            self.process.start()
            last_error = self._connect()
            if not last_error:
                return self
            self.process.kill()
        raise PeerError(f"baresip {self.name} did not start: {last_error}\n{self.log_tail()}")

    def _connect(self) -> str:
        """Connect to our own ctrl_tcp; an error text ("" on success)."""
        assert self.process is not None
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if not self.process.alive:
                return f"exited early with code {self.process.returncode}"
            try:
                ctrl = CtrlClient(self.ctrl_port)
            except OSError:
                time.sleep(0.02)
                continue
            try:
                info = ctrl.request("reginfo", timeout=2.0)
            except PeerError as exc:
                ctrl.close()
                return str(exc)
            if self.aor.split(";", 1)[0] not in str(info.get("data")):
                ctrl.close()  # somebody else's ctrl_tcp on our port
                return f"ctrl_tcp port {self.ctrl_port} answered for another UA: {info}"
            self.ctrl = ctrl
            return ""
        return f"ctrl_tcp 127.0.0.1:{self.ctrl_port} not accepting after {self.start_timeout}s"

    # ------------------------------------------------------------------ control
    def _ctrl(self) -> CtrlClient:
        if self.ctrl is None:
            raise PeerError(f"baresip {self.name} is not running")
        return self.ctrl

    def command(
        self, command: str, params: str | None = None, *, check: bool = True, timeout: float = 5.0
    ) -> dict[str, Any]:
        """Run a menu long command (``dial``, ``hangup``, ``accept``, ``listcalls``, ...)."""
        try:
            resp = self._ctrl().request(command, params, timeout=timeout)
        except PeerError as exc:
            raise PeerError(f"baresip {self.name}: {exc}\n{self.log_tail()}") from exc
        if check and not resp.get("ok"):
            raise PeerError(
                f"baresip {self.name}: command {command} {params or ''} failed: {resp}\n"
                f"{self.log_tail()}"
            )
        return resp

    def reginfo(self) -> str:
        """baresip's registration table (``reginfo``), without colour codes."""
        data = str(self.command("reginfo").get("data", ""))
        return re.sub(r"\x1b\[[0-9;]*m", "", data)

    def wait_registered(self, timeout: float = 10.0) -> str:
        """Wait until the account shows ``OK`` in ``reginfo`` (REGISTER_OK events fire before
        a client can connect, so this polls); returns the reginfo line. PeerError on timeout."""
        deadline = time.monotonic() + timeout
        while True:
            for line in self.reginfo().splitlines():
                if self.aor.split(";", 1)[0] in line and re.search(r"\bOK\b", line):
                    return line.strip()
            if time.monotonic() > deadline:
                raise PeerError(
                    f"baresip {self.name}: {self.aor} not registered after {timeout}s: "
                    f"{self.reginfo()!r}\n{self.log_tail()}"
                )
            time.sleep(0.05)

    def dial(self, uri: str) -> dict[str, Any]:
        """Place a call (progress shows up as CALL_RINGING / CALL_ESTABLISHED events)."""
        return self.command("dial", uri)

    def accept(self) -> dict[str, Any]:
        """Answer the incoming call (for ``answermode`` manual)."""
        return self.command("accept")

    def hangup(self) -> dict[str, Any]:
        """Hang up the current call (no error if there is none)."""
        return self.command("hangup", check=False)

    def play(self, wav: Path) -> dict[str, Any]:
        """Switch the call's audio source to ``wav`` (menu ``ausrc``): it plays from its start,
        so a test can make the caller speak when it is ready rather than at a fixed time."""
        return self.command("ausrc", f"aufile,{wav}")

    def send_dtmf(self, digits: str, gap: float = 0.3) -> None:
        """Send RFC 4733 digits, one ``sndcode`` per digit, ``gap`` s apart (baresip needs that)."""
        for i, digit in enumerate(digits):
            if i:
                time.sleep(gap)
            self.command("sndcode", digit)

    def wait_event(
        self, etype: str, timeout: float = 5.0, *, param: str | None = None
    ) -> dict[str, Any]:
        """The oldest not yet returned event of ``etype`` (e.g. CALL_ESTABLISHED, CALL_CLOSED
        whose ``param`` is the reason, CALL_DTMF_START whose ``param`` is the digit).

        Each event dict has ``received_at`` (time.monotonic()). Raises PeerError on timeout.
        """
        ev = self._ctrl().wait_event(etype, timeout, param=param)
        if ev is None:
            seen = [(e.get("type"), e.get("param")) for e in self.events]
            raise PeerError(
                f"baresip {self.name}: no {etype}{'=' + param if param else ''} within {timeout}s;"
                f" events so far: {seen}\n{self.log_tail()}"
            )
        return ev

    def forget_events(self) -> None:
        """Take every event received so far as returned: :meth:`wait_event` then waits for
        new ones (a UA reused call after call)."""
        self._ctrl().consume_all()

    @property
    def events(self) -> list[dict[str, Any]]:
        """All events received so far (oldest first)."""
        return list(self.ctrl.events) if self.ctrl else []

    def quit(self, timeout: float = 5.0) -> int | None:
        """Ask baresip to exit; SIGKILL it if it is still running after ``timeout`` s."""
        if self.process is None:
            return None
        if self.ctrl is not None and self.process.alive:
            with contextlib.suppress(PeerError):
                self.ctrl.request("quit", timeout=1.0)
        rc = self.process.wait(timeout)
        if rc is None:
            self.process.kill()
            rc = self.process.returncode
        if self.ctrl is not None:
            self.ctrl.close()
            self.ctrl = None
        return rc

    def close(self) -> None:
        """Stop baresip (quick quit, then SIGKILL) and release everything."""
        if self.process is not None:
            self.quit(timeout=0.5)

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.alive

    # ------------------------------------------------------------------ recordings & logs
    def all_recordings(self) -> list[tuple[Path, Path]]:
        """``(dec, enc)`` WAV pairs of every call so far, oldest first, each received file
        readable (:func:`~sipgw.app.evaluation.audio.read_wav`) as it is written.

        baresip names each file by the second it opens it: the sent audio's when the call
        starts, the received audio's at its first packet, a few milliseconds apart, which can
        fall on either side of a second's turn. A call's files are the two of the same
        second, else of the seconds next to each other; a received file with no sent one
        near it is paired with the name the sent one would have (never complete).

        libsndfile creates a file, then writes its header: a received file without its header
        yet (a moment after the first packet, longer on a loaded machine) is not listed until
        it has one (the CI failure: a wait for a tone read the new file at its first packet
        and raised "not a RIFF/WAVE file").
        """
        return [(dec, enc) for dec, enc in self._pairs() if wav_has_begun(dec)]

    def _pairs(self) -> list[tuple[Path, Path]]:
        """Every ``(dec, enc)`` pair on disk, begun or not (see :meth:`all_recordings`)."""
        encs = {_dump_second(enc): enc for enc in self.rec_dir.glob("dump-*-enc.wav")}
        pairs = []
        for dec in sorted(self.rec_dir.glob("dump-*-dec.wav")):
            second = _dump_second(dec)
            enc = next(
                (encs.pop(s) for s in (second, second - 1, second + 1) if s in encs),
                dec.with_name(dec.name[: -len("-dec.wav")] + "-enc.wav"),
            )
            pairs.append((dec, enc))
        return pairs

    def recordings(self, timeout: float = 5.0) -> tuple[Path, Path]:
        """``(received, sent)`` WAVs of the latest call, once baresip has finalised them."""
        deadline = time.monotonic() + timeout
        while True:
            pairs = self._pairs()  # the latest call's, even before its header (it waits)
            if pairs and all(wav_is_complete(p) for p in pairs[-1]):
                return pairs[-1]
            if time.monotonic() > deadline:
                raise PeerError(
                    f"baresip {self.name}: no finished recording in {self.rec_dir} after "
                    f"{timeout}s (files: {sorted(p.name for p in self.rec_dir.iterdir())})\n"
                    f"{self.log_tail()}"
                )
            time.sleep(0.05)

    def log_text(self) -> str:
        return self.process.log_text() if self.process else ""

    def log_tail(self, lines: int = 40) -> str:
        return (
            self.process.log_tail(lines) if self.process else f"(baresip {self.name} not started)"
        )


def _dump_second(path: Path) -> int:
    """The second baresip opened a ``dump-YYYY-MM-DD-HH-MM-SS-{dec,enc}.wav`` file (POSIX)."""
    stamp = path.name[len("dump-") : len("dump-YYYY-MM-DD-HH-MM-SS")]
    return int(datetime.datetime.strptime(stamp, "%Y-%m-%d-%H-%M-%S").timestamp())
