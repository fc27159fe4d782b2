"""The command line: settings precedence, validation errors, version, assistant keys."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from sipgw import __version__
from sipgw.app.cli import Startup, build_parser, main, prepare
from sipgw.app.config import load_gateway_config
from sipgw.app.settings import ConfigError
from sipgw.app.settings_registry import (
    ACCESS,
    ADMIN,
    AGENT,
    ECHO,
    FLOODS,
    GATEWAY,
    LIMITS,
    OUTBOUND,
    OVERLOAD,
    PRIVACY,
    REGISTRATION,
    SETTINGS,
    TRANSPORT,
    WORKERS,
    resolve_settings,
)

ROOT = Path(__file__).resolve().parents[3]
ASSISTANT_KEYS = [s.env for s in SETTINGS if s.required]


@pytest.fixture
def environ(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """A clean working directory, no SIPGW_ variables, and os.environ restored afterwards
    (``sipgw serve`` loads ``.env`` into it)."""
    saved = dict(os.environ)
    monkeypatch.chdir(tmp_path)
    for name in [*os.environ]:
        if name.startswith("SIPGW_") or name in ASSISTANT_KEYS:
            del os.environ[name]
    yield
    os.environ.clear()
    os.environ.update(saved)


def serve(*argv: str) -> Startup:
    return prepare(build_parser().parse_args(["serve", *argv]))


def test_defaults() -> None:
    config = load_gateway_config(resolve_settings({}))
    assert config.sip_port == 5060 and config.rtp_ports == (10000, 20000)
    assert config.max_calls is None and config.rtp_timeout == 30.0
    assert config.transports == ("UDP", "TCP") and config.tls_port == 5061
    assert config.tls_ca == "" and config.tcp_idle_timeout == 300.0
    assert config.sip_t1 == 0.5  # RFC 3261's T1


def test_sip_t1_is_checked() -> None:
    assert load_gateway_config(resolve_settings({"SIPGW_SIP_T1": "0.1"})).sip_t1 == 0.1
    for bad in ("0", "5", "soon"):
        with pytest.raises(ConfigError, match="SIPGW_SIP_T1"):
            load_gateway_config(resolve_settings({"SIPGW_SIP_T1": bad}))


def test_flag_beats_environment_beats_default() -> None:
    config = load_gateway_config(
        resolve_settings(
            {"SIPGW_SIP_PORT": "5070", "SIPGW_RTP_PORTS": "12000-12100"},
            {"SIPGW_SIP_PORT": "5090", "SIPGW_RTP_PORTS": None},
        )
    )
    assert config.sip_port == 5090 and config.rtp_ports == (12000, 12100)


@pytest.mark.usefixtures("environ")
def test_flag_beats_environment_beats_env_file_beats_default(tmp_path: Path) -> None:
    (tmp_path / "settings.env").write_text(
        "SIPGW_SIP_PORT=5071\nSIPGW_RTP_PORTS=12000-12100\nSIPGW_RING_TIME=2\n"
        "SIPGW_ECHO_DELAY_MS=250\nMYTOOL_URL=http://tools.example\n"
    )
    os.environ["SIPGW_RTP_PORTS"] = "13000-13100"
    os.environ["SIPGW_RING_TIME"] = "3"
    startup = serve("--env-file", "settings.env", "--ring-time", "4", "--bind", "127.0.0.1")
    config = startup.config
    assert config.ring_time == 4.0  # flag
    assert config.rtp_ports == (13000, 13100)  # environment over .env
    assert config.sip_port == 5071  # .env over default
    assert config.jitter_min_ms == 40  # default
    assert config.public_ip == "127.0.0.1"  # the bind address, when not a wildcard
    assert startup.agent == "echo"
    # .env reached os.environ without overriding it: a tools module can read its own.
    assert os.environ["MYTOOL_URL"] == "http://tools.example"
    assert os.environ["SIPGW_RTP_PORTS"] == "13000-13100"


@pytest.mark.usefixtures("environ")
def test_default_env_file_is_read_when_present(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("SIPGW_MAX_CALLS=7\n")
    assert serve().config.max_calls == 7


@pytest.mark.parametrize(
    ("flags", "env", "message"),
    [
        ({"SIPGW_RTP_PORTS": "20000"}, {}, "--rtp-ports='20000'"),
        ({}, {"SIPGW_RTP_PORTS": "200-100"}, "SIPGW_RTP_PORTS"),
        ({"SIPGW_SIP_PORT": "70000"}, {}, "--sip-port"),
        ({"SIPGW_PUBLIC_IP": "example.com"}, {}, "--public-ip"),
        ({}, {"SIPGW_JITTER_MIN_MS": "400"}, "SIPGW_JITTER_MIN_MS must not exceed"),
        ({"SIPGW_TRANSPORTS": "udp,sctp"}, {}, "--transports='udp,sctp': unknown transport"),
        ({"SIPGW_TRANSPORTS": "udp,tls"}, {}, "SIPGW_TLS_CERT is required when SIPGW_TRANSPORTS"),
        (
            {"SIPGW_TRANSPORTS": "tls", "SIPGW_TLS_CERT": "/nonexistent.pem"},
            {},
            "SIPGW_TLS_KEY is required",
        ),
        ({"SIPGW_TLS_CA": "/nonexistent/ca.pem"}, {}, "SIPGW_TLS_CA: no such file"),
    ],
)
def test_bad_values_name_the_setting(
    flags: dict[str, str], env: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigError, match=message.replace("-", r"\-")):
        load_gateway_config(resolve_settings(env, flags))


@pytest.mark.usefixtures("environ")
def test_bad_agent_name_is_named(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--agent", "robot"]) == 2
    assert "--agent='robot': must be 'echo' or 'assistant'" in capsys.readouterr().err


def test_every_flag_is_in_the_parser_and_documented(
    capsys: pytest.CaptureFixture[str],
) -> None:
    parser_help = build_parser().format_help()
    with pytest.raises(SystemExit):
        build_parser().parse_args(["serve", "--help"])
    serve_help = capsys.readouterr().out
    with pytest.raises(SystemExit):
        build_parser().parse_args(["call", "--help"])
    call_help = capsys.readouterr().out
    docs = (ROOT / "docs" / "configuration.md").read_text()
    assert "serve" in parser_help and "call" in parser_help
    flagged = [s for s in SETTINGS if s.flag]
    assert flagged == [
        *GATEWAY.settings,
        *TRANSPORT.settings,
        *LIMITS.settings,
        *REGISTRATION.settings,
        *OUTBOUND.settings,
        *ACCESS.settings,
        *FLOODS.settings,
        *OVERLOAD.settings,
        *PRIVACY.settings,
        *ADMIN.settings,
        *WORKERS.settings,
        *AGENT.settings,
        *ECHO.settings,
    ]
    for setting in flagged:
        assert setting.env.startswith("SIPGW_")
        assert setting.flag and setting.flag in serve_help and setting.env in serve_help
        assert setting.flag in call_help and setting.env in call_help
        assert f"`{setting.flag} " in docs, setting.flag
        assert f"`{setting.env}`" in docs, setting.env


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.strip() == f"sipgw {__version__}"


def test_eval_runs_the_evaluation_harness(tmp_path: Path) -> None:
    """`sipgw eval ARGS` is `sipgw-eval ARGS`: its help, its exit status and its errors."""
    sipgw = [sys.executable, "-m", "sipgw"]
    helped = subprocess.run([*sipgw, "eval", "--help"], capture_output=True, text=True, timeout=60)
    assert helped.returncode == 0 and "--real" in helped.stdout and "scenarios" in helped.stdout
    bad = tmp_path / "bad.toml"
    bad.write_text("[[turns]]\ntranscript = 3\n")
    failed = subprocess.run([*sipgw, "eval", str(bad)], capture_output=True, text=True, timeout=60)
    assert failed.returncode == 2 and "bad.toml" in failed.stderr
    assert (
        "eval"
        in subprocess.run([*sipgw, "--help"], capture_output=True, text=True, timeout=60).stdout
    )


@pytest.mark.usefixtures("environ")
def test_assistant_without_keys_names_what_is_missing(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert ASSISTANT_KEYS == ["ASSEMBLYAI_API_KEY", "OPENAI_API_KEY", "ELEVENLABS_API_KEY"]
    (tmp_path / ".env").write_text("OPENAI_API_KEY=sk-test\n")
    assert main(["serve", "--agent", "assistant"]) == 2
    err = capsys.readouterr().err
    assert "ASSEMBLYAI_API_KEY" in err and "ELEVENLABS_API_KEY" in err
    assert "OPENAI_API_KEY" not in err  # found in .env


@pytest.mark.usefixtures("environ")
def test_bad_setting_exits_2_with_message(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--rtp-ports", "nonsense"]) == 2
    assert "sipgw: error: --rtp-ports" in capsys.readouterr().err


@pytest.mark.usefixtures("environ")
def test_missing_env_file_is_an_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--env-file", "/nonexistent/.env"]) == 2
    assert "no such file" in capsys.readouterr().err


def test_port_in_use_is_a_clear_error(tmp_path: Path) -> None:
    import socket

    taken = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    taken.bind(("127.0.0.1", 0))
    port = taken.getsockname()[1]
    try:
        command = [sys.executable, "-m", "sipgw", "serve", "--bind", "127.0.0.1"]
        result = subprocess.run(
            [*command, "--sip-port", str(port)],
            capture_output=True, text=True, timeout=20, cwd=tmp_path,
        )  # fmt: skip
    finally:
        taken.close()
    assert result.returncode == 1
    assert f"cannot listen on udp:127.0.0.1:{port}" in result.stderr
    assert "Traceback" not in result.stderr


def test_serve_prints_listening_line_and_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    import signal

    process = subprocess.Popen(
        [sys.executable, "-m", "sipgw", "serve", "--bind", "127.0.0.1", "--sip-port", "0",
         "--rtp-ports", "32000-32100", "--stats-interval", "0.2"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith("listening on udp:127.0.0.1:")
        time.sleep(0.5)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    finally:
        process.kill()
        process.wait()
    stderr = process.stderr.read() if process.stderr else ""
    assert "Traceback" not in stderr
    stats_line = next(line for line in stderr.splitlines() if " stats {" in line)
    stats = json.loads(stats_line.split(" stats ", 1)[1])
    assert stats["calls"] == 0 and stats["ticks"] > 0 and stats["rss_kb"] > 0


def test_serve_starts_the_admin_server_and_refuses_an_open_one_without_token(
    tmp_path: Path,
) -> None:
    import signal
    import urllib.request

    from sipgw.testing.ports import free_port

    base = [sys.executable, "-m", "sipgw", "serve", "--bind", "127.0.0.1", "--sip-port", "0",
            "--rtp-ports", "32200-32300"]  # fmt: skip
    refused = subprocess.run(
        [*base, "--admin-port", "8181", "--admin-bind", "0.0.0.0"],
        capture_output=True, text=True, timeout=20, cwd=tmp_path,
    )  # fmt: skip
    assert refused.returncode == 2 and "SIPGW_ADMIN_TOKEN" in refused.stderr
    port = free_port()
    process = subprocess.Popen(
        [*base, "--admin-port", str(port), "--admin-token", "tok-cli-123"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        lines = [process.stdout.readline().strip() for _ in range(3)]
        assert lines[0].startswith("listening on udp:127.0.0.1:")
        assert lines[1].startswith("listening on tcp:127.0.0.1:")
        assert lines[2] == f"admin listening on http://127.0.0.1:{port}"  # after the gateway
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/api/health",
            headers={"Authorization": "Bearer tok-cli-123"},
        )
        with urllib.request.urlopen(request, timeout=5) as response:
            assert response.status == 200
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    finally:
        process.kill()
        process.wait()
    stderr = process.stderr.read() if process.stderr else ""
    assert "Traceback" not in stderr and "tok-cli-123" not in stderr
