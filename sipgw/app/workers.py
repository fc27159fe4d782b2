"""``sipgw serve --workers N``: a parent process that runs N gateway processes.

Each worker is the same ``sipgw serve`` command line with a few flags appended (the last
occurrence of a flag wins), planned by :func:`plan_workers`: worker *i* (1..N) listens on
SIP port ``SIPGW_SIP_PORT + i - 1`` (TLS on ``SIPGW_TLS_PORT + i - 1``), takes the *i*-th of
N disjoint, equal slices of ``SIPGW_RTP_PORTS``, serves its admin API on
``SIPGW_ADMIN_PORT + i - 1`` when that is on, and tags its log lines ``wI``. A base port of
0 stays 0: every worker picks a free port (a restarted worker then gets a new one).

:class:`Supervisor` starts the workers one after the other (each once it printed its
``listening on`` line, and its ``admin listening on`` line when the admin API is on), so a
start-up error stops the whole thing with that worker's exit
status and its message shown once. It forwards SIGTERM and SIGINT to every worker (the
first drains, a second ends the calls at once) and SIGHUP to every worker that is ready
(each reloads its routes file), restarts a worker that exits while no
signal came (after 1 s, doubling up to 30 s while it keeps failing fast), and returns
when every worker has exited after a signal: 0 when each exited 0, else 1. A worker
that got the signal before it was ready (it may not have set up its handlers yet) and
died of it counts as a clean stop. When a start-up fails, the workers already running get
SIGTERM and ``stop_timeout`` seconds (the drain limit plus a margin) to exit; the rest get
SIGKILL.

No ``preexec_fn`` (unsafe once the stdout relay threads run): each worker gets its own
process group with ``process_group=0``, and its parent-death signal (SIGTERM) from
util-linux ``setpriv --pdeathsig TERM`` when installed (without it a worker outlives a
parent killed with SIGKILL; a warning says so).
"""

from __future__ import annotations

import contextlib
import functools
import logging
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from types import FrameType
from typing import IO

from sipgw.app.admin.settings import AdminSettings
from sipgw.app.settings import (
    GatewayConfig,
    NetworkSection,
    WorkersSection,
    shared_pair_in_range,
)
from sipgw.foundation.settings import SettingError

__all__ = ["Supervisor", "WorkerPlan", "plan_workers"]

log = logging.getLogger("sipgw.workers")

FIRST_BACKOFF = 1.0
"""Seconds before a crashed worker's first restart."""
MAX_BACKOFF = 30.0
"""The longest wait between restarts of a worker that keeps crashing."""
STABLE_AFTER = 60.0
"""A worker that ran this long before it crashed restarts after FIRST_BACKOFF again."""
STOP_MARGIN = 30.0
"""Seconds beyond the drain limit a stopped worker gets before SIGKILL (its goodbye line)."""
_STOP_SIGNALS = (-signal.SIGTERM, -signal.SIGINT)


@dataclass(frozen=True, slots=True)
class WorkerPlan:
    """What one worker listens on; ``index`` counts from 1."""

    index: int
    sip_port: int
    rtp_ports: tuple[int, int]
    tls_port: int | None = None
    """None: TLS is off."""
    admin_port: int = 0
    """0: no admin server."""
    rtp_shared_port: int = 0
    """Every call's RTP on this port (SIPGW_RTP_SHARED_PORT + 2 per worker); 0: off."""

    def flags(self) -> list[str]:
        """The flags appended to the parent's command line for this worker."""
        flags = ["--workers", "1", "--worker-index", str(self.index)]
        flags += ["--sip-port", str(self.sip_port)]
        flags += ["--rtp-ports", f"{self.rtp_ports[0]}-{self.rtp_ports[1]}"]
        if self.tls_port is not None:
            flags += ["--tls-port", str(self.tls_port)]
        if self.admin_port:
            flags += ["--admin-port", str(self.admin_port)]
        if self.rtp_shared_port:
            flags += ["--rtp-shared-port", str(self.rtp_shared_port)]
        return flags

    def describe(self) -> str:
        """``SIP port 5060, RTP ports 10000-14999`` (and TLS/admin when on)."""
        parts = [f"SIP port {self.sip_port or 'auto'}"]
        if self.tls_port is not None:
            parts.append(f"TLS port {self.tls_port or 'auto'}")
        parts.append(f"RTP ports {self.rtp_ports[0]}-{self.rtp_ports[1]}")
        if self.rtp_shared_port:
            parts.append(f"shared RTP port {self.rtp_shared_port}")
        if self.admin_port:
            parts.append(f"admin port {self.admin_port}")
        return ", ".join(parts)


