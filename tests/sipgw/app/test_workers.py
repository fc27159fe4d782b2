"""``sipgw serve --workers N``: each worker's ports and RTP slice, the flags it gets, the log tag.

The process tree itself (start, restart, signals) runs in tests/interop/test_workers.py.
"""

from __future__ import annotations

import io
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from sipgw.app.admin.settings import AdminSettings
from sipgw.app.cli import build_parser, main, prepare
from sipgw.app.operations.logformat import configure_logging
from sipgw.app.settings import GatewayConfig, WorkersSection
from sipgw.app.workers import Supervisor, WorkerPlan, _Worker, plan_workers, rtp_slices
from sipgw.foundation.settings import ConfigError, Sources, load


def test_the_setting_defaults_to_one_process() -> None:
    assert load(WorkersSection, Sources()).workers == 1
    assert load(WorkersSection, Sources({"SIPGW_WORKERS": "4"})).workers == 4
    with pytest.raises(ConfigError, match="^SIPGW_WORKERS=0: must be a whole number >= 1"):
        load(WorkersSection, Sources({"SIPGW_WORKERS": "0"}))


@pytest.mark.usefixtures("environ")
def test_serve_reads_workers_from_flag_and_environment() -> None:
    assert prepare(["serve", "--public-ip", "192.0.2.1"]).workers == 1
    assert prepare(["serve", "--public-ip", "192.0.2.1", "--workers", "3"]).workers == 3
    os.environ["SIPGW_WORKERS"] = "2"
    assert prepare(["serve", "--public-ip", "192.0.2.1"]).workers == 2


def test_rtp_range_is_split_in_disjoint_even_aligned_slices() -> None:
    assert rtp_slices((10000, 20000), 2) == [(10000, 14999), (15000, 19999)]
    assert rtp_slices((10001, 10010), 2) == [(10002, 10005), (10006, 10009)]
    slices = rtp_slices((10000, 20000), 3)
    assert all(lo % 2 == 0 and (hi - lo + 1) % 2 == 0 for lo, hi in slices)
    assert all(a[1] < b[0] for a, b in zip(slices, slices[1:], strict=False))
    with pytest.raises(ConfigError, match="SIPGW_RTP_PORTS: 10000-10003 is too small for 3"):
        rtp_slices((10000, 10003), 3)


def test_each_worker_gets_the_next_ports() -> None:
    config = GatewayConfig(sip_port=5070, rtp_ports=(10000, 19999))
    plans = plan_workers(2, config, AdminSettings())
    assert plans == [
        WorkerPlan(1, 5070, (10000, 14999)),
        WorkerPlan(2, 5071, (15000, 19999)),
    ]
    assert plans[1].flags() == [
        "--workers", "1", "--worker-index", "2", "--sip-port", "5071", "--rtp-ports", "15000-19999",
    ]  # fmt: skip
    tls = GatewayConfig(sip_port=5070, tls_port=5080, transports=("UDP", "TLS"))
    plans = plan_workers(2, tls, AdminSettings(port=8080))
    assert [(p.tls_port, p.admin_port) for p in plans] == [(5080, 8080), (5081, 8081)]
    assert plans[1].flags()[-4:] == ["--tls-port", "5081", "--admin-port", "8081"]
    assert plans[1].describe() == (
        "SIP port 5071, TLS port 5081, RTP ports 15000-19999, admin port 8081"
    )


def test_each_worker_gets_its_own_shared_rtp_port_pair_outside_the_range() -> None:
    config = GatewayConfig(sip_port=5070, rtp_ports=(10000, 19999), rtp_shared_port=30000)
    plans = plan_workers(3, config, AdminSettings())
    assert [p.rtp_shared_port for p in plans] == [30000, 30002, 30004]
    assert plans[2].flags()[-2:] == ["--rtp-shared-port", "30004"]
    assert "shared RTP port 30002" in plans[1].describe()
    inside = GatewayConfig(sip_port=5070, rtp_ports=(10000, 19999), rtp_shared_port=9998)
    with pytest.raises(ConfigError, match=r"^--rtp-shared-port/SIPGW_RTP_SHARED_PORT: worker 2 "
                       r"would need ports 10000-10001"):  # fmt: skip
        plan_workers(2, inside, AdminSettings())
    with pytest.raises(ConfigError, match="SIPGW_RTP_SHARED_PORT.*overlap"):
        plan_workers(2, GatewayConfig(sip_port=30002, rtp_shared_port=30000), AdminSettings())


