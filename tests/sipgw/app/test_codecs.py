"""sipgw/app/codecs.py: which codecs a call may use (SIPGW_CODECS, a line's, an account's)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from sipgw.app.codecs import call_codecs, codec_list, g711_first, rtp_codecs
from sipgw.app.lines.routesfile import parse_routes_file
from sipgw.app.settings import GatewayConfig
from sipgw.app.upstream.accounts import parse_accounts_file
from sipgw.foundation.settings import ConfigError
from sipgw.media.codecs import CODECS
from sipgw.sip.offeranswer import RtpCodec


def test_names_are_read_as_people_write_them() -> None:
    assert codec_list("g722, PCMU") == ("G722", "PCMU")
    assert codec_list(["G.722", "pcma", "G722"]) == ("G722", "PCMA")
    assert codec_list("opus, g722") == ("OPUS", "G722")
    ours = re.escape(f"(we carry {', '.join(CODECS)})")  # the registry's own test lists them
    with pytest.raises(ValueError, match=rf"unknown codec 'g729' {ours}"):
        codec_list("g729,pcmu")
    with pytest.raises(ValueError, match="at least one"):
        codec_list(" , ")


def test_g722_is_off_unless_the_operator_lists_it() -> None:
    assert GatewayConfig().codecs == ("PCMU", "PCMA")


def test_an_accounts_calls_keep_g711_first_a_line_or_its_own_list_may_change_it() -> None:
    allowed = ("G722", "PCMU", "PCMA")
    assert call_codecs(allowed) == allowed  # a phone calling the gateway straight
    assert call_codecs(allowed, via_account=True) == ("PCMU", "PCMA", "G722")  # a trunk
    assert call_codecs(allowed, account=("G722", "PCMU"), via_account=True) == ("G722", "PCMU")
    assert call_codecs(allowed, line=("PCMA",), account=("G722",), via_account=True) == ("PCMA",)
    # A line or account narrows what the gateway allows, never widens it:
    assert call_codecs(("PCMU",), line=("G722", "PCMU")) == ("PCMU",)
    assert call_codecs(("PCMU",), line=("G722",)) == ()
    assert g711_first(("G722", "PCMA", "PCMU")) == ("PCMA", "PCMU", "G722")


def test_they_go_to_the_sip_core_as_rtpmap_descriptions() -> None:
    assert rtp_codecs(("G722", "PCMU")) == (RtpCodec("G722", 8000, 9), RtpCodec("PCMU", 8000, 0))


def test_an_accounts_and_a_lines_codecs_are_read_and_checked(tmp_path: Path) -> None:
    accounts = tmp_path / "accounts.toml"
    accounts.write_text(
        '[accounts.pbx]\naor = "sip:1001@pbx.example.com"\ncodecs = ["g722", "PCMU"]\n'
        '[accounts.trunk]\naor = "sip:+15550100@trunk.example.com"\n'
    )
    pbx, trunk = parse_accounts_file(accounts)
    assert pbx.codecs == ("G722", "PCMU") and trunk.codecs is None
    accounts.write_text('[accounts.pbx]\naor = "sip:1001@pbx.example.com"\ncodecs = ["g729"]\n')
    with pytest.raises(ConfigError, match=r"line 3: .*codecs .*unknown codec 'g729'"):
        parse_accounts_file(accounts)
    routes = tmp_path / "routes.toml"
    routes.write_text('default = "hd"\n[lines.hd]\ncodecs = ["G722", "PCMU"]\n[lines.plain]\n')
    lines = parse_routes_file(routes).lines
    assert lines["hd"].codecs == ("G722", "PCMU") and lines["plain"].codecs is None
    routes.write_text('default = "hd"\n[lines.hd]\ncodecs = "G722"\n')  # a list is wanted
    with pytest.raises(ConfigError, match=r"codecs \(a list, e\.g\. \[\"G722\", \"PCMU\"\]\)"):
        parse_routes_file(routes)
