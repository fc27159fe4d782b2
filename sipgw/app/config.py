"""The gateway's own configuration: SIP, RTP, jitter buffer, call limits, stats, logging.

What answers the calls, and how, is not here: the agent's choice and each
agent's settings are their own typed objects (see :mod:`sipgw.app.agents`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from sipgw.app.settings import ConfigError, SettingValues

__all__ = ["DEFAULT_DRAIN_GOODBYE", "GatewayConfig", "load_gateway_config"]

DEFAULT_DRAIN_GOODBYE = "We need to end this call now. Please call back in a moment. Goodbye."
"""What each call's agent says when the drain limit passes (``SIPGW_DRAIN_GOODBYE``)."""


@dataclass(frozen=True, slots=True)
class GatewayConfig:
    """The gateway's resolved settings (``GATEWAY`` in :mod:`sipgw.app.settings_registry`)."""

    bind: str = "0.0.0.0"
    """Local address of the SIP and RTP sockets."""
    sip_port: int = 5060
    """UDP and TCP port for SIP; 0 = any free port."""
    transports: tuple[str, ...] = ("UDP", "TCP")
    """Transports to listen on (upper case)."""
    tls_port: int = 5061
    """TLS port for SIP; 0 = any free port."""
    tls_cert: str = ""
    """Our certificate chain (PEM file); required with TLS."""
    tls_key: str = ""
    """Its private key (PEM file); required with TLS."""
    tls_ca: str = ""
    """CA file to verify servers we connect to over TLS; "" = system CAs."""
    tcp_idle_timeout: float = 300.0
    """Seconds before an unused, quiet TCP/TLS connection is closed; 0 = never."""
    sip_t1: float = 0.5
    """SIP timer T1 (RFC 3261 §17.1.1.1), seconds; the transaction timeouts are 64*T1."""
    rtp_ports: tuple[int, int] = (10000, 20000)
    """The RTP port range, low and high."""
    public_ip: str = ""
    """Our address in Via, Contact and SDP; "" = the bind address."""
    ring_time: float = 0.0
    """Seconds to ring before answering."""
    rtp_timeout: float = 30.0
    """Hang up after this many seconds without RTP (not while on hold); 0 = never."""
    max_call_seconds: float = 3600.0
    """Hang up answered calls after this many seconds; 0 = no limit."""
    drain_seconds: float = 300.0
    """After SIGTERM, how long running calls may go on before they are hung up."""
    drain_goodbye: str = DEFAULT_DRAIN_GOODBYE
    """What each call's agent says when the drain limit passes, before the BYE; "" = nothing."""
    max_calls: int | None = None
    """Concurrent calls before INVITEs get 503; None = no limit."""
    jitter_min_ms: int = 40
    """The jitter buffer's start and lowest delay."""
    jitter_max_ms: int = 300
    """The jitter buffer's highest delay."""
    stats_interval: float = 0.0
    """Seconds between ``stats {json}`` log lines; 0 = none."""
    log_level: str = "INFO"
    """The logging level name."""
    log_format: str = "text"
    """``text`` or ``json`` (:mod:`sipgw.app.logformat`)."""
    record_dir: str = ""
    """Where calls are recorded as WAV files; "" = not recorded (:mod:`sipgw.app.recording`)."""
    record_retention_days: float = 30.0
    """Recordings older than this many days are deleted; 0 = kept."""
    srtp: str = "tls-only"
    """When calls use SRTP (``SIPGW_SRTP``, :class:`sipgw.sdes.SrtpPolicy`)."""


def load_gateway_config(values: SettingValues) -> GatewayConfig:
    """The gateway's settings from the registry.

    Raises:
        ConfigError: a value does not parse, or the values contradict each other.
    """
    config = GatewayConfig(
        bind=values["SIPGW_BIND"],
        sip_port=values["SIPGW_SIP_PORT"],
        transports=values["SIPGW_TRANSPORTS"],
        tls_port=values["SIPGW_TLS_PORT"],
        tls_cert=values["SIPGW_TLS_CERT"],
        tls_key=values["SIPGW_TLS_KEY"],
        tls_ca=values["SIPGW_TLS_CA"],
        tcp_idle_timeout=values["SIPGW_TCP_IDLE_TIMEOUT"],
        sip_t1=values["SIPGW_SIP_T1"],
        rtp_ports=values["SIPGW_RTP_PORTS"],
        public_ip=values["SIPGW_PUBLIC_IP"],
        ring_time=values["SIPGW_RING_TIME"],
        rtp_timeout=values["SIPGW_RTP_TIMEOUT"],
        max_call_seconds=values["SIPGW_MAX_CALL_SECONDS"],
        max_calls=values["SIPGW_MAX_CALLS"],
        drain_seconds=values["SIPGW_DRAIN_SECONDS"],
        drain_goodbye=values["SIPGW_DRAIN_GOODBYE"],
        jitter_min_ms=values["SIPGW_JITTER_MIN_MS"],
        jitter_max_ms=values["SIPGW_JITTER_MAX_MS"],
        stats_interval=values["SIPGW_STATS_INTERVAL"],
        log_level=values["SIPGW_LOG_LEVEL"],
        log_format=values["SIPGW_LOG_FORMAT"],
        record_dir=values["SIPGW_RECORD_DIR"],
        record_retention_days=values["SIPGW_RECORD_RETENTION_DAYS"],
        srtp=values["SIPGW_SRTP"],
    )
    if config.jitter_min_ms > config.jitter_max_ms:
        raise ConfigError("SIPGW_JITTER_MIN_MS must not exceed SIPGW_JITTER_MAX_MS")
    _check_tls_files(config)
    return config


def _check_tls_files(config: GatewayConfig) -> None:
    """TLS needs a certificate and key; every TLS file named must exist."""
    if "TLS" in config.transports:
        for name, value in (("SIPGW_TLS_CERT", config.tls_cert), ("SIPGW_TLS_KEY", config.tls_key)):
            if not value:
                raise ConfigError(f"{name} is required when SIPGW_TRANSPORTS includes tls")
    for name, value in (
        ("SIPGW_TLS_CERT", config.tls_cert),
        ("SIPGW_TLS_KEY", config.tls_key),
        ("SIPGW_TLS_CA", config.tls_ca),
    ):
        if value and not os.path.isfile(value):
            raise ConfigError(f"{name}: no such file {value!r}")
