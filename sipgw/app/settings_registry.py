"""The settings registry: every setting sipgw reads, by section, in one place.

The CLI's flags, the environment variables, ``.env``, the error messages,
``.env.example`` and ``docs/configuration.md`` all come from these rows (tests
keep the two files in step). The loaders turn them into typed objects:
:func:`sipgw.app.config.load_gateway_config` (``GATEWAY``),
:func:`sipgw.app.accounts.load_accounts` (``REGISTRATION``),
:mod:`sipgw.app.agents` (``AGENT``, ``ECHO``),
:mod:`sipgw.app.assistant_settings` (``ASSISTANT``, ``BUILTIN_TOOLS``) and
:mod:`sipgw.app.vendors` (one section per vendor). This module stays cheap to
import (no vendor SDKs): the CLI and the health check read it at start.

Adding a setting: one row here, then read it in the loader of its section, then
regenerate the two files (see :mod:`sipgw.app.settings_doc`). A vendor's
settings are declared with the vendor, in :mod:`sipgw.app.vendors`.
"""

from __future__ import annotations

from collections.abc import Mapping

from agent.settings import (
    DEFAULT_CALLBACK_GREETING,
    DEFAULT_FALLBACK_PHRASE,
    DEFAULT_FILLER_LINES,
    DEFAULT_GOODBYE_LINE,
    DEFAULT_GREETING,
    DEFAULT_TRANSFER_LINE,
)
from sipgw.app.access import allow_from, digest_algorithm
from sipgw.app.config import DEFAULT_DRAIN_GOODBYE
from sipgw.app.floods import limit_action, rate, user_agent_fragments
from sipgw.app.settings import (
    Section,
    Setting,
    SettingValues,
    choice,
    int_at_least,
    ip_address,
    log_level,
    non_negative,
    optional_int,
    optional_ip_address,
    port,
    port_range,
    positive,
    text,
)
from sipgw.app.vendors import LLM_VENDORS, STT_VENDORS, TTS_VENDORS

__all__ = [
    "ACCESS",
    "ADMIN",
    "AGENT",
    "AGENT_NAMES",
    "ASSISTANT",
    "PREEMPTIVE",
    "BUILTIN_TOOLS",
    "CALLER_CONTEXT",
    "CALLBACKS",
    "DIAL",
    "ECHO",
    "FLOODS",
    "GATEWAY",
    "HEALTHCHECK",
    "LIMITS",
    "LLM_NAMES",
    "OUTBOUND",
    "OVERLOAD",
    "PRIVACY",
    "REGISTRATION",
    "SECTIONS",
    "SETTINGS",
    "STT_NAMES",
    "TRANSPORT",
    "TTS_NAMES",
    "VENDOR_SECTIONS",
    "WORKERS",
    "resolve_settings",
]

AGENT_NAMES = ("echo", "assistant")
"""The ``--agent`` choices (:data:`sipgw.app.agents.AGENTS` has one entry each)."""
STT_NAMES = tuple(STT_VENDORS)
"""The ``SIPGW_STT`` choices: the names in :data:`sipgw.app.vendors.STT_VENDORS`."""
LLM_NAMES = tuple(LLM_VENDORS)
"""The ``SIPGW_LLM`` choices: the names in :data:`sipgw.app.vendors.LLM_VENDORS`."""
TTS_NAMES = tuple(TTS_VENDORS)
"""The ``SIPGW_TTS`` choices: the names in :data:`sipgw.app.vendors.TTS_VENDORS`."""
VENDOR_SECTIONS: tuple[Section, ...] = tuple(
    vendor.section for table in (STT_VENDORS, LLM_VENDORS, TTS_VENDORS) for vendor in table.values()
)
"""Each vendor's settings, as :mod:`sipgw.app.vendors` declares them."""


def _ms(value: str) -> int:
    return int(non_negative(value))


SRTP_POLICIES = ("tls-only", "tls-required", "allow-insecure", "off")
"""The ``SIPGW_SRTP`` choices (:class:`sipgw.sdes.SrtpPolicy`)."""


def number_prefixes(value: str) -> tuple[str, ...]:
    """``+1,+44`` -> ``("+1", "+44")``: each a ``+`` and/or digits."""
    prefixes = tuple(part.strip().replace(" ", "") for part in value.split(",") if part.strip())
    for prefix in prefixes:
        if not prefix.lstrip("+").isdigit() or prefix.count("+") > int(prefix.startswith("+")):
            raise ValueError(f"{prefix!r} is not a number prefix (digits, optional leading +)")
    return prefixes


def dial_allow(value: str) -> tuple[str, ...]:
    """``SIPGW_DIAL_ALLOW``: comma-separated SIP URIs and number patterns (sipgw.dialpolicy)."""
    from sipgw.dialpolicy import DialPolicy

    return DialPolicy.parse(value).entries


