"""A real PostgreSQL server for tests: Debian's ``postgresql``, in a directory of its own,
on a port of its own, started by the tests and stopped after them.

``initdb`` into a fresh temporary directory (trust authentication, user ``sipgw``), then
``pg_ctl start`` listening on 127.0.0.1 and a socket in that directory. PostgreSQL refuses
to run as root: as root the server runs as ``nobody`` (through ``runuser``), which owns its
directory. Each test gets a database of its own (:meth:`PostgresServer.new_database`).
A missing PostgreSQL fails the test (scripts/test installs it): never a silent skip.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg

from sipgw.app.evaluation.ports import free_port

__all__ = ["PostgresServer", "postgres_bin"]


def postgres_bin(name: str) -> str:
    """The path of PostgreSQL's ``name`` (``initdb``, ``pg_ctl``): Debian keeps them in
    ``/usr/lib/postgresql/<version>/bin``, off the PATH."""
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if found:
        return found[-1]
    on_path = shutil.which(name)
    if on_path is None:
        raise RuntimeError(f"PostgreSQL's {name} is missing: apt-get install postgresql")
    return on_path


class PostgresServer:
    """One PostgreSQL server (see the module docstring); a context manager."""

    def __init__(self) -> None:
        self.directory = Path(tempfile.mkdtemp(prefix="sipgw-pg-"))
        self.data = self.directory / "data"
        self.port = free_port()  # outside the ephemeral range: no connection holds it
        self._as_root = os.geteuid() == 0
        self._databases = 0

    def _run(self, *argv: str) -> None:
        command = list(argv)
        if self._as_root:
            command = ["runuser", "-u", "nobody", "--", *command]
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=120, cwd=self.directory
        )
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)} failed: {done.stdout}{done.stderr}")

    def start(self) -> PostgresServer:
        """initdb and start; returns once it takes connections."""
        os.chmod(self.directory, 0o700)
        if self._as_root:
            shutil.chown(self.directory, "nobody", "nogroup")
        self._run(postgres_bin("initdb"), "-D", str(self.data), "-U", "sipgw",
                  "--auth=trust", "-E", "UTF8", "--no-sync")  # fmt: skip
        options = (
            f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1"
            " -c fsync=off -c max_connections=60"
        )
        log = str(self.directory / "log")
        self._run(postgres_bin("pg_ctl"), "-D", str(self.data), "-l", log, "-o", options,
                  "-w", "-t", "60", "start")  # fmt: skip
        return self

    def url(self, database: str = "postgres") -> str:
        """The URL of ``database`` on this server."""
        return f"postgresql://sipgw@127.0.0.1:{self.port}/{database}"

    def new_database(self) -> str:
        """A new, empty database; returns its URL."""
        self._databases += 1
        name = f"t{os.getpid()}_{self._databases}_{int(time.time() * 1000) % 100000}"
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}".encode())
        return self.url(name)

    def restart(self) -> float:
        """Stop it (fast shutdown: sessions are ended) and start it again on the same port
        and data; returns the seconds it took, once it takes connections again."""
        began = time.monotonic()
        # -l as at the start: without it the server would hold our capture pipe open
        self._run(postgres_bin("pg_ctl"), "-D", str(self.data), "-l", str(self.directory / "log"),
                  "-m", "fast", "-w", "-t", "60", "restart")  # fmt: skip
        return time.monotonic() - began

    def stop(self) -> None:
        """Stop the server (fast shutdown) and remove its directory."""
        try:
            if (self.data / "postmaster.pid").exists():
                self._run(postgres_bin("pg_ctl"), "-D", str(self.data), "-m", "immediate",
                          "-w", "stop")  # fmt: skip
        finally:
            shutil.rmtree(self.directory, ignore_errors=True)

    def __enter__(self) -> PostgresServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
