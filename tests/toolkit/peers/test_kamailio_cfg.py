"""The Kamailio config builder (tests/toolkit/peers/kamailio_cfg.py): checked by ``kamailio -c``."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.toolkit.peers.kamailio_cfg import KamailioOptions, render_config


def test_options_refuse_what_cannot_go_into_the_config() -> None:
    with pytest.raises(ValueError, match="algorithm"):
        KamailioOptions(algorithm="SHA-512")
    with pytest.raises(ValueError, match="transports"):
        KamailioOptions(transports=("sctp",))
    with pytest.raises(ValueError, match="URI-safe"):
        KamailioOptions(users={"alice": 'pw"; exit; "'})


@pytest.mark.parametrize(
    "opts",
    [
        KamailioOptions(users={"alice": "pw"}),
        KamailioOptions(users={"a": "b"}, algorithm="SHA-256", qop=False, transports=("udp",)),
        KamailioOptions(challenge_invites=True, nat_helper=False, transports=("tcp", "tls")),
        KamailioOptions(refuse_refer=True, transports=("udp",)),
    ],
)
def test_rendered_config_passes_kamailio_check(tmp_path: Path, opts: KamailioOptions) -> None:
    """``kamailio -c`` parses the generated script (every module and function exists)."""
    tls_cfg = tmp_path / "tls.cfg"
    tls_cfg.write_text("")
    cfg = tmp_path / "kamailio.cfg"
    cfg.write_text(
        render_config(
            opts, host="127.0.0.1", sip_port=5999, tls_port=5998,
            ctl_socket=tmp_path / "ctl", tls_config=tls_cfg,
        )
    )  # fmt: skip
    result = subprocess.run(
        ["kamailio", "-c", "-f", str(cfg)], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0, result.stderr[-3000:]
    text = cfg.read_text()
    assert ("route(PROXYAUTH);" in text) is opts.challenge_invites
    assert f'modparam("auth", "algorithm", "{opts.algorithm}")' in text


def test_refuse_refer_answers_every_refer_before_routing(tmp_path: Path) -> None:
    where = {"host": "127.0.0.1", "sip_port": 5999, "tls_port": 5998,
             "ctl_socket": tmp_path / "ctl", "tls_config": None}  # fmt: skip
    plain = render_config(KamailioOptions(transports=("udp",)), **where)  # type: ignore[arg-type]
    refusing = render_config(
        KamailioOptions(refuse_refer=True, transports=("udp",)),
        **where,  # type: ignore[arg-type]
    )
    assert "REFER refused" not in plain
    before = refusing.index('sl_send_reply("403", "REFER not allowed")')
    assert before < refusing.index("if (has_totag())")  # in a dialog too
