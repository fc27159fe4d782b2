"""The command line: the agent first, settings precedence, grouped help, named errors."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from sipgw import __version__
from sipgw.app.agents import find_agent
from sipgw.app.cli import build_parser, main, parse, prepare
from sipgw.app.evaluation.ports import free_port
from sipgw.app.sections import CALL_ONLY, SECTIONS
from sipgw.app.startup import Startup
from sipgw.foundation.settings import ConfigError
from sipgw.foundation.settings.flags import FIRST_TITLE

ROOT = Path(__file__).resolve().parents[3]
ASSISTANT_KEYS = ["ASSEMBLYAI_API_KEY", "OPENAI_API_KEY", "ELEVENLABS_API_KEY"]
TONE = "tests.sipgw.app.tone_agent:make"


@pytest.fixture
def environ(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """A clean working directory, no SIPGW_ variables, and os.environ restored afterwards
    (``sipgw serve`` loads ``.env`` into it)."""
    saved = dict(os.environ)
    monkeypatch.chdir(tmp_path)
    for name in [*os.environ]:
        if name.startswith(("SIPGW_", "TONE_")) or name in ASSISTANT_KEYS:
            del os.environ[name]
    yield
    os.environ.clear()
    os.environ.update(saved)


def serve(*argv: str) -> Startup:
    return prepare(["serve", *argv])


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


@pytest.mark.usefixtures("environ")
def test_the_agent_can_come_from_env_file_and_brings_its_flags(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text(f"SIPGW_AGENT={TONE}\nTONE_KEY=k\n")
    invocation = parse(["serve", "--tone-hz", "1000", "--bind", "127.0.0.1"])
    assert invocation.plugin is not None and invocation.plugin.spec == TONE
    assert invocation.sources.flags == {"--tone-hz": "1000", "--bind": "127.0.0.1"}
    assert serve("--tone-hz", "1000", "--bind", "127.0.0.1").agent == TONE
    assert serve("--agent", "echo", "--bind", "127.0.0.1").agent == "echo"  # the flag wins
    with pytest.raises(SystemExit):  # echo has no --tone-hz
        serve("--agent", "echo", "--tone-hz", "1000")


@pytest.mark.usefixtures("environ")
@pytest.mark.parametrize(
    ("argv", "env_file", "message"),
    [
        (["--agent", "robot"], "", "sipgw: error: --agent robot: must be echo, assistant, "
         "voice-agent, realtime, twiml, stream or srs, or package.module:factory"),
        (["--sip-port", "abc"], "", "sipgw: error: --sip-port abc: must be a port number 0..65535"),
        (["--rtp-ports", "nonsense"], "", "sipgw: error: --rtp-ports nonsense: must be LO-HI"),
        ([], "SIPGW_AGENT=robot\n", "sipgw: error: .env line 1: SIPGW_AGENT=robot: must be"),
        ([], "\nSIPGW_WORKERS=0\n", "sipgw: error: .env line 2: SIPGW_WORKERS=0: must be a "
         "whole number >= 1"),
        (["--env-file", "/nonexistent/.env"], "", "sipgw: error: --env-file /nonexistent/.env: "
         "no such file"),
        (["--agent", "nowhere.mod:make"], "", "sipgw: error: --agent nowhere.mod:make: agent "
         "module 'nowhere.mod' not found"),
    ],
)  # fmt: skip
def test_bad_settings_exit_2_naming_what_was_written(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, argv: list[str], env_file: str, message: str
) -> None:
    if env_file:
        (tmp_path / ".env").write_text(env_file)
    assert main(["serve", *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith(message) and err.count("\n") == 1 and "Traceback" not in err


def test_help_is_grouped_with_the_first_options_on_top(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["serve", "--help"])
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "usage: sipgw serve [OPTION ...]"
    first = lines.index(f"{FIRST_TITLE}:")
    assert first < 8
    options = [line.split()[0] for line in lines[first + 1 :] if line.startswith("  --")]
    assert options[:9] == [
        "--agent", "--public-ip", "--sip-port", "--register", "--auth-password", "--allow-from",
        "--admin-port", "--config", "--env-file",
    ]  # fmt: skip
    groups = [line[:-1] for line in lines if line.endswith(":") and not line.startswith(" ")]
    rest = [info for info in SECTIONS if any(s.flag and not s.first for _, s in info.settings)]
    assert groups == [FIRST_TITLE, *(info.title for info in rest)]


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
    flagged = [spec for info in SECTIONS for _, spec in info.settings if spec.flag]
    assert len(flagged) > 50  # every section is there (the count grows with the settings)
    call_only = {spec.flag for info in CALL_ONLY for _, spec in info.settings}
    assert call_only == {"--admin-url"}
    for setting in flagged:
        assert setting.env.startswith("SIPGW_") and setting.flag
        on_serve = setting.flag in serve_help and setting.env in serve_help
        assert on_serve is (setting.flag not in call_only), setting.flag
        assert setting.flag in call_help and setting.env in call_help
        assert f"`{setting.flag} " in docs, setting.flag
        assert f"`{setting.env}`" in docs, setting.env


def test_a_plug_ins_flags_join_the_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        build_parser(find_agent(TONE)).parse_args(["serve", "--help"])
    text = capsys.readouterr().out
    assert "Tone agent (a test plug-in):" in text and "--tone-hz HZ" in text


@pytest.mark.usefixtures("environ")
def test_help_with_an_agent_that_does_not_load_still_helps(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["serve", "--agent", "nowhere.mod:make", "--help"])
    out, err = capsys.readouterr()
    assert exit_info.value.code == 0 and "start here:" in out
    assert "sipgw: note: --agent nowhere.mod:make: agent module 'nowhere.mod' not found" in err


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
    (tmp_path / ".env").write_text("OPENAI_API_KEY=sk-test\n")
    assert main(["serve", "--agent", "assistant"]) == 2
    err = capsys.readouterr().err
    assert "ASSEMBLYAI_API_KEY" in err and "ELEVENLABS_API_KEY" in err
    assert "OPENAI_API_KEY" not in err  # found in .env


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
    process = subprocess.Popen(
        [sys.executable, "-m", "sipgw", "serve", "--bind", "127.0.0.1", "--sip-port", "0",
         "--rtp-ports", "32000-32100", "--stats-interval", "0.2"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path,
        env={**os.environ, "SIPGW_VAD_LOW_BAND": "1"},  # a setting that became a constant
    )  # fmt: skip
    seen: list[str] = []
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith("listening on udp:127.0.0.1:")
        assert process.stderr is not None
        while not any(" stats {" in line for line in seen):  # the first stats line
            seen.append(process.stderr.readline())
            assert seen[-1], "".join(seen)  # the gateway ended before writing one
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    finally:
        process.kill()
        process.wait()
    stderr = "".join(seen) + (process.stderr.read() if process.stderr else "")
    assert "Traceback" not in stderr
    stats_line = next(line for line in stderr.splitlines() if " stats {" in line)
    stats = json.loads(stats_line.split(" stats ", 1)[1])
    assert stats["calls"] == 0 and stats["ticks"] > 0 and stats["rss_kb"] > 0
    assert "SIPGW_VAD_LOW_BAND (the environment): no longer a setting" in stderr


ADMIN_TOKEN = "tok-cli-123-long-enough"
SERVE = [sys.executable, "-m", "sipgw", "serve", "--bind", "127.0.0.1", "--sip-port", "0",
         "--rtp-ports", "32200-32300"]  # fmt: skip


@contextlib.contextmanager
def admin_gateway(
    cwd: Path, env: dict[str, str] | None = None
) -> Iterator[Callable[[str, dict[str, Any] | None], int]]:
    """``sipgw serve`` with its admin server, started in ``cwd``: yields a function that asks
    the admin API (a path, a JSON body or None) and gives the answer's status; then stopped
    with SIGTERM, which must end it cleanly, its token never in its output."""
    port = free_port()
    process = subprocess.Popen(
        [*SERVE, "--admin-port", str(port), "--admin-token", ADMIN_TOKEN],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=cwd, env=env,
    )  # fmt: skip

    def ask(path: str, body: dict[str, Any] | None) -> int:
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}{path}",
            data=None if body is None else json.dumps(body).encode(),
            headers={"Authorization": f"Bearer {ADMIN_TOKEN}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=5) as response:
            return int(response.status)

    try:
        assert process.stdout is not None
        lines = [process.stdout.readline().strip() for _ in range(3)]
        assert lines[0].startswith("listening on udp:127.0.0.1:")
        assert lines[1].startswith("listening on tcp:127.0.0.1:")
        assert lines[2] == f"admin listening on http://127.0.0.1:{port}"  # after the gateway
        yield ask
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    finally:
        process.kill()
        process.wait()
    stderr = process.stderr.read() if process.stderr else ""
    assert "Traceback" not in stderr and "tok-cli-123" not in stderr


def test_serve_starts_the_admin_server_and_refuses_an_open_one_without_token(
    tmp_path: Path,
) -> None:
    refused = subprocess.run(
        [*SERVE, "--admin-port", "8181", "--admin-bind", "0.0.0.0"],
        capture_output=True, text=True, timeout=20, cwd=tmp_path,
    )  # fmt: skip
    assert refused.returncode == 2 and "SIPGW_ADMIN_TOKEN" in refused.stderr
    with admin_gateway(tmp_path) as ask:
        assert ask("/api/health", None) == 200


def test_a_gateway_keeps_its_stores_in_the_state_directory_not_where_it_was_started(
    tmp_path: Path,
) -> None:
    """A gateway started from a checkout with its admin server wrote ``campaigns.sqlite3``
    (the do-not-call list's store) into the directory it was started from."""
    started_in = tmp_path / "checkout"
    started_in.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SIPGW_")}
    env["XDG_STATE_HOME"] = str(tmp_path / "xdg")  # the default: $XDG_STATE_HOME/sipgw
    with admin_gateway(started_in, env) as ask:
        assert ask("/api/dnc", {"numbers": ["+15550100"]}) == 200
    assert list(started_in.iterdir()) == []
    state = tmp_path / "xdg" / "sipgw"
    assert (state / "campaigns.sqlite3").is_file()
    assert state.stat().st_mode & 0o777 == 0o700
    assert (state / "campaigns.sqlite3").stat().st_mode & 0o777 == 0o600


# -- errors raised after loading name the setting as the user gave it (issue 20) ------------


@pytest.mark.usefixtures("environ")
def test_a_file_others_may_change_is_named_by_the_flag_or_the_env_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """Issue 20's own example: ``--accounts acc4.toml`` once said ``SIPGW_ACCOUNTS``."""
    accounts = tmp_path / "acc4.toml"
    accounts.write_text('[accounts.office]\naor = "sip:1001@pbx.example.com"\n')
    accounts.chmod(0o666)
    assert main(["serve", "--accounts", "acc4.toml"]) == 2
    fix = "can be changed by any user of this machine (mode 0666): chmod o-rwx acc4.toml\n"
    assert capsys.readouterr().err == f"sipgw: error: --accounts: acc4.toml {fix}"
    (tmp_path / ".env").write_text("SIPGW_ECHO_DELAY_MS=100\nSIPGW_ACCOUNTS=acc4.toml\n")
    (tmp_path / ".env").chmod(0o600)
    assert main(["serve"]) == 2
    assert capsys.readouterr().err == f"sipgw: error: SIPGW_ACCOUNTS (.env line 2): acc4.toml {fix}"


@pytest.mark.usefixtures("environ")
def test_a_recording_directory_that_cannot_be_made_names_the_flag_and_says_why(
    capsys: pytest.CaptureFixture[str],
) -> None:
    argv = ["serve", "--bind", "127.0.0.1", "--sip-port", "0", "--rtp-ports", "32400-32500"]
    assert main([*argv, "--record-dir", "/proc/nonexistent/x"]) == 2
    err = capsys.readouterr().err
    assert err.endswith(
        "sipgw: error: --record-dir: cannot create /proc/nonexistent/x: No such file or directory\n"
    )  # the OS's words, not Python's repr ("[Errno 2] ...")
    assert "Errno" not in err and "Traceback" not in err


@pytest.mark.usefixtures("environ")
def test_an_unreadable_users_file_names_the_flag() -> None:
    with pytest.raises(ConfigError) as error:
        serve("--bind", "127.0.0.1", "--inbound-users-file", "/nonexistent/users")
    assert str(error.value) == (
        "--inbound-users-file: cannot read /nonexistent/users: No such file or directory"
    )


@pytest.mark.usefixtures("environ")
@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("SIPGW_SYSTEM_PROMPT_FILE=/nonexistent/prompt.txt", "SIPGW_SYSTEM_PROMPT_FILE (.env "
         "line 4): cannot read /nonexistent/prompt.txt: No such file or directory"),
        ("SIPGW_GREETING='Hello {name'", "SIPGW_GREETING (.env line 4): {name has no closing "
         "brace (write {{ for a brace)"),
        ("SIPGW_CALLBACK_GREETING='Hi {x'", "SIPGW_CALLBACK_GREETING (.env line 4): {x has no "
         "closing brace"),
        ("SIPGW_CALLER_CONTEXT=nowhere_mod:lookup", "SIPGW_CALLER_CONTEXT (.env line 4): "
         "module 'nowhere_mod' not found"),
        ("SIPGW_TOOLS_MODULE=nowhere_tools", "SIPGW_TOOLS_MODULE (.env line 4): tools module "
         "'nowhere_tools' not found"),
    ],
)  # fmt: skip
def test_the_assistants_errors_name_the_env_line(tmp_path: Path, line: str, message: str) -> None:
    keys = "".join(f"{key}=k\n" for key in ASSISTANT_KEYS)
    (tmp_path / ".env").write_text(f"{keys}{line}\n")
    with pytest.raises(ConfigError) as error:
        serve("--agent", "assistant", "--bind", "127.0.0.1", "--allow-from", "127.0.0.1")
    assert str(error.value).startswith(message)


