"""The gateway's own settings sections: the agent, network and transports, calls and media,
operations, the worker processes, the health check.

Three sections (:class:`NetworkSection`, :class:`CallSection`, :class:`OperationsSection`)
declare the gateway's settings; :class:`GatewayConfig` inherits the fields of all three, so
the gateway reads ``config.bind``, ``config.max_calls``, ``config.log_level`` from one
object, and an embedder builds one with keyword defaults (``GatewayConfig(sip_port=0)``).
:class:`AgentSection` chooses what answers the calls (:mod:`sipgw.app.agents` finds it; each
agent's settings are its own sections), :class:`WorkersSection` how many processes
``sipgw serve`` runs (:mod:`sipgw.app.workers`), :class:`HealthcheckSection` where
``python -m sipgw.app.healthcheck`` probes. The features of sipgw's own packages declare
theirs in their ``settings.py`` (``security/settings.py``, ``upstream/settings.py`` ...).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sipgw.foundation.settings import ConfigError, InvalidSettings, section, setting
from sipgw.foundation.settings.parsers import (
    choice,
    float_range,
    int_at_least,
    ip_address,
    log_level,
    milliseconds,
    non_negative,
    optional_file,
    optional_int,
    optional_ip_address,
    port,
    port_range,
    shared_rtp_port,
    text,
)
from sipgw.foundation.settings.tomlfile import Place

__all__ = [
    "BUILTIN_AGENTS",
    "DEFAULT_DRAIN_GOODBYE",
    "DEFAULT_MAX_CALLS",
    "INBAND_DTMF_MODES",
    "SRTP_POLICIES",
    "TRANSPORTS",
    "AgentSection",
    "CallSection",
    "GatewayConfig",
    "HealthcheckSection",
    "inband_dtmf_mode",
    "NetworkSection",
    "OperationsSection",
    "WorkersSection",
    "agent_spec",
    "shared_pair_in_range",
]

DEFAULT_DRAIN_GOODBYE = "We need to end this call now. Please call back in a moment. Goodbye."
"""What each call's agent says when the drain limit passes (``SIPGW_DRAIN_GOODBYE``)."""

TRANSPORTS = ("udp", "tcp", "tls")
"""The ``SIPGW_TRANSPORTS`` choices."""

DEFAULT_MAX_CALLS: int | None = 100
"""Concurrent calls per process by default (``SIPGW_MAX_CALLS``): well under what one
core holds (300 assistant calls, docs/performance.md) and what a paid AssemblyAI account
opens a minute (100 new streams), so a flood of admitted calls stops there."""

INBAND_DTMF_MODES = ("auto", "on", "off")
"""The ``SIPGW_INBAND_DTMF`` choices (:data:`sipgw.media.tones.dtmf_detect.DETECT_MODES`)."""

SRTP_POLICIES = ("tls-only", "tls-required", "allow-insecure", "off")
"""The ``SIPGW_SRTP`` choices (:class:`sipgw.sip.sdes.SrtpPolicy`)."""


def transports(value: str) -> tuple[str, ...]:
    """``udp,tcp`` -> ``("UDP", "TCP")``: at least one of udp, tcp, tls, no repeats."""
    names = [name.strip().lower() for name in value.split(",") if name.strip()]
    if not names:
        raise ValueError("must name at least one of udp, tcp, tls")
    for name in names:
        if name not in TRANSPORTS:
            raise ValueError(f"unknown transport {name!r}: must be udp, tcp or tls")
    return tuple(dict.fromkeys(name.upper() for name in names))


_PEER_NAME = re.compile(r"[a-z0-9]([a-z0-9.:-]*[a-z0-9])?")


def peer_names(value: str) -> tuple[str, ...]:
    """``SBC1.example.com, sbc2.example.com`` -> lower-cased host names (or IP addresses) a
    TLS peer's certificate may carry, no repeats; matched exactly (no wildcards)."""
    names = [name.strip().lower() for name in value.split(",") if name.strip()]
    for name in names:
        if not _PEER_NAME.fullmatch(name):
            raise ValueError(f"{name!r} is not a host name (e.g. sbc.example.com)")
    return tuple(dict.fromkeys(names))