def rtp_slices(rtp_ports: tuple[int, int], count: int) -> list[tuple[int, int]]:
    """``count`` disjoint equal slices of the range, each starting on an even port.

    Raises:
        SettingError: a slice would hold less than one RTP/RTCP port pair.
    """
    low, high = rtp_ports
    start = low + (low % 2)  # each call takes an even port and the odd one above it
    size = (high - start + 1) // count // 2 * 2
    if size < 2:
        raise SettingError(
            "{rtp_ports}: {low}-{high} is too small for {count} workers (each needs at least "
            "one even/odd port pair)", NetworkSection, low=low, high=high, count=count,
        )  # fmt: skip
    return [(start + i * size, start + (i + 1) * size - 1) for i in range(count)]


def plan_workers(count: int, config: GatewayConfig, admin: AdminSettings) -> list[WorkerPlan]:
    """Ports and RTP range of each of ``count`` workers.

    Raises:
        SettingError: the RTP range is too small, a port would pass 65535, or two workers'
            SIP, TLS or admin ports would collide.
    """
    tls = "TLS" in config.transports
    sections = (NetworkSection, AdminSettings, WorkersSection)
    slices = rtp_slices(config.rtp_ports, count)

    def port_of(base: int, i: int) -> int:
        return base + i if base else 0

    plans = [
        WorkerPlan(
            index=i + 1,
            sip_port=port_of(config.sip_port, i),
            rtp_ports=slices[i],
            tls_port=port_of(config.tls_port, i) if tls else None,
            admin_port=port_of(admin.port, i),
            rtp_shared_port=config.rtp_shared_port + 2 * i if config.rtp_shared_port else 0,
        )
        for i in range(count)
    ]
    for plan in plans:
        shared = plan.rtp_shared_port
        if shared and (shared + 1 > 65535 or shared_pair_in_range(shared, config.rtp_ports)):
            raise SettingError(
                f"{{rtp_shared_port}}: worker {plan.index} would need ports {shared}-"
                f"{shared + 1}, outside 1024-65535 and {{rtp_ports}}", *sections,
            )  # fmt: skip
    used: dict[int, str] = {}
    for plan in plans:
        # Fields of the sections: named as the user gave them (SettingError).
        ports = {
            "sip_port": plan.sip_port, "tls_port": plan.tls_port or 0, "port": plan.admin_port,
            "rtp_shared_port": plan.rtp_shared_port,
        }  # fmt: skip
        for name, number in ports.items():
            if not number:
                continue
            if number > 65535:
                raise SettingError(
                    f"{{{name}}}: worker {plan.index} would need port {number}", *sections
                )
            if number in used and used[number] != name:
                raise SettingError(
                    f"{{workers}}: {count} workers need {{{name}}} and {{{used[number]}}} "
                    f"ports that overlap (port {number}); move one of them", *sections,
                )  # fmt: skip
            used[number] = name
    return plans