def callback_uri(value: str) -> str:
    """ "" or a ``sip:``/``sips:`` URI template with ``{number}`` as its user part."""
    from sipgw.dialpolicy import parse_call_template

    template = value.strip()
    if template:
        try:
            parse_call_template(template)
        except ValueError:
            raise ValueError("must be a sip: or sips: URI with {number} as its user part") from None
    return template


def time_zone_name(value: str) -> str:
    """ "" or an IANA time zone name known to this system."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    name = value.strip()
    if name:
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError("unknown time zone (use an IANA name, e.g. Europe/Berlin)") from None
    return name


GATEWAY = Section(
    "gateway",
    "Gateway",
    "SIP, RTP and call handling; every one is also a flag of `sipgw serve`.",
    (
        Setting("SIPGW_BIND", "0.0.0.0", "Local address for the SIP and RTP sockets.",
                ip_address, "--bind", "ADDR"),
        Setting("SIPGW_SIP_PORT", "5060", "UDP and TCP port for SIP; 0 picks a free port "
                "(printed at start).", port, "--sip-port", "N"),
        Setting("SIPGW_RTP_PORTS", "10000-20000", "UDP port range for RTP; each call takes an "
                "even port and the odd one above it (RTCP).", port_range, "--rtp-ports",
                "LO-HI"),
        Setting("SIPGW_PUBLIC_IP", "", "Address peers reach us at, written into Via, Contact "
                "and SDP. Default: the bind address, or the address of the default route when "
                "binding 0.0.0.0 (behind NAT, set the public address).", optional_ip_address,
                "--public-ip", "ADDR", default_doc="auto"),
        Setting("SIPGW_RING_TIME", "0", "Seconds to ring (180) before answering.",
                non_negative, "--ring-time", "S"),
        Setting("SIPGW_RTP_TIMEOUT", "30", "Hang up (BYE) when no RTP arrives for this many "
                "seconds; 0 disables. Not applied while the caller has the call on hold "
                "(a=inactive).", non_negative, "--rtp-timeout", "S"),
        Setting("SIPGW_MAX_CALL_SECONDS", "3600", "Hang up (BYE) calls that last longer than "
                "this (every minute of an AI call costs money); 0 = no limit.", non_negative,
                "--max-call-seconds", "S"),
        Setting("SIPGW_DRAIN_SECONDS", "300", "On SIGTERM the gateway drains: new INVITEs "
                "and OPTIONS probes get 503 while running calls go on for up to this many "
                "seconds; then the rest are hung up (BYE), accounts unregister, and it exits. "
                "A second SIGTERM (or SIGINT) ends at once; 0 = no draining.", non_negative,
                "--drain-seconds", "S"),
        Setting("SIPGW_DRAIN_GOODBYE", DEFAULT_DRAIN_GOODBYE, "What each call's agent says "
                "when the drain limit passes, before the BYE (the assistant speaks it; the "
                "echo agent says nothing); empty = hang up without it.", text,
                "--drain-goodbye", "TEXT"),
        Setting("SIPGW_MAX_CALLS", "0", "Concurrent calls before new INVITEs get 503; "
                "0 = no limit.", optional_int, "--max-calls", "N"),
        Setting("SIPGW_JITTER_MIN_MS", "40", "Jitter buffer: audio held before playout starts "
                "and lowest adaptive delay, ms.", _ms, "--jitter-min-ms", "MS"),
        Setting("SIPGW_JITTER_MAX_MS", "300", "Jitter buffer: highest adaptive delay, ms.",
                _ms, "--jitter-max-ms", "MS"),
        Setting("SIPGW_STATS_INTERVAL", "0", "Log a 'stats {json}' line this often (seconds): "
                "calls, tick lateness, RTP counts, loss, tasks, memory; 0 = off.",
                non_negative, "--stats-interval", "S"),
        Setting("SIPGW_LOG_LEVEL", "INFO", "DEBUG, INFO, WARNING or ERROR (logs go to "
                "stderr); DEBUG logs every SIP message's first line.", log_level,
                "--log-level", "LEVEL"),
        Setting("SIPGW_LOG_FORMAT", "text", "'text' (one readable line per record) or 'json' "
                "(one JSON object per line: time, level, logger, message, a call's Call-ID, "
                "the exception); secrets are masked in both.", choice("text", "json"),
                "--log-format", "FORMAT"),
        Setting("SIPGW_RECORD_DIR", "", "Record every call as a stereo WAV (caller left, agent "
                "right) in this directory (created 0700, files 0600); empty = no recording. "
                "The law may require consent or an announcement: see "
                "docs/logs-and-recordings.md.", text, "--record-dir", "DIR"),
        Setting("SIPGW_RECORD_RETENTION_DAYS", "30", "Delete recordings older than this many "
                "days (at start and daily); 0 = keep them.", non_negative,
                "--record-retention-days", "DAYS"),
        Setting("SIPGW_SRTP", "tls-only", "When calls use SRTP. 'tls-only': SRTP offers "
                "are accepted, and our offers are SRTP, on calls signalled over TLS (plain RTP "
                "still accepted there); over UDP/TCP an RTP/SAVP offer gets 488, since its keys "
                "would travel in the clear. 'tls-required': as tls-only, and a TLS call must use "
                "SRTP (a plain RTP offer over TLS gets 488). 'allow-insecure': SRTP offers are "
                "accepted over UDP/TCP too (keys readable by anyone who sees the SIP). 'off': "
                "never SRTP.", choice(*SRTP_POLICIES), "--srtp", "POLICY"),
    ),
)  # fmt: skip

TRANSPORTS = ("udp", "tcp", "tls")
"""The ``SIPGW_TRANSPORTS`` choices."""


def _transports(value: str) -> tuple[str, ...]:
    names = [name.strip().lower() for name in value.split(",") if name.strip()]
    if not names:
        raise ValueError("must name at least one of udp, tcp, tls")
    for name in names:
        if name not in TRANSPORTS:
            raise ValueError(f"unknown transport {name!r}: must be udp, tcp or tls")
    return tuple(dict.fromkeys(name.upper() for name in names))


def _sip_t1(value: str) -> float:
    number = float(value)
    if not 0.01 <= number <= 4.0:
        raise ValueError("must be from 0.01 to 4 seconds (T2)")
    return number


TRANSPORT = Section(
    "transport",
    "Transports",
    "SIP over UDP, TCP and TLS; every one is also a flag of `sipgw serve`.",
    (
        Setting("SIPGW_TRANSPORTS", "udp,tcp", "Transports to listen on, comma-separated: udp, "
                "tcp, tls. UDP and TCP use the SIP port; tls needs SIPGW_TLS_CERT and "
                "SIPGW_TLS_KEY. We connect out over any of them whatever is listed.",
                _transports, "--transports", "LIST"),
        Setting("SIPGW_TLS_PORT", "5061", "TLS port for SIP; 0 picks a free port (printed at "
                "start).", port, "--tls-port", "N"),
        Setting("SIPGW_TLS_CERT", "", "Our TLS certificate chain (PEM file), for the TLS "
                "listener and offered to servers that ask for one.", flag="--tls-cert",
                metavar="FILE"),
        Setting("SIPGW_TLS_KEY", "", "The private key of SIPGW_TLS_CERT (PEM file).",
                flag="--tls-key", metavar="FILE"),
        Setting("SIPGW_TLS_CA", "", "CA certificates (PEM file) that servers we connect to "
                "over TLS must chain to; empty = the system's CAs. The server's certificate "
                "must also name the host of the URI we connect to.", flag="--tls-ca",
                metavar="FILE"),
        Setting("SIPGW_TCP_IDLE_TIMEOUT", "300", "Close a TCP or TLS connection that no call "
                "or transaction uses after this many seconds without traffic; 0 = never.",
                non_negative, "--tcp-idle-timeout", "S"),
        Setting("SIPGW_SIP_T1", "0.5", "SIP timer T1 (RFC 3261 §17.1.1.1), the round-trip "
                "estimate, seconds: UDP retransmissions start at T1, and a request nobody "
                "answers times out after 64*T1 (32 s by default), e.g. an INVITE to a dead "
                "host or a REGISTER to a registrar that is down. From 0.01 to 4.", _sip_t1,
                "--sip-t1", "S"),
    ),
)  # fmt: skip


def _message_size(value: str) -> int:
    number = int(value)
    if not 1024 <= number <= 1 << 20:
        raise ValueError("must be a whole number from 1024 to 1048576")
    return number


LIMITS = Section(
    "limits",
    "Limits",
    "Bounds on what one peer can make the gateway parse, buffer or hold open (hostile input; "
    "see docs/security.md). Every one is also a flag of `sipgw serve`.",
    (
        Setting("SIPGW_MAX_MESSAGE_SIZE", "65535", "The largest SIP message parsed, in octets "
                "(1024-1048576); a larger request gets 513 Message Too Large. UDP datagrams "
                "over 65535 octets are dropped unread.", _message_size,
                "--max-message-size", "N"),
        Setting("SIPGW_MAX_BODY_SIZE", "32768", "The largest SIP body, in octets; a request "
                "with a larger one gets 413 (over TCP/TLS the connection is then closed).",
                int_at_least(0), "--max-body-size", "N"),
        Setting("SIPGW_MAX_HEADER_FIELDS", "256", "The most header lines in one SIP message; "
                "a request with more gets 513.", int_at_least(16), "--max-header-fields", "N"),
        Setting("SIPGW_TCP_MESSAGE_TIMEOUT", "10", "Close a TCP or TLS connection whose "
                "message has not arrived whole this many seconds after its first octet (a "
                "slow sender); 0 = no limit.", non_negative, "--tcp-message-timeout", "S"),
        Setting("SIPGW_TLS_HANDSHAKE_TIMEOUT", "10", "Close a TLS connection whose handshake "
                "has not finished after this many seconds.", positive,
                "--tls-handshake-timeout", "S"),
        Setting("SIPGW_TCP_MAX_PER_SOURCE", "32", "TCP and TLS connections one IP address may "
                "have open to us; more are closed at once. 0 = no limit.", int_at_least(0),
                "--tcp-max-per-source", "N"),
        Setting("SIPGW_TCP_MAX_CONNECTIONS", "1024", "TCP and TLS connections peers may have "
                "open to us in all; more are closed at once. 0 = no limit.", int_at_least(0),
                "--tcp-max-connections", "N"),
    ),
)  # fmt: skip

ACCESS = Section(
    "access",
    "Who may call",
    "Which INVITEs may start a call; see docs/security.md. Every one is also a flag of "
    "`sipgw serve`.",
    (
        Setting("SIPGW_ALLOW_FROM", "", "Sources admitted without credentials: comma-separated "
                "IP addresses, CIDRs (IPv4 or IPv6) and host names (resolved at start), or "
                "'any'. Empty: the registrar's and outbound proxy's addresses when an account "
                "or proxy is configured, nobody when only inbound credentials are, else (a lab) "
                "anyone. Others get 401 (with inbound credentials) or 403.", allow_from,
                "--allow-from", "LIST", default_doc="auto"),
        Setting("SIPGW_INBOUND_USERNAME", "", "User name a caller from elsewhere authenticates "
                "with (digest, RFC 8760); needs SIPGW_INBOUND_PASSWORD.", flag="--inbound-username",
                metavar="NAME"),
        Setting("SIPGW_INBOUND_PASSWORD", "", "That user's password (prefer the environment or "
                ".env to the flag, which other local users can see).", str,
                "--inbound-password", "SECRET", secret=True),
        Setting("SIPGW_INBOUND_USERS_FILE", "", "File of inbound users, one 'name:password' per "
                "line ('#' starts a comment), in addition to SIPGW_INBOUND_USERNAME.",
                flag="--inbound-users-file", metavar="PATH"),
        Setting("SIPGW_INBOUND_REALM", "sipgw", "The digest realm callers see in the challenge "
                "(a softphone's 'domain' or 'realm' field).", flag="--inbound-realm",
                metavar="REALM"),
        Setting("SIPGW_INBOUND_ALGORITHM", "MD5", "Digest algorithm of the challenge: MD5 "
                "(every phone) or SHA-256 (RFC 8760).", digest_algorithm,
                "--inbound-algorithm", "NAME"),
    ),
)  # fmt: skip

FLOODS = Section(
    "floods",
    "Rate limits",
    "Floods and scanners: per-source limits checked before a request creates anything, and "
    "limits on new calls; see docs/security.md. Rates are RATE:BURST (per second, and how many "
    "at once after a quiet spell); 0 = no limit. Every one is also a flag of `sipgw serve`.",
    (
        Setting("SIPGW_RATE_INVITE", "5:10", "INVITEs per second from one source address.",
                rate, "--rate-invite", "RATE:BURST"),
        Setting("SIPGW_RATE_REGISTER", "2:5", "REGISTERs per second from one source address.",
                rate, "--rate-register", "RATE:BURST"),
        Setting("SIPGW_RATE_OPTIONS", "5:10", "OPTIONS per second from one source address.",
                rate, "--rate-options", "RATE:BURST"),
        Setting("SIPGW_RATE_OTHER", "20:40", "Other requests (BYE, CANCEL, INFO, unparsable "
                "ones...) per second from one source address.", rate, "--rate-other",
                "RATE:BURST"),
        Setting("SIPGW_RATE_LIMIT_ACTION", "503", "What a request over its source's limit gets: "
                "'503' (503 with Retry-After, at most once per Retry-After period per source, "
                "later ones dropped) or 'drop' (nothing).", limit_action, "--rate-limit-action",
                "503|drop"),
        Setting("SIPGW_RETRY_AFTER", "5", "Seconds in the Retry-After of a rate-limit 503.",
                int_at_least(1), "--retry-after", "S"),
        Setting("SIPGW_RATE_SOURCES", "10000", "Source addresses tracked at most (least "
                "recently seen forgotten first): bounds memory under a forged-source flood.",
                int_at_least(1), "--rate-sources", "N"),
        Setting("SIPGW_CALLS_PER_SECOND", "10:20", "New calls per second over the whole "
                "gateway (after the access check); more get 503 with Retry-After.", rate,
                "--calls-per-second", "RATE:BURST"),
        Setting("SIPGW_CALLS_PER_CALLER", "10:5", "New calls per MINUTE from one caller (the "
                "From URI's user@host; anonymous callers only count against the global rate).",
                rate, "--calls-per-caller", "RATE:BURST"),
        Setting("SIPGW_DROP_SCANNERS", "on", "Drop requests from known SIP scanners "
                "(User-Agent containing friendly-scanner, sipvicious, sipcli, ...) without an "
                "answer: 'on' or 'off'.", choice("on", "off"), "--drop-scanners", "on|off"),
        Setting("SIPGW_SCANNER_USER_AGENTS", "", "More User-Agent fragments to drop, "
                "comma-separated, case-insensitive (added to the built-in list).",
                user_agent_fragments, "--scanner-user-agents", "LIST"),
    ),
)  # fmt: skip


OVERLOAD = Section(
    "overload",
    "Overload",
    "Overload protection: while the media ticker runs late or the process's CPU is full, new "
    "INVITEs and OPTIONS probes get 503 with Retry-After (a dispatcher in front sends traffic "
    "elsewhere); running calls go on. See docs/operations.md. Every one is also a flag of "
    "`sipgw serve`.",
    (
        Setting("SIPGW_OVERLOAD_LATENESS_MS", "10", "Refuse new calls when the p99 lateness "
                "of the 20 ms media ticker over the window exceeds this many ms; 0 = do not "
                "watch lateness.", non_negative, "--overload-lateness-ms", "MS"),
        Setting("SIPGW_OVERLOAD_RECOVER_LATENESS_MS", "5", "Take calls again only once the "
                "p99 lateness stays below this many ms (for the hold time).", non_negative,
                "--overload-recover-lateness-ms", "MS"),
        Setting("SIPGW_OVERLOAD_CPU_PERCENT", "90", "Refuse new calls when the process's CPU "
                "over the CPU window exceeds this (% of one core); 0 = do not watch CPU.",
                non_negative, "--overload-cpu-percent", "PCT"),
        Setting("SIPGW_OVERLOAD_RECOVER_CPU_PERCENT", "75", "Take calls again only once the "
                "CPU stays below this (for the hold time).", non_negative,
                "--overload-recover-cpu-percent", "PCT"),
        Setting("SIPGW_OVERLOAD_WINDOW", "5", "Seconds of ticker lateness each decision looks "
                "at (its p99).", positive, "--overload-window", "S"),
        Setting("SIPGW_OVERLOAD_CPU_WINDOW", "1", "Seconds of CPU time each decision looks "
                "at (short: a burst of new calls shows before many more are let in).",
                positive, "--overload-cpu-window", "S"),
        Setting("SIPGW_OVERLOAD_HOLD", "5", "Seconds both signals must stay below their "
                "recover thresholds before new calls are taken again.", non_negative,
                "--overload-hold", "S"),
        Setting("SIPGW_OVERLOAD_RETRY_AFTER", "10", "Seconds in the Retry-After of an "
                "overload 503.", int_at_least(1), "--overload-retry-after", "S"),
    ),
)  # fmt: skip


def redact_pattern(value: str) -> str:
    """ "" or a regular expression that compiles (Python ``re`` syntax)."""
    import re

    try:
        re.compile(value)
    except re.error as exc:
        raise ValueError(f"not a regular expression: {exc}") from None
    return value


PRIVACY = Section(
    "privacy",
    "Secrets and privacy",
    "What is masked in logs and call records; see docs/security.md. API keys and "
    "passwords are always masked; every one is also a flag of `sipgw serve`.",
    (
        Setting("SIPGW_REDACT", "cards", "'cards': card numbers (13-19 digits passing the "
                "Luhn check, also spoken digit by digit) are replaced by [card ****1234] in "
                "call records and logs; 'off': kept.", choice("cards", "off"), "--redact",
                "WHAT"),
        Setting("SIPGW_REDACT_PATTERNS", "", "A regular expression whose matches are "
                "replaced by [redacted] in call records and logs (several: join them with |), "
                "e.g. \\b\\d{3}-\\d{2}-\\d{4}\\b; empty = none.", redact_pattern,
                "--redact-patterns", "REGEX"),
    ),
)  # fmt: skip

REGISTRATION = Section(
    "registration",
    "Registration",
    "Registering to a trunk or PBX (RFC 3261 §10) so calls to an address of record reach us; "
    "see docs/registration.md.",
    (
        Setting("SIPGW_REGISTER", "", "Address of record to register, e.g. "
                "sip:1001@pbx.example.com; empty = no registration.", text, "--register",
                "AOR"),
        Setting("SIPGW_REGISTRAR", "", "Registrar URI; empty = the AOR's host.", text,
                "--registrar", "URI"),
        Setting("SIPGW_AUTH_USERNAME", "", "Digest user name for 401/407 challenges from the "
                "registrar, the outbound proxy or the callee; empty = the AOR's user.", text,
                "--auth-username", "NAME"),
        Setting("SIPGW_AUTH_PASSWORD", "", "Digest password for those challenges (never "
                "logged or shown).", text, "--auth-password", "SECRET", default_doc="none",
                secret=True),
        Setting("SIPGW_REGISTER_EXPIRES", "600", "Registration expiry to ask for, seconds; "
                "refreshed at 80-90 % of what the registrar grants.", int_at_least(1),
                "--register-expires", "S"),
        Setting("SIPGW_REGISTER_RETRY_BASE", "30", "Seconds before retrying a failed or "
                "unanswered registration (RFC 5626 §4.5 base-time): a random 1-2 times this "
                "after the first failure, doubling with each further one, at most 30 min.",
                positive, "--register-retry-base", "S"),
        Setting("SIPGW_ACCOUNTS", "", "TOML file with several accounts ([accounts.NAME] "
                "tables: aor, registrar, auth_username, auth_password, outbound_proxy, "
                "transport, expires, agent); empty = none.", text, "--accounts", "FILE"),
        Setting("SIPGW_KEEPALIVE_INTERVAL", "25", "Seconds between CRLF keep-alives to each "
                "registrar while registered (RFC 5626), holding NAT bindings open; 0 = none.",
                non_negative, "--keepalive-interval", "S"),
    ),
)  # fmt: skip

OUTBOUND = Section(
    "outbound",
    "Placing calls",
    "Read by `sipgw call` and scheduled callbacks; each is also a flag of `sipgw serve` and "
    "`sipgw call`. Challenges (401/407) are answered with `SIPGW_AUTH_USERNAME` and "
    "`SIPGW_AUTH_PASSWORD`.",
    (
        Setting("SIPGW_OUTBOUND_PROXY", "", "SIP URI every outbound INVITE goes through "
                "(loose routing, ';lr' added), e.g. sip:proxy.example.com;transport=tcp; a "
                "phone number is sent to its host. Empty = straight to the target.",
                flag="--outbound-proxy", metavar="URI"),
        Setting("SIPGW_CALLER_ID", "", "Who we call as (the From): a SIP URI, "
                "'\"Name\" <sip:user@host>', or a user name or number; empty = the "
                "registered AOR (or sip:sipgw@<public address>).", flag="--caller-id",
                metavar="ID"),
        Setting("SIPGW_RING_TIMEOUT", "60", "Seconds an outbound call may ring before we "
                "give up (CANCEL).", positive, "--ring-timeout", "S"),
    ),
)  # fmt: skip

AGENT = Section(
    "agent",
    "Agent",
    "Which agent answers the calls.",
    (
        Setting("SIPGW_AGENT", "echo", "Who answers: 'echo' plays the caller back (line check, "
                "no keys needed); 'assistant' is the AI agent.", choice(*AGENT_NAMES),
                "--agent", "NAME"),
    ),
)  # fmt: skip

ECHO = Section(
    "echo",
    "Echo agent",
    "Read when `--agent echo`.",
    (
        Setting("SIPGW_ECHO_DELAY_MS", "500", "How long the echo agent waits before playing "
                "the caller back, ms.", _ms, "--echo-delay-ms", "MS"),
    ),
)  # fmt: skip


def filler_lines(value: str) -> tuple[str, ...]:
    """Lines separated by ``|`` (they may contain commas), blanks dropped."""
    lines = tuple(line.strip() for line in value.split("|") if line.strip())
    if not lines:
        raise ValueError("give at least one line (separate lines with |)")
    return lines


ASSISTANT = Section(
    "assistant",
    "Assistant agent",
    "Read when `--agent assistant`; environment variables (or `.env` lines) only.",
    (
        Setting("SIPGW_STT", STT_NAMES[0], "Speech-to-text vendor: "
                f"{', '.join(STT_NAMES)} (its settings below).", choice(*STT_NAMES)),
        Setting("SIPGW_LLM", LLM_NAMES[0], "Chat model vendor: "
                f"{', '.join(LLM_NAMES)} (its settings below).", choice(*LLM_NAMES)),
        Setting("SIPGW_TTS", TTS_NAMES[0], "Text-to-speech vendor: "
                f"{', '.join(TTS_NAMES)} (its settings below).", choice(*TTS_NAMES)),
        Setting("SIPGW_SYSTEM_PROMPT_FILE", "", "File with the system prompt; empty = the "
                "built-in shop-assistant prompt."),
        Setting("SIPGW_GREETING", DEFAULT_GREETING, "Said when the call is answered; empty = "
                "wait for the caller."),
        Setting("SIPGW_FALLBACK_PHRASE", DEFAULT_FALLBACK_PHRASE, "Said when the LLM fails or "
                "times out."),
        Setting("SIPGW_TOOLS_MODULE", "", "A Python module (name or .py path) with your own "
                "tools: TOOLS = [Tool(...)] and/or def register(registry)."),
        Setting("SIPGW_CALL_RECORD_DIR", "calls", "Directory for per-call JSONL records; "
                "empty = none."),
        Setting("SIPGW_MAX_TOOL_ROUNDS", "4", "Tool-call rounds the LLM may take per reply.",
                int_at_least(0)),
        Setting("SIPGW_BARGE_IN_START_MS", "60", "Caller speech (ms) that pauses the agent's "
                "audio.", int_at_least(0)),
        Setting("SIPGW_BARGE_IN_COMMIT_MS", "600", "Caller speech (ms) that cancels the reply; "
                "shorter sounds (\"mm-hm\", a cough) only pause it, and it resumes.",
                int_at_least(0)),
        Setting("SIPGW_BARGE_IN_MIN_WORDS", "2", "Words in a partial transcript that cancel "
                "the reply.", int_at_least(0)),
        Setting("SIPGW_VAD_MIN_LEVEL_DBFS", "-40", "Caller audio quieter than this is never "
                "speech.", float),
        Setting("SIPGW_VAD_MARGIN_DB", "10", "How far above the line's noise floor speech "
                "must be.", float),
        Setting("SIPGW_DTMF_TIMEOUT_MS", "1500", "Keypad digits are sent to the LLM after this "
                "pause (or at #).", int_at_least(0)),
        Setting("SIPGW_TRANSFER_LINE", DEFAULT_TRANSFER_LINE, "Said before a transfer when the "
                "LLM said nothing in that reply (the REFER waits until the line was heard)."),
        Setting("SIPGW_GOODBYE_LINE", DEFAULT_GOODBYE_LINE, "Said before the agent hangs up "
                "when the LLM said nothing in that reply (the BYE waits until it was heard)."),
        Setting("SIPGW_ACTION_LINE_TIMEOUT_MS", "10000", "Longest wait (ms, from the tool call) "
                "for the handoff or goodbye line to be heard before the transfer or hang-up "
                "happens anyway.", int_at_least(0)),
        Setting("SIPGW_FILLER_AFTER_MS", "700", "A tool still running after this long makes "
                "the agent say a filler line (once per tool round); 0 = never.", int_at_least(0)),
        Setting("SIPGW_FILLER_LINES", "|".join(DEFAULT_FILLER_LINES), "The filler lines, "
                "separated by |, said in turn.", filler_lines),
        Setting("SIPGW_ANSWER_WAIT_MS", "1000", "Longest the answer (200 OK) waits, after the "
                "ring time, for text-to-speech: its connection and the greeting's first audio. "
                "Then the call is answered anyway and the greeting plays when its audio comes "
                "(or is skipped, with a log line, if TTS failed). The speech-to-text connection "
                "is always waited for.", int_at_least(0)),
    ),
)  # fmt: skip

PREEMPTIVE = Section(
    "preemptive",
    "Preemptive replies",
    "Read when `--agent assistant`; start the LLM on a stable partial transcript before the "
    "end of turn (docs/assistant.md, preemptive replies).",
    (
        Setting("SIPGW_PREEMPTIVE", "off", "on: when the caller pauses, the LLM starts on the "
                "transcript so far; the reply is used if the final transcript says the same "
                "words, else cancelled. Nothing is spoken before the turn ends.",
                choice("on", "off")),
        Setting("SIPGW_PREEMPTIVE_PAUSE_MS", "100", "Caller silence (ms, VAD) before a partial "
                "transcript starts a preemptive request.", int_at_least(0)),
    ),
)  # fmt: skip

BUILTIN_TOOLS = Section(
    "tools",
    "Built-in tools",
    "Read when `--agent assistant`: the order-status, callback and transfer tools.",
    (
        Setting("SIPGW_ORDERS_FILE", "", "Orders JSON for get_order_status; empty = the "
                "bundled sample."),
        Setting("SIPGW_CALLBACK_DB", "callbacks.sqlite3", "SQLite file where "
                "schedule_callback stores requests and from which the gateway dials them "
                "(see the Callbacks section)."),
        Setting("SIPGW_TRANSFER_TARGET", "", "SIP URI transfer_to_human sends callers to "
                "(REFER), e.g. sip:support@pbx.example.com; empty = no transfers."),
    ),
)  # fmt: skip

CALLER_CONTEXT = Section(
    "caller_context",
    "Caller context",
    "Read when `--agent assistant`: your own async function that looks the caller up (a CRM) "
    "while the phone rings; what it returns goes into the system prompt (docs/assistant.md, "
    "Caller context).",
    (
        Setting("SIPGW_CALLER_CONTEXT", "", "module:function (module: a name or a .py path) of "
                "an async def f(caller, called) returning text, a dict or None; empty = none."),
        Setting("SIPGW_CALLER_CONTEXT_TIMEOUT", "1.5", "Seconds after the INVITE that the "
                "first reply waits for it at most; later, the call goes on without it. It "
                "never delays the answer.", positive),
    ),
)  # fmt: skip

CALLBACKS = Section(
    "callbacks",
    "Callbacks",
    "Read when `--agent assistant`: the callbacks `schedule_callback` stores in "
    "`SIPGW_CALLBACK_DB` are dialed at their time by the gateway, persisted across restarts "
    "(docs/assistant.md, Callbacks).",
    (
        Setting("SIPGW_CALLBACK_ATTEMPTS", "3", "Dial attempts per callback before it is given "
                "up as failed (busy, no answer, unreachable all count).", int_at_least(1)),
        Setting("SIPGW_CALLBACK_RETRY_DELAY", "300", "Seconds between two attempts of one "
                "callback.", non_negative),
        Setting("SIPGW_CALLBACK_ALLOWED_PREFIXES", "", "Comma-separated number prefixes "
                "callbacks may dial, e.g. +1,+44 (against toll fraud: a caller can ask for a "
                "call back to any number). Callbacks may dial these and what SIPGW_DIAL_ALLOW "
                "allows; both empty = no callbacks are dialed.", number_prefixes),
        Setting("SIPGW_CALLBACK_URI", "", "How a callback number is dialed: a SIP URI with "
                "{number} in it, e.g. sip:{number}@pbx.example.com; empty = the number itself "
                "(routed like `sipgw call NUMBER`).", callback_uri),
        Setting("SIPGW_CALLBACK_TIMEZONE", "", "IANA time zone (e.g. America/New_York) of "
                "callback times the caller gives without an offset; empty = the server's "
                "local time.", time_zone_name),
        Setting("SIPGW_CALLBACK_GREETING", DEFAULT_CALLBACK_GREETING, "The assistant's "
                "first words when a callback is answered; {reason} is what it is about. "
                "Empty = the LLM writes the opening line."),
    ),
)  # fmt: skip

DIAL = Section(
    "dial",
    "What the agent may dial",
    "Against toll fraud and prompt injection: the only targets an agent may transfer to, "
    "call (callbacks) or send DTMF to, whatever the caller says; see docs/security.md. "
    "`sipgw call` by the operator is not restricted.",
    (
        Setting("SIPGW_DIAL_ALLOW", "", "Comma-separated allow-list: exact SIP URIs "
                "(sip:support@pbx.example.com), any user at a host (sip:*@pbx.example.com), "
                "numbers (+15550100), digit sets (+1555010[0-9]) and prefixes (+1800*). "
                "Empty = nothing beyond SIPGW_TRANSFER_TARGET (transfers) and "
                "SIPGW_CALLBACK_ALLOWED_PREFIXES (callbacks).", dial_allow),
    ),
)  # fmt: skip


def _optional_port(value: str) -> int:
    """A TCP port, or 0 / "" for off."""
    return port(value) if value.strip() else 0


ADMIN = Section(
    "admin",
    "Admin server",
    "The admin HTTP server of `sipgw serve` (JSON API under /api/, /metrics); off unless "
    "SIPGW_ADMIN_PORT is set. See docs/operations.md.",
    (
        Setting("SIPGW_ADMIN_PORT", "0", "TCP port of the admin HTTP server; 0 or empty = no "
                "admin server.", _optional_port, "--admin-port", "N"),
        Setting("SIPGW_ADMIN_BIND", "127.0.0.1", "Local address of the admin server; any "
                "address but loopback requires SIPGW_ADMIN_TOKEN.", ip_address, "--admin-bind",
                "ADDR"),
        Setting("SIPGW_ADMIN_TOKEN", "", "Bearer token every admin request must carry "
                "(Authorization: Bearer TOKEN); empty = none (loopback only).", text,
                "--admin-token", "TOKEN", secret=True),
    ),
)  # fmt: skip

WORKERS = Section(
    "workers",
    "Worker processes",
    "How many gateway processes `sipgw serve` runs; see docs/operations.md (scale-out).",
    (
        Setting("SIPGW_WORKERS", "1", "Worker processes to run, each with its own SIP port "
                "(SIPGW_SIP_PORT + i, SIPGW_TLS_PORT + i), its own slice of SIPGW_RTP_PORTS "
                "and its own admin port (SIPGW_ADMIN_PORT + i); a parent restarts a worker that "
                "crashes and forwards SIGTERM/SIGINT to all. 1 = one process, no parent.",
                int_at_least(1), "--workers", "N"),
    ),
)  # fmt: skip

HEALTHCHECK = Section(
    "healthcheck",
    "Health check",
    "Read by `python -m sipgw.app.healthcheck` (the container's health check), which also "
    "reads `SIPGW_SIP_PORT` and `SIPGW_TRANSPORTS` (it probes over UDP, or TCP without UDP); "
    "from the environment only.",
    (
        Setting("SIPGW_HEALTHCHECK_HOST", "127.0.0.1", "Address the health check sends its "
                "OPTIONS request to."),
    ),
)  # fmt: skip

SECTIONS: tuple[Section, ...] = (
    GATEWAY, TRANSPORT, LIMITS, REGISTRATION, OUTBOUND, ACCESS, FLOODS, OVERLOAD, PRIVACY, ADMIN,
    WORKERS, AGENT, ECHO, ASSISTANT, PREEMPTIVE, BUILTIN_TOOLS, CALLER_CONTEXT, CALLBACKS, DIAL,
    *VENDOR_SECTIONS, HEALTHCHECK,
)  # fmt: skip
"""Every section, in the order the docs show them."""

SETTINGS: tuple[Setting, ...] = tuple(s for section in SECTIONS for s in section.settings)
"""Every setting, flat."""


def resolve_settings(
    environ: Mapping[str, str], flags: Mapping[str, str | None] | None = None
) -> SettingValues:
    """The whole registry's values from ``environ`` and (optionally) the CLI flags."""
    return SettingValues(SETTINGS, environ, flags)
