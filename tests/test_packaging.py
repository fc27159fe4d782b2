"""The Docker image's entry command, run from a clean venv built like the image.

No Docker engine runs on our machines, so this checks what can be checked: the files
the Dockerfile's build stage copies are enough to build sipgw's wheel with the native
media path (``SIPGW_BUILD_NATIVE=1 pip wheel``, as that stage does), the wheel installs
into a clean venv with its declared dependencies only (the second stage), and the
image's ENTRYPOINT + CMD starts a gateway on the native path that answers OPTIONS (the
compose health check) and stops cleanly on SIGTERM.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = ROOT / "docker" / "Dockerfile"
WHEELHOUSE = ROOT / ".venv" / "wheelhouse"

pytestmark = pytest.mark.timeout(600)


def _instruction(name: str) -> list[str]:
    for line in DOCKERFILE.read_text().splitlines():
        if line.startswith(name + " "):
            return list(json.loads(line[len(name) + 1 :]))
    raise AssertionError(f"{name} missing from {DOCKERFILE}")


def _copied_paths() -> list[str]:
    """What the build stage copies from the context (not ``COPY --from`` another stage)."""
    paths: list[str] = []
    for line in DOCKERFILE.read_text().splitlines():
        if line.startswith("COPY ") and not line.startswith("COPY --from"):
            paths.extend(line.split()[1:-1])
    return paths


def _run(args: list[str], **env: str) -> None:
    """``args`` with the image build's environment: ours without sipgw's settings (the
    build stage sets none but ``env``; a ``SIPGW_PURE_PYTHON=1`` run of the suite must not
    make the image's wheel a pure one)."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("SIPGW_")}
    done = subprocess.run(args, capture_output=True, text=True, timeout=500, env={**clean, **env})
    assert done.returncode == 0, done.stderr[-3000:]


def test_image_entry_command_runs_from_a_clean_venv(tmp_path: Path) -> None:
    context = tmp_path / "context"
    context.mkdir()
    for name in _copied_paths():
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, context / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, context / name)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = [str(venv / "bin" / "pip"), "install", "-q", "--disable-pip-version-check"]
    # scripts/test fills a wheelhouse first, because the suite runs without a network.
    offline = ["--no-index", "--find-links", str(WHEELHOUSE)] if WHEELHOUSE.is_dir() else []
    wheels = tmp_path / "wheels"
    _run(
        [str(venv / "bin" / "pip"), "wheel", "-q", "--disable-pip-version-check", *offline,
         "--no-deps", "--wheel-dir", str(wheels), str(context)],
        SIPGW_BUILD_NATIVE="1",
    )  # fmt: skip
    (wheel,) = wheels.glob("sipgw-*.whl")
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
    _run([*pip, *offline, str(wheel)])
    # Package data travels with a non-editable install.
    data = subprocess.run(
        [str(venv / "bin" / "python"), "-c",
         "import importlib.resources as r; print(r.files('agent').joinpath('tools').is_dir(),"
         " r.files('sipgw.app.admin').joinpath('static/dashboard.js').is_file());"
         "from sipgw.agent.resilience.lines import FallbackLine;"
         "from sipgw.agent.resilience.shipped_prompts import shipped_frames, shipped_text;"
         "print(all(len(shipped_frames(l)) > 25 and shipped_text(l) for l in FallbackLine))"],
        capture_output=True, text=True, cwd=tmp_path,
    )  # fmt: skip
    # The tools, the dashboard's files, the shipped fallback prompts.
    assert data.stdout.split() == ["True", "True", "True"], data.stderr

    command = _instruction("ENTRYPOINT") + _instruction("CMD")
    assert command == ["sipgw", "serve"]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SIPGW_", "PYTHONPATH"))}
    env.update(SIPGW_BIND="127.0.0.1", SIPGW_SIP_PORT="0", SIPGW_RTP_PORTS="33000-33100")
    process = subprocess.Popen(
        [str(venv / "bin" / command[0]), *command[1:]],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path, env=env,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith("listening on udp:127.0.0.1:"), line
        port = line.strip().rsplit(":", 1)[1]
        health = subprocess.run(
            [str(venv / "bin" / "python"), "-m", "sipgw.app.healthcheck"],
            capture_output=True, text=True, cwd=tmp_path, timeout=20,
            env={**env, "SIPGW_SIP_PORT": port},
        )  # fmt: skip
        assert health.returncode == 0, health.stdout + health.stderr
        assert "-> 200" in health.stdout
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=15) == 0
    finally:
        process.kill()
        process.wait()
    stderr = process.stderr.read() if process.stderr else ""
    assert "Traceback" not in stderr, stderr
    assert "media path: native" in stderr, stderr  # the wheel's compiled modules run