@pytest.mark.usefixtures("environ")
def test_the_assistants_errors_name_the_variable_from_the_environment() -> None:
    os.environ.update(dict.fromkeys(ASSISTANT_KEYS, "k"), SIPGW_TOOLS_MODULE="nowhere_tools")
    with pytest.raises(ConfigError, match="^SIPGW_TOOLS_MODULE: tools module 'nowhere_tools'"):
        serve("--agent", "assistant", "--bind", "127.0.0.1", "--allow-from", "127.0.0.1")


@pytest.mark.usefixtures("environ")
def test_hold_music_gone_since_it_was_checked_names_the_env_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sipgw.agent.transfer import settings as transfer_settings
    from sipgw.agent.transfer.holdmusic import load_hold_music
    from sipgw.app.evaluation.audio import write_wav

    write_wav(tmp_path / "moh.wav", [0, 4000, 0, -4000] * 2000)
    reads: list[Path] = []

    def changed_after_the_check(path: Path) -> bytes:
        reads.append(path)
        if len(reads) > 1:  # read again once loaded: the file changed meanwhile
            raise ValueError("not a WAV file")
        return load_hold_music(path)

    monkeypatch.setattr(transfer_settings, "load_hold_music", changed_after_the_check)
    keys = "".join(f"{key}=k\n" for key in ASSISTANT_KEYS)
    (tmp_path / ".env").write_text(f"{keys}SIPGW_HOLD_MUSIC=moh.wav\n")
    with pytest.raises(ConfigError) as error:
        serve("--agent", "assistant", "--bind", "127.0.0.1", "--allow-from", "127.0.0.1")
    assert str(error.value) == "SIPGW_HOLD_MUSIC (.env line 4): not a WAV file"


