"""The toolkit's process plumbing: command prefixes, child environments, traceback picking;
the gateway driver on a stub program, and a missing program named with its package."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

from sipgw.app.evaluation.gateway_process import OVERLOAD_OFF, GatewayProcess, tracebacks
from sipgw.app.evaluation.process import (
    CHECKOUT,
    ManagedProcess,
    MissingProgram,
    PeerError,
    bounded_command,
    child_env,
    require_binary,
)


def test_bounded_command_prefixes() -> None:
    assert bounded_command(["sipp", "-v"], None) == ["sipp", "-v"]
    assert bounded_command(["sipp"], 10, 2) == ["timeout", "-k", "2", "10", "sipp"]
    assert bounded_command(["x"], 1.5, foreground=True)[:2] == ["timeout", "--foreground"]
    pinned = bounded_command(["x"], None, cpu=1)
    assert pinned == (["taskset", "-c", "1", "x"] if shutil.which("taskset") else ["x"])


def test_child_env_drops_our_settings_and_finds_the_checkout(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SIPGW_AGENT", "assistant")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-mine")
    monkeypatch.setenv("PYTHONPATH", "/elsewhere")
    monkeypatch.setenv("KEEP_ME", "1")
    monkeypatch.setenv("SIPGW_PURE_PYTHON", "1")  # the path under test: the children's too
    env = child_env({"SIPGW_GREETING": "Hi."})
    assert "SIPGW_AGENT" not in env and "OPENAI_API_KEY" not in env
    assert env["SIPGW_PURE_PYTHON"] == "1"
    assert env["SIPGW_GREETING"] == "Hi." and env["KEEP_ME"] == "1"
    assert env["PYTHONPATH"].split(":") == [str(CHECKOUT), "/elsewhere"]
    assert (CHECKOUT / "sipgw" / "__init__.py").is_file()
    assert env["PYTHONUNBUFFERED"] == "1"


def test_a_child_told_to_write_no_bytecode_writes_it_to_the_cache_instead(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.delenv("PYTHONPYCACHEPREFIX", raising=False)
    monkeypatch.setenv("PYTHONDONTWRITEBYTECODE", "1")
    env = child_env()
    assert "PYTHONDONTWRITEBYTECODE" not in env
    assert env["PYTHONPYCACHEPREFIX"] == str(tmp_path / "sipgw-bytecode")
    monkeypatch.setenv("PYTHONPYCACHEPREFIX", "/theirs")  # their own choice stands
    assert child_env()["PYTHONDONTWRITEBYTECODE"] == "1"
    assert child_env()["PYTHONPYCACHEPREFIX"] == "/theirs"
    monkeypatch.delenv("PYTHONPYCACHEPREFIX")
    monkeypatch.delenv("PYTHONDONTWRITEBYTECODE")
    assert "PYTHONPYCACHEPREFIX" not in child_env()  # bytecode where Python puts it


def test_gateway_command_line_before_start(tmp_path: Path) -> None:
    gw = GatewayProcess(tmp_path, agent="assistant", rtp_ports=(30000, 30039), lifetime=None,
                        extra_args=["--stats-interval", "1"])  # fmt: skip
    assert gw.argv == [
        sys.executable, "-m", "sipgw", "serve", "--bind", "127.0.0.1", "--sip-port", "0",
        "--rtp-ports", "30000-30039", "--public-ip", "127.0.0.1", "--agent", "assistant",
        *OVERLOAD_OFF, "--stats-interval", "1",
    ]  # fmt: skip
    assert gw.command == gw.argv
    assert GatewayProcess(tmp_path, lifetime=60).command[0] == "timeout"


def test_tracebacks_are_picked_out_of_log_lines() -> None:
    lines = [
        "12:00:00 INFO call started",
        "Traceback (most recent call last):",
        '  File "x.py", line 1, in <module>',
        "ValueError: first",
        "",
        "During handling of the above exception, another exception occurred:",
        "",
        "Traceback (most recent call last):",
        '  File "y.py", line 2, in f',
        "KeyError: 'second'",
        "12:00:01 INFO call ended",
        "Traceback (most recent call last):",
        '  File "z.py", line 3, in g',
    ]
    assert tracebacks(lines) == [
        'Traceback (most recent call last):\n  File "x.py", line 1, in <module>\nValueError: first',
        "Traceback (most recent call last):\n  File \"y.py\", line 2, in f\nKeyError: 'second'",
    ]
    assert len(tracebacks(lines, limit=1)) == 1


def test_a_failing_line_callback_does_not_stop_the_reading(tmp_path: Path) -> None:
    """A test's ``on_line`` that raises (a line it cannot parse) is written to the log, and
    every later line is still read: a reader that stopped left the program blocked on a full
    pipe and the test waiting for lines that never came."""
    seen: list[str] = []

    def on_line(at: float, text: str) -> None:
        if text == "two":
            raise ValueError("not JSON")
        seen.append(text)

    script = "import sys\nfor word in ('one', 'two', 'three'):\n    print(word, flush=True)\n"
    process = ManagedProcess(
        "words", [sys.executable, "-c", script], log_path=tmp_path / "words.log", lifetime=30,
        capture="lines", on_line=on_line,
    )  # fmt: skip
    process.start()
    assert process.wait(10) == 0
    assert seen == ["one", "three"]
    assert [text for _, text in process.lines.lines()] == ["one", "two", "three"]
    assert "# on_line failed: ValueError('not JSON')" in (tmp_path / "words.log").read_text()


_STUB = """
import argparse, os, signal, socket, sys, time
ap = argparse.ArgumentParser()
ap.add_argument("cmd")
for opt in ("--bind", "--sip-port", "--rtp-ports", "--public-ip", "--agent",
            "--overload-lateness-ms", "--overload-cpu-percent"):
    ap.add_argument(opt)