def test_port_zero_stays_zero_each_worker_picks_a_free_port() -> None:
    plans = plan_workers(3, GatewayConfig(sip_port=0), AdminSettings())
    assert [p.sip_port for p in plans] == [0, 0, 0]
    assert "SIP port auto" in plans[0].describe()


def test_overlapping_or_impossible_ports_are_refused() -> None:
    with pytest.raises(
        ConfigError,
        match=r"^--workers/SIPGW_WORKERS: 2 workers need --sip-port/SIPGW_SIP_PORT and "
        r"--tls-port/SIPGW_TLS_PORT ports that overlap \(port 5061\)",
    ):
        plan_workers(2, GatewayConfig(sip_port=5060, transports=("UDP", "TLS")), AdminSettings())
    with pytest.raises(ConfigError, match="SIPGW_ADMIN_PORT.*overlap"):
        plan_workers(3, GatewayConfig(sip_port=8000), AdminSettings(port=8002))
    with pytest.raises(ConfigError, match="^--sip-port/SIPGW_SIP_PORT: worker 2 would need port "
                       "65536"):  # fmt: skip
        plan_workers(2, GatewayConfig(sip_port=65535), AdminSettings())
    # TLS off: its port is not planned, so it cannot collide.
    assert plan_workers(2, GatewayConfig(sip_port=5060), AdminSettings())[1].tls_port is None


@pytest.mark.usefixtures("environ")
def test_a_plan_error_exits_2_before_any_worker_starts(
    capsys: pytest.CaptureFixture[str],
) -> None:
    argv = ["serve", "--public-ip", "192.0.2.1", "--workers", "3", "--rtp-ports", "10000-10003"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("sipgw: error: --rtp-ports: 10000-10003 is too small") == 1  # as typed
    assert "started" not in err
    os.environ["SIPGW_SIP_PORT"] = "65535"  # a variable is named as the variable
    assert main(["serve", "--public-ip", "192.0.2.1", "--workers", "2"]) == 2
    assert capsys.readouterr().err == (
        "sipgw: error: SIPGW_SIP_PORT: worker 2 would need port 65536\n"
    )


def test_worker_index_is_hidden_from_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["serve", "--help"])
    out = capsys.readouterr().out
    assert "--workers N" in out and "SIPGW_WORKERS" in out and "--worker-index" not in out


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_a_workers_log_lines_carry_its_index(
    monkeypatch: pytest.MonkeyPatch, log_format: str
) -> None:
    root = logging.getLogger()
    monkeypatch.setattr(root, "handlers", [])
    monkeypatch.setattr(root, "level", root.level)
    stream = io.StringIO()
    configure_logging("INFO", log_format, stream, worker=2)
    logging.getLogger("sipgw.x").info("stats {}")
    line = stream.getvalue().strip()
    if log_format == "json":
        assert json.loads(line)["worker"] == 2
    else:
        assert line.endswith(" INFO    w2 sipgw.x stats {}")


def test_no_worker_is_restarted_once_a_signal_came_in_the_middle_of_restarts() -> None:
    """Two crashed workers due for a restart; SIGTERM arrives while the first is being
    started: the second must stay down (it would get the SIGTERM before it set up its
    handlers, or start serving during the drain)."""
    spawned: list[int] = []

    class Recording(Supervisor):
        def _spawn(self, worker: _Worker) -> None:
            spawned.append(worker.plan.index)
            self.signals.append(signal.SIGTERM)  # the signal handler ran meanwhile
            worker.restart_at = None

    plans = [WorkerPlan(index=i, sip_port=0, rtp_ports=(10000, 10099)) for i in (1, 2)]
    supervisor = Recording(["true"], plans, stdout=io.BytesIO())
    for worker in supervisor.workers:
        worker.restart_at = 0.0  # crashed, due long ago
    supervisor._restart_due()
    assert spawned == [1]


