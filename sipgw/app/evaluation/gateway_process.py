"""The product under test as a subprocess: ``python -m sipgw serve``.

``GatewayProcess(workdir)`` starts::

    python -m sipgw serve --bind 127.0.0.1 --sip-port 0 --rtp-ports LO-HI \
        --public-ip IP --agent echo OVERLOAD_OFF [--allow-from LIST] [extra_args...]

in ``workdir`` (a fresh temporary directory when None, removed by :meth:`close`), so no
developer ``.env`` is picked up, with :func:`~sipgw.app.evaluation.process.child_env` (no stray
``SIPGW_*`` or vendor settings, output unbuffered), and waits for the line
``listening on udp:<addr>:<port>`` (the real port, since --sip-port is 0). stdout and
stderr go, timestamped, to ``workdir/NAME.log``; ``on_line`` sees every line with its
wall-clock read time (benchmarks parse the ``stats {json}`` lines there).

Interop tests bound its life with ``timeout(1)`` (``lifetime``); benchmarks pass
``lifetime=None`` and ``cpu`` (``taskset``), so :attr:`GatewayProcess.pid` is the
gateway's own.
"""

from __future__ import annotations

import re
import shutil
import signal as _signal
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from sipgw.app.evaluation.ports import PortRange, free_port_range
from sipgw.app.evaluation.process import (
    ManagedProcess,
    PeerContext,
    PeerError,
    bounded_command,
    child_env,
)
from sipgw.foundation.settings.state import STATE_DIR_ENV

__all__ = ["OVERLOAD_OFF", "READY_RE", "GatewayProcess", "tracebacks"]

OVERLOAD_OFF = ("--overload-lateness-ms", "0", "--overload-cpu-percent", "0")
"""Flags that turn overload protection off: a test or benchmark on a loaded machine must not
see 503s it did not ask for (``extra_args`` come after them, so a test can turn it back on)."""

READY_RE = re.compile(r"listening on (?:udp|tcp):(?P<addr>\[[^\]]+\]|\S+):(?P<port>\d+)")
"""The ready line; an IPv6 address comes unbracketed (``udp:::1:5060``): its port is
after the last colon."""
TLS_READY_RE = re.compile(r"listening on tls:(?P<addr>\[[^\]]+\]|[^\s:]+):(?P<port>\d+)")


