"""A pytest plugin: fail the run if a canary secret appears in anything it wrote.

``tests/conftest.py`` loads it. Every API key and SIP password the tests
configure is a canary (:mod:`tests.toolkit.canaries`). The plugin

- sends every in-process log record of the run to a session log (the loggers of
  sipgw, the agent and the vendor clients' libraries at DEBUG, so a header a
  library logs is seen too);
- at the end of the run scans the **outputs** for canaries and, if any
  appears, prints where and makes the run fail (exit status 1).

Outputs, by rule: under the run's base temporary directory (``--basetemp``),
files named ``*.log``, ``*.jsonl``, ``*.out``, ``*.err``, ``*.sqlite3``,
``*.db`` (and SQLite's ``-journal``, ``-wal``, ``-shm`` beside them); every log
registered with :data:`sipgw.app.evaluation.process.LOGS` (gateway and peer output,
wherever it was written); and the session log. Inputs are not scanned: the
configuration a test writes for the gateway or a peer (``.env``, accounts TOML,
users files, ``kamailio.cfg``, baresip's ``accounts``) holds the password on
purpose.

Under pytest-xdist each worker scans its own outputs and hands what it found to the
controller (``workeroutput``), which reports them all and fails the run: a worker's own
exit status does not reach the controller's.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sipgw.app.evaluation.process import LOGS
from tests.toolkit.canaries import find_canaries

__all__ = [
    "OUTPUT_SUFFIXES",
    "canary_scan_basetemp",
    "output_files",
    "pytest_configure",
    "pytest_sessionfinish",
    "pytest_testnodedown",
    "pytest_unconfigure",
]

OUTPUT_SUFFIXES = (".log", ".jsonl", ".out", ".err", ".sqlite3", ".db")
"""File names (also with ``-journal``, ``-wal``, ``-shm`` after them) the scan reads."""

DEBUG_LOGGERS = ("sipgw", "agent", "websockets.client", "httpx", "httpx2", "httpcore", "openai")
"""Loggers sent to the session log at DEBUG (others at their own level). The client side
only: ``websockets.server`` is the fakes' side, which receives the keys by design."""

_BASETEMP = pytest.StashKey[Path]()
_SESSION_LOG = pytest.StashKey[tuple[Path, logging.Handler, dict[str, int]]]()
_FROM_WORKERS = pytest.StashKey[list[tuple[str, str]]]()
_SCANNED_BY_WORKERS = pytest.StashKey[int]()


def is_output(path: Path) -> bool:
    """True for a file the scan reads (see the module docstring)."""
    name = path.name
    for suffix in ("-journal", "-wal", "-shm"):
        name = name.removesuffix(suffix)
    return name.endswith(OUTPUT_SUFFIXES)


def output_files(root: Path) -> Iterator[Path]:
    """The output files under ``root`` (symbolic links not followed)."""
    if root.is_dir():
        for path in root.rglob("*"):
            if is_output(path) and path.is_file() and not path.is_symlink():
                yield path


def pytest_configure(config: pytest.Config) -> None:
    directory = Path(tempfile.mkdtemp(prefix="sipgw-test-logs-"))
    path = directory / "in-process.log"
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setLevel(logging.DEBUG)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    levels = {}
    for name in DEBUG_LOGGERS:
        logger = logging.getLogger(name)
        levels[name] = logger.level
        logger.setLevel(logging.DEBUG)
    logging.getLogger().addHandler(handler)
    config.stash[_SESSION_LOG] = (path, handler, levels)


def pytest_unconfigure(config: pytest.Config) -> None:
    entry = config.stash.get(_SESSION_LOG, None)
    if entry is None:
        return
    _, handler, levels = entry
    logging.getLogger().removeHandler(handler)
    handler.close()
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)


@pytest.fixture(autouse=True, scope="session")
def canary_scan_basetemp(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Remembers the run's base temporary directory for the scan."""
    request.config.stash[_BASETEMP] = tmp_path_factory.getbasetemp()


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: object) -> None:
    """xdist's controller: keep what a finished worker's scan found."""
    output = getattr(node, "workeroutput", None) or {}
    config = node.config
    found = config.stash.setdefault(_FROM_WORKERS, [])
    found.extend((str(path), str(canary)) for path, canary in output.get("canaries", ()))
    scanned = config.stash.get(_SCANNED_BY_WORKERS, 0) + int(output.get("scanned", 0))
    config.stash[_SCANNED_BY_WORKERS] = scanned


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    config = session.config
    entry = config.stash.get(_SESSION_LOG, None)
    paths: dict[Path, None] = {}
    if entry is not None:
        entry[1].flush()
        paths[entry[0]] = None
    basetemp = config.stash.get(_BASETEMP, None)
    if basetemp is not None:
        paths.update(dict.fromkeys(output_files(basetemp)))
    paths.update(dict.fromkeys(p for p in LOGS.every_path() if p.is_file()))
    found = [(str(path), canary) for path, canary in find_canaries(paths)]
    workeroutput = getattr(config, "workeroutput", None)
    if workeroutput is not None:  # an xdist worker: the controller reports
        workeroutput["canaries"] = found
        workeroutput["scanned"] = len(paths)
    from_workers: list[tuple[str, str]] = config.stash.get(_FROM_WORKERS, [])
    found += from_workers
    scanned = len(paths) + config.stash.get(_SCANNED_BY_WORKERS, 0)
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if not found:
        if reporter is not None:
            reporter.write_line(f"secret scan: no canary in {scanned} output file(s)")
        if entry is not None:
            shutil.rmtree(entry[0].parent, ignore_errors=True)
        return
    lines = [f"secret scan: a configured secret appears in {len(found)} place(s):"]
    lines += [f"  {canary} in {path}" for path, canary in found]
    if reporter is not None:
        reporter.section("secret scan failed", sep="=", red=True, bold=True)
        for line in lines:
            reporter.write_line(line, red=True)
    session.exitstatus = pytest.ExitCode.TESTS_FAILED
