"""Settings that became constants (sipgw/app/configfile/removed.py): set in the environment
or ``.env``, each is named with what holds now, by ``sipgw config check`` and at start."""

from __future__ import annotations

from pathlib import Path

import pytest

from sipgw.app.configfile.check import check
from sipgw.app.configfile.removed import REMOVED, removed_settings
from sipgw.app.sections import SECTIONS

pytestmark = pytest.mark.usefixtures("environ")


def test_a_removed_setting_is_no_setting_any_more() -> None:
    variables = {spec.env for info in SECTIONS for _, spec in info.settings}
    assert len(REMOVED) == 7 and not variables & set(REMOVED)


def test_each_one_set_is_named_with_where_and_what_holds_now() -> None:
    environ = {"SIPGW_VAD_MARGIN_DB": "6", "OPENAI_RETRY_FIRST_DELAY": "1", "SIPGW_SIP_PORT": "1"}
    found = removed_settings(environ, {"OPENAI_RETRY_FIRST_DELAY": ".env line 4"})
    assert found == [
        "SIPGW_VAD_MARGIN_DB (the environment): no longer a setting: the noise margin is 10 dB "
        "(NOISE_MARGIN_DB, sipgw/media/voice/vad.py); remove it",
        "OPENAI_RETRY_FIRST_DELAY (.env line 4): no longer a setting: the first retry waits "
        "0.1 s (FIRST_RETRY_DELAY, sipgw/agent/services/llm/retry.py); remove it",
    ]


def test_config_check_names_one_set_in_the_env_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("SIPGW_SIP_PORT=5070\nSIPGW_PREEMPTIVE_MAX_REQUESTS=5\n")
    assert check(["serve"]).errors == [
        "SIPGW_PREEMPTIVE_MAX_REQUESTS (.env line 2): no longer a setting: a turn sends at most "
        "3 preemptive requests (MAX_REQUESTS_PER_TURN, sipgw/agent/conversation/settings.py); "
        "remove it"
    ]