def codecs(value: str) -> tuple[str, ...]:
    """``g722,pcmu`` -> ``("G722", "PCMU")``: codecs we carry, no repeats."""
    from sipgw.app.codecs import codec_list  # at parse time only: --help stays light

    return codec_list(value)


def inband_dtmf_mode(table: Mapping[str, Any], place: Place) -> str | None:
    """A routes-file line's or an account's ``inband_dtmf``: ``auto``, ``on`` or ``off`` (as
    ``SIPGW_INBAND_DTMF``); None when absent.

    Raises:
        ConfigError: another value, naming where it is.
    """
    if "inband_dtmf" not in table:
        return None
    value = table["inband_dtmf"]
    mode = value.strip().lower() if isinstance(value, str) else ""
    if mode not in INBAND_DTMF_MODES:
        raise ConfigError(
            f"{place('inband_dtmf')}: inband_dtmf must be one of {', '.join(INBAND_DTMF_MODES)}"
        )
    return mode


def header_value(value: str) -> str:
    """A SIP header value: one line of printable characters, at most 128; "" = none."""
    value = value.strip()
    if len(value) > 128 or not value.isprintable():
        raise ValueError("must be one line of printable characters, at most 128")
    return value


def sdp_username(value: str) -> str:
    """An SDP ``o=`` user name: one word without blanks (RFC 4566 §5.2); ``-`` = none."""
    value = value.strip()
    if not value or len(value) > 64 or not value.isprintable() or " " in value:
        raise ValueError("must be one word of printable characters (at most 64), or -")
    return value


def sdp_session_name(value: str) -> str:
    """An SDP ``s=`` text: one non-empty line (RFC 4566 §5.3); ``-`` = none."""
    value = value.strip()
    if not value or len(value) > 128 or not value.isprintable():
        raise ValueError("must be one line of printable characters (at most 128), or -")
    return value


def shared_pair_in_range(port: int, rtp_ports: tuple[int, int]) -> bool:
    """Whether the shared RTP port or the RTCP port above it is in the per-call range."""
    low, high = rtp_ports
    return low <= port + 1 and port <= high


