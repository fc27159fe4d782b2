"""Scheduled callbacks place real calls: ``sipgw serve --agent assistant`` dials a stored
callback to an auto-answering baresip, the assistant speaks first, the row ends ``done``.

The gateway runs as a subprocess with its production clients pointed at the fake
cloud services (as in ``test_assistant_peers.py``); ``SIPGW_CALLBACK_URI`` sends
the number to baresip, whose account user is the number. The fake TTS speaks a
tone per utterance: the callback greeting is a 500 Hz tone, so the recording shows
when the agent started talking.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from agent.tools.callback_store import CallbackRow, CallbackState, CallbackStore
from sipgw.testing.audio import AudioReport, analyse, write_pattern
from sipgw.testing.canaries import ASSEMBLYAI_KEY, ELEVENLABS_KEY, OPENAI_KEY
from sipgw.testing.fakes.assemblyai import FakeAssemblyAI
from sipgw.testing.fakes.elevenlabs import FakeElevenLabs
from sipgw.testing.fakes.openai import FakeOpenAI, FakeResponse
from sipgw.testing.gateway_process import GatewayProcess
from sipgw.testing.peers.baresip import Baresip
from sipgw.testing.process import running_processes

pytestmark = pytest.mark.timeout(120)

NUMBER = "15551234567"
GREETING_HZ, REPLY_HZ, SPEECH_HZ = 500, 700, 300
SPEAKS_AT, LISTENS = 2.5, 5.0  # the callee answers the greeting at 2.5 s, hangs up at 5 s
REASON = "your refund for order 1234"


@dataclass
class Setup:
    env: dict[str, str]
    store: CallbackStore
    callee: Baresip
    llm: FakeOpenAI


@pytest.fixture
def setup(tmp_workdir: Path) -> Iterator[Setup]:
    """The fake services, the callback store and the callee (auto-answering baresip)."""
    stt = FakeAssemblyAI(api_key=ASSEMBLYAI_KEY).start_in_thread()
    llm = FakeOpenAI(api_key=OPENAI_KEY)
    llm_url = llm.start_in_thread()
    tts = FakeElevenLabs(api_key=ELEVENLABS_KEY, ms_per_char=20, speed=4.0)
    tts_url = tts.start_in_thread()
    tts.map_text("call back you asked for", GREETING_HZ)
    tts.map_text("refund went out", REPLY_HZ)
    stt.script(["Yes, now is fine."])
    llm.script([FakeResponse(text="Good: your refund went out yesterday.")])
    # the callee listens to the greeting, then says something (a 300 Hz burst the fake
    # STT turns into the transcript above)
    source = write_pattern(
        tmp_workdir / "audio" / "callee.wav", [(None, SPEAKS_AT), (SPEECH_HZ, 0.6), (None, 30.0)],
        -12.0,
    )  # fmt: skip
    db = tmp_workdir / "callbacks.sqlite3"
    try:
        with Baresip(
            tmp_workdir, "callee", user=NUMBER, answermode="auto", source_wav=source
        ) as callee:
            env = {
                "ASSEMBLYAI_API_KEY": ASSEMBLYAI_KEY, "ASSEMBLYAI_STREAMING_URL": stt.url,
                "OPENAI_API_KEY": OPENAI_KEY, "OPENAI_BASE_URL": llm_url,
                "ELEVENLABS_API_KEY": ELEVENLABS_KEY, "ELEVENLABS_BASE_URL": tts_url,
                "SIPGW_CALL_RECORD_DIR": str(tmp_workdir / "calls"),
                "SIPGW_CALLBACK_DB": str(db),
                "SIPGW_CALLBACK_URI": f"sip:{{number}}@127.0.0.1:{callee.sip_port}",
                # callbacks are dialed only to allowed numbers (docs/security.md)
                "SIPGW_CALLBACK_ALLOWED_PREFIXES": NUMBER[:4],
            }  # fmt: skip
            yield Setup(env, CallbackStore(db), callee, llm)
    finally:
        stt.stop()
        llm.stop()
        tts.stop()
        for p in running_processes():
            p.kill()


def store_callback(store: CallbackStore, due_at: float) -> int:
    """What ``schedule_callback`` stores for a caller who asked to be called back."""
    return store.add(
        call_id="inbound-call-1", phone=NUMBER,
        requested_time="in a moment", reason=REASON, notes="prefers email",
        due_at=due_at, now=time.time(),
    )  # fmt: skip


def first_span(report: AudioReport, hz: float, step: float = 0.1) -> float | None:
    """Start (seconds into the recording) of the first stretch where ``hz`` dominates."""
    t = 0.0
    while t + step <= report.duration:
        part = report.slice(t, t + step)
        if (part.rms_dbfs or -100) > -40 and part.fraction_at(hz, length=step) > 0.5:
            return t
        t += step
    return None


def answer_and_hang_up(gateway: GatewayProcess, callee: Baresip, row_id: int) -> Path:
    """The callee answers the callback, talks, hangs up after ``LISTENS`` s; returns what
    it heard (recorded from the answer on)."""
    established = callee.wait_event("CALL_ESTABLISHED", 15)
    assert established["direction"] == "incoming", established
    time.sleep(LISTENS)
    callee.hangup()
    hung_up = time.monotonic()
    callee.wait_event("CALL_CLOSED", 5)
    gateway.wait_log(rf"callback {row_id}: answered, .* -> done", 10)
    heard, _ = callee.recordings()
    # the recording spans the whole call: its start is the answer
    assert analyse(heard).duration > hung_up - established["received_at"] - 0.4
    return heard


def assert_done(row: CallbackRow | None, attempts: int = 1) -> None:
    assert row is not None
    assert row.state is CallbackState.DONE, row
    assert row.attempts == attempts, row
    assert row.last_outcome.startswith("answered, ") and "ended by remote-bye" in (
        row.last_outcome
    ), row
    assert row.claimed_by is None and row.lease_until is None, row


def assert_agent_spoke_first(heard: Path) -> None:
    report = analyse(heard)
    start = first_span(report, GREETING_HZ)
    # the pre-synthesized greeting starts right after the answer
    assert start is not None and start < 0.5, (start, report.describe())
    assert (report.slice(0.0, start + 0.5).rms_dbfs or -100) > -30, report.describe()
    reply = first_span(report, REPLY_HZ)  # and the conversation goes on
    assert reply is not None and reply > SPEAKS_AT, (reply, report.describe())


def call_record(tmp_workdir: Path) -> list[dict[str, object]]:
    (path,) = (tmp_workdir / "calls").glob("*.jsonl")
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_due_callback_calls_and_the_agent_speaks_first(tmp_workdir: Path, setup: Setup) -> None:
    row_id = store_callback(setup.store, due_at=time.time())
    with GatewayProcess(tmp_workdir, agent="assistant", extra_env=setup.env) as gateway:
        heard = answer_and_hang_up(gateway, setup.callee, row_id)
        assert gateway.stop() == 0
    assert_agent_spoke_first(heard)
    assert_done(setup.store.get(row_id))
    record = call_record(tmp_workdir)
    start = record[0]
    assert start["type"] == "call" and start["direction"] == "outbound", start
    assert f"sip:{NUMBER}@" in str(start["called"]), start
    greeting = next(r for r in record if r.get("greeting"))
    assert REASON in str(greeting["text"]), greeting
    assert [r["type"] for r in record].index("answered") > 0
    # the model knows it placed the call, and why
    system = setup.llm.requests[0].body["messages"][0]
    assert system["role"] == "system", system
    assert "You placed this call" in system["content"] and REASON in system["content"], system
    assert "prefers email" in system["content"], system
    assert not gateway.tracebacks(), gateway.tracebacks()


def test_callback_survives_a_restart(tmp_workdir: Path, setup: Setup) -> None:
    first = GatewayProcess(tmp_workdir, name="gateway-1", agent="assistant", extra_env=setup.env)
    with first:
        first.wait_log(r"callbacks: dialing from", 5)
        row_id = store_callback(setup.store, due_at=time.time() + 5.0)
        time.sleep(2.5)  # the scheduler has looked (it polls every 2 s) and waits for the time
        assert first.stop() == 0
    row = setup.store.get(row_id)
    assert row is not None and row.state is CallbackState.PENDING and row.attempts == 0, row
    due_at = row.due_at
    assert due_at is not None and time.time() < due_at, "the first gateway ran past the due time"
    assert f"callback {row_id}:" not in first.log_text()
    calls = [e for e in setup.callee.events if str(e.get("type", "")).startswith("CALL_")]
    assert not calls, calls  # nobody was called

    time.sleep(max(0.0, due_at - time.time()) + 1.0)  # it falls due while no gateway runs
    second = GatewayProcess(tmp_workdir, name="gateway-2", agent="assistant", extra_env=setup.env)
    with second:
        heard = answer_and_hang_up(second, setup.callee, row_id)
        assert second.stop() == 0
    assert_agent_spoke_first(heard)
    assert_done(setup.store.get(row_id))


def test_callback_cut_by_a_crash_is_dialed_again(tmp_workdir: Path, setup: Setup) -> None:
    row_id = store_callback(setup.store, due_at=time.time())
    first = GatewayProcess(tmp_workdir, name="gateway-1", agent="assistant", extra_env=setup.env)
    with first:
        setup.callee.wait_event("CALL_ESTABLISHED", 15)
        row = setup.store.get(row_id)
        assert row is not None and row.state is CallbackState.DIALING, row
        assert row.claimed_by is not None and row.lease_until is not None, row
        time.sleep(0.5)  # before the callee speaks
        first.close()  # SIGKILL mid-call: the row stays "dialing", its claimer gone
    setup.callee.hangup()
    setup.callee.wait_event("CALL_CLOSED", 5)
    row = setup.store.get(row_id)
    assert row is not None and row.state is CallbackState.DIALING and row.attempts == 1, row

    # the lease (120 s) has not run out, but the claimer was on this host and is gone
    second = GatewayProcess(tmp_workdir, name="gateway-2", agent="assistant", extra_env=setup.env)
    with second:
        second.wait_log(rf"callback {row_id}: its dialing process .* stopped; retrying", 10)
        second.wait_log(rf"callback {row_id}: dialing .* \(attempt 2 of 3\)", 10)
        heard = answer_and_hang_up(second, setup.callee, row_id)
        assert second.stop() == 0
    assert_agent_spoke_first(heard)
    assert_done(setup.store.get(row_id), attempts=2)