class GatewayProcess(PeerContext):
    """A running sipgw (context manager). Teardown SIGKILLs it if ``stop()`` was not called."""

    def __init__(
        self,
        workdir: str | Path | None = None,
        *,
        name: str = "gateway",
        agent: str = "echo",
        bind: str = "127.0.0.1",
        public_ip: str = "127.0.0.1",
        rtp_ports: PortRange | tuple[int, int] | None = None,
        rtp_port_count: int = 40,
        allow_from: str = "",
        extra_args: Sequence[str] = (),
        env: Mapping[str, str] | None = None,
        extra_env: Mapping[str, str] | None = None,
        program: Sequence[str] | None = None,
        cpu: int | None = None,
        on_line: Callable[[float, str], None] | None = None,
        start_timeout: float = 15.0,
        lifetime: float | None = 600.0,
        kill_after: float = 30.0,
    ) -> None:
        self._own_workdir = workdir is None
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix="sipgw-gateway-")).resolve()
        self.name = name
        self.agent = agent
        self.bind = bind
        self.public_ip = public_ip
        rng = rtp_ports if rtp_ports is not None else free_port_range(rtp_port_count)
        self.rtp_ports = PortRange(*rng)
        self.allow_from = allow_from
        """``--allow-from`` given, if any: with nothing configured, any agent but echo
        refuses every caller (docs/security.md)."""
        self.extra_args = [str(a) for a in extra_args]
        self.env = child_env() if env is None else dict(env)
        self.env.update(extra_env or {})
        # its records and stores in its workdir, where the harness reads them
        self.env.setdefault(STATE_DIR_ENV, str(self.workdir))
        self.program = list(program) if program else [sys.executable, "-m", "sipgw"]
        self.cpu = cpu
        self.on_line = on_line
        self.start_timeout = start_timeout
        self.lifetime = lifetime
        self.kill_after = kill_after
        self.log_path = self.workdir / f"{name}.log"
        self.process: ManagedProcess | None = None
        self.sip_host = ""
        self.sip_port = 0
        self.tls_port = 0

    @property
    def argv(self) -> list[str]:
        """The gateway's command line (without ``taskset``/``timeout`` prefixes)."""
        return [
            *self.program,
            "serve",
            "--bind",
            self.bind,
            "--sip-port",
            "0",
            "--rtp-ports",
            str(self.rtp_ports),
            "--public-ip",
            self.public_ip,
            "--agent",
            self.agent,
            *OVERLOAD_OFF,
            *(["--allow-from", self.allow_from] if self.allow_from else []),
            *self.extra_args,
        ]

    @property
    def command(self) -> list[str]:
        """The command line as started, prefixes included."""
        return bounded_command(self.argv, self.lifetime, self.kill_after, True, cpu=self.cpu)

    def start(self) -> GatewayProcess:
        """Start the gateway and wait for its ``listening on udp:`` (or ``tcp:``) line.

        Raises PeerError while the one it started is still running (``with`` starts it: a
        second start would leave the first running, unseen, until its lifetime ends)."""
        if self.alive:
            raise PeerError(f"{self.name} is already running: stop() it before starting again")
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.process = ManagedProcess(
            self.name,
            self.argv,
            log_path=self.log_path,
            lifetime=self.lifetime,
            kill_after=self.kill_after,
            cwd=self.workdir,
            env=self.env,
            capture="lines",
            foreground=True,  # one SIGTERM from stop() must arrive exactly once
            cpu=self.cpu,
            on_line=self.on_line,
        )
        t0 = time.monotonic()
        self.process.start()
        found = self.process.lines.search(READY_RE, self.start_timeout)
        if found is None:
            # output ended (the exit status follows EOF closely) or the time ran out
            rc = self.process.wait(2.0) if self.process.lines.closed else None
            state = f"exited with code {rc}" if rc is not None else "still running"
            self.process.kill()
            raise PeerError(
                f"gateway not ready ({state} after {time.monotonic() - t0:.1f}s): no line "
                f"matching 'listening on udp|tcp:<addr>:<port>'\n{self.log_tail()}"
            )
        match = found[1]
        self.sip_host = match["addr"].strip("[]")
        self.sip_port = int(match["port"])  # TCP listens on the same number
        if "tls" in " ".join(self.extra_args).lower() + self.env.get("SIPGW_TRANSPORTS", ""):
            tls = self.process.lines.search(TLS_READY_RE, self.start_timeout)
            if tls is None:
                raise PeerError(f"gateway printed no 'listening on tls:' line\n{self.log_tail()}")
            self.tls_port = int(tls[1]["port"])
        return self

    # ------------------------------------------------------------------ use
    @property
    def address(self) -> tuple[str, int]:
        """``(host, port)`` of the gateway's SIP socket."""
        return self.sip_host, self.sip_port

    def uri(self, user: str = "echo", host: str | None = None) -> str:
        """``sip:USER@HOST:PORT`` of the gateway's SIP socket (``host``: e.g. a relay's address)."""
        host = host or self.sip_host
        host = f"[{host}]" if ":" in host else host
        return f"sip:{user}@{host}:{self.sip_port}"

    @property
    def target(self) -> str:
        """``HOST:PORT`` (what SIPp takes as its remote host)."""
        return f"{self.sip_host}:{self.sip_port}"

    @property
    def pid(self) -> int:
        """The pid of the started program (the gateway itself when ``lifetime`` is None)."""
        if self.process is None or self.process.pid is None:
            raise PeerError("gateway not started")
        return self.process.pid

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.alive

    @property
    def returncode(self) -> int | None:
        return None if self.process is None else self.process.returncode

    def wait_log(self, regex: str, timeout: float = 5.0, *, start: int = 0) -> re.Match[str]:
        """First output line (from line ``start``) matching ``regex``; PeerError on timeout."""
        if self.process is None:
            raise PeerError("gateway not started")
        found = self.process.lines.search(regex, timeout, start=start)
        if found is None:
            raise PeerError(f"gateway: no line matching {regex!r} in {timeout}s\n{self.log_tail()}")
        return found[1]

    def log_lines(self) -> list[str]:
        return [text for _, text in self.process.lines.lines()] if self.process else []

    def log_text(self) -> str:
        """All output so far (without the harness's timestamps)."""
        return "\n".join(self.log_lines())

    def log_tail(self, lines: int = 60) -> str:
        return self.process.log_tail(lines) if self.process else "(gateway not started)"

    def tracebacks(self, limit: int = 5) -> list[str]:
        """The first ``limit`` tracebacks in the output so far, each as one text."""
        return tracebacks(self.log_lines(), limit)

    def stop(self, signal: int = _signal.SIGTERM, timeout: float = 10.0) -> int:
        """Send ``signal`` and wait for exit; returns the exit code (-N if killed by signal N).

        Raises PeerError (after SIGKILLing it) if it is still running after ``timeout`` s.
        """
        if self.process is None:
            raise PeerError("gateway not started")
        self.process.send_signal(signal)
        rc = self.process.wait(timeout)
        if rc is None:
            self.process.kill()
            raise PeerError(
                f"gateway still running {timeout}s after signal {signal}; killed\n{self.log_tail()}"
            )
        return rc

    def close(self) -> None:
        """SIGKILL whatever is left (idempotent); remove the work directory if we made it."""
        if self.process is not None:
            self.process.kill()
        if self._own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)


def tracebacks(lines: Sequence[str], limit: int = 5) -> list[str]:
    """The first ``limit`` Python tracebacks in output ``lines``, each joined into one text."""
    found: list[str] = []
    current: list[str] | None = None
    for line in lines:
        if line.startswith("Traceback"):
            current = [line]
        elif current is not None:
            current.append(line)
            if line and not line.startswith((" ", "During", "The above")):
                found.append("\n".join(current))
                current = None
                if len(found) >= limit:
                    break
    return found