@section(
    "network",
    title="Network and transports",
    intro="Where the gateway listens and how peers reach it: SIP over UDP, TCP and TLS, "
    "and the RTP ports. Every one is also a flag of `sipgw serve`.",
)
@dataclass(frozen=True)
class NetworkSection:
    """Addresses, ports and SIP transports."""

    public_ip: str = setting(
        "", env="SIPGW_PUBLIC_IP", flag="--public-ip", metavar="ADDR", first=True,
        parse=optional_ip_address, default_doc="auto",
        help="Address peers reach us at, written into Via, Contact and SDP. Default: the bind "
        "address, or the address of the default route when binding 0.0.0.0 (behind NAT, set "
        "the public address).",
    )  # fmt: skip
    sip_port: int = setting(
        5060, env="SIPGW_SIP_PORT", flag="--sip-port", metavar="N", parse=port, first=True,
        help="UDP and TCP port for SIP; 0 picks a free port (printed at start).",
    )  # fmt: skip
    bind: str = setting(
        "0.0.0.0", env="SIPGW_BIND", flag="--bind", metavar="ADDR", parse=ip_address,
        help="Local address for the SIP and RTP sockets.",
    )  # fmt: skip
    rtp_ports: tuple[int, int] = setting(
        (10000, 20000), env="SIPGW_RTP_PORTS", flag="--rtp-ports", metavar="LO-HI",
        parse=port_range, default_text="10000-20000",
        help="UDP port range for RTP; each call takes an even port and the odd one above it "
        "(RTCP).",
    )  # fmt: skip
    rtp_shared_port: int = setting(
        0, env="SIPGW_RTP_SHARED_PORT", flag="--rtp-shared-port", metavar="N",
        parse=shared_rtp_port, default_doc="0 (off)",
        help="Every call's RTP on this one even port (RTCP on the one above) instead of a "
        "pair per call from SIPGW_RTP_PORTS: fewer system calls per packet under load, "
        "25-30 % less CPU per call on the native path (docs/performance.md). Media is then "
        "taken only from the address each call's SDP names, or from a source continuing its "
        "stream (same SSRC): for trunks and PBXs; a caller behind a NAT whose RTP comes from "
        "another address is not heard (docs/security.md). 0 = off.",
    )  # fmt: skip
    transports: tuple[str, ...] = setting(
        ("UDP", "TCP"), env="SIPGW_TRANSPORTS", flag="--transports", metavar="LIST",
        parse=transports, default_text="udp,tcp",
        help="Transports to listen on, comma-separated: udp, tcp, tls. UDP and TCP use the SIP "
        "port; tls needs SIPGW_TLS_CERT and SIPGW_TLS_KEY. We connect out over any of them "
        "whatever is listed.",
    )  # fmt: skip
    tls_port: int = setting(
        5061, env="SIPGW_TLS_PORT", flag="--tls-port", metavar="N", parse=port,
        help="TLS port for SIP; 0 picks a free port (printed at start).",
    )  # fmt: skip
    tls_cert: str = setting(
        "", env="SIPGW_TLS_CERT", flag="--tls-cert", metavar="FILE", parse=optional_file,
        help="Our TLS certificate chain (PEM file), for the TLS listener and offered to "
        "servers that ask for one.",
    )  # fmt: skip
    tls_key: str = setting(
        "", env="SIPGW_TLS_KEY", flag="--tls-key", metavar="FILE", parse=optional_file,
        help="The private key of SIPGW_TLS_CERT (PEM file).",
    )  # fmt: skip
    tls_ca: str = setting(
        "", env="SIPGW_TLS_CA", flag="--tls-ca", metavar="FILE", parse=optional_file,
        help="CA certificates (PEM file) that servers we connect to over TLS must chain to; "
        "empty = the system's CAs. The server's certificate must also name the host of the "
        "URI we connect to.",
    )  # fmt: skip
    tls_peer_ca: str = setting(
        "", env="SIPGW_TLS_PEER_CA", flag="--tls-peer-ca", metavar="FILE", parse=optional_file,
        help="Mutual TLS: CA certificates (PEM file) that peers connecting to our TLS listener "
        "must present a certificate chained to; without one the handshake fails. Empty = "
        "peers are not asked for a certificate. Reloaded when the file changes, like "
        "SIPGW_TLS_CERT and SIPGW_TLS_KEY.",
    )  # fmt: skip
    tls_peer_names: tuple[str, ...] = setting(
        (), env="SIPGW_TLS_PEER_NAMES", flag="--tls-peer-names", metavar="LIST",
        parse=peer_names, default_text="",
        help="With SIPGW_TLS_PEER_CA: the names a peer's certificate must carry one of "
        "(subjectAltName DNS names or SIP URI hosts, else its CN; RFC 5922 §7.1), comma-"
        "separated, e.g. 'sbc1.example.com,sbc2.example.com'. Empty = any certificate the "
        "CA signed.",
    )  # fmt: skip
    tcp_idle_timeout: float = setting(
        300.0, env="SIPGW_TCP_IDLE_TIMEOUT", flag="--tcp-idle-timeout", metavar="S",
        parse=non_negative,
        help="Close a TCP or TLS connection that no call or transaction uses after this many "
        "seconds without traffic; 0 = never.",
    )  # fmt: skip
    sip_t1: float = setting(
        0.5, env="SIPGW_SIP_T1", flag="--sip-t1", metavar="S",
        parse=float_range(0.01, 4.0, " seconds (T2)"),
        help="SIP timer T1 (RFC 3261 §17.1.1.1), the round-trip estimate, seconds: UDP "
        "retransmissions start at T1, and a request nobody answers times out after 64*T1 "
        "(32 s by default), e.g. an INVITE to a dead host or a REGISTER to a registrar that "
        "is down. From 0.01 to 4.",
    )  # fmt: skip
    user_agent: str = setting(
        "", env="SIPGW_USER_AGENT", flag="--user-agent", metavar="TEXT", parse=header_value,
        default_doc="none",
        help="The User-Agent header of our requests (REGISTER, INVITE, BYE, ...) and the "
        "Server header of our responses. Empty: neither header, so nothing names the "
        "software or its version to a scanner; set one for a registrar or trunk that wants "
        "it (e.g. 'acme-voice/2').",
    )  # fmt: skip
    sdp_username: str = setting(
        "-", env="SIPGW_SDP_USERNAME", flag="--sdp-username", metavar="WORD",
        parse=sdp_username,
        help="The user name in our SDP's o= line; '-' = none (RFC 4566 §5.2).",
    )  # fmt: skip
    sdp_session_name: str = setting(
        "-", env="SIPGW_SDP_SESSION_NAME", flag="--sdp-session-name", metavar="TEXT",
        parse=sdp_session_name,
        help="Our SDP's s= line; '-' = none (RFC 4566 §5.3).",
    )  # fmt: skip

    def check(self) -> None:
        """TLS needs a certificate and a key; the shared RTP port is outside the range.

        Raises:
            InvalidSettings: one is not named; the shared port is in the range.
        """
        if self.rtp_shared_port and shared_pair_in_range(self.rtp_shared_port, self.rtp_ports):
            raise InvalidSettings("{rtp_shared_port} must be outside {rtp_ports}")
        if "TLS" in self.transports:
            for name, value in (("tls_cert", self.tls_cert), ("tls_key", self.tls_key)):
                if not value:
                    raise InvalidSettings(
                        f"{{{name}}} is required when {{transports}} includes tls"
                    )
        elif self.tls_peer_ca:
            raise InvalidSettings("{tls_peer_ca} is set but {transports} does not include tls")
        if self.tls_peer_names and not self.tls_peer_ca:
            raise InvalidSettings(
                "{tls_peer_names} needs {tls_peer_ca}: peers are asked for a certificate only "
                "when a CA is set for them"
            )