def test_a_worker_whose_admin_server_fails_did_not_start() -> None:
    """With the admin API on, a worker is up once its admin server listens too: one that
    printed its SIP line, then failed to bind its admin port, is a start-up failure (not
    a crash to restart forever)."""
    script = (
        "import sys, time; print('listening on udp:127.0.0.1:5060', flush=True); "
        "time.sleep(0.3); print('sipgw: error: admin server cannot listen', file=sys.stderr); "
        "sys.exit(1)"
    )
    plan = WorkerPlan(index=1, sip_port=5060, rtp_ports=(10000, 10099), admin_port=8080)
    supervisor = Supervisor([sys.executable, "-c", script], [plan], stdout=io.BytesIO())
    try:
        assert supervisor._start_all() == 1
    finally:
        supervisor._stop_all()


@pytest.mark.timeout(20)
def test_a_worker_that_ignores_sigterm_is_killed_after_the_stop_timeout(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A start-up failure stops the workers already up: one that ignores SIGTERM gets
    SIGKILL after ``stop_timeout`` instead of hanging the parent forever."""
    script = (
        "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
        "print('listening on udp:127.0.0.1:5060', flush=True); time.sleep(60)"
    )
    plan = WorkerPlan(index=1, sip_port=5060, rtp_ports=(10000, 10099))
    supervisor = Supervisor(
        [sys.executable, "-c", script], [plan], stop_timeout=0.5, stdout=io.BytesIO()
    )
    assert supervisor._start_all() is None
    process = supervisor.workers[0].process
    assert process is not None
    with caplog.at_level(logging.ERROR, logger="sipgw.workers"):
        supervisor._stop_all()
    assert process.returncode == -signal.SIGKILL
    assert "worker 1 (pid" in caplog.text and "after SIGTERM: SIGKILL" in caplog.text


@pytest.mark.timeout(20)
def test_a_worker_signalled_before_it_was_ready_counts_as_a_clean_stop(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A SIGTERM that reaches a (re)starting worker before it set up its handlers kills it
    with -15: that is the stop that was asked for, not a failure (the parent exits 0)."""
    script = "import time; time.sleep(60)"  # never ready, default SIGTERM action
    plan = WorkerPlan(index=1, sip_port=5060, rtp_ports=(10000, 10099))
    supervisor = Supervisor([sys.executable, "-c", script], [plan], stdout=io.BytesIO())
    worker = supervisor.workers[0]
    supervisor._spawn(worker)
    assert worker.process is not None
    supervisor.signals.append(signal.SIGTERM)
    supervisor._forward_signals()
    assert worker.process.wait(10) == -signal.SIGTERM
    with caplog.at_level(logging.INFO, logger="sipgw.workers"):
        supervisor._reap()
    assert worker.last_code == 0 and not supervisor._alive()
    assert "killed by SIGTERM (stopped before it was ready)" in caplog.text


@pytest.mark.timeout(20)
def test_a_ready_worker_killed_by_the_signal_still_counts_as_a_failure() -> None:
    script = "print('listening on udp:127.0.0.1:5060', flush=True); import time; time.sleep(60)"
    plan = WorkerPlan(index=1, sip_port=5060, rtp_ports=(10000, 10099))
    supervisor = Supervisor([sys.executable, "-c", script], [plan], stdout=io.BytesIO())
    assert supervisor._start_all() is None
    worker = supervisor.workers[0]
    assert worker.process is not None
    supervisor.signals.append(signal.SIGTERM)
    supervisor._forward_signals()
    assert worker.process.wait(10) == -signal.SIGTERM
    supervisor._reap()
    assert worker.last_code == -signal.SIGTERM


@pytest.mark.timeout(20)
def test_workers_get_a_parent_death_signal_without_preexec_fn(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``preexec_fn`` is unsafe with the relay threads running: the worker's own process
    group and its parent-death SIGTERM come from ``process_group`` and setpriv instead."""
    popen_kwargs: list[dict[str, object]] = []
    real_popen = subprocess.Popen

    def recording_popen(*args: Any, **kwargs: Any) -> subprocess.Popen[bytes]:
        popen_kwargs.append(kwargs)
        return real_popen(*args, **kwargs)

    monkeypatch.setattr(subprocess, "Popen", recording_popen)  # the module workers uses
    script = (
        "import ctypes, os; libc = ctypes.CDLL(None); sig = ctypes.c_int(); "
        "libc.prctl(2, ctypes.byref(sig), 0, 0, 0); "  # PR_GET_PDEATHSIG
        "own = os.getpgid(0) == os.getpid(); "
        "print(f'listening on udp pdeathsig={sig.value} pgid_is_pid={own}', flush=True)"
    )
    plan = WorkerPlan(index=1, sip_port=5060, rtp_ports=(10000, 10099))
    out = io.BytesIO()
    supervisor = Supervisor([sys.executable, "-c", script], [plan], stdout=out)
    try:
        assert supervisor._start_all() is None
    finally:
        supervisor._stop_all()
    assert popen_kwargs and all("preexec_fn" not in kw for kw in popen_kwargs)
    assert f"pdeathsig={int(signal.SIGTERM)} pgid_is_pid=True".encode() in out.getvalue()


@pytest.mark.timeout(30)
def test_sighup_to_the_parent_reaches_every_ready_worker_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """``kill -HUP`` the parent of ``serve --workers``: each worker gets one SIGHUP (it
    reloads its routes file, docs/lines.md), none is stopped; SIGTERM then stops them all
    cleanly. Runs the parent's own loop and signal handlers (signals to this process)."""
    script = (
        "import os, signal, sys, time\n"
        f"mark = os.path.join({str(tmp_path)!r}, str(os.getpid()))\n"
        "signal.signal(signal.SIGHUP, lambda *_: open(mark, 'a').write('hup\\n'))\n"
        "signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))\n"
        "print('listening on udp:127.0.0.1:5060', flush=True)\n"
        "while True: time.sleep(0.05)\n"
    )
    plans = [WorkerPlan(index=i, sip_port=0, rtp_ports=(10000, 10099)) for i in (1, 2)]
    supervisor = Supervisor([sys.executable, "-c", script], plans, stdout=io.BytesIO())
    marks: dict[int, Path] = {}

    def drive() -> None:
        try:
            deadline = time.monotonic() + 15
            while not all(w.ready.is_set() for w in supervisor.workers):
                assert time.monotonic() < deadline, "workers not ready"
                time.sleep(0.02)
            for worker in supervisor.workers:
                assert worker.process is not None
                marks[worker.plan.index] = tmp_path / str(worker.process.pid)
            os.kill(os.getpid(), signal.SIGHUP)
            while not all(path.exists() for path in marks.values()):
                assert time.monotonic() < deadline, "SIGHUP not forwarded"
                time.sleep(0.02)
            time.sleep(0.3)  # a second SIGHUP, if one were sent, would have come by now
        finally:
            os.kill(os.getpid(), signal.SIGTERM)

    driver = threading.Thread(target=drive)
    with caplog.at_level(logging.INFO, logger="sipgw.workers"):
        driver.start()
        code = supervisor.run()
        driver.join(5)
    assert code == 0, caplog.text
    assert sorted(marks) == [1, 2]
    assert [path.read_text() for path in marks.values()] == ["hup\n", "hup\n"]
    assert "SIGHUP: forwarding it to 2 worker(s) (reload the routes)" in caplog.text
    assert signal.getsignal(signal.SIGHUP) != supervisor._on_hangup  # handlers restored
