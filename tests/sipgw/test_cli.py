"""The command line: settings precedence, validation errors, version, assistant keys."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sipgw import __version__
from sipgw.app.cli import ASSISTANT_REQUIRED, build_parser, main
from sipgw.app.config import SETTINGS, ConfigError, load_config

ROOT = Path(__file__).resolve().parents[2]


def test_defaults() -> None:
    config = load_config({}, {})
    assert config.sip_port == 5060 and config.rtp_ports == (10000, 20000)
    assert config.agent == "echo" and config.max_calls is None


def test_flag_beats_environment_beats_default() -> None:
    config = load_config(
        {"sip_port": "5090"}, {"SIPGW_SIP_PORT": "5070", "SIPGW_RTP_PORTS": "12000-12100"}
    )
    assert config.sip_port == 5090 and config.rtp_ports == (12000, 12100)


@pytest.mark.parametrize(
    ("flags", "env", "message"),
    [
        ({"rtp_ports": "20000"}, {}, "--rtp-ports='20000'"),
        ({}, {"SIPGW_RTP_PORTS": "200-100"}, "SIPGW_RTP_PORTS"),
        ({"sip_port": "70000"}, {}, "--sip-port"),
        ({"public_ip": "example.com"}, {}, "--public-ip"),
        ({"agent": "robot"}, {}, "'echo' or 'assistant'"),
    ],
)
def test_bad_values_name_the_setting(
    flags: dict[str, str], env: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigError, match=message.replace("-", r"\-").replace("'", "'")):
        load_config(flags, env)


def test_every_setting_has_a_flag_and_env_and_is_documented_in_readme() -> None:
    parser_help = build_parser().format_help()
    readme = (ROOT / "README.md").read_text()
    assert "serve" in parser_help
    for setting in SETTINGS:
        assert setting.env.startswith("SIPGW_")
        assert setting.flag and setting.flag in readme, setting.flag
        assert setting.env in readme, setting.env


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.strip() == f"sipgw {__version__}"


def test_assistant_without_keys_names_what_is_missing(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    for name in ASSISTANT_REQUIRED:
        monkeypatch.delenv(name, raising=False)
    (tmp_path / ".env").write_text("OPENAI_API_KEY=sk-test\n")
    assert main(["serve", "--agent", "assistant"]) == 2
    err = capsys.readouterr().err
    assert "ASSEMBLYAI_API_KEY" in err and "ELEVENLABS_API_KEY" in err
    assert "OPENAI_API_KEY" not in err  # found in .env


def test_bad_setting_exits_2_with_message(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--rtp-ports", "nonsense"]) == 2
    assert "sipgw: error: --rtp-ports" in capsys.readouterr().err


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
