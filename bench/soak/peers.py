"""What the soak's gateway talks to, each a process the soak can restart: PostgreSQL (the
shared state, ``SIPGW_DATABASE_URL``), the webhook receiver of docs/webhooks.md, and the
AI-service fakes failing on a schedule; and the settings file with the two lines."""

from __future__ import annotations

import contextlib
import json
import secrets
import shutil
import signal
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg

from bench._harness import PYTHON, REPO, wait_until
from sipgw.app.evaluation.process import ManagedProcess, child_env
from tests.toolkit.postgres import PostgresServer
from tests.toolkit.webhook_receiver import ExampleReceiver

__all__ = [
    "ECHO_USER",
    "ASSISTANT_USER",
    "DB_TABLES",
    "FakeServicesProcess",
    "database_figures",
    "settings_file",
]

ECHO_USER = "echo"
ASSISTANT_USER = "assistant"
"""The called users of the two lines (the Request-URI user the load generators dial)."""

DB_TABLES = ("webhook_outbox", "calls_index", "gateways", "callbacks", "messages")
"""The shared tables whose rows the soak counts."""

SETTINGS = f"""\
# Written by bench.soak: two lines on one gateway, picked by the called user.
default = "{ECHO_USER}"

[lines.{ECHO_USER}]
agent = "echo"

[lines.{ASSISTANT_USER}]
agent = "assistant"
greeting = "Hi."

[[routes]]
called = "{ASSISTANT_USER}"
line = "{ASSISTANT_USER}"
"""


def settings_file(workdir: Path) -> Path:
    """Write the gateway's ``sipgw.toml`` (its working directory's: read at start)."""
    path = workdir / "sipgw.toml"
    path.write_text(SETTINGS)
    return path


def new_secret() -> str:
    """A Standard Webhooks secret (``whsec_`` and base64)."""
    import base64

    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


def database_figures(url: str) -> dict[str, Any]:
    """Rows of :data:`DB_TABLES` (and those of ``calls_index`` not ended), and the
    connections to the database but ours; ``{"error": ...}`` while it is away."""
    try:
        with psycopg.connect(url, connect_timeout=3, autocommit=True) as conn:

            def count(sql: str) -> int | None:
                row = conn.execute(sql.encode()).fetchone()
                return int(row[0]) if row else None

            out: dict[str, Any] = {
                f"rows_{t}": count(f"SELECT COUNT(*) FROM {t}") for t in DB_TABLES
            }
            out["rows_calls_index_not_ended"] = count(
                "SELECT COUNT(*) FROM calls_index WHERE ended_at IS NULL"
            )
            out["db_connections"] = count(
                "SELECT COUNT(*) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
            return out
    except psycopg.Error as exc:
        return {"error": f"{type(exc).__name__}: {str(exc).strip()[:200]}"}


@dataclass
class FakeServicesProcess:
    """``python -m bench.fake_services`` with its fault schedule, pinned to ``cpu``."""

    fault_every: float
    fault_stall: float
    cpu: int | None
    faults: list[dict[str, Any]] = field(default_factory=list)
    """The ``fault {json}`` lines it printed: ``{"t", "fault", "n"[, "error"]}``."""
    env: dict[str, str] = field(default_factory=dict)
    """The gateway's environment for the fakes."""
    process: ManagedProcess | None = None

    @contextlib.contextmanager
    def running(self) -> Iterator[FakeServicesProcess]:
        """Start it, yield once its ready line named the URLs, stop it after."""
        cmd = [PYTHON, "-m", "bench.fake_services", "--json-ready"]
        if self.fault_every > 0:
            cmd += ["--fault-every", f"{self.fault_every:g}", "--fault-stall",
                    f"{self.fault_stall:g}"]  # fmt: skip
        ready: list[dict[str, Any]] = []

        def on_line(t: float, line: str) -> None:
            if line.startswith("fault "):
                with contextlib.suppress(ValueError):
                    self.faults.append(json.loads(line[6:]))
            elif not ready and line.lstrip().startswith("{"):
                with contextlib.suppress(ValueError):
                    ready.append(json.loads(line))

        workdir = Path(tempfile.mkdtemp(prefix="sipgw-soak-fakes-"))
        self.process = child = ManagedProcess(
            "fake_services", cmd, log_path=workdir / "fake_services.log", lifetime=None,
            cwd=REPO, env=child_env(), capture="lines", on_line=on_line, cpu=self.cpu,
        )  # fmt: skip
        try:
            child.start()
            if not wait_until(lambda: bool(ready) or not child.alive, 30) or not ready:
                raise RuntimeError(f"fake services not ready:\n{child.log_tail()}")
            info = ready[0]
            self.env = {
                **info.get("keys", {}),
                "ASSEMBLYAI_STREAMING_URL": info["assemblyai_url"],
                "OPENAI_BASE_URL": info["openai_base_url"],
                "ELEVENLABS_BASE_URL": info["elevenlabs_base_url"],
                "SIPGW_CALL_RECORD_DIR": "",
            }
            yield self
        finally:
            child.send_signal(signal.SIGTERM)
            if child.wait(10) is None:
                child.kill()
            shutil.rmtree(workdir, ignore_errors=True)


@contextlib.contextmanager
def postgres() -> Iterator[tuple[PostgresServer, str]]:
    """A PostgreSQL server of its own and a new database on it: (server, URL)."""
    server = PostgresServer().start()
    try:
        yield server, server.new_database()
    finally:
        server.stop()


@contextlib.contextmanager
def receiver(workdir: Path, secret: str) -> Iterator[ExampleReceiver]:
    """The docs' example receiver, without a time bound, on a free port."""
    got = ExampleReceiver(workdir, secret, lifetime=None)
    got.start()
    try:
        yield got
    finally:
        got.stop()
