"""External programs under test: bounded in time, in their own process group, with logs.

Every program runs as ``timeout -k K N <program>`` (unless it has no ``lifetime``) in its
own session, so the whole process group can be SIGKILLed at teardown, with its output in
a log file. Each log is registered in :data:`LOGS` so the interop ``conftest.py`` can
append log tails to failing test reports. The peer drivers (:mod:`tests.toolkit.peers`)
and the gateway wrapper (:mod:`sipgw.app.evaluation.gateway_process`) are built on
:class:`ManagedProcess`.

A typical interop test::

    def test_echo(tmp_workdir, tone_wav):
        with GatewayProcess(tmp_workdir) as gw, Baresip(tmp_workdir, "a", source_wav=...) as a:
            a.dial(gw.uri("echo"))
            a.wait_event("CALL_ESTABLISHED", 5)
            time.sleep(2)                      # the call's length
            a.hangup()
            a.wait_event("CALL_CLOSED", 5)
            heard = analyse(a.recordings()[0])
        assert heard.dominant_hz == 1000
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import os
import re
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Self

__all__ = [
    "BINARY_PACKAGES",
    "CHECKOUT",
    "LOGS",
    "LineBuffer",
    "LogRegistry",
    "ManagedProcess",
    "MissingProgram",
    "PeerContext",
    "PeerError",
    "bounded_command",
    "child_env",
    "require_binary",
    "running_processes",
    "tail",
]

#: Debian package that provides each external program the harness runs.
BINARY_PACKAGES: dict[str, str] = {
    "baresip": "baresip-core",
    "linphonec": "linphone-cli",
    "sipp": "sip-tester",
    "kamailio": "kamailio",
    "kamcmd": "kamailio",
    "openssl": "openssl",
    "nft": "nftables",
    "nsenter": "util-linux",
    "unshare": "util-linux",
    "tshark": "tshark",
    "sox": "sox",
    "timeout": "coreutils",
    "dnsmasq": "dnsmasq-base",
}


class PeerError(AssertionError):
    """A peer did not behave as expected (message includes its log tail)."""


class MissingProgram(PeerError):
    """A program the harness runs is not installed (the message names its Debian package).

    An ``AssertionError``, so a test that needs the program fails; it is never skipped.
    """


def require_binary(name: str) -> str:
    """Path of ``name``; raises :class:`MissingProgram` naming the Debian package when missing."""
    path = shutil.which(name)
    if path is None:
        package = BINARY_PACKAGES.get(name, name)
        raise MissingProgram(
            f"required program {name!r} not found on PATH: "
            f"install it with `apt-get install --no-install-recommends {package}`"
        )
    return path


def tail(path: str | Path, lines: int = 60, max_bytes: int = 64 * 1024) -> str:
    """Last ``lines`` lines of a text file ("" if it does not exist)."""
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - max_bytes))
            data = f.read()
    except OSError:
        return ""
    text = data.decode("utf-8", "replace")
    # drop ANSI colour codes (baresip colours its warnings)
    text = re.sub(r"\x1b\[[0-9;]*m", "", text)
    return "\n".join(text.splitlines()[-lines:])


# --------------------------------------------------------------------------- environment

CHECKOUT = Path(__file__).resolve().parents[3]
"""The directory that holds ``sipgw/``, put on a child's ``PYTHONPATH``."""
_SCRUBBED_PREFIXES = ("SIPGW_", "ASSEMBLYAI_", "OPENAI_", "ELEVENLABS_", "OTEL_")
_KEPT = frozenset({"SIPGW_PURE_PYTHON"})
"""Kept all the same: which media path the run tests (scripts/test runs the pure-Python one
with ``SIPGW_PURE_PYTHON=1``, media/_accel.py), the children included."""


