"""The health check: an OPTIONS probe to the local gateway, configured from the environment."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from sipgw.app.evaluation.ports import free_port
from sipgw.app.healthcheck import main as healthcheck
from sipgw.app.healthcheck import probe
from tests.toolkit.gateway_in_process import running_gateway


def test_a_bad_setting_is_named(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SIPGW_SIP_PORT", "http")
    assert healthcheck() == 1
    err = capsys.readouterr().err
    assert "healthcheck: error: SIPGW_SIP_PORT=http: must be a port number" in err
    monkeypatch.setenv("SIPGW_SIP_PORT", "5060")
    monkeypatch.setenv("SIPGW_TRANSPORTS", "tls")
    monkeypatch.setenv("SIPGW_TLS_CERT", "")
    assert healthcheck() == 1  # TLS without a certificate: no gateway runs like that


@pytest.mark.usefixtures("environ")
def test_the_settings_file_gives_the_port_under_the_environment(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "sipgw.toml").write_text('[network]\nsip_port = "http"\n[assistant]\nx = 1\n')
    assert healthcheck() == 1  # (the [assistant] table is not the health check's business)
    assert capsys.readouterr().err == (
        "healthcheck: error: sipgw.toml line 2: network.sip_port = 'http': must be a port "
        "number 0..65535\n"
    )
    port = free_port()
    (tmp_path / "sipgw.toml").write_text(f"[network]\nsip_port = {port}\n")
    assert healthcheck() == 1  # nobody answers on the file's port
    assert f"OPTIONS sip:127.0.0.1:{port} over UDP -> no answer" in capsys.readouterr().out


def test_nobody_answering_is_a_failure() -> None:
    assert probe("127.0.0.1", free_port(), timeout=0.3) is None


@pytest.mark.parametrize("transports", [("UDP", "TCP"), ("TCP",)])
async def test_it_probes_over_udp_or_else_tcp(
    transports: tuple[str, ...], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    async with running_gateway(transports=transports) as (gateway, _):
        port = gateway.sip.listening[0][2]
        monkeypatch.setenv("SIPGW_SIP_PORT", str(port))
        monkeypatch.setenv("SIPGW_TRANSPORTS", ",".join(t.lower() for t in transports))
        monkeypatch.setenv("SIPGW_HEALTHCHECK_HOST", "127.0.0.1")
        status = await asyncio.to_thread(healthcheck)
    assert status == 0
    assert f"over {transports[0]} -> 200" in capsys.readouterr().out
