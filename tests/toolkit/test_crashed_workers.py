"""A test past its timeout fails once, its worker replaced, and the run goes on to its end."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

CHECKOUT = Path(__file__).resolve().parents[2]

HANGS = """
import asyncio, time, pytest

@pytest.mark.timeout(1)
async def test_hangs_while_a_callback_runs():
    def busy():
        time.sleep(2)  # the timeout comes while the loop runs a callback
    asyncio.get_running_loop().call_soon(busy)
    await asyncio.Event().wait()

@pytest.mark.parametrize("n", range(4))
def test_after(n):
    time.sleep(0.3)
"""


def test_a_hung_test_fails_once_and_the_others_run(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_hangs=HANGS)
    with pytest.MonkeyPatch.context() as env:  # the plugin is a module of our tests/
        path = os.environ.get("PYTHONPATH", "")
        env.setenv("PYTHONPATH", os.pathsep.join(filter(None, (str(CHECKOUT), path))))
        result = pytester.runpytest_subprocess(
            "-p", "tests.toolkit.crashed_workers", "-p", "no:cacheprovider", "-p", "no:randomly",
            "-o", "timeout_method=thread", "-o", "asyncio_mode=auto",
            "-n", "2", "--dist", "loadgroup", timeout=60,
        )  # fmt: skip
    result.assert_outcomes(passed=4, failed=1)
    result.stdout.fnmatch_lines(["*crashed while running*test_hangs_while_a_callback_runs*"])
