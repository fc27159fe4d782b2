"""Several lines on one gateway (docs/lines.md): real baresip calls to two numbers reach two agents.

``sipgw serve --agent echo --routes routes.toml`` as a subprocess, its assistant line's
clients pointed at the AI-service fakes (the fake TTS speaks each greeting as a tone of its
own, so the recording tells which greeting was heard). A reload (SIGHUP) during both calls
leaves them up; a bad file sent through ``POST /api/reload`` is refused with its line and
the routes before stay; a call after the reload takes the new routes.
"""

from __future__ import annotations

import json
import signal
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from sipgw.app.evaluation.audio import AudioReport, analyse, write_pattern
from sipgw.app.evaluation.gateway_process import GatewayProcess
from sipgw.app.evaluation.ports import free_port
from tests.toolkit.fakes.threaded import ThreadedFakes, fakes_in_threads
from tests.toolkit.peers.baresip import Baresip

pytestmark = [pytest.mark.timeout(120), pytest.mark.usefixtures("nothing_left_running")]

MAIN_HZ, SALES_HZ, NIGHT_HZ, CALLER_HZ = 500, 700, 900, 1000
ECHO, SALES, NIGHT = "+15550100", "+15550200", "+15550300"

ROUTES = f"""\
[lines.check]
[lines.check.settings]
SIPGW_ECHO_DELAY_MS = 300

[lines.sales]
agent = "assistant"
greeting = "Sales line, hello."
voice = "sales-voice"

[[routes]]
called = "{ECHO}"
line = "check"

[[routes]]
called = "{SALES}"
line = "sales"
"""
NIGHT_ROUTE = f"""
[lines.night]
agent = "assistant"
greeting = "Night line, we are closed."

[[routes]]
called = "{NIGHT}"
line = "night"
"""


@pytest.fixture
def services(tmp_workdir: Path) -> Iterator[ThreadedFakes]:
    tones = {"Main line": MAIN_HZ, "Sales line": SALES_HZ, "Night line": NIGHT_HZ}
    with fakes_in_threads(tmp_workdir, tones, greeting="Main line, hi.") as fakes:
        yield fakes


def heard_seconds(
    report: AudioReport, hz: float, start: float = 0.0, end: float | None = None
) -> float:
    """Seconds of the recording (from ``start`` to ``end``) where ``hz`` dominates."""
    end = report.duration if end is None else end
    found, t, step = 0.0, start, 0.1
    while t + step <= end:
        part = report.slice(t, t + step)
        if (part.rms_dbfs or -100) > -40 and part.fraction_at(hz, length=step) > 0.5:
            found += step
        t += step
    return found


def post(url: str) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(url, method="POST", data=b"")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_two_numbers_two_agents_and_a_reload_during_the_calls(
    tmp_workdir: Path, services: ThreadedFakes, tone_wav: Callable[..., Path]
) -> None:
    routes = tmp_workdir / "routes.toml"
    routes.write_text(ROUTES)
    quiet = write_pattern(tmp_workdir / "audio" / "quiet.wav", [(None, 30.0)], -12.0)
    gw = GatewayProcess(
        tmp_workdir, agent="echo", extra_env=services.env, allow_from="127.0.0.0/8",
        extra_args=["--routes", str(routes), "--admin-port", str(free_port())],
    )  # fmt: skip  # a routes file's lines may name any agent: closed by default
    echo_caller = Baresip(tmp_workdir, "a", user="a", source_wav=tone_wav(CALLER_HZ, 30, -12.0))
    sales_caller = Baresip(tmp_workdir, "b", user="b", source_wav=quiet)
    night_caller = Baresip(tmp_workdir, "c", user="c", source_wav=quiet)
    with gw, echo_caller, sales_caller, night_caller:
        admin = gw.wait_log(r"admin listening on (\S+)", 10).group(1)
        gw.wait_log(r"routes from .*: 2 lines \(check, sales\), 2 routes", 5)
        echo_caller.dial(gw.uri(ECHO))
        sales_caller.dial(gw.uri(SALES))
        echo_caller.wait_event("CALL_ESTABLISHED", 10)
        sales_caller.wait_event("CALL_ESTABLISHED", 10)
        time.sleep(1.5)  # the echo and the greeting are heard

        # Reload during both calls: a new line and route; the calls stay up.
        routes.write_text(ROUTES + NIGHT_ROUTE)
        reloaded_at = time.monotonic()
        assert gw.process is not None
        gw.process.send_signal(signal.SIGHUP)
        gw.wait_log(r"routes reloaded from .*: 3 lines \(check, sales, night\)", 5)
        status, body = post(f"{admin}/api/reload")  # again, through the admin API
        assert status == 200, body
        assert [line["name"] for line in body["lines"]] == ["check", "sales", "night"]

        # A bad file is refused with its line number; the routes before stay in force.
        routes.write_text(ROUTES + NIGHT_ROUTE + '\n[[routes]]\ncalled = "+1"\nline = "nope"\n')
        status, body = post(f"{admin}/api/reload")
        assert status == 400, body
        assert "routes.toml line 28: route 4: line 'nope' is not a [lines.NAME] table" in str(
            body["error"]
        ), body

        # A call after the reload takes the new route: the night line's greeting.
        night_caller.dial(gw.uri(NIGHT))
        night_caller.wait_event("CALL_ESTABLISHED", 10)
        time.sleep(2.0)
        for caller in (echo_caller, sales_caller, night_caller):
            caller.hangup()
            caller.wait_event("CALL_CLOSED", 5)
        for _ in range(3):
            gw.wait_log(r"call ended: remote-bye", 5)
        kept_for = time.monotonic() - reloaded_at
        echo_heard, _ = echo_caller.recordings()
        sales_heard, _ = sales_caller.recordings()
        night_heard, _ = night_caller.recordings()
        assert gw.stop() == 0
    log = gw.log_text()
    assert log.count("call ended: remote-bye") == 3, log  # no call was dropped by the reload
    assert "line check" in log and "line sales" in log and "line night" in log

    echo = analyse(echo_heard)
    assert heard_seconds(echo, CALLER_HZ) > 2.0, echo.describe()  # the echo line echoes
    # ... and kept echoing after the reload, to the caller's hang-up
    assert heard_seconds(echo, CALLER_HZ, start=echo.duration - min(kept_for, 3.0) + 0.3) > 1.0
    sales = analyse(sales_heard)
    assert heard_seconds(sales, SALES_HZ) >= 0.2, sales.describe()  # the line's own greeting
    assert heard_seconds(sales, MAIN_HZ) == 0.0, sales.describe()  # not the gateway's
    night = analyse(night_heard)
    assert heard_seconds(night, NIGHT_HZ) >= 0.2, night.describe()
    voices = {request.voice_id for request in services.tts.requests}
    assert "sales-voice" in voices, voices  # the sales line speaks with its own voice