ap.add_argument("--fail", action="store_true")
a = ap.parse_args()
if a.fail:
    print("boom: cannot start", file=sys.stderr)
    sys.exit(2)
terms = []
signal.signal(signal.SIGTERM, lambda *_: terms.append(1))  # before announcing readiness
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((a.bind, int(a.sip_port)))
print("flag=%s rtp=%s public=%s" % (os.environ.get("STUB_FLAG"), a.rtp_ports, a.public_ip))
print("listening on udp:%s:%d" % s.getsockname())
while not terms:
    time.sleep(0.01)
time.sleep(0.1)
print("SIGTERM x%d, bye" % len(terms))
sys.exit(0)
"""


def test_gateway_driver_with_stub_program(tmp_path: Path) -> None:
    stub = tmp_path / "stub_gateway.py"
    stub.write_text(_STUB)
    with GatewayProcess(
        tmp_path,
        public_ip="127.0.0.2",
        program=[sys.executable, str(stub)],
        extra_env={"STUB_FLAG": "on"},
    ) as gw:
        assert gw.sip_host == "127.0.0.1" and gw.sip_port > 0
        assert gw.uri() == f"sip:echo@127.0.0.1:{gw.sip_port}"
        assert gw.uri("bob") == f"sip:bob@127.0.0.1:{gw.sip_port}"
        first = gw.pid
        # ``with`` started it: a second start is refused, not a second gateway left running
        with pytest.raises(PeerError, match="already running"):
            gw.start()
        assert gw.pid == first
        assert gw.uri(host="127.0.0.2") == f"sip:echo@127.0.0.2:{gw.sip_port}"
        assert gw.target == f"127.0.0.1:{gw.sip_port}"
        assert gw.wait_log(r"flag=(\S+)")[1] == "on"
        assert f"rtp={gw.rtp_ports}" in gw.log_text() and "public=127.0.0.2" in gw.log_text()
        assert gw.stop(timeout=5) == 0
        assert "SIGTERM x1, bye" in gw.log_text()
        assert not gw.alive


def test_gateway_driver_reports_startup_failure(tmp_path: Path) -> None:
    stub = tmp_path / "stub_gateway.py"
    stub.write_text(_STUB)
    gw = GatewayProcess(tmp_path, program=[sys.executable, str(stub)], extra_args=["--fail"])
    with pytest.raises(PeerError, match=r"(?s)exited with code 2.*boom: cannot start"):
        gw.start()
    assert not gw.alive


def test_missing_program_fails_naming_the_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(MissingProgram, match="apt-get install .*baresip-core"):
        require_binary("baresip")
