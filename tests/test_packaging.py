"""The Docker image's entry command, run from a clean venv built like the image.

No Docker engine runs on our machines, so this checks what can be checked: the files
the Dockerfile's build stage copies are enough to build sipgw's wheel with the native
media path (``SIPGW_BUILD_NATIVE=1 pip wheel``, as that stage does, but at gcc's -O0),
the wheel installs into a clean venv with its declared dependencies only (the second
stage), and the image's ENTRYPOINT + CMD starts a gateway on the native path that answers
OPTIONS (the compose health check) and stops cleanly on SIGTERM.

The build is tests/toolkit/image_wheel.py's (``scripts/test`` makes it beside its own native
build, on the core that build leaves idle). The same wheel, installed once, also meets a
user's own packages named ``agent`` and ``media``: ours install as ``sipgw.agent`` and
``sipgw.media`` (docs/architecture.md, "Import names"), so neither shadows the other.
"""

from __future__ import annotations

import os
import signal
import subprocess
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.toolkit.image_wheel import ROOT, Installed, build, instruction, prebuilt

# The tests' own steps; the wheel's build (the fixture, once per module) is bounded by the
# CPU its processes use (tests/toolkit/image_wheel.py), not by how long a loaded machine
# takes to give it.
pytestmark = pytest.mark.timeout(600, func_only=True)


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    """Built and installed once for this module's tests (one xdist unit: tests/conftest.py):
    the build ``scripts/test`` made beside its native build when it is of today's files,
    else one made here."""
    return prebuilt() or build(tmp_path_factory.mktemp("wheel"))


def test_image_entry_command_runs_from_a_clean_venv(installed: Installed, tmp_path: Path) -> None:
    wheel = installed.wheel
    assert "linux" in wheel.name  # compiled: a platform wheel
    # The wheel holds the product: no module of the test toolkit (tests/toolkit: the peers,
    # the fakes the tests alone use, the browsers), under its name or its old one.
    with zipfile.ZipFile(wheel) as archive:
        shipped = archive.namelist()
    toolkit = ROOT / "tests" / "toolkit"
    kit = [
        path.relative_to(toolkit).as_posix()
        for path in toolkit.rglob("*.py")
        if path.name != "__init__.py" and not path.name.startswith("test_")
    ]
    assert len(kit) > 30 and "peers/baresip.py" in kit
    carried = [
        name
        for name in shipped
        if name.startswith(("tests/", "sipgw/testing/"))
        or any(name.endswith("/" + module) for module in kit if "/" in module)
    ]
    assert not carried, carried
    assert "sipgw/app/evaluation/run.py" in shipped  # sipgw eval's harness is product code
    # One top-level package: media/ and agent/ are sipgw.media and sipgw.agent in it.
    tops = {name.split("/", 1)[0] for name in shipped}
    assert {top for top in tops if not top.endswith(".dist-info")} == {"sipgw"}, tops
    assert {"sipgw/media/rtp.py", "sipgw/agent/base.py", "sipgw/media/_rtpio.c"} <= set(shipped)
    venv = installed.venv
    # Package data travels with a non-editable install.
    data = subprocess.run(
        [str(venv / "bin" / "python"), "-c",
         "import importlib.resources as r; print(r.files('sipgw.agent').joinpath('tools').is_dir(),"
         " r.files('sipgw.app.admin').joinpath('static/dashboard.js').is_file());"
         "from sipgw.agent.resilience.lines import FallbackLine;"
         "from sipgw.agent.resilience.shipped_prompts import shipped_frames, shipped_text;"
         "print(all(len(shipped_frames(l)) > 25 and shipped_text(l) for l in FallbackLine))"],
        capture_output=True, text=True, cwd=tmp_path,
    )  # fmt: skip
    # The tools, the dashboard's files, the shipped fallback prompts.
    assert data.stdout.split() == ["True", "True", "True"], data.stderr
    # The voice model's weights and their MIT notice: the default detector runs on a plain
    # install (numpy, a dependency; neither ONNX Runtime nor silero-vad installed).
    assert {
        "sipgw/media/voice/silero_vad_8k.npz",
        "sipgw/media/voice/silero_vad_8k.LICENSE",
    } <= set(shipped)
    model = subprocess.run(
        [str(venv / "bin" / "python"), "-c",
         "import importlib.util as u; from sipgw.media.voice.silero import SileroModel, "
         "SileroStream; m = SileroModel(); s = SileroStream(); (c,) = s.feed(bytes(256));"
         "print(m.engine, 0 <= m.step(s, c) <= 1, u.find_spec('onnxruntime') is None)"],
        capture_output=True, text=True, cwd=tmp_path,
    )  # fmt: skip
    assert model.stdout.split() == ["numpy", "True", "True"], model.stderr

    command = instruction("ENTRYPOINT") + instruction("CMD")
    assert command == ["sipgw", "serve"]

    def healthy(port: str, env: dict[str, str]) -> None:
        health = subprocess.run(
            [str(venv / "bin" / "python"), "-m", "sipgw.app.healthcheck"],
            capture_output=True, text=True, cwd=tmp_path, timeout=20,
            env={**env, "SIPGW_SIP_PORT": port},
        )  # fmt: skip
        assert health.returncode == 0, health.stdout + health.stderr
        assert "-> 200" in health.stdout

    stderr = _serve(installed, command, tmp_path, {}, healthy)
    assert "media path: native" in stderr, stderr  # the wheel's compiled modules run


