"""The end-of-run secret scan fails a run whose outputs hold a canary, and only then."""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path

import pytest

from tests.toolkit.canaries import INBOUND_PASSWORD, OPENAI_KEY
from tests.toolkit.canary_scan import is_output

pytest_plugins = ["pytester"]

PLANTED = f"""
import logging

def test_writes(tmp_path):
    (tmp_path / "accounts.toml").write_text('auth_password = "{INBOUND_PASSWORD}"')  # an input
    (tmp_path / "calls").mkdir()
    (tmp_path / "calls" / "x.jsonl").write_text(WHAT_JSONL)
    logging.getLogger("sipgw.agent").debug(WHAT_LOG)
"""


CHECKOUT = Path(__file__).resolve().parents[2]
PYTHONPATH = os.environ.get("PYTHONPATH", "")


def run(pytester: pytest.Pytester, jsonl: str, log: str, *args: str) -> pytest.RunResult:
    """Run a planted test with the plugin; its files live outside our own run's temp dir
    (which the outer scan reads) and are removed afterwards."""
    source = PLANTED.replace("WHAT_JSONL", repr(jsonl)).replace("WHAT_LOG", repr(log))
    pytester.makepyfile(test_planted=source)
    basetemp = Path(tempfile.mkdtemp(prefix="canary-scan-test-"))
    try:
        with pytest.MonkeyPatch.context() as env:  # the plugin is a module of our tests/
            env.setenv("PYTHONPATH", os.pathsep.join(filter(None, (str(CHECKOUT), PYTHONPATH))))
            return pytester.runpytest_subprocess(
                "-p", "tests.toolkit.canary_scan", "-p", "no:cacheprovider",
                f"--basetemp={basetemp / 'run'}", *args,
            )  # fmt: skip
    finally:
        shutil.rmtree(basetemp, ignore_errors=True)
        for kept in Path(tempfile.gettempdir()).glob("sipgw-test-logs-*/in-process.log"):
            if OPENAI_KEY in kept.read_text(errors="replace"):  # a failed inner run keeps its log
                shutil.rmtree(kept.parent, ignore_errors=True)


def test_a_clean_run_passes(pytester: pytest.Pytester) -> None:
    result = run(pytester, '{"text": "***"}\n', "key ***")
    assert result.ret == 0
    result.stdout.fnmatch_lines(["secret scan: no canary in * output file(s)"])


def test_a_secret_in_a_record_fails_the_run(pytester: pytest.Pytester) -> None:
    result = run(pytester, f'{{"error": "{OPENAI_KEY}"}}\n', "fine")
    assert result.ret == 1
    result.stdout.fnmatch_lines(["*secret scan failed*", f"  {OPENAI_KEY} in *x.jsonl"])
    assert "accounts.toml" not in result.stdout.str()  # inputs are not scanned


def test_a_secret_in_an_in_process_debug_log_fails_the_run(pytester: pytest.Pytester) -> None:
    result = run(pytester, "{}\n", f"> Authorization: {OPENAI_KEY}")
    assert result.ret == 1
    result.stdout.fnmatch_lines([f"  {OPENAI_KEY} in *in-process.log"])


def test_under_xdist_a_secret_found_by_a_worker_fails_the_run(pytester: pytest.Pytester) -> None:
    """scripts/test runs the suite on xdist workers: a worker's exit status does not reach
    the controller, so the worker hands its findings over and the controller fails the run."""
    result = run(pytester, f'{{"error": "{OPENAI_KEY}"}}\n', "fine", "-n", "1")
    assert result.ret == 1
    result.stdout.fnmatch_lines(["*secret scan failed*", f"  {OPENAI_KEY} in *x.jsonl"])


def test_under_xdist_a_clean_run_passes_and_counts_the_workers_files(
    pytester: pytest.Pytester,
) -> None:
    result = run(pytester, '{"text": "***"}\n', "key ***", "-n", "1")
    assert result.ret == 0
    said = re.search(r"secret scan: no canary in (\d+) output file", result.stdout.str())
    assert said, result.stdout.str()
    assert int(said[1]) >= 3  # the controller's session log, the worker's, and x.jsonl


@pytest.mark.parametrize(
    ("name", "scanned"),
    [
        ("gateway.log", True),
        ("x.jsonl", True),
        ("callbacks.sqlite3-wal", True),
        ("accounts.toml", False),
        (".env", False),
        ("kamailio.cfg", False),
        ("accounts", False),
    ],
)
def test_outputs_by_name(name: str, scanned: bool) -> None:
    assert is_output(Path(name)) is scanned
