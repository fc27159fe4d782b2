"""linphonec 5.1 (Debian ``linphone-cli``) as a headless SIP peer driven through stdin/stdout.

Quirks handled here: linphonec needs ``$HOME/.local/share/linphone`` (else no SIP socket is bound),
rewrites its config file (a fresh one is written per start), silently picks another port when its
SIP port is taken (the driver checks ``ports`` and retries), file audio is a runtime command
(``soundcard use files``, ``play``, ``record`` at every start) and ``quit`` can hang (teardown
SIGKILLs). ``play`` loops the file with a 0.5-1 s gap between loops; ``record`` writes the
received audio (8 kHz mono s16) from media start, with header sizes only once the call ends (and
then a data size that wrongly includes the header: ``audio.read_wav`` copes). DTMF is sent by
typing digits (RFC 4733, PT 96); received DTMF prints ``Receiving tone D from ...``. With
``autoanswer`` any Request-URI user is accepted. ``register()`` registers with digest auth (MD5
and SHA-256) over the transport in the proxy URI's ``;transport=`` (enable it with
``transports``); TLS verifies the server against ``tls_ca`` with mbedTLS, which matches the
host only against DNS names in the certificate (``tests.toolkit.tls`` adds IPs as DNS names).
``media_encryption="srtp"`` makes SRTP (SDES) mandatory.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterable, Mapping
from pathlib import Path

from sipgw.app.evaluation.audio import wav_is_complete
from sipgw.app.evaluation.ports import PortRange, free_port, free_port_range
from sipgw.app.evaluation.process import ManagedProcess, PeerContext, PeerError, require_binary

__all__ = ["Linphonec"]

# every codec linphonec 5.1 knows and enables by default, so the offer holds only ours
_OTHER_CODECS = [
    ("opus", 48000, 2),
    ("speex", 32000, 1),
    ("speex", 16000, 1),
    ("speex", 8000, 1),
    ("G729", 8000, 1),
    ("GSM", 8000, 1),
    ("G722", 8000, 1),
]

_RATES = {"OPUS": ("opus", 48000, 2)}
"""Codecs whose description is not name/8000/1 (RFC 7587 §7: opus/48000/2)."""


class Linphonec(PeerContext):
    """A headless linphonec (context manager).

    Files: ``workdir/NAME/`` is HOME (config ``linphonerc``, database dir), ``workdir/NAME.log``
    the timestamped output, ``record`` defaults to ``workdir/NAME/rx.wav``.
    """

    def __init__(
        self,
        workdir: str | Path,
        name: str = "linphonec",
        *,
        user: str = "lin",
        play: str | Path | None = None,
        record: str | Path | None = None,
        autoanswer: bool = False,
        codecs: Iterable[str] = ("PCMU", "PCMA"),
        sip_port: int | None = None,
        rtp_ports: PortRange | str | None = None,
        lifetime: float = 90.0,
        start_timeout: float = 10.0,
        extra_config: Mapping[str, Mapping[str, str]] | None = None,
        transports: Iterable[str] = ("udp",),
        tls_ca: str | Path | None = None,
        media_encryption: str | None = None,
    ) -> None:
        self.workdir = Path(workdir).resolve()
        self.name = name
        self.user = user
        self.home = self.workdir / name
        self.play = Path(play).resolve() if play else None
        self.record = Path(record).resolve() if record else self.home / "rx.wav"
        self.autoanswer = autoanswer
        self.codecs = [c.upper() for c in codecs]
        self._fixed_ports = sip_port is not None
        self.sip_port = sip_port or 0
        self._rtp_spec = rtp_ports
        self.rtp_ports = ""
        self.lifetime = lifetime
        self.start_timeout = start_timeout
        self.extra_config = {k: dict(v) for k, v in (extra_config or {}).items()}
        self.transports = tuple(transports)
        self.tls_ca = Path(tls_ca).resolve() if tls_ca else None
        self.media_encryption = media_encryption
        self.config_path = self.home / "linphonerc"
        self.log_path = self.workdir / f"{name}.log"
        self.process: ManagedProcess | None = None
        self._cursor = 0

    # ------------------------------------------------------------------ setup
    @property
    def uri(self) -> str:
        return f"sip:{self.user}@127.0.0.1:{self.sip_port}"

    def _config_text(self) -> str:
        sections: dict[str, dict[str, str]] = {
            "sip": {
                "sip_port": str(self.sip_port),
                "sip_tcp_port": "0",
                "sip_tls_port": "0",
                "bind_address": "127.0.0.1",
                "contact": f'"{self.user}" <sip:{self.user}@127.0.0.1:{self.sip_port}>',
                "guess_hostname": "0",
                "use_ipv6": "0",
                # else the first start "migrates" (deletes) use_ipv6 and IPv6 comes on
                "ipv6_migration_done": "1",
                "use_rfc2833": "1",
                "use_info": "0",
                "inc_timeout": "30",
                "in_call_timeout": "0",
                "register_only_when_network_is_up": "0",
                "default_proxy": "-1",
                # -1: a random port, so the transport can carry requests (0 disables it)
                **({"sip_tcp_port": "-1"} if "tcp" in self.transports else {}),
                **({"sip_tls_port": "-1"} if "tls" in self.transports else {}),
                **(
                    {"root_ca": str(self.tls_ca), "verify_server_certs": "1"} if self.tls_ca else {}
                ),
                **(
                    {"media_encryption": self.media_encryption, "media_encryption_mandatory": "1"}
                    if self.media_encryption
                    else {}
                ),
            },
            "rtp": {
                "bind_address": "127.0.0.1",
                "audio_rtp_port": self.rtp_ports,
                "video_rtp_port": str(free_port()),
                "text_rtp_port": str(free_port()),
                "audio_jitt_comp": "60",
                "nortp_timeout": "30",
                "rtcp_mux": "0",
            },
            "net": {"mtu": "1300", "firewall_policy": "0"},
            "sound": {"echocancellation": "0"},
            "video": {"display": "0", "capture": "0"},
        }
        codecs = [(*_RATES.get(c, (c, 8000, 1)), True) for c in self.codecs]
        ours = {mime.upper() for mime, *_ in codecs}
        codecs += [(m, r, ch, False) for m, r, ch in _OTHER_CODECS if m.upper() not in ours]
        for i, (mime, rate, channels, enabled) in enumerate(codecs):
            sections[f"audio_codec_{i}"] = {
                "mime": mime,
                "rate": str(rate),
                "channels": str(channels),
                "enabled": "1" if enabled else "0",
            }
        for section, values in self.extra_config.items():
            sections.setdefault(section, {}).update(values)
        out = ["# written by tests/toolkit/peers/linphonec.py (linphonec rewrites this file)"]
        for section, values in sections.items():
            out.append(f"[{section}]")
            out += [f"{k}={v}" for k, v in values.items()]
            out.append("")
        return "\n".join(out)

    def start(self) -> Linphonec:
        """Write HOME and config, start linphonec, set up file audio, wait for the SIP socket."""
        require_binary("linphonec")
        attempts = 1 if self._fixed_ports else 3
        error = ""
        for _ in range(attempts):
            if not self._fixed_ports:
                self.sip_port = free_port()
            self.rtp_ports = str(self._rtp_spec or free_port_range(10))
            (self.home / ".local" / "share" / "linphone").mkdir(parents=True, exist_ok=True)
            self.record.parent.mkdir(parents=True, exist_ok=True)
            self.config_path.write_text(self._config_text())
            argv = ["linphonec", "-c", str(self.config_path)]
            if self.autoanswer:
                argv.append("-a")
            env = {"HOME": str(self.home), "LC_ALL": "C"}
            self.process = ManagedProcess(
                f"linphonec-{self.name}",
                argv,
                log_path=self.log_path,
                lifetime=self.lifetime,
                env={**os.environ, **env},
                capture="lines",
            )
            self.process.start()
            self._cursor = 0
            self.cmd("soundcard use files")
            if self.play is not None:
                self.cmd(f"play {self.play}")
            self.cmd(f"record {self.record}")
            self.cmd("ports")
            found = self.process.lines.search(r"sip port = (-?\d+)", self.start_timeout)
            if found is None:
                error = f"no 'sip port' line within {self.start_timeout}s"
            elif int(found[1][1]) != self.sip_port:
                error = f"SIP socket on {found[1][1]} instead of {self.sip_port}"
            else:
                self._cursor = found[0] + 1
                return self
            self.process.kill()
        raise PeerError(f"linphonec {self.name} did not start: {error}\n{self.log_tail()}")

    # ------------------------------------------------------------------ control
    def _proc(self) -> ManagedProcess:
        if self.process is None:
            raise PeerError(f"linphonec {self.name} is not running")
        return self.process

    def cmd(self, line: str) -> None:
        """Type one command line."""
        self._proc().write(line + "\n")

    def wait(self, regex: str, timeout: float = 10.0, *, from_start: bool = False) -> re.Match[str]:
        """Next output line matching ``regex`` (after the previous match unless ``from_start``)."""
        proc = self._proc()
        found = proc.lines.search(regex, timeout, start=0 if from_start else self._cursor)
        if found is None:
            ended = " (output ended)" if proc.lines.closed else ""
            raise PeerError(
                f"linphonec {self.name}: no line matching {regex!r} within {timeout}s{ended}\n"
                f"{self.log_tail()}"
            )
        index, match = found
        if not from_start:
            self._cursor = index + 1
        return match

    def register(
        self, identity: str, proxy: str, password: str, timeout: float = 10.0
    ) -> re.Match[str]:
        """``register IDENTITY PROXY PASSWORD`` (``proxy`` may carry ``;transport=tcp|tls``),
        then poll ``status register`` until it says ``registered``; PeerError on timeout."""
        self.cmd(f"register {identity} {proxy} {password}")
        return self.wait_registered(timeout)

    def wait_registered(self, timeout: float = 10.0) -> re.Match[str]:
        """Poll ``status register`` until linphonec reports ``registered, identity=...``."""
        deadline = time.monotonic() + timeout
        while True:
            self.cmd("status register")
            try:
                return self.wait(r"\bregistered, identity=(\S+)", 0.3)
            except PeerError:
                if time.monotonic() > deadline:
                    raise

    def call(self, uri: str) -> None:
        """Start a call (then e.g. ``wait_connected()``)."""
        self.cmd(f"call {uri}")

    def wait_connected(self, timeout: float = 10.0) -> re.Match[str]:
        return self.wait(r"Call \d+ with .* connected", timeout)

    def answer(self) -> None:
        self.cmd("answer")

    def terminate(self) -> None:
        """Hang up the current call (``wait_ended()`` waits for the end)."""
        self.cmd("terminate")

    def wait_ended(self, timeout: float = 10.0) -> re.Match[str]:
        return self.wait(r"Call \d+ with .* ended|Call \d+ .*(ended|terminated)", timeout)

    def send_dtmf(self, digits: str, gap: float = 0.3) -> None:
        """Type digits one per line, ``gap`` s apart (RFC 4733 during a call)."""
        for i, digit in enumerate(digits):
            if i:
                time.sleep(gap)
            self.cmd(digit)

    def recording(self, timeout: float = 5.0) -> Path:
        """The ``record`` WAV (received audio), once linphonec has finalised it (call ended)."""
        deadline = time.monotonic() + timeout
        while not wav_is_complete(self.record):
            if time.monotonic() > deadline:
                raise PeerError(
                    f"linphonec {self.name}: recording {self.record} not finished after "
                    f"{timeout}s\n{self.log_tail()}"
                )
            time.sleep(0.05)
        return self.record

    def received_dtmf(self) -> list[str]:
        """Digits reported so far as ``Receiving tone D``."""
        lines = self.process.lines.lines() if self.process else []
        return [m[1] for _, text in lines if (m := re.search(r"Receiving tone (\S)", text))]

    def close(self) -> None:
        """Quit (linphonec sometimes hangs in quit: SIGKILL after 1 s)."""
        if self.process is None:
            return
        if self.process.alive:
            try:
                self.cmd("quit")
            except PeerError:
                pass
            if self.process.wait(1.0) is None:
                self.process.kill()
        self.process.kill()

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.alive

    def log_text(self) -> str:
        return self.process.log_text() if self.process else ""

    def log_tail(self, lines: int = 40) -> str:
        if self.process is None:
            return f"(linphonec {self.name} not started)"
        return self.process.log_tail(lines)
