"""Issue 39: a gateway that has just started, on a busy machine, answers its first call.

``sipgw serve --agent assistant`` (the local fakes for its services) with overload
protection at its defaults starts beside two busy-looping processes (the machine is
busy, not the gateway); a softphone (baresip) calls the moment ``listening on`` is
printed. It is answered, three starts out of three. Before, the start-up's late ticks
(no call up yet) tripped the overload rule and every INVITE of the next seconds got 503.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from sipgw.app.evaluation.gateway_process import GatewayProcess
from tests.toolkit.fakes.threaded import fakes_in_threads
from tests.toolkit.peers.baresip import Baresip

pytestmark = [pytest.mark.timeout(90), pytest.mark.usefixtures("nothing_left_running")]

OVERLOAD_DEFAULTS = ("--overload-lateness-ms", "10", "--overload-cpu-percent", "90")
"""Overload protection on, at its defaults (GatewayProcess turns it off unless told)."""

DELAYS = (0.0, 0.3, 1.0)
"""Seconds from ``listening on`` to the INVITE, one start each: at once, when the issue's
softphone called, and once the start-up's late ticks would have been judged."""

HOG = "import time\nend = time.monotonic() + {seconds}\nwhile time.monotonic() < end:\n    pass\n"


@contextmanager
def cpu_hogs(count: int = 2, seconds: float = 40.0) -> Iterator[None]:
    """``count`` processes spinning on the CPU for ``seconds`` at most (ended on exit)."""
    hogs = [
        subprocess.Popen([sys.executable, "-c", HOG.format(seconds=seconds)]) for _ in range(count)
    ]
    try:
        yield
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait(5)


def first_outcome(caller: Baresip, seen: int, within: float) -> dict[str, Any]:
    """The first CALL_ESTABLISHED or CALL_CLOSED among the events after the ``seen`` first."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        for event in caller.events[seen:]:
            if event.get("type") in ("CALL_ESTABLISHED", "CALL_CLOSED"):
                return event
        time.sleep(0.02)
    raise AssertionError(f"no answer nor refusal in {within} s: {caller.events[seen:]}")


def test_a_fresh_gateway_on_a_busy_machine_answers_its_first_call(tmp_workdir: Path) -> None:
    outcomes: list[str] = []
    with (
        fakes_in_threads(tmp_workdir, {"Hi there": 500}) as fakes,
        Baresip(tmp_workdir, "a", user="a") as caller,
        cpu_hogs(),
    ):
        for start, delay in enumerate(DELAYS):
            with GatewayProcess(
                tmp_workdir, name=f"gateway-{start}", agent="assistant", allow_from="127.0.0.1",
                extra_env=fakes.env, extra_args=OVERLOAD_DEFAULTS,
            ) as gw:  # fmt: skip
                time.sleep(delay)
                seen = len(caller.events)
                caller.dial(gw.uri())
                event = first_outcome(caller, seen, 10)
                outcomes.append(event["type"] if event["type"] == "CALL_ESTABLISHED" else
                                f"{event['type']} {event.get('param', '')}")  # fmt: skip
                if event["type"] == "CALL_ESTABLISHED":
                    time.sleep(0.3)
                    caller.hangup()
                    caller.wait_event("CALL_CLOSED", 5)
                log = gw.log_text()
                assert gw.stop() == 0
                assert "Traceback" not in log
    assert outcomes == ["CALL_ESTABLISHED"] * len(DELAYS), outcomes
