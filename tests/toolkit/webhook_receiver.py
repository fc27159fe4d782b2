"""The example webhook receiver of ``docs/webhooks.md``, run as a program for tests.

:func:`example_receiver_source` is the page's ``receiver.py`` code block, exactly as a reader
copies it; :class:`ExampleReceiver` writes it to the work directory and runs
``python3 receiver.py PORT`` with ``WEBHOOK_SECRET``, reading the JSON line it prints per
authentic request. :meth:`ExampleReceiver.stop` and :meth:`~ExampleReceiver.start` take it
down and bring it back on the same port (a receiver outage); what it printed is kept
across restarts in :attr:`ExampleReceiver.deliveries`. It verifies signatures with its own
code (the page's), not the gateway's.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

from sipgw.app.evaluation.ports import free_port
from sipgw.app.evaluation.process import CHECKOUT, ManagedProcess, PeerContext, PeerError, child_env

__all__ = ["RECEIVER_PAGE", "ExampleReceiver", "example_receiver_source"]

RECEIVER_PAGE = CHECKOUT / "docs" / "webhooks.md"
"""The page whose ``receiver.py`` block this runs."""
_FIRST_LINE = '"""receiver.py: a webhook receiver for sipgw, standard library only.'


def example_receiver_source(page: Path = RECEIVER_PAGE) -> str:
    """The ``receiver.py`` code block of ``docs/webhooks.md``.

    Raises:
        PeerError: the page has no such block.
    """
    text = page.read_text()
    marker = f"```python\n{_FIRST_LINE}\n"
    if marker not in text:
        raise PeerError(f"{page}: no ```python block starting {_FIRST_LINE!r}")
    body = text.split(marker, 1)[1].split("```", 1)[0]
    return f"{_FIRST_LINE}\n{body}"


class ExampleReceiver(PeerContext):
    """The docs' receiver on ``127.0.0.1:port`` (context manager; a free port by default)."""

    def __init__(
        self,
        workdir: str | Path,
        secret: str,
        port: int | None = None,
        lifetime: float | None = 600.0,
    ) -> None:
        self.workdir = Path(workdir)
        self.lifetime = lifetime
        """Seconds each run may last at most (None: no bound, for a long benchmark)."""
        self.secret = secret
        self.port = port or free_port()
        self.script = self.workdir / "receiver.py"
        self.process: ManagedProcess | None = None
        self.deliveries: list[dict[str, Any]] = []
        """Every line it printed, over all its runs: ``{"id", "repeat", "event"}``."""
        self.unreadable: list[str] = []
        """Lines that looked like a delivery but were no JSON object (two at once?)."""
        self._runs = 0

    @property
    def url(self) -> str:
        """Where to post."""
        return f"http://127.0.0.1:{self.port}/hooks"

    def start(self) -> ExampleReceiver:
        """Run it (again) on its port; returns once it accepts connections."""
        import socket

        self.workdir.mkdir(parents=True, exist_ok=True)
        self.script.write_text(example_receiver_source())
        self._runs += 1
        self.process = ManagedProcess(
            f"receiver-{self._runs}", [sys.executable, str(self.script), str(self.port)],
            log_path=self.workdir / f"receiver-{self._runs}.log", lifetime=self.lifetime,
            cwd=self.workdir, env=child_env({"WEBHOOK_SECRET": self.secret}),
            capture="lines", on_line=self._line,
        )  # fmt: skip
        self.process.start()
        deadline = time.monotonic() + 10.0
        while time.monotonic() < deadline:
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", self.port)) == 0:
                    return self
            if not self.process.alive:
                break
            time.sleep(0.05)
        raise PeerError(f"the example receiver did not listen\n{self.process.log_tail()}")

    def _line(self, at: float, text: str) -> None:
        if text.startswith("{"):
            try:
                self.deliveries.append(json.loads(text))
            except ValueError:
                self.unreadable.append(text)

    def stop(self) -> None:
        """Take it down (SIGKILL: an outage, not a goodbye)."""
        if self.process is not None:
            self.process.kill()
            self.process = None

    def close(self) -> None:
        self.stop()

    def wait_for(self, count: int, timeout: float) -> list[dict[str, Any]]:
        """Wait until it printed ``count`` lines (over all its runs); returns them all."""
        deadline = time.monotonic() + timeout
        while len(self.deliveries) < count:
            if time.monotonic() > deadline:
                raise PeerError(f"the receiver got {len(self.deliveries)} of {count} events")
            time.sleep(0.05)
        return list(self.deliveries)
