"""The carriers' trunks as Kamailio scripts (tests.toolkit.peers.carriers): they parse, and
say what each carrier documents (the calls themselves: tests/interop/test_carriers.py)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.toolkit.passport import identity_header, shaken
from tests.toolkit.peers.carriers import CarrierTrunk, Registered, plivo, telnyx, twilio
from tests.toolkit.peers.kamailio_cfg import KamailioOptions, render_config

TRUNKS = {
    "twilio": twilio(
        {"+15551230000": "sip:agent@127.0.0.1:5070;transport=tls"},
        credentials={"gw": "pw"}, acl=("127.0.0.7",), caller_ids=("+15551230000",),
    ),
    "telnyx": telnyx({"+15551230000": Registered("gwuser")}, credentials={"gwuser": "pw"}),
    "telnyx-stir": telnyx(
        {"+15551230000": Registered("gwuser")}, credentials={"gwuser": "pw"},
        verstat={"+15559876543": "TN-Validation-Failed", "*": "No-TN-Validation"},
        identity={"+15559876543": identity_header(shaken("C", orig="15559876543"))},
    ),
    "plivo": plivo(
        {"+15551230000": "sip:agent@127.0.0.1:5070"}, credentials={"zt": "pw"}, acl=("127.0.0.7",)
    ),
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(TRUNKS))
def test_each_trunk_passes_kamailio_check(tmp_path: Path, name: str) -> None:
    trunk = TRUNKS[name]
    opts = KamailioOptions(users=dict(trunk.credentials), invite_route=trunk.script())
    cfg = tmp_path / "kamailio.cfg"
    cfg.write_text(
        render_config(opts, host="127.0.0.1", sip_port=5999, tls_port=5998,
                      ctl_socket=tmp_path / "ctl", tls_config=tmp_path / "tls.cfg")
    )  # fmt: skip
    (tmp_path / "tls.cfg").write_text("")
    result = subprocess.run(
        ["kamailio", "-c", "-f", str(cfg)], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "route(INVITE_ROUTE); exit;" in cfg.read_text()


def test_what_each_carrier_checks() -> None:
    twilio_script = TRUNKS["twilio"].script()
    assert "DROPPED" in twilio_script and '$si == "127.0.0.7"' in twilio_script
    assert '$var(cid) == "+15551230000"' in twilio_script and '"403", "Forbidden"' in twilio_script
    assert "ORIGINATE $rU -> sip:agent@127.0.0.1:5070;transport=tls" in twilio_script
    telnyx_script = TRUNKS["telnyx"].script()
    assert '"403", "Caller Origination Number is Invalid D35"' in telnyx_script
    # the first header present wins: PPI, then PAI, then RPID, then From
    reads = [telnyx_script.index(pv) for pv in ("$pU", "$(ai{uri.user})", "$(re{uri.user})")]
    assert reads == sorted(reads, reverse=True)  # assigned last = wins: PPI is assigned last
    assert "verstat=TN-Validation-Passed" in telnyx_script and '$rU = "gwuser"' in telnyx_script
    assert "proxy_challenge" in twilio_script and "AUTH refused" not in twilio_script  # 407
    stir = TRUNKS["telnyx-stir"].script()  # the STIR/SHAKEN result, by caller
    assert '$var(vs) = ";verstat=No-TN-Validation"' in stir
    assert 'if ($fU == "+15559876543") { $var(vs) = ";verstat=TN-Validation-Failed"; }' in stir
    assert 'append_hf("Identity: ey' in stir and ";alg=ES256;ppt=shaken" in stir
    assert "<sip:$fU$var(vs)@sip.telnyx.com;user=phone>" in stir
    plivo_script = TRUNKS["plivo"].script()
    # 4190 unknown_caller_id: a number of the account, else refused with the hangup code
    assert '$var(cid) == "+15551230000"' in plivo_script
    assert 'append_to_reply("X-ZT-Hangup-Code: 4190\\r\\n")' in plivo_script
    # 4020 call_rejected_unauthorized: "Call Rejected", SIP code 401
    assert "pv_www_authenticate" in plivo_script and "www_challenge" in plivo_script
    assert '"401", "Call Rejected"' in plivo_script and "proxy_challenge" not in plivo_script


def test_only_safe_text_goes_into_the_script() -> None:
    with pytest.raises(ValueError, match="URI-safe"):
        CarrierTrunk("x", {'+1"; exit; #': "sip:a@b"})
    with pytest.raises(ValueError, match="caller_id_headers"):
        CarrierTrunk("x", {}, caller_id_headers=("x-caller",))
    with pytest.raises(ValueError, match="printable ASCII"):
        CarrierTrunk("x", {}, refusal_headers=('X-A: 1"); exit; #',))
    with pytest.raises(ValueError, match="printable ASCII"):
        CarrierTrunk("x", {}, refusal=(403, "Forbidden\r\nX: y"))
    with pytest.raises(ValueError, match="Identity header value"):
        CarrierTrunk("x", {}, identity={"+1555": 'a.b.c"); exit; #'})
    with pytest.raises(ValueError, match="URI-safe"):
        CarrierTrunk("x", {}, verstat={"*": "Passed$(ru)"})
    with pytest.raises(ValueError, match="proxy or www"):
        CarrierTrunk("x", {}, challenge="basic")