@section(
    "calls",
    title="Calls and media",
    intro="How calls are answered and held: ringing, time limits, capacity, the jitter buffer "
    "and SRTP. Every one is also a flag of `sipgw serve`.",
)
@dataclass(frozen=True)
class CallSection:
    """Call handling and the media path."""

    ring_time: float = setting(
        0.0, env="SIPGW_RING_TIME", flag="--ring-time", metavar="S", parse=non_negative,
        help="Seconds to ring (180) before answering.",
    )  # fmt: skip
    rtp_timeout: float = setting(
        30.0, env="SIPGW_RTP_TIMEOUT", flag="--rtp-timeout", metavar="S", parse=non_negative,
        help="Hang up (BYE) when the caller has shown no sign of life (RTP, or RTCP about our "
        "stream from a listen-only caller) for this many seconds; 0 disables. Not applied "
        "while no media flows either way (a=inactive).",
    )  # fmt: skip
    rtp_pause_after: float = setting(
        8.0, env="SIPGW_RTP_PAUSE_AFTER", flag="--rtp-pause-after", metavar="S",
        parse=non_negative,
        help="Stop sending RTP after this many seconds without a sign of life from the caller, "
        "until the next one (an SDP can name anyone's address); 0 = never pause. Keep it "
        "above 7.5 s: a listen-only caller reports by RTCP about every 5 s.",
    )  # fmt: skip
    rtp_first_sign: float = setting(
        2.0, env="SIPGW_RTP_FIRST_SIGN", flag="--rtp-first-sign", metavar="S",
        parse=non_negative,
        help="The same, from the answer, while a caller that is to send RTP itself has sent "
        "nothing yet (a phone sends from the answer on): an INVITE from someone who never "
        "sends aims this much at whoever its SDP names. A listen-only caller (a=recvonly) "
        "gets --rtp-pause-after; 0 = --rtp-pause-after for every caller.",
    )  # fmt: skip
    max_call_seconds: float = setting(
        3600.0, env="SIPGW_MAX_CALL_SECONDS", flag="--max-call-seconds", metavar="S",
        parse=non_negative,
        help="Hang up (BYE) calls that last longer than this (every minute of an AI call costs "
        "money); 0 = no limit.",
    )  # fmt: skip
    max_calls: int | None = setting(
        DEFAULT_MAX_CALLS, env="SIPGW_MAX_CALLS", flag="--max-calls", metavar="N",
        parse=optional_int, default_text=str(DEFAULT_MAX_CALLS),
        help="Concurrent calls (per process) before new INVITEs get 503; 0 = no limit. The "
        "default bounds what a flood of admitted calls can spend: set it to what your AI "
        "accounts and the machine hold (docs/performance.md).",
    )  # fmt: skip
    jitter_min_ms: int = setting(
        40, env="SIPGW_JITTER_MIN_MS", flag="--jitter-min-ms", metavar="MS", parse=milliseconds,
        help="Jitter buffer: audio held before playout starts and lowest adaptive delay, ms.",
    )  # fmt: skip
    jitter_max_ms: int = setting(
        300, env="SIPGW_JITTER_MAX_MS", flag="--jitter-max-ms", metavar="MS", parse=milliseconds,
        help="Jitter buffer: highest adaptive delay, ms.",
    )  # fmt: skip
    rtp_read_window_ms: float = setting(
        2.0, env="SIPGW_RTP_READ_WINDOW_MS", flag="--rtp-read-window-ms", metavar="MS",
        parse=non_negative,
        help="Native media path only: each 20 ms tick reads all the calls' RTP that came; "
        "between ticks, while some call's audio is listened to at arrival (speech-to-text, "
        "answering-machine detection), it is read again every this many ms, so that under "
        "load one read serves many calls and a packet waits at most this long (audio that is "
        "only played, e.g. the echo's, is read at the tick that plays it); 0 = read as soon "
        "as anything comes.",
    )  # fmt: skip
    codecs: tuple[str, ...] = setting(
        ("PCMU", "PCMA"), env="SIPGW_CODECS", flag="--codecs", metavar="LIST", parse=codecs,
        default_text="PCMU,PCMA",
        help="Audio codecs calls may use, most preferred first: PCMU, PCMA, G722, OPUS (HD "
        "voice: 16 kHz audio to the agent; OPUS needs the opus extra; docs/hd-voice.md). A "
        "routes-file line's or an account's 'codecs' narrows and reorders them; an account "
        "that sets none keeps G.711 first.",
    )  # fmt: skip
    inband_dtmf: str = setting(
        "auto", env="SIPGW_INBAND_DTMF", flag="--inband-dtmf", metavar="MODE",
        parse=choice(*INBAND_DTMF_MODES),
        help="Key presses sent as tones in the caller's audio (ITU-T Q.23) rather than as RFC "
        "4733 events: 'auto' listens for them on calls whose SDP agreed no telephone-event; "
        "'on' on every call (a carrier that sends tones anyway; a press that also comes as an "
        "event is reported once); 'off' never. A routes-file line's or an account's "
        "'inband_dtmf' sets it for its calls (docs/architecture.md, In-band DTMF).",
    )  # fmt: skip
    srtp: str = setting(
        "tls-only", env="SIPGW_SRTP", flag="--srtp", metavar="POLICY",
        parse=choice(*SRTP_POLICIES),
        help="When calls use SRTP. 'tls-only': SRTP offers are accepted, and our offers are "
        "SRTP, on calls signalled over TLS (plain RTP still accepted there); over UDP/TCP an "
        "RTP/SAVP offer gets 488, since its keys would travel in the clear. 'tls-required': as "
        "tls-only, and a TLS call must use SRTP (a plain RTP offer over TLS gets 488). "
        "'allow-insecure': SRTP offers are accepted over UDP/TCP too (keys readable by anyone "
        "who sees the SIP). 'off': never SRTP.",
    )  # fmt: skip

    def check(self) -> None:
        """The jitter buffer's lowest delay must not exceed its highest.

        Raises:
            InvalidSettings: it does.
        """
        if self.jitter_min_ms > self.jitter_max_ms:
            raise InvalidSettings("{jitter_min_ms} must not exceed {jitter_max_ms}")


