"""Agents as plug-ins, end to end: ``sipgw serve --agent tests.sipgw.app.tone_agent:make``.

The plug-in (``tone_agent.py``) is a module outside sipgw with its own settings section:
a real ``sipgw serve`` process reads them from its flags, the environment and ``.env``,
shows them in ``--help``, names them in its errors, and answers a real call with them.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import sipgw.app.plugin
from sipgw.app.evaluation.gateway_process import GatewayProcess
from sipgw.app.evaluation.phone import Phone
from sipgw.app.evaluation.process import child_env
from sipgw.app.plugin import __all__ as exported

pytestmark = pytest.mark.timeout(60)

TONE = "tests.sipgw.app.tone_agent:make"
KEY = "tone-CANARY-0a1b2c3d4e"
"""The plug-in's secret setting: a canary, so the run's log scan finds any leak."""


def test_the_plug_in_names_are_importable_from_one_place() -> None:
    assert sorted(exported) == sorted(
        name
        for name in vars(sipgw.app.plugin)
        if not name.startswith("_") and name != "annotations"
    )
    assert {"Agent", "AgentFactory", "CallControl", "section", "setting", "parsers"} <= set(
        exported
    )


def serve(*argv: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sipgw", "serve", "--agent", TONE, *argv],
        capture_output=True, text=True, timeout=30, cwd=cwd, env=child_env(),
    )  # fmt: skip


def test_its_settings_are_in_the_help_and_its_errors(tmp_path: Path) -> None:
    helped = serve("--help", cwd=tmp_path)
    text = " ".join(helped.stdout.split())
    assert helped.returncode == 0, helped.stderr
    assert "Tone agent (a test plug-in): Read when --agent tests.sipgw.app.tone_agent:make." in text
    assert "--tone-hz HZ The tone's pitch, a multiple of 50 Hz. [env TONE_HZ, default 400]" in text
    assert text.index("start here:") < text.index("Tone agent")
    missing = serve(cwd=tmp_path)
    assert missing.returncode == 2
    assert missing.stderr.startswith(f"sipgw: error: --agent {TONE} needs TONE_KEY (set it")
    (tmp_path / ".env").write_text(f"TONE_KEY={KEY}\n# pitch\nTONE_HZ=1010\n")
    bad = serve(cwd=tmp_path)
    assert bad.stderr == "sipgw: error: TONE_HZ=1010 (.env line 3) must be a multiple of 50 Hz\n"
    worse = serve("--tone-hz", "5", cwd=tmp_path)
    assert worse.stderr.strip() == (
        "sipgw: error: --tone-hz 5: must be a whole number from 100 to 3000"
    )
    assert KEY not in bad.stderr + worse.stderr


async def test_it_answers_a_real_call_with_its_settings(tmp_path: Path) -> None:
    # The flag wins over the environment, which wins over .env (where the key is).
    (tmp_path / ".env").write_text(f"TONE_KEY={KEY}\nTONE_HZ=600\nTONE_DBFS=-9\n")
    with GatewayProcess(
        tmp_path,
        agent=TONE,
        allow_from="127.0.0.1",  # a plug-in counts as an agent that spends money
        extra_args=["--tone-hz", "1000"],
        extra_env={"TONE_HZ": "700"},
    ) as gateway:
        phone = Phone(gateway.address)
        try:
            answer = await phone.invite()
            assert answer.status == 200
            phone.start_audio()
            await phone.wait_for_tone(1000, within=5.0, min_seconds=0.3)
            assert not phone.heard_tone(700) and not phone.heard_tone(600)
            assert (await phone.bye()).status == 200
        finally:
            phone.close()
        assert gateway.stop() == 0
        log = gateway.log_text()
    assert f"agent {TONE}" in log and KEY not in log
