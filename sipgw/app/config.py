"""Gateway settings: one registry feeds the CLI, the environment, ``.env`` and the docs.

Precedence, highest first: command-line flag, environment variable, the
``.env`` file (``--env-file``, default ``./.env`` when it exists), default.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any

__all__ = ["SETTINGS", "ConfigError", "GatewayConfig", "Setting", "load_config"]


class ConfigError(Exception):
    """A setting has a value we cannot use; the message names the setting."""


def _port(text: str) -> int:
    value = int(text)
    if not 0 <= value <= 65535:
        raise ValueError("must be 0..65535")
    return value


def _port_range(text: str) -> tuple[int, int]:
    low_text, sep, high_text = text.partition("-")
    if not sep:
        raise ValueError("must look like LO-HI, e.g. 10000-20000")
    low, high = int(low_text), int(high_text)
    if not (1024 <= low < high <= 65535) or high - low < 1:
        raise ValueError("must be LO-HI with 1024 <= LO < HI <= 65535")
    return low, high


def _ip(text: str) -> str:
    return str(ipaddress.ip_address(text.strip()))


def _agent(text: str) -> str:
    value = text.strip().lower()
    if value not in ("echo", "assistant"):
        raise ValueError("must be 'echo' or 'assistant'")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if value < 0:
        raise ValueError("must be >= 0")
    return value


def _optional_int(text: str) -> int | None:
    if text.strip() in ("", "0", "none", "unlimited"):
        return None
    value = int(text)
    if value < 1:
        raise ValueError("must be a positive number or 0 for no limit")
    return value


def _log_level(text: str) -> str:
    value = text.strip().upper()
    if value not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise ValueError("must be DEBUG, INFO, WARNING or ERROR")
    return value


@dataclass(frozen=True, slots=True)
class Setting:
    """One setting: its attribute, flag, environment variable, default and help."""

    attr: str
    env: str
    flag: str | None
    default: str
    help: str
    parse: Callable[[str], Any]
    metavar: str | None = None


SETTINGS: tuple[Setting, ...] = (
    Setting("bind", "SIPGW_BIND", "--bind", "0.0.0.0",
            "Local address for the SIP and RTP sockets.", _ip, "ADDR"),
    Setting("sip_port", "SIPGW_SIP_PORT", "--sip-port", "5060",
            "UDP port for SIP; 0 picks a free port (printed at start).", _port, "N"),
    Setting("rtp_ports", "SIPGW_RTP_PORTS", "--rtp-ports", "10000-20000",
            "UDP port range for RTP; each call takes an even port and the odd one above "
            "it (RTCP).", _port_range, "LO-HI"),
    Setting("public_ip", "SIPGW_PUBLIC_IP", "--public-ip", "",
            "Address peers reach us at, written into Via, Contact and SDP. Default: the "
            "bind address, or the address of the default route when binding 0.0.0.0 "
            "(behind NAT, set the public address).",
            _ip, "ADDR"),
    Setting("agent", "SIPGW_AGENT", "--agent", "echo",
            "Who answers: 'echo' plays the caller back (line check, no keys needed); "
            "'assistant' is the AI agent.", _agent, "NAME"),
    Setting("echo_delay_ms", "SIPGW_ECHO_DELAY_MS", "--echo-delay-ms", "500",
            "How long the echo agent waits before playing the caller back, ms.",
            lambda t: int(_positive_float(t)), "MS"),
    Setting("ring_time", "SIPGW_RING_TIME", "--ring-time", "0",
            "Seconds to ring (180) before answering.", _positive_float, "S"),
    Setting("rtp_timeout", "SIPGW_RTP_TIMEOUT", "--rtp-timeout", "30",
            "Hang up (BYE) when no RTP arrives for this many seconds; 0 disables. Not "
            "applied while the caller has the call on hold (a=inactive).",
            _positive_float, "S"),
    Setting("max_call_seconds", "SIPGW_MAX_CALL_SECONDS", "--max-call-seconds", "0",
            "Hang up (BYE) calls that last longer than this; 0 = no limit.",
            _positive_float, "S"),
    Setting("max_calls", "SIPGW_MAX_CALLS", "--max-calls", "0",
            "Concurrent calls before new INVITEs get 503; 0 = no limit.", _optional_int, "N"),
    Setting("jitter_min_ms", "SIPGW_JITTER_MIN_MS", "--jitter-min-ms", "40",
            "Jitter buffer: audio held before playout starts and lowest adaptive delay, ms.",
            lambda t: int(_positive_float(t)), "MS"),
    Setting("jitter_max_ms", "SIPGW_JITTER_MAX_MS", "--jitter-max-ms", "300",
            "Jitter buffer: highest adaptive delay, ms.",
            lambda t: int(_positive_float(t)), "MS"),
    Setting("stats_interval", "SIPGW_STATS_INTERVAL", "--stats-interval", "0",
            "Log a 'stats {json}' line this often (seconds): calls, tick lateness, RTP "
            "counts, loss, tasks, memory; 0 = off.", _positive_float, "S"),
    Setting("log_level", "SIPGW_LOG_LEVEL", "--log-level", "INFO",
            "DEBUG, INFO, WARNING or ERROR (logs go to stderr).", _log_level, "LEVEL"),
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class GatewayConfig:
    """The gateway's resolved settings (see :data:`SETTINGS` for each one)."""

    bind: str = "0.0.0.0"
    sip_port: int = 5060
    rtp_ports: tuple[int, int] = (10000, 20000)
    public_ip: str = ""
    agent: str = "echo"
    echo_delay_ms: int = 500
    ring_time: float = 0.0
    rtp_timeout: float = 30.0
    max_call_seconds: float = 0.0
    max_calls: int | None = None
    jitter_min_ms: int = 40
    jitter_max_ms: int = 300
    stats_interval: float = 0.0
    log_level: str = "INFO"
    env: Mapping[str, str] = field(default_factory=dict, repr=False)
    """The merged environment (process environment over ``.env``), for agent settings."""


def load_config(flags: Mapping[str, str | None], environ: Mapping[str, str]) -> GatewayConfig:
    """Resolve every setting from flags (attr -> text or None) and the environment.

    Raises:
        ConfigError: a value does not parse; the message names flag and variable.
    """
    values: dict[str, Any] = {}
    for setting in SETTINGS:
        text = flags.get(setting.attr)
        source = setting.flag or setting.env
        if text is None:
            text = environ.get(setting.env)
            source = setting.env
        if text is None or (text == "" and setting.attr == "public_ip"):
            text = setting.default
        if text == "" and setting.attr == "public_ip":
            values[setting.attr] = ""
            continue
        try:
            values[setting.attr] = setting.parse(text)
        except ValueError as exc:
            raise ConfigError(f"{source}={text!r}: {exc}") from None
    config = GatewayConfig(**values, env=dict(environ))
    if config.jitter_min_ms > config.jitter_max_ms:
        raise ConfigError("SIPGW_JITTER_MIN_MS must not exceed SIPGW_JITTER_MAX_MS")
    names = {f.name for f in fields(GatewayConfig)}
    assert all(s.attr in names for s in SETTINGS)
    return config
