"""The ``twiml`` and ``stream`` plug-ins: an app built for Twilio answers the calls.

Registered by name in :data:`sipgw.app.agents.BUILTIN_AGENTS` (``--agent twiml``,
``--agent stream``). Both read :class:`~sipgw.agent.twiml.settings.TwilioAppSection` (the
account SID and auth token, limits, fallback, ``<Say>``'s text-to-speech, ``<Gather>``'s
speech-to-text); ``twiml`` the
webhook (:class:`~sipgw.agent.twiml.settings.TwimlSection`), ``stream`` the fixed WebSocket
(:class:`~sipgw.agent.twiml.settings.StreamSection`). A line of the routes file may set its own
``twiml_url`` or ``stream_url`` (docs/lines.md).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from sipgw.agent.base import AgentFactory, CallControl
from sipgw.agent.capabilities import AgentCapabilities, GatewayServices, declare
from sipgw.agent.conversation.sections import AssistantSection
from sipgw.agent.resilience.lines import FallbackLine
from sipgw.agent.resilience.shipped_prompts import shipped_frames
from sipgw.agent.twiml.agent import FallbackAction, TwimlAgent, TwimlSettings
from sipgw.agent.twiml.audiofile import AudioFileError, decode_audio
from sipgw.agent.twiml.settings import StreamSection, TwilioAppSection, TwimlSection
from sipgw.agent.twiml.webhook import TwilioIdentity
from sipgw.foundation.settings import ConfigError, Sources, load, require
from sipgw.media.codecs import PCM16_16K, ULAW_8K

__all__ = ["STREAM_CAPABILITIES", "TWIML_CAPABILITIES", "stream_agent", "twiml_agent"]

_COMMON = {
    "amd": False,  # the app hears the callee itself; a placed call's amd is refused
    "transfers": frozenset({"blind"}),  # <Dial>: the gateway's bridged second leg, or REFER
    "keypad": True,  # dtmf messages on the stream
    "arrival_audio": True,  # the caller's audio goes to the app as it arrives (latency)
    "legs": frozenset({"sip"}),
}
TWIML_CAPABILITIES = AgentCapabilities(
    **_COMMON,  # type: ignore[arg-type]
    line_keys={"twiml_url": (TwimlSection, "url")},
    twiml=True,
    audio=frozenset({ULAW_8K, PCM16_16K}),  # a bridged <Dial> (agent/twiml/dial/audioformat.py)
)
"""``twiml``: the app decides everything; no detection, blind transfers, keys as ``dtmf``,
SIP calls; a line may name its own webhook (``twiml_url``), a placed call its own TwiML.
Paid (the app's services)."""
STREAM_CAPABILITIES = AgentCapabilities(
    **_COMMON,  # type: ignore[arg-type]
    line_keys={"stream_url": (StreamSection, "url")},
)
"""``stream``: as ``twiml``, a line naming its own WebSocket (``stream_url``)."""


@declare(TWIML_CAPABILITIES)
def twiml_agent(
    twiml: TwimlSection, app: TwilioAppSection, sources: Sources, gateway: GatewayServices
) -> AgentFactory:
    """The ``twiml`` plug-in: each call POSTs the app's webhook and follows its TwiML
    (``<Dial><Conference>`` in the gateway's rooms: ``gateway.conferences``; ``<Enqueue>``
    and ``<Dial><Queue>`` through the gateway's call queues: ``gateway.call_queues``).

    Raises:
        ConfigError: the fallback audio does not play, a transfer fallback without a
            target, or ``<Say>``'s text-to-speech lacks its key.
    """
    settings = _settings(app, sources, url=twiml.url, method=twiml.method)
    return _factory(replace(settings, conferences=gateway.conferences, queues=gateway.call_queues))


@declare(STREAM_CAPABILITIES)
def stream_agent(
    stream: StreamSection, app: TwilioAppSection, sources: Sources, gateway: GatewayServices
) -> AgentFactory:
    """The ``stream`` plug-in: each call is ``<Connect><Stream>`` to the fixed URL (its
    ``action``'s TwiML may use the gateway's call queues too).

    Raises:
        ConfigError: as :func:`twiml_agent`.
    """
    settings = _settings(app, sources, stream_url=stream.url)
    return _factory(replace(settings, queues=gateway.call_queues))


def _factory(settings: TwimlSettings) -> AgentFactory:
    def make(call: CallControl) -> TwimlAgent:
        return TwimlAgent(call, settings)

    return make


def _settings(app: TwilioAppSection, sources: Sources, **where: str) -> TwimlSettings:
    fallback: FallbackAction = app.fallback  # type: ignore[assignment]  # checked by choice()
    if fallback == "transfer" and not app.fallback_target:
        raise ConfigError(
            "SIPGW_TWIML_FALLBACK=transfer needs SIPGW_TWIML_FALLBACK_TARGET (a number or SIP "
            "URI on the dial allow-list)"
        )
    if app.fallback_audio:
        try:
            audio = decode_audio(Path(app.fallback_audio).read_bytes(), "audio/basic")
        except (OSError, AudioFileError) as exc:
            raise ConfigError(f"SIPGW_TWIML_FALLBACK_AUDIO={app.fallback_audio}: {exc}") from None
        audio += b"\xff" * (-len(audio) % 160)
        frames = tuple(audio[i : i + 160] for i in range(0, len(audio), 160))
    else:
        line = FallbackLine.TRANSFER if fallback == "transfer" else FallbackLine.GOODBYE
        frames = shipped_frames(line)
    tts = None
    if app.tts == "elevenlabs":
        from sipgw.agent.services.elevenlabs.settings import ElevenLabsSection, elevenlabs_voiced
        from sipgw.agent.services.registry import TTS_VENDORS
        from sipgw.agent.twiml.say import SayVoice

        vendor = TTS_VENDORS["elevenlabs"]
        require([vendor.section], sources, "SIPGW_TWIML_TTS=elevenlabs")
        section = load(vendor.section, sources)
        assert isinstance(section, ElevenLabsSection)
        voiced = elevenlabs_voiced(section)
        tts = SayVoice(voiced, dict(app.say_voices), section.model_id, voiced)
    if bool(app.recording_dir) != bool(app.recording_url):
        raise ConfigError(
            "SIPGW_TWIML_RECORDING_DIR and SIPGW_TWIML_RECORDING_URL go together (where <Record> "
            "writes, and where the app fetches it)"
        )
    stt = None
    stt_spoken = None
    if app.stt == "assemblyai":
        from sipgw.agent.services.assemblyai.settings import AssemblyAISection, assemblyai_spoken
        from sipgw.agent.services.registry import STT_VENDORS

        stt_vendor = STT_VENDORS["assemblyai"]
        require([stt_vendor.section], sources, "SIPGW_TWIML_STT=assemblyai")
        stt_section = load(stt_vendor.section, sources)
        stt = stt_vendor.clients(stt_section)
        assert isinstance(stt_section, AssemblyAISection)
        stt_spoken = assemblyai_spoken(stt_section)
    return TwimlSettings(
        identity=TwilioIdentity(app.account_sid, app.auth_token),
        timeout=app.timeout_ms / 1000,
        stream_open_timeout=app.stream_open_ms / 1000,
        fallback=fallback,
        fallback_target=app.fallback_target,
        fallback_frames=frames,
        tts=tts,
        stt=stt,
        stt_spoken=stt_spoken,
        recording_dir=Path(app.recording_dir) if app.recording_dir else None,
        recording_url=app.recording_url,
        record_dir=Path(app.record_dir) if app.record_dir else None,
        dial="refer" if app.dial == "refer" else "bridge",
        siprec_connectors=app.siprec_connectors,
        echo_guard=load(AssistantSection, sources).echo_guard,  # a relay session's too
        **where,  # type: ignore[arg-type]
    )
