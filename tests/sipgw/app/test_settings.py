"""The gateway's configuration: its three sections, defaults, loading and checks."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

import pytest

from sipgw.app.settings import CallSection, GatewayConfig, NetworkSection, OperationsSection
from sipgw.foundation.settings import ConfigError, Sources, load, section_info


def test_defaults() -> None:
    config = load(GatewayConfig, Sources())
    assert config == GatewayConfig()
    assert config.sip_port == 5060 and config.rtp_ports == (10000, 20000)
    assert config.max_calls == 100 and config.rtp_timeout == 30.0  # a sane cap (issue 21)
    assert config.transports == ("UDP", "TCP") and config.tls_port == 5061
    assert config.tls_ca == "" and config.tcp_idle_timeout == 300.0
    assert config.sip_t1 == 0.5  # RFC 3261's T1
    assert config.srtp == "tls-only" and config.log_level == "INFO"


def test_the_gateway_config_is_its_three_sections() -> None:
    names = {f.name for f in fields(GatewayConfig)}
    parts = [section_info(cls) for cls in (NetworkSection, CallSection, OperationsSection)]
    assert names == {name for info in parts if info for name, _ in info.settings}
    assert GatewayConfig(sip_port=0, rtp_timeout=5.0).sip_port == 0  # keywords, as embedders do


def test_flag_beats_environment_beats_default() -> None:
    config = load(
        GatewayConfig,
        Sources(
            {"SIPGW_SIP_PORT": "5070", "SIPGW_RTP_PORTS": "12000-12100", "SIPGW_MAX_CALLS": "4"},
            {"--sip-port": "5090", "--transports": "tcp, UDP ,tcp"},
        ),
    )
    assert config.sip_port == 5090 and config.rtp_ports == (12000, 12100)
    assert config.max_calls == 4 and config.transports == ("TCP", "UDP")


def test_sip_t1_is_checked() -> None:
    assert load(GatewayConfig, Sources({"SIPGW_SIP_T1": "0.1"})).sip_t1 == 0.1
    for bad in ("0", "5", "soon"):
        with pytest.raises(ConfigError, match="^SIPGW_SIP_T1=.*: must be a number from 0.01 to 4"):
            load(GatewayConfig, Sources({"SIPGW_SIP_T1": bad}))


@pytest.mark.parametrize(
    ("flags", "env", "message"),
    [
        ({"--rtp-ports": "20000"}, {}, "--rtp-ports 20000: must be LO-HI"),
        ({}, {"SIPGW_RTP_PORTS": "200-100"}, "SIPGW_RTP_PORTS=200-100: must be LO-HI"),
        ({"--sip-port": "70000"}, {}, "--sip-port 70000: must be a port number 0..65535"),
        ({"--public-ip": "example.com"}, {}, "--public-ip example.com: must be an IPv4 or IPv6"),
        ({}, {"SIPGW_JITTER_MIN_MS": "400"},
         r"SIPGW_JITTER_MIN_MS=400 must not exceed --jitter-max-ms/SIPGW_JITTER_MAX_MS "
         r"\(default 300\)"),
        ({"--transports": "udp,sctp"}, {}, "--transports udp,sctp: unknown transport 'sctp'"),
        ({"--transports": "udp,tls"}, {},
         "--tls-cert/SIPGW_TLS_CERT is required when --transports udp,tls includes tls"),
        ({"--tls-ca": "/nonexistent/ca.pem"}, {}, "--tls-ca /nonexistent/ca.pem: no such file"),
        ({"--log-level": "loud"}, {}, "--log-level loud: must be DEBUG, INFO, WARNING or ERROR"),
        ({}, {"SIPGW_RTP_SHARED_PORT": "30001"},
         r"SIPGW_RTP_SHARED_PORT=30001: must be 0 \(off\) or an even port 1024..65534"),
        ({"--rtp-shared-port": "12000"}, {},
         r"--rtp-shared-port 12000 must be outside --rtp-ports/SIPGW_RTP_PORTS \(default "
         r"10000-20000\)"),
    ],
)  # fmt: skip
def test_bad_values_name_the_setting(
    flags: dict[str, str], env: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigError, match=f"^{message}"):
        load(GatewayConfig, Sources(env, flags))


def test_tls_needs_a_certificate_and_a_key_that_exist(tmp_path: Path) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert.write_text("x")
    required = "^--tls-key/SIPGW_TLS_KEY is required when --transports tls"
    with pytest.raises(ConfigError, match=required):
        load(GatewayConfig, Sources({}, {"--transports": "tls", "--tls-cert": str(cert)}))
    key.write_text("x")
    flags = {"--transports": "tls", "--tls-cert": str(cert), "--tls-key": str(key)}
    assert load(GatewayConfig, Sources({}, flags)).transports == ("TLS",)


def test_peers_are_asked_for_certificates_only_on_a_tls_listener_with_a_ca(tmp_path: Path) -> None:
    cert, key, ca = (tmp_path / name for name in ("cert.pem", "key.pem", "ca.pem"))
    for path in (cert, key, ca):
        path.write_text("x")
    tls = {"--transports": "tls", "--tls-cert": str(cert), "--tls-key": str(key)}
    not_listening = "^--tls-peer-ca .*ca.pem is set but --transports/SIPGW_TRANSPORTS"
    with pytest.raises(ConfigError, match=not_listening):
        load(GatewayConfig, Sources({}, {"--tls-peer-ca": str(ca)}))
    no_ca = "^--tls-peer-names sbc.example.com needs --tls-peer-ca/SIPGW_TLS_PEER_CA"
    with pytest.raises(ConfigError, match=no_ca):
        load(GatewayConfig, Sources({}, {**tls, "--tls-peer-names": "sbc.example.com"}))
    with pytest.raises(ConfigError, match="'sbc one' is not a host name"):
        load(GatewayConfig, Sources({}, {**tls, "--tls-peer-names": "sbc one"}))
    both = {
        **tls,
        "--tls-peer-ca": str(ca),
        "--tls-peer-names": "SBC.example.com, sbc2.example.com",
    }
    config = load(GatewayConfig, Sources({}, both))
    assert config.tls_peer_ca == str(ca)
    assert config.tls_peer_names == ("sbc.example.com", "sbc2.example.com")