@section(
    "operations",
    title="Operations",
    intro="Stopping, logs, statistics and recordings. Every one is also a flag of `sipgw serve`. "
    "Traces are not set here but by OpenTelemetry's own variables (the `otel` extra): "
    "`OTEL_EXPORTER_OTLP_ENDPOINT` (or `OTEL_TRACES_EXPORTER`) turns them on, "
    "`OTEL_SERVICE_NAME` and `OTEL_TRACES_SAMPLER` as the SDK reads them "
    "(docs/operations.md, Traces).",
)
@dataclass(frozen=True)
class OperationsSection:
    """Draining, logging, the stats line, call recordings."""

    drain_seconds: float = setting(
        300.0, env="SIPGW_DRAIN_SECONDS", flag="--drain-seconds", metavar="S",
        parse=non_negative,
        help="On SIGTERM the gateway drains: new INVITEs and OPTIONS probes get 503 while "
        "running calls go on for up to this many seconds; then the rest are hung up (BYE), "
        "accounts unregister, and it exits. A second SIGTERM (or SIGINT) ends at once; "
        "0 = no draining.",
    )  # fmt: skip
    drain_goodbye: str = setting(
        DEFAULT_DRAIN_GOODBYE, env="SIPGW_DRAIN_GOODBYE", flag="--drain-goodbye",
        metavar="TEXT", parse=text,
        help="What each call's agent says when the drain limit passes, before the BYE (the "
        "assistant speaks it; the echo agent says nothing); empty = hang up without it.",
    )  # fmt: skip
    stats_interval: float = setting(
        0.0, env="SIPGW_STATS_INTERVAL", flag="--stats-interval", metavar="S",
        parse=non_negative,
        help="Log a 'stats {json}' line this often (seconds): calls, tick lateness, RTP counts, "
        "loss, tasks, memory; 0 = off.",
    )  # fmt: skip
    log_level: str = setting(
        "INFO", env="SIPGW_LOG_LEVEL", flag="--log-level", metavar="LEVEL", parse=log_level,
        help="DEBUG, INFO, WARNING or ERROR (logs go to stderr); DEBUG logs every SIP message's "
        "first line.",
    )  # fmt: skip
    log_format: str = setting(
        "text", env="SIPGW_LOG_FORMAT", flag="--log-format", metavar="FORMAT",
        parse=choice("text", "json"),
        help="'text' (one readable line per record) or 'json' (one JSON object per line: time, "
        "level, logger, message, a call's Call-ID, the exception); secrets are masked in both.",
    )  # fmt: skip
    record_dir: str = setting(
        "", env="SIPGW_RECORD_DIR", flag="--record-dir", metavar="DIR", parse=text, state=True,
        help="Record every call as a stereo WAV (caller left, agent right) in this directory "
        "(relative: under the state directory; created 0700, files 0600); empty = no "
        "recording. The law may require consent or an "
        "announcement: see docs/logs-and-recordings.md.",
    )  # fmt: skip
    record_retention_days: float = setting(
        30.0, env="SIPGW_RECORD_RETENTION_DAYS", flag="--record-retention-days",
        metavar="DAYS", parse=non_negative,
        help="Delete recordings older than this many days (at start and daily); 0 = keep them.",
    )  # fmt: skip


