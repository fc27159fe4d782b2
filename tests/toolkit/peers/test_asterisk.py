"""The Asterisk driver (tests.toolkit.peers.asterisk): finding the build, reading its CLI
(the PBX itself is driven in tests/interop/test_asterisk.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from sipgw.app.evaluation.process import MissingProgram
from tests.toolkit.peers import asterisk
from tests.toolkit.peers.asterisk import Asterisk, Contact, find_or_build

CONTACTS = """
  Contact:  <Aor/ContactUri..........................> <Hash....> <Status> <RTT(ms)..>
==========================================================================================

  Contact:  1001/sip:1001@127.0.0.1:35145              9a4b1c2d3e Avail         0.412
  Contact:  2000/sip:2000-0x55d@127.0.0.1:26474        1f2e3d4c5b NonQual         nan

Objects found: 2
"""


def test_contacts_are_parsed(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    ast = Asterisk(tmp_path, pjsip="", extensions="")
    monkeypatch.setattr(ast, "cli", lambda command, timeout=10.0: CONTACTS)
    assert ast.contacts() == [
        Contact("1001", "sip:1001@127.0.0.1:35145", "Avail", 0.412),
        Contact("2000", "sip:2000-0x55d@127.0.0.1:26474", "NonQual", None),
    ]
    assert ast.wait_contact("2000", None).status == "NonQual"


def test_without_a_build_or_its_script_the_error_says_how_to_get_one(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("SIPGW_ASTERISK_PREFIX", str(tmp_path / "nothing"))
    monkeypatch.setattr(asterisk, "BUILD_SCRIPT", tmp_path / "no-build.sh")
    with pytest.raises(MissingProgram, match="shared folder beside the repository"):
        find_or_build()


def test_a_finished_build_is_found_at_once(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "sbin").mkdir()
    (tmp_path / "sbin" / "asterisk").write_text("")
    (tmp_path / ".asterisk-build-stamp").write_text("tag=22.10.1")
    monkeypatch.setenv("SIPGW_ASTERISK_PREFIX", str(tmp_path))
    assert find_or_build() == tmp_path / "sbin" / "asterisk"
