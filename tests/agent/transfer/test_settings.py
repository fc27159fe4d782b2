"""The transfers section: blind or warm, hold music checked at start-up, the consult lines."""

from __future__ import annotations

from pathlib import Path

import pytest

from sipgw.agent.transfer.settings import TransferSection, TransferSettings, transfer_settings
from sipgw.app.evaluation.audio import write_wav
from sipgw.foundation.settings import ConfigError, Sources, load


def settings(**environ: str) -> TransferSettings:
    return transfer_settings(load(TransferSection, Sources(environ)))


def test_the_defaults_are_blind_transfers_and_the_agent_layers() -> None:
    assert settings() == TransferSettings()


def test_a_warm_transfer_with_a_file_of_music(tmp_path: Path) -> None:
    music = write_wav(tmp_path / "moh.wav", [0, 4000, 0, -4000] * 2000)
    got = settings(
        SIPGW_TRANSFER_MODE="warm", SIPGW_HOLD_MUSIC=str(music), SIPGW_TRANSFER_JOIN="bridge",
        SIPGW_CONSULT_RING_TIMEOUT="15", SIPGW_CONSULT_ANSWER_TIMEOUT="10",
        SIPGW_CONSULT_INTRO="Hi, it's the shop's assistant.", SIPGW_CONSULT_PROMPT="Press 1.",
    )  # fmt: skip
    assert (got.mode, got.join, got.ring_timeout, got.answer_timeout) == ("warm", "bridge", 15, 10)
    assert len(got.hold_music) == 8000 and (got.intro, got.prompt) == (
        "Hi, it's the shop's assistant.",
        "Press 1.",
    )


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"SIPGW_TRANSFER_MODE": "attended"}, "SIPGW_TRANSFER_MODE"),
        ({"SIPGW_TRANSFER_JOIN": "merge"}, "SIPGW_TRANSFER_JOIN"),
        ({"SIPGW_HOLD_MUSIC": "/nonexistent/moh.wav"}, "SIPGW_HOLD_MUSIC.*cannot read it"),
        ({"SIPGW_CONSULT_RING_TIMEOUT": "1"}, "SIPGW_CONSULT_RING_TIMEOUT"),
    ],
)
def test_what_cannot_work_is_refused_at_start_up(environ: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        settings(**environ)