@dataclass(frozen=True)
class GatewayConfig(NetworkSection, CallSection, OperationsSection):
    """The gateway's configuration: the fields of its three sections in one object.

    Load it with ``load(GatewayConfig, sources)`` (:func:`sipgw.foundation.settings.load`), or
    build it with keywords: ``GatewayConfig(sip_port=0, rtp_timeout=5.0)``.
    """

    def check(self) -> None:
        """Each section's own rules (see theirs)."""
        NetworkSection.check(self)
        CallSection.check(self)


BUILTIN_AGENTS: Mapping[str, str] = {
    "echo": "sipgw.agent.echo.plugin:echo_agent",
    "assistant": "sipgw.agent.assistant.plugin:assistant_agent",
    "voice-agent": "sipgw.agent.s2s.plugin:voice_agent_agent",
    "realtime": "sipgw.agent.s2s.plugin:realtime_agent",
    "twiml": "sipgw.agent.twiml.plugin:twiml_agent",
    "stream": "sipgw.agent.twiml.plugin:stream_agent",
    "srs": "sipgw.agent.srs.plugin:srs_agent",
}
"""Built-in agent name -> its factory function, found as a plug-in's is."""

_NAMES = list(BUILTIN_AGENTS)
_ALLOWED = (
    f"must be {', '.join(_NAMES[:-1])} or {_NAMES[-1]}, or package.module:factory (your own "
    "agent; see docs/writing-an-agent.md)"
)