@functools.cache
def pdeathsig_prefix() -> tuple[str, ...]:
    """``setpriv --pdeathsig TERM --`` when util-linux setpriv (>= 2.33) is installed.

    Linux then sends the worker SIGTERM (it drains) when the parent dies without
    forwarding. The signal is tied to the thread that spawned the worker: the supervisor
    spawns from its main thread only.
    """
    path = shutil.which("setpriv")
    if path is not None:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            usage = subprocess.run([path, "--help"], capture_output=True, text=True, timeout=5)
            if "--pdeathsig" in usage.stdout:
                return (path, "--pdeathsig", "TERM", "--")
    log.warning("setpriv --pdeathsig not available: workers outlive a parent killed by SIGKILL")
    return ()


@dataclass(slots=True)
class _Worker:
    plan: WorkerPlan
    process: subprocess.Popen[bytes] | None = None
    started: float = 0.0
    ready: threading.Event = field(default_factory=threading.Event)
    restart_at: float | None = None
    backoff: float = FIRST_BACKOFF
    last_code: int = 0
    early_stop: bool = False
    """Signalled before it was ready: dying of that signal is a clean stop."""


class Supervisor:
    """Runs the workers of ``command`` (``python -m sipgw serve ...``) until a signal."""

    def __init__(
        self,
        command: Sequence[str],
        plans: Sequence[WorkerPlan],
        *,
        start_timeout: float = 60.0,
        stop_timeout: float = 300.0 + STOP_MARGIN,
        stdout: IO[bytes] | None = None,
    ) -> None:
        self.command = list(command)
        self.workers = [_Worker(plan) for plan in plans]
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout
        self.stdout = stdout if stdout is not None else sys.stdout.buffer
        self.signals: list[int] = []
        self._forwarded = 0
        self._reloads = 0
        """SIGHUPs not yet forwarded (each worker reloads its routes file)."""

    def run(self) -> int:
        """Start the workers, keep them running, return the exit status once they all exited."""
        previous = {
            sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGINT, signal.SIGTERM)
        }
        previous[signal.SIGHUP] = signal.signal(signal.SIGHUP, self._on_hangup)
        try:
            failed = self._start_all()
            if failed is not None:
                self._stop_all()
                return failed
            while self._alive() or not self.signals:
                self._forward_signals()
                self._forward_reloads()
                self._reap()
                self._restart_due()
                time.sleep(0.05)
            failures = [w for w in self.workers if w.last_code != 0]
            log.info(
                "all workers exited%s", f" ({len(failures)} with an error)" if failures else ""
            )
            return 1 if failures else 0
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    # ------------------------------------------------------------------ start-up
    def _start_all(self) -> int | None:
        """Start each worker once the one before it is ready; an exit status on failure."""
        for worker in self.workers:
            self._spawn(worker)
            deadline = time.monotonic() + self.start_timeout
            while not worker.ready.wait(0.05):
                if self.signals:
                    return 130 if self.signals[0] == signal.SIGINT else 0
                assert worker.process is not None
                code = worker.process.poll()
                if code is not None:
                    log.error("worker %d did not start (exit status %d)", worker.plan.index, code)
                    worker.process = None
                    return code if code > 0 else 1
                if time.monotonic() > deadline:
                    log.error(
                        "worker %d not ready after %gs", worker.plan.index, self.start_timeout
                    )
                    return 1
        return None

    def _stop_all(self) -> None:
        """SIGTERM to each running worker; SIGKILL to those still up after stop_timeout."""
        for worker in self.workers:
            if worker.process is not None:
                with contextlib.suppress(ProcessLookupError):
                    worker.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + self.stop_timeout
        for worker in self.workers:
            if worker.process is None:
                continue
            try:
                worker.process.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.error("worker %d (pid %d) still running %gs after SIGTERM: SIGKILL",
                          worker.plan.index, worker.process.pid, self.stop_timeout)  # fmt: skip
                worker.process.kill()
                worker.process.wait()
            worker.process = None

    def _spawn(self, worker: _Worker) -> None:
        worker.ready.clear()
        worker.early_stop = False
        process = subprocess.Popen(
            [*pdeathsig_prefix(), *self.command, *worker.plan.flags()],  # setpriv execs it
            stdout=subprocess.PIPE,
            process_group=0,  # a terminal's Ctrl-C reaches the parent only, which forwards it
        )
        worker.process = process
        worker.started = time.monotonic()
        worker.restart_at = None
        # Up once everything listens: its admin server starts after its SIP line.
        marker = b"admin listening on " if worker.plan.admin_port else b"listening on "
        threading.Thread(
            target=self._relay, args=(process, worker.ready, marker), daemon=True,
            name=f"worker-{worker.plan.index}-stdout",
        ).start()  # fmt: skip
        log.info("worker %d started (pid %d, %s)", worker.plan.index, process.pid,
                 worker.plan.describe())  # fmt: skip

    def _relay(
        self, process: subprocess.Popen[bytes], ready: threading.Event, marker: bytes
    ) -> None:
        """Copy a worker's stdout to ours; the line holding ``marker`` marks it ready."""
        assert process.stdout is not None
        for line in process.stdout:
            self.stdout.write(line)
            self.stdout.flush()
            if marker in line:
                ready.set()

    # ------------------------------------------------------------------ running
    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self.signals.append(signum)

    def _on_hangup(self, signum: int, frame: FrameType | None) -> None:
        self._reloads += 1

    def _forward_reloads(self) -> None:
        """SIGHUP to every worker that is ready (it reloads its routes file)."""
        if not self._reloads or self.signals:
            return
        self._reloads = 0
        ready = [w for w in self.workers if w.process is not None and w.ready.is_set()]
        log.info("SIGHUP: forwarding it to %d worker(s) (reload the routes)", len(ready))
        for worker in ready:
            assert worker.process is not None
            with contextlib.suppress(ProcessLookupError):
                worker.process.send_signal(signal.SIGHUP)

    def _alive(self) -> bool:
        return any(w.process is not None for w in self.workers)

    def _forward_signals(self) -> None:
        while self._forwarded < len(self.signals):
            sig = signal.Signals(self.signals[self._forwarded])
            self._forwarded += 1
            alive = [w for w in self.workers if w.process is not None]
            log.info("%s: forwarding it to %d worker(s)%s", sig.name, len(alive),
                     "" if self._forwarded == 1 else " (again: end calls now)")  # fmt: skip
            for worker in alive:
                assert worker.process is not None
                if not worker.ready.is_set():
                    worker.early_stop = True  # its handlers may not be set up yet
                with contextlib.suppress(ProcessLookupError):
                    worker.process.send_signal(sig)

    def _reap(self) -> None:
        now = time.monotonic()
        for worker in self.workers:
            if worker.process is None:
                continue
            code = worker.process.poll()
            if code is None:
                continue
            pid = worker.process.pid
            worker.process = None
            worker.last_code = code
            how = f"killed by {signal.Signals(-code).name}" if code < 0 else f"exit status {code}"
            if self.signals:
                if worker.early_stop and code in _STOP_SIGNALS:
                    worker.last_code = 0
                    how += " (stopped before it was ready)"
                log.info("worker %d (pid %d) exited: %s", worker.plan.index, pid, how)
                continue
            if now - worker.started >= STABLE_AFTER:
                worker.backoff = FIRST_BACKOFF
            worker.restart_at = now + worker.backoff
            log.warning("worker %d (pid %d) exited: %s; restarting it in %gs",
                        worker.plan.index, pid, how, worker.backoff)  # fmt: skip
            worker.backoff = min(worker.backoff * 2, MAX_BACKOFF)

    def _restart_due(self) -> None:
        now = time.monotonic()
        for worker in self.workers:
            if self.signals:  # checked before each start: one may come during the last
                return
            if (
                worker.process is None
                and worker.restart_at is not None
                and now >= worker.restart_at
            ):
                self._spawn(worker)