def bytecode_cache() -> Path:
    """Where a child writes its bytecode when this process was told to write none
    (``PYTHONDONTWRITEBYTECODE``): the user's cache directory, not the checkout."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "sipgw-bytecode"


def child_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """An environment for a child of ours: this one without gateway or cloud settings.

    A developer's own ``SIPGW_*`` or vendor keys never leak into a test or benchmark (but
    ``SIPGW_PURE_PYTHON``, the media path under test); the checkout is importable even when
    sipgw is not installed; output is unbuffered. Under ``PYTHONDONTWRITEBYTECODE`` (and no
    ``PYTHONPYCACHEPREFIX``) a child's bytecode goes to :func:`bytecode_cache` instead of
    nowhere: a gateway compiled its 600 modules at each start, 0.4 s of an echo gateway's
    0.9 (docs/performance.md, "Start-up"); now once.
    """
    env = {
        k: v for k, v in os.environ.items() if k in _KEPT or not k.startswith(_SCRUBBED_PREFIXES)
    }
    path = env.get("PYTHONPATH")
    env["PYTHONPATH"] = str(CHECKOUT) + (os.pathsep + path if path else "")
    env["PYTHONUNBUFFERED"] = "1"
    if env.get("PYTHONDONTWRITEBYTECODE") and not env.get("PYTHONPYCACHEPREFIX"):
        del env["PYTHONDONTWRITEBYTECODE"]
        env["PYTHONPYCACHEPREFIX"] = str(bytecode_cache())
    env.update(extra or {})
    return env


# --------------------------------------------------------------------------- log registry


@dataclass
class _LogEntry:
    name: str
    path: Path
    is_active: Callable[[], bool]


class LogRegistry:
    """Logs of the peers of the running test, for failure reports.

    ``prune()`` (called before each test) forgets logs whose owner has finished, so peers kept by
    module-scoped fixtures stay listed while per-test peers do not leak into the next report.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: list[_LogEntry] = []
        self._every: dict[Path, None] = {}

    def register(
        self, name: str, path: str | Path, is_active: Callable[[], bool] = lambda: False
    ) -> None:
        with self._lock:
            self._entries.append(_LogEntry(name, Path(path), is_active))
            self._every[Path(path)] = None

    def every_path(self) -> list[Path]:
        """Every log ever registered in this process, pruned or not (the secret scan)."""
        with self._lock:
            return list(self._every)

    def prune(self) -> None:
        with self._lock:
            self._entries = [e for e in self._entries if e.is_active()]

    def entries(self) -> list[tuple[str, Path]]:
        with self._lock:
            return [(e.name, e.path) for e in self._entries]

    def report_sections(self, lines: int = 40) -> list[tuple[str, str]]:
        """``(title, text)`` pairs with the tail of every registered log."""
        out = []
        for name, path in self.entries():
            out.append((f"{name} log tail ({path})", tail(path, lines) or "<empty>"))
        return out


LOGS = LogRegistry()


# --------------------------------------------------------------------------- line buffer