@pytest.mark.usefixtures("environ")
def test_a_routes_line_names_the_setting_it_needs_as_given(tmp_path: Path) -> None:
    (tmp_path / "routes.toml").write_text('default = "x"\n[lines.x]\nrecording = true\n')
    with pytest.raises(ConfigError, match="recording = true needs --record-dir/SIPGW_RECORD_DIR$"):
        serve("--bind", "127.0.0.1", "--routes", "routes.toml")  # set nowhere: both names
    (tmp_path / ".env").write_text("SIPGW_RECORD_DIR=\n")
    with pytest.raises(ConfigError, match=r"needs SIPGW_RECORD_DIR \(.env line 1\)$"):
        serve("--bind", "127.0.0.1", "--routes", "routes.toml")


@pytest.mark.usefixtures("environ")
async def test_an_allow_from_name_that_does_not_resolve_is_named_as_typed() -> None:
    from sipgw.app.security.access import build_access_policy

    async def no_such_name(host: str) -> list[str]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    invocation = parse(["serve", "--allow-from", "nowhere.invalid"])
    startup = prepare(["serve", "--allow-from", "nowhere.invalid"])
    with pytest.raises(ConfigError) as error:
        await build_access_policy(startup.access, no_such_name)
    assert (
        invocation.sources.explain(error.value)
        == startup.sources.explain(error.value)
        == ("--allow-from: cannot resolve 'nowhere.invalid' (Name or service not known)")
    )
