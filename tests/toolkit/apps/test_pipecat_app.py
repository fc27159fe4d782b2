"""Finding Pipecat's venv (tests/toolkit/apps/pipecat_app.py); the bot itself runs in
tests/interop/test_pipecat_twilio.py."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.toolkit.apps.pipecat_app import PIPECAT_VERSION, pipecat_python

ROOT = Path(__file__).resolve().parents[3]


def test_scripts_test_installs_the_version_the_bot_is_tested_with() -> None:
    script = (ROOT / "scripts" / "test").read_text()
    assert re.search(rf"^PIPECAT_VERSION={re.escape(PIPECAT_VERSION)}$", script, re.M)


def test_a_missing_venv_is_an_error_saying_how_to_make_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SIPGW_PIPECAT_VENV", str(tmp_path / "none"))
    with pytest.raises(RuntimeError, match="scripts/test makes it"):
        pipecat_python()
    (tmp_path / "venv" / "bin").mkdir(parents=True)
    (tmp_path / "venv" / "bin" / "python").touch()
    monkeypatch.setenv("SIPGW_PIPECAT_VENV", str(tmp_path / "venv"))
    assert pipecat_python() == tmp_path / "venv" / "bin" / "python"
