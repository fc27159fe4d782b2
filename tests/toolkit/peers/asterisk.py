"""Asterisk 22 (PJSIP) as the on-prem PBX for tests: built once per machine, run headless.

Debian has no Asterisk package, so :func:`find_or_build` finds the build that
``../shared/pbx/asterisk/build.sh`` makes next to the checkout (in
``$SIPGW_ASTERISK_PREFIX``, default ``~/.cache/sipgw-asterisk-22.10.1``), and runs that
script when there is none yet (about 4 minutes on 2 cores; ``scripts/test`` does it before
the tests, so a test normally finds it). Without the script or a build the test fails,
saying how to get one: it never skips.

``Asterisk(workdir, pjsip=..., extensions=...)`` writes a configuration of its own
(``asterisk.conf`` pointing every directory into ``workdir``, a UDP transport on a free
loopback port, the test's endpoints and dialplan, an RTP range of free ports) and runs
``asterisk -f -C asterisk.conf`` in the foreground, in the test's network namespace. The
full log (verbose, and every SIP message with ``pjsip set logger on``) is read with
:meth:`Asterisk.wait_log`; :meth:`Asterisk.cli` runs a CLI command
(``asterisk -rx``); :meth:`Asterisk.contacts` parses ``pjsip show contacts``.

Quirks: the control socket's path must stay under about 90 characters, so the run
directory is a short temporary one; with only a loopback interface every CLI call prints
"No ethernet interface found for seeding global EID", which is harmless.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from sipgw.app.evaluation.ports import PortRange, free_port, free_port_range
from sipgw.app.evaluation.process import (
    CHECKOUT,
    ManagedProcess,
    MissingProgram,
    PeerContext,
    PeerError,
    tail,
)

__all__ = ["ASTERISK_VERSION", "Asterisk", "Contact", "asterisk_prefix", "find_or_build"]

ASTERISK_VERSION = "22.10.1"
BUILD_SCRIPT = CHECKOUT.parent / "shared" / "pbx" / "asterisk" / "build.sh"
"""The build script beside the checkout (the sources are GPL: they stay out of the repo)."""
HOST = "127.0.0.1"


def asterisk_prefix() -> Path:
    """Where Asterisk is (or will be) installed."""
    given = os.environ.get("SIPGW_ASTERISK_PREFIX")
    if given:
        return Path(given)
    return Path.home() / ".cache" / f"sipgw-asterisk-{ASTERISK_VERSION}"


def find_or_build(timeout: float = 1800.0) -> Path:
    """The ``asterisk`` binary, built first if needed.

    Raises:
        MissingProgram: no build and no build script (the message says how to get one).
        PeerError: the build failed (with its output's tail).
    """
    prefix = asterisk_prefix()
    binary = prefix / "sbin" / "asterisk"
    stamp = prefix / ".asterisk-build-stamp"
    if binary.exists() and stamp.exists():
        return binary
    if not BUILD_SCRIPT.exists():
        raise MissingProgram(
            f"Asterisk {ASTERISK_VERSION} is not built in {prefix} and {BUILD_SCRIPT} is "
            "missing: check out the shared folder beside the repository (or set "
            "SIPGW_ASTERISK_PREFIX to a build of ../shared/pbx/asterisk/build.sh)"
        )
    result = subprocess.run(
        ["bash", str(BUILD_SCRIPT)], env={**os.environ, "PREFIX": str(prefix)},
        capture_output=True, text=True, timeout=timeout, check=False,
    )  # fmt: skip
    if result.returncode != 0 or not binary.exists():
        raise PeerError(f"building Asterisk failed:\n{(result.stdout + result.stderr)[-4000:]}")
    return binary


@dataclass(frozen=True, slots=True)
class Contact:
    """One row of ``pjsip show contacts``."""

    aor: str
    uri: str
    status: str
    """``Avail`` once a qualify OPTIONS was answered, ``Unavail``, ``NonQual``, ``Unknown``."""
    rtt_ms: float | None


_CONTACT_ROW = re.compile(
    r"^\s*Contact:\s+(?P<aor>[^/\s]+)/(?P<uri>\S+)\s+\S+\s+(?P<status>\w+)\s+(?P<rtt>[\d.]+|nan)"
)


class Asterisk(PeerContext):
    """A headless Asterisk on loopback (context manager).

    Args:
        workdir: where its configuration, databases and log go.
        pjsip: ``pjsip.conf`` sections besides the UDP transport (``transport-udp``).
        extensions: ``extensions.conf``.
        sip_port: the UDP port of its transport (default: a free one).
        rtp_ports: its RTP range (default: free ports).
        lifetime: seconds before ``timeout(1)`` kills it.
    """

    def __init__(
        self,
        workdir: str | Path,
        name: str = "asterisk",
        *,
        pjsip: str,
        extensions: str,
        sip_port: int | None = None,
        rtp_ports: PortRange | None = None,
        lifetime: float = 240.0,
        start_timeout: float = 30.0,
    ) -> None:
        self.workdir = Path(workdir).resolve() / name
        self.name = name
        self.pjsip = pjsip
        self.extensions = extensions
        self.sip_port = sip_port or free_port()
        self.rtp_ports = rtp_ports or free_port_range(20)
        self.lifetime = lifetime
        self.start_timeout = start_timeout
        self.process: ManagedProcess | None = None
        self.binary: Path | None = None
        self._run_dir: Path | None = None

    @property
    def config(self) -> Path:
        return self.workdir / "etc" / "asterisk.conf"

    @property
    def log_path(self) -> Path:
        return self.workdir / "log" / "full"

    def uri(self, user: str | None = None) -> str:
        """``sip:[user@]127.0.0.1:PORT``."""
        return f"sip:{user + '@' if user else ''}{HOST}:{self.sip_port}"

    # ------------------------------------------------------------------ lifecycle
    def _write_config(self, prefix: Path) -> None:
        etc = self.workdir / "etc"
        for sub in ("etc", "log", "db", "spool", "keys", "varlib", "cache", "agi"):
            (self.workdir / sub).mkdir(parents=True, exist_ok=True)
        self._run_dir = Path(tempfile.mkdtemp(prefix="ast-"))
        d = self.workdir
        (etc / "asterisk.conf").write_text(
            "[directories]\n"
            f"astetcdir => {etc}\nastmoddir => {prefix}/lib/asterisk/modules\n"
            f"astvarlibdir => {d}/varlib\nastdbdir => {d}/db\nastkeydir => {d}/keys\n"
            f"astdatadir => {prefix}/var/lib/asterisk\nastagidir => {d}/agi\n"
            f"astspooldir => {d}/spool\nastrundir => {self._run_dir}\nastlogdir => {d}/log\n"
            f"astsbindir => {prefix}/sbin\nastcachedir => {d}/cache\n"
            "[options]\nverbose = 3\ndebug = 0\nnocolor = yes\n"
        )
        (etc / "modules.conf").write_text("[modules]\nautoload = yes\n")
        (etc / "logger.conf").write_text(
            "[general]\ndateformat = %F %T.%3q\n[logfiles]\nfull => notice,warning,error,verbose\n"
        )
        low, high = self.rtp_ports
        (etc / "rtp.conf").write_text(f"[general]\nrtpstart = {low}\nrtpend = {high}\n")
        (etc / "pjsip.conf").write_text(
            "[transport-udp]\ntype = transport\nprotocol = udp\n"
            f"bind = {HOST}:{self.sip_port}\n\n{self.pjsip}"
        )
        (etc / "extensions.conf").write_text(self.extensions)

    def start(self) -> Asterisk:
        """Write the configuration, start Asterisk and wait until it has fully booted."""
        self.binary = find_or_build()
        self._write_config(self.binary.parent.parent)
        self.process = ManagedProcess(
            f"asterisk-{self.name}",
            [str(self.binary), "-f", "-C", str(self.config)],
            log_path=self.workdir / "console.log",
            lifetime=self.lifetime,
        )
        self.process.start()
        deadline = time.monotonic() + self.start_timeout
        while True:
            if not self.process.alive:
                raise PeerError(f"asterisk exited at start\n{self.log_tail()}")
            try:
                self.cli("core waitfullybooted", timeout=5.0)
                break
            except PeerError:
                if time.monotonic() > deadline:
                    raise PeerError(f"asterisk not booted in {self.start_timeout}s\n"
                                    f"{self.log_tail()}") from None  # fmt: skip
                time.sleep(0.2)
        self.cli("pjsip set logger on")
        return self

    def close(self) -> None:
        if self.process is not None and self.process.alive:
            try:
                self.cli("core stop now", timeout=5.0)
            except PeerError:
                pass
            if self.process.wait(5.0) is None:
                self.process.kill()
        if self.process is not None:
            self.process.kill()
        if self._run_dir is not None:
            shutil.rmtree(self._run_dir, ignore_errors=True)
            self._run_dir = None

    # ------------------------------------------------------------------ use
    def cli(self, command: str, timeout: float = 10.0) -> str:
        """Run ``asterisk -rx COMMAND`` and return its output (PeerError on failure)."""
        assert self.binary is not None, "asterisk not started"
        try:
            out = subprocess.run(
                [str(self.binary), "-C", str(self.config), "-rx", command],
                capture_output=True, text=True, timeout=timeout, check=False,
            )  # fmt: skip
        except subprocess.TimeoutExpired as exc:
            raise PeerError(f"asterisk -rx {command!r}: no answer in {timeout}s") from exc
        text = "\n".join(
            line for line in out.stdout.splitlines() if "seeding global EID" not in line
        )
        if out.returncode != 0 or "Unable to connect to remote asterisk" in out.stdout + out.stderr:
            raise PeerError(f"asterisk -rx {command!r} failed: {out.stdout}{out.stderr}")
        return text

    def contacts(self) -> list[Contact]:
        """``pjsip show contacts``, parsed."""
        found = []
        for line in self.cli("pjsip show contacts").splitlines():
            match = _CONTACT_ROW.match(line)
            if match and match["aor"] != "<Aor":
                rtt = match["rtt"]
                found.append(Contact(match["aor"], match["uri"], match["status"],
                                     None if rtt == "nan" else float(rtt)))  # fmt: skip
        return found

    def wait_contact(
        self, aor: str, status: str | None = "Avail", timeout: float = 15.0
    ) -> Contact:
        """The first contact of ``aor`` in ``status`` (None: any); PeerError on timeout."""
        deadline = time.monotonic() + timeout
        while True:
            found = [c for c in self.contacts() if c.aor == aor and status in (None, c.status)]
            if found:
                return found[0]
            if time.monotonic() > deadline:
                raise PeerError(f"asterisk: no {status} contact for {aor} in {timeout}s: "
                                f"{self.contacts()}\n{self.log_tail()}")  # fmt: skip
            time.sleep(0.2)

    def log_text(self) -> str:
        try:
            return self.log_path.read_text("utf-8", "replace")
        except OSError:
            return ""

    def wait_log(self, regex: str, timeout: float = 10.0, start: int = 0) -> re.Match[str]:
        """The first match of ``regex`` in the full log from character ``start``."""
        pattern = re.compile(regex, re.M)
        deadline = time.monotonic() + timeout
        while True:
            match = pattern.search(self.log_text(), start)
            if match:
                return match
            if time.monotonic() > deadline:
                raise PeerError(f"asterisk: no {regex!r} in the log within {timeout}s\n"
                                f"{self.log_tail()}")  # fmt: skip
            time.sleep(0.1)

    def log_tail(self, lines: int = 80) -> str:
        return tail(self.log_path, lines)
