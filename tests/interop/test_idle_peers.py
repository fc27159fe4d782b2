"""A real softphone (baresip) that goes quiet on the assistant (agent/idle/policy.py).

The gateway runs with the fake AI services (tests/interop/test_assistant_peers.py); the
fake TTS speaks the check-in and the goodbye each as its own tone, so the recording of
what baresip heard shows when each was said.
"""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from sipgw.app.evaluation.audio import analyse
from sipgw.app.evaluation.gateway_process import GatewayProcess
from sipgw.app.evaluation.ports import free_port
from tests.interop.services import fake_services
from tests.interop.test_assistant_peers import call_record, run_call, script, spans
from tests.toolkit.fakes.threaded import ThreadedFakes
from tests.toolkit.metrics import sample_value
from tests.toolkit.peers.baresip import Baresip

pytestmark = pytest.mark.timeout(120)

GREETING_HZ, CHECK_HZ, GOODBYE_HZ = 500, 1500, 1100
AFTER = 2.0
"""SIPGW_IDLE_AFTER of these calls (s)."""


@pytest.fixture
def services(tmp_workdir: Path) -> Iterator[ThreadedFakes]:
    tones = {"Hi there": GREETING_HZ, "still there": CHECK_HZ, "stepped away": GOODBYE_HZ}
    with fake_services(tmp_workdir, tones) as fakes:
        yield fakes


def test_a_quiet_caller_is_checked_on_then_hung_up_on(
    tmp_workdir: Path, services: ThreadedFakes
) -> None:
    source = script(tmp_workdir, "quiet", (None, 1.0))  # then 30 s of silence
    env = {**services.env, "SIPGW_IDLE_AFTER": str(AFTER), "SIPGW_IDLE_CHECKS": "2"}
    admin = free_port()
    gw = GatewayProcess(
        tmp_workdir, agent="assistant", allow_from="127.0.0.0/8", extra_env=env,
        extra_args=["--admin-port", str(admin)],
    )  # fmt: skip
    caller = Baresip(tmp_workdir, "a", user="a", source_wav=source)
    with gw, caller:
        caller.dial(gw.uri("agent"))
        caller.wait_event("CALL_ESTABLISHED", 5)
        closed = caller.wait_event("CALL_CLOSED", 20)
        assert closed["param"] == "Connection reset by peer", closed  # our BYE
        gw.wait_log(r"call ended: local-bye", 5)
        with urllib.request.urlopen(f"http://127.0.0.1:{admin}/metrics", timeout=5) as response:
            metrics = response.read()
        heard, _ = caller.recordings()
        assert gw.stop() == 0
    assert sample_value(metrics, "sipgw_idle_total", step="check_in") == 2
    assert sample_value(metrics, "sipgw_idle_total", step="hang_up") == 1
    report = analyse(heard)
    greeting, checks, goodbye = (spans(report, hz) for hz in (GREETING_HZ, CHECK_HZ, GOODBYE_HZ))
    assert greeting and len(checks) == 2 and len(goodbye) == 1, report.describe()
    # Each check-in comes AFTER seconds after the agent's last words (the TTS's first audio
    # adds a little); the goodbye as long after the second; then the BYE, once it was heard.
    for before, after in (
        (greeting[-1], checks[0]),
        (checks[0], checks[1]),
        (checks[1], goodbye[0]),
    ):
        gap = after[0] - before[1]
        assert AFTER - 0.2 <= gap <= AFTER + 0.6, (gap, report.describe())
    assert goodbye[0][1] >= report.duration - 0.5  # spoken to the end, then the hang-up
    record = call_record(tmp_workdir)
    idle = [(r["step"], r.get("number")) for r in record if r["type"] == "idle"]
    assert idle == [("check_in", 1), ("check_in", 2), ("hang_up", None)]
    hangup = next(r for r in record if r["type"] == "hangup")
    assert hangup == {**hangup, "by": "agent", "reason": "idle"}
    assert record[-1]["type"] == "end" and record[-1]["hung_up_for"] == "idle"


def test_a_caller_who_answers_the_check_in_is_not_hung_up_on(
    tmp_workdir: Path, services: ThreadedFakes
) -> None:
    services.stt.script(["Yes, still here."])
    services.llm.script([])
    # Quiet until the check-in (greeting ~0.3 s + 2 s), then a word, then quiet again.
    source = script(tmp_workdir, "answers", (None, 3.2), (300, 0.6))
    env = {"SIPGW_IDLE_AFTER": str(AFTER), "SIPGW_IDLE_CHECKS": "1"}
    call = run_call(tmp_workdir, services, source, 12.0, env)
    report = analyse(call.heard)
    checks, goodbye = spans(report, CHECK_HZ), spans(report, GOODBYE_HZ)
    # Answered, the check-ins start over: one more check-in before the goodbye.
    assert len(checks) == 2 and len(goodbye) == 1, report.describe()
    assert checks[1][0] > 3.8 + AFTER - 0.2, report.describe()
    idle = [(r["step"], r.get("number")) for r in call_record(tmp_workdir) if r["type"] == "idle"]
    assert idle == [("check_in", 1), ("check_in", 1), ("hang_up", None)]
