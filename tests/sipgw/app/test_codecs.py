"""sipgw/app/codecs.py: which codecs a call may use (SIPGW_CODECS, a line's, an account's)."""

from __future__ import annotations

import pytest

from sipgw.app.codecs import call_codecs, codec_list, g711_first, rtp_codecs
from sipgw.app.config import GatewayConfig
from sipgw.sip.offeranswer import RtpCodec


def test_names_are_read_as_people_write_them() -> None:
    assert codec_list("g722, PCMU") == ("G722", "PCMU")
    assert codec_list(["G.722", "pcma", "G722"]) == ("G722", "PCMA")
    with pytest.raises(ValueError, match=r"unknown codec 'opus' \(we carry PCMU, PCMA, G722\)"):
        codec_list("opus,pcmu")
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