USER_PACKAGES = {
    "agent/__init__.py": "WHO = 'users-agent'\n",
    "agent/bot.py": (
        '"""An agent plug-in in a package named agent, not ours."""\n'
        "import media\n"
        "from sipgw.agent.echo.plugin import echo_agent\n"
        "assert media.WHO == 'users-media', media\n"
        "make = echo_agent\n"
    ),
    "media/__init__.py": "WHO = 'users-media'\n",
}
"""A user's own packages named ``agent`` and ``media``; ``agent.bot`` is an agent plug-in
(the echo agent under the user's name)."""

BOTH = (
    "import sys{append}\n"
    "import agent, agent.bot, media\n"  # the user's (names-rewrite: keep)
    "import sipgw.agent.base, sipgw.media.rtp, sipgw.app.gateway\n"
    "print(agent.WHO, media.WHO, sep='|')\n"
    "for module in (agent, media, sipgw.agent, sipgw.media, sys.modules['sipgw.agent.base']):\n"
    "    print(module.__file__)\n"
)
"""Imports the user's packages and ours in one process; prints whose each one is."""


def test_a_users_own_agent_and_media_packages_neither_shadow_ours_nor_are_shadowed(
    installed: Installed, tmp_path: Path
) -> None:
    """Before issue 40 the wheel installed top-level ``agent`` and ``media``: a user's
    packages of those names ahead of site-packages (``PYTHONPATH``, the working directory)
    took their place and sipgw failed to start; behind it (a ``.pth``), ours took theirs."""
    user = tmp_path / "user"
    for relative, text in USER_PACKAGES.items():
        (user / relative).parent.mkdir(parents=True, exist_ok=True)
        (user / relative).write_text(text)
    site = subprocess.run(
        [installed.bin("python"), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("SIPGW_", "PYTHONPATH"))}
    for where, env, append in (
        ("ahead of site-packages", {"PYTHONPATH": str(user)}, ""),
        ("behind site-packages", {}, f"; sys.path.append({str(user)!r})"),
    ):
        done = subprocess.run(
            [installed.bin("python"), "-c", BOTH.format(append=append)],
            capture_output=True, text=True, cwd=tmp_path, env={**clean, **env}, timeout=60,
        )  # fmt: skip
        assert done.returncode == 0, f"{where}:\n{done.stderr}"
        who, *files = done.stdout.splitlines()
        assert who == "users-agent|users-media", where
        theirs, ours = files[:2], files[2:]
        assert all(Path(f).is_relative_to(user) for f in theirs), (where, theirs)
        assert all(Path(f).is_relative_to(site) for f in ours), (where, ours)

    # sipgw starts with the user's packages ahead of its own, running the user's plug-in.
    stderr = _serve(
        installed, ["sipgw", "serve", "--agent", "agent.bot:make"], tmp_path,
        {"PYTHONPATH": str(user)}, None,
    )  # fmt: skip
    assert "agent agent.bot:make" in stderr, stderr


def _serve(
    installed: Installed,
    command: list[str],
    cwd: Path,
    extra: dict[str, str],
    check: Callable[[str, dict[str, str]], None] | None,
) -> str:
    """Start ``command`` from the venv on loopback, wait until it listens, run ``check`` (with
    its SIP port), stop it with SIGTERM; its stderr, once it stopped cleanly."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SIPGW_", "PYTHONPATH"))}
    env.update(SIPGW_BIND="127.0.0.1", SIPGW_SIP_PORT="0", SIPGW_RTP_PORTS="33000-33100")
    env.update(extra)
    process = subprocess.Popen(
        [installed.bin(command[0]), *command[1:]],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=cwd, env=env,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith("listening on udp:127.0.0.1:"), line + (
            process.stderr.read() if process.stderr and process.poll() is not None else ""
        )
        if check is not None:
            check(line.strip().rsplit(":", 1)[1], env)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=15) == 0
    finally:
        process.kill()
        process.wait()
    stderr = process.stderr.read() if process.stderr else ""
    assert "Traceback" not in stderr, stderr
    return stderr
