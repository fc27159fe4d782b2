"""The ``twiml`` and ``stream`` agents' settings sections (docs/twilio-apps.md)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from sipgw.agent.twiml.say import say_voices
from sipgw.agent.twiml.siprec import siprec_connectors
from sipgw.foundation.settings import section, setting
from sipgw.foundation.settings.parsers import choice, int_range, optional_file, text

__all__ = ["StreamSection", "TwilioAppSection", "TwimlSection"]


def _http_url(value: str) -> str:
    url = value.strip()
    if not url:
        return ""  # unset: the agent that needs it says so (required)
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an http:// or https:// URL with a host")
    return url


def _ws_url(value: str) -> str:
    url = value.strip()
    if not url:
        return ""
    parts = urlsplit(url)
    if parts.scheme not in ("ws", "wss") or not parts.hostname:
        raise ValueError("must be a wss:// (or ws://) URL with a host")
    return url


def _method(value: str) -> str:
    """POST or GET, in any case (the webhook's method, upper case as HTTP writes it)."""
    return choice("post", "get")(value).upper()


def _account_sid(value: str) -> str:
    sid = value.strip()
    if not sid:
        return ""
    if not re.fullmatch(r"AC[0-9a-fA-F]{32}", sid):
        raise ValueError("must be a Twilio account SID: AC and 32 hex digits")
    return sid


@section(
    "twiml",
    title="TwiML app",
    intro="Read when `--agent twiml`: the voice webhook of an app built for Twilio "
    "(docs/twilio-apps.md).",
)
@dataclass(frozen=True)
class TwimlSection:
    """The app's voice webhook."""

    url: str = setting(
        "", env="SIPGW_TWIML_URL", parse=_http_url, required=True,
        help="The app's voice webhook (what the Twilio number's \"A call comes in\" points "
        "at), e.g. https://bot.example.com/twiml: POSTed and signed as Twilio does for each "
        "call; its TwiML is followed. A line of the routes file may set its own (twiml_url).",
    )  # fmt: skip
    method: str = setting(
        "POST", env="SIPGW_TWIML_METHOD", parse=_method,
        help="How the webhook is requested: POST (Twilio's default) or GET.",
    )  # fmt: skip


@section(
    "stream",
    title="Media Streams app",
    intro="Read when `--agent stream`: a Media Streams WebSocket reached with no webhook.",
)
@dataclass(frozen=True)
class StreamSection:
    """The app's fixed stream URL."""

    url: str = setting(
        "", env="SIPGW_STREAM_URL", parse=_ws_url, required=True,
        help="The app's Media Streams WebSocket, e.g. wss://bot.example.com/media-stream: each "
        "call is <Connect><Stream> to it, with no webhook. A line may set its own (stream_url).",
    )  # fmt: skip


@section(
    "twilio_app",
    title="Apps built for Twilio",
    intro="Read when `--agent twiml` or `--agent stream`: who sipgw says it is to the app, "
    "the limits, and what a failure does.",
)
@dataclass(frozen=True)
class TwilioAppSection:
    """The account, the limits and the fallback."""

    account_sid: str = setting(
        "", env="SIPGW_TWIML_ACCOUNT_SID", parse=_account_sid, required=True,
        help="The AccountSid sent to the app (AC and 32 hex digits): the one its code expects.",
    )  # fmt: skip
    auth_token: str = setting(
        "", env="SIPGW_TWIML_AUTH_TOKEN", parse=text, required=True, secret=True,
        help="The auth token requests are signed with (X-Twilio-Signature): the one the app "
        "validates with (its TWILIO_AUTH_TOKEN).",
    )  # fmt: skip
    timeout_ms: int = setting(
        5000, env="SIPGW_TWIML_TIMEOUT_MS", parse=int_range(100, 8000),
        help="How long (ms) the webhook, a <Redirect> or a <Play> file may take; then the "
        "fallback runs.",
    )  # fmt: skip
    stream_open_ms: int = setting(
        5000, env="SIPGW_TWIML_STREAM_OPEN_MS", parse=int_range(100, 30000),
        help="How long (ms) a stream's WebSocket may take to open; then the fallback runs.",
    )  # fmt: skip
    fallback: str = setting(
        "say", env="SIPGW_TWIML_FALLBACK", parse=choice("say", "transfer", "hangup"),
        help="What a failure (webhook late or failing, bad TwiML, stream failing) does: say "
        "(the fallback line, then hang up), transfer (the line, then SIPGW_TWIML_FALLBACK_"
        "TARGET), or hangup.",
    )  # fmt: skip
    fallback_target: str = setting(
        "", env="SIPGW_TWIML_FALLBACK_TARGET", parse=text,
        help="Where the transfer fallback goes (a number or SIP URI on the dial allow-list).",
    )  # fmt: skip
    fallback_audio: str = setting(
        "", env="SIPGW_TWIML_FALLBACK_AUDIO", parse=optional_file,
        help="The fallback line: a WAV or raw μ-law file; empty = the shipped \"Thank you for "
        "calling. Goodbye.\" (or the transfer line before a transfer).",
    )  # fmt: skip
    tts: str = setting(
        "none", env="SIPGW_TWIML_TTS", parse=choice("none", "elevenlabs"),
        help="The text-to-speech <Say> goes through: elevenlabs (its ELEVENLABS_* settings) "
        "or none (<Say> is refused, logged).",
    )  # fmt: skip
    stt: str = setting(
        "none", env="SIPGW_TWIML_STT", parse=choice("none", "assemblyai"),
        help="The speech-to-text <Gather input=\"speech\"> and <Connect><ConversationRelay> "
        "listen through: assemblyai (its ASSEMBLYAI_* settings) or none (speech input is "
        "refused, logged, keys still work; ConversationRelay is refused).",
    )  # fmt: skip
    say_voices: tuple[tuple[str, str], ...] = setting(
        (), env="SIPGW_TWIML_SAY_VOICES", parse=say_voices, default_text="",
        help="<Say voice=...> mapped to the text-to-speech's voices: twilio_voice=voice_id, "
        "comma-separated (alice=21m00Tcm4TlvDq8ikWAM,Polly.Joanna=EXAVITQu4vr4xnSDxMaL); a "
        "voice not listed is logged as ignored and the configured voice speaks.",
    )  # fmt: skip
    recording_dir: str = setting(
        "", env="SIPGW_TWIML_RECORDING_DIR", parse=text,
        help="Where <Record> writes the caller's recordings (WAV, μ-law, 0600, named by "
        "RecordingSid); empty = <Record> is refused, logged. Needs SIPGW_TWIML_RECORDING_URL.",
    )  # fmt: skip
    recording_url: str = setting(
        "", env="SIPGW_TWIML_RECORDING_URL", parse=_http_url,
        help="The base URL the recording directory is served at (by the operator's web "
        "server): RecordingUrl is it with /RecordingSid added, as on Twilio (the file is "
        "<RecordingSid>.wav; an app adds .wav as with Twilio's).",
    )  # fmt: skip
    dial: str = setting(
        "bridge", env="SIPGW_TWIML_DIAL", parse=choice("bridge", "refer"),
        help="How <Dial> connects the caller: bridge (the gateway calls the target, through "
        "the trunk or account, and relays the two legs itself; the TwiML after <Dial> runs "
        "when the called party hangs up or does not answer) or refer (a REFER to the "
        "caller's phone, for trunks that carry it: the caller leaves the gateway).",
    )  # fmt: skip
    siprec_connectors: tuple[tuple[str, str], ...] = setting(
        (), env="SIPGW_TWIML_SIPREC_CONNECTORS", parse=siprec_connectors, default_text="",
        help="The SIPREC connectors <Start><Siprec connectorName=...> may name: name=SRS URI, "
        "comma-separated (gridspace=sip:rec@srs.example.com;transport=tcp): the gateway "
        "records the call to that Session Recording Server (RFC 7866); a name not listed "
        "is refused, logged.",
    )  # fmt: skip
    record_dir: str = setting(
        "calls", env="SIPGW_TWIML_RECORD_DIR", parse=text, state=True,
        help="Directory for the per-call JSONL records (the verbs run, failures and their "
        "fallback; relative: under the state directory); empty = none.",
    )  # fmt: skip