class LineBuffer:
    """Lines of a child's output with receive times, and waiting for a regex."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._lines: list[tuple[float, str]] = []
        self.closed = False

    def append(self, line: str) -> None:
        with self._cond:
            self._lines.append((time.monotonic(), line))
            self._cond.notify_all()

    def close(self) -> None:
        with self._cond:
            self.closed = True
            self._cond.notify_all()

    def __len__(self) -> int:
        with self._cond:
            return len(self._lines)

    def lines(self) -> list[tuple[float, str]]:
        with self._cond:
            return list(self._lines)

    def search(
        self, regex: str | re.Pattern[str], timeout: float, start: int = 0
    ) -> tuple[int, re.Match[str]] | None:
        """First ``(index, match)`` at or after line ``start``; None on timeout or EOF."""
        rx = re.compile(regex) if isinstance(regex, str) else regex
        deadline = time.monotonic() + timeout
        i = start
        with self._cond:
            while True:
                while i < len(self._lines):
                    m = rx.search(self._lines[i][1])
                    if m:
                        return i, m
                    i += 1
                left = deadline - time.monotonic()
                if left <= 0 or self.closed:
                    return None
                self._cond.wait(left)


# --------------------------------------------------------------------------- processes


@functools.cache
def _setpriv_has_pdeathsig() -> bool:
    """util-linux setpriv >= 2.33 can set the parent-death signal."""
    if shutil.which("setpriv") is None:
        return False
    try:
        out = subprocess.run(["setpriv", "--help"], capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return False
    return "--pdeathsig" in out.stdout


_LIVE: set[ManagedProcess] = set()


def _kill_all_live() -> None:
    for proc in list(_LIVE):
        with contextlib.suppress(Exception):
            proc.kill()


atexit.register(_kill_all_live)


def running_processes() -> list[ManagedProcess]:
    """The programs started here that still run (a test's teardown checks for leftovers)."""
    return [p for p in list(_LIVE) if p.alive]


def bounded_command(
    argv: Sequence[str],
    lifetime: float | None,
    kill_after: float = 3.0,
    foreground: bool = False,
    *,
    cpu: int | None = None,
) -> list[str]:
    """``argv`` under ``timeout -k KILL_AFTER LIFETIME`` (none without a lifetime), pinned
    to ``cpu`` with ``taskset`` when there is one."""
    cmd = list(argv)
    if cpu is not None and shutil.which("taskset") is not None:
        cmd = ["taskset", "-c", str(cpu), *cmd]
    if lifetime is not None:
        # --foreground: timeout(1) passes a signal to the program only (not to the program
        # and then again to the whole group), for programs that count signals.
        fg = ["--foreground"] if foreground else []
        cmd = ["timeout", *fg, "-k", f"{kill_after:g}", f"{lifetime:g}", *cmd]
    return cmd


class ManagedProcess:
    """One external program, bounded by ``timeout(1)``, in its own process group.

    ``capture="file"`` sends stdout+stderr straight to ``log_path``; ``capture="lines"`` reads
    them through a pipe (stdin is a pipe too) into :attr:`lines`, copies each line to
    ``log_path`` prefixed with the seconds since start, and passes it to ``on_line`` with
    the wall-clock time it was read (from the reader thread). Teardown (``kill``) SIGKILLs
    the group.

    ``lifetime=None`` runs the program without ``timeout(1)``, so :attr:`pid` is the
    program's own (what a benchmark samples in /proc); ``cpu`` pins it with ``taskset``.
    """

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        *,
        log_path: str | Path,
        lifetime: float | None,
        kill_after: float = 3.0,
        cwd: str | Path | None = None,
        env: Mapping[str, str] | None = None,
        capture: str = "file",
        foreground: bool = False,
        stderr_path: str | Path | None = None,
        cpu: int | None = None,
        on_line: Callable[[float, str], None] | None = None,
    ) -> None:
        if capture not in ("file", "lines"):
            raise ValueError("capture must be 'file' or 'lines'")
        self.name = name
        self.argv = list(argv)
        self.log_path = Path(log_path)
        self.lifetime = lifetime
        self.kill_after = kill_after
        self.cwd = cwd
        self.env = dict(os.environ if env is None else env)
        self.capture = capture
        self.foreground = foreground
        self.stderr_path = Path(stderr_path) if stderr_path else None
        self.cpu = cpu
        self.on_line = on_line
        self.lines = LineBuffer()
        self.proc: subprocess.Popen[bytes] | None = None
        self.started_at = 0.0
        self._log_file: IO[bytes] | None = None
        self._reader: threading.Thread | None = None

    # -- lifecycle
    @property
    def command(self) -> list[str]:
        """The command line as started: ``timeout`` and ``taskset`` prefixes included."""
        return bounded_command(
            self.argv, self.lifetime, self.kill_after, self.foreground, cpu=self.cpu
        )

    def start(self) -> None:
        if self.lifetime is not None:
            require_binary("timeout")
        require_binary(self.argv[0])
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        cmd = self.command
        # If the test runner dies without tearing down, the kernel sends SIGTERM to timeout(1),
        # which passes it on and SIGKILLs after kill_after. PDEATHSIG follows the forking
        # *thread*, so only use it from the main thread.
        if _setpriv_has_pdeathsig() and threading.current_thread() is threading.main_thread():
            cmd = ["setpriv", "--pdeathsig", "TERM", "--", *cmd]
        self._log_file = open(self.log_path, "ab")  # noqa: SIM115 - closed in _finish
        self._log_file.write(f"# {self.name}: {' '.join(cmd)}\n".encode())
        self._log_file.flush()
        self.started_at = time.monotonic()
        try:
            self._spawn(cmd)
        except BaseException:
            self._log_file.close()
            raise
        _LIVE.add(self)
        LOGS.register(self.name, self.log_path, lambda: self.alive)
        if self.stderr_path is not None:
            LOGS.register(f"{self.name} stderr", self.stderr_path, lambda: self.alive)

    def _spawn(self, cmd: list[str]) -> None:
        if self.capture == "file":
            err: IO[bytes] | int = subprocess.STDOUT
            if self.stderr_path is not None:
                err = open(self.stderr_path, "ab")  # noqa: SIM115 - closed below
            self.proc = subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=self._log_file,
                stderr=err,
                cwd=self.cwd,
                env=self.env,
                start_new_session=True,
            )
            if not isinstance(err, int):
                err.close()
        else:
            self.proc = subprocess.Popen(
                cmd,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                cwd=self.cwd,
                env=self.env,
                start_new_session=True,
            )
            self._reader = threading.Thread(
                target=self._read_lines, name=f"{self.name}-reader", daemon=True
            )
            self._reader.start()

    def _read_lines(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        try:
            for raw in self.proc.stdout:
                line = raw.decode("utf-8", "replace").rstrip("\r\n")
                self._write_log(f"[{time.monotonic() - self.started_at:8.3f}] {line}\n")
                if self.on_line is not None:
                    self._call_on_line(line)
                self.lines.append(line)
        except (ValueError, OSError):  # pipe closed under us at teardown
            pass
        finally:
            self.lines.close()

    def _call_on_line(self, line: str) -> None:
        """Give ``on_line`` a line; its error is written to the log, and reading goes on
        (the output must be read to its end, or the program blocks on a full pipe)."""
        assert self.on_line is not None
        try:
            self.on_line(time.time(), line)
        except Exception as exc:  # noqa: BLE001 - any fault of a test's callback
            self._write_log(f"# on_line failed: {exc!r}\n")

    def _write_log(self, text: str) -> None:
        """Append to the log file while it is open (a write failing at teardown is moot)."""
        log = self._log_file
        if log is not None and not log.closed:
            with contextlib.suppress(ValueError, OSError):
                log.write(text.encode())
                log.flush()

    @property
    def pid(self) -> int | None:
        return None if self.proc is None else self.proc.pid

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def returncode(self) -> int | None:
        return None if self.proc is None else self.proc.poll()

    def write(self, text: str) -> None:
        """Write to the child's stdin (``capture="lines"`` only)."""
        if self.proc is None or self.proc.stdin is None:
            raise PeerError(f"{self.name}: stdin is not a pipe")
        try:
            self.proc.stdin.write(text.encode())
            self.proc.stdin.flush()
        except (BrokenPipeError, ValueError) as exc:
            raise PeerError(
                f"{self.name}: cannot write to stdin ({exc})\n{self.log_tail()}"
            ) from exc

    def send_signal(self, sig: int) -> None:
        """Signal the program (timeout(1) passes it on to the real program)."""
        if self.alive:
            assert self.proc is not None
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(sig)

    def wait(self, timeout: float) -> int | None:
        """Return code, or None if still running after ``timeout`` seconds."""
        if self.proc is None:
            return None
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None
        self._finish()
        return rc

    def kill(self) -> None:
        """SIGKILL the whole process group (idempotent) and reap it."""
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=5)
        self._finish()

    def _finish(self) -> None:
        if self.proc is not None and self.proc.poll() is not None:
            # a program may leave children in the group; they go with it
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, signal.SIGKILL)
        if self._reader is not None:
            self._reader.join(timeout=2)
        if self.proc is not None:
            for stream in (self.proc.stdin, self.proc.stdout):
                if stream is not None:
                    with contextlib.suppress(OSError):
                        stream.close()
        if self._log_file is not None and not self._log_file.closed:
            self._log_file.close()
        _LIVE.discard(self)

    # -- logs
    def log_text(self) -> str:
        try:
            return self.log_path.read_text("utf-8", "replace")
        except OSError:
            return ""

    def log_tail(self, lines: int = 40) -> str:
        return f"--- {self.name} log tail ({self.log_path}) ---\n{tail(self.log_path, lines)}"


class PeerContext:
    """Start on ``with``, close on exit: the context-manager protocol every peer shares.

    Subclasses set ``process`` and implement ``start()`` (returning ``self``) and ``close()``.
    """

    process: ManagedProcess | None

    def start(self) -> Self:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self if self.process is not None else self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()