def agent_spec(value: str) -> str:
    """A built-in agent's name (any case), or ``module:factory`` (module: a dotted name or
    a ``.py`` path)."""
    spec = value.strip()
    if spec.lower() in BUILTIN_AGENTS:
        return spec.lower()
    module, sep, name = spec.rpartition(":")
    if not sep or not module.strip() or not name.isidentifier():
        raise ValueError(_ALLOWED)
    return spec


@section(
    "agent",
    title="Agent",
    intro="Which agent answers the calls: a built-in one, or your own (docs/writing-an-agent.md).",
)
@dataclass(frozen=True)
class AgentSection:
    """The agent's name or plug-in spec."""

    agent: str = setting(
        "echo", env="SIPGW_AGENT", flag="--agent", metavar="NAME", parse=agent_spec, first=True,
        help="Who answers: 'echo' plays the caller back (line check, no keys needed); "
        "'assistant' is the AI agent (speech-to-text, LLM, text-to-speech); 'voice-agent' "
        "(AssemblyAI's Voice Agent API) and 'realtime' (OpenAI's Realtime API) are "
        "speech-to-speech agents; 'twiml' follows an app's Twilio voice webhook "
        "(SIPGW_TWIML_URL) and 'stream' connects each call to a Media Streams WebSocket "
        "(SIPGW_STREAM_URL): apps built for Twilio (docs/twilio-apps.md); 'srs' is a "
        "SIPREC recording server, each participant transcribed (docs/siprec.md); "
        "package.module:factory (or path/to/file.py:factory) is your own "
        "(docs/writing-an-agent.md).",
    )  # fmt: skip


@section(
    "workers",
    title="Worker processes",
    intro="How many gateway processes `sipgw serve` runs; see docs/operations.md (scale-out).",
)
@dataclass(frozen=True)
class WorkersSection:
    """How many workers ``serve`` runs (1 = this process only)."""

    workers: int = setting(
        1, env="SIPGW_WORKERS", flag="--workers", metavar="N", parse=int_at_least(1),
        help="Worker processes to run, each with its own SIP port (SIPGW_SIP_PORT + i, "
        "SIPGW_TLS_PORT + i), its own slice of SIPGW_RTP_PORTS and its own admin port "
        "(SIPGW_ADMIN_PORT + i); a parent restarts a worker that crashes and forwards "
        "SIGTERM/SIGINT to all. 1 = one process, no parent.",
    )  # fmt: skip


@section(
    "healthcheck",
    title="Health check",
    intro="Read by `python -m sipgw.app.healthcheck` (the container's health check), which also "
    "reads `SIPGW_SIP_PORT` and `SIPGW_TRANSPORTS` (it probes over UDP, or TCP without UDP); "
    "from the environment, else from the settings file's [network] and [healthcheck] tables.",
)
@dataclass(frozen=True)
class HealthcheckSection:
    """Where the health check sends its OPTIONS."""

    host: str = setting(
        "127.0.0.1", env="SIPGW_HEALTHCHECK_HOST", parse=text,
        help="Address the health check sends its OPTIONS request to.",
    )  # fmt: skip
