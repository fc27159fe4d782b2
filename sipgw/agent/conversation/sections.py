"""The assistant's settings sections, and how they become the settings its agents are built with.

Five sections, read when ``--agent assistant`` answers (environment variables or ``.env``
lines only, no flags): :class:`AssistantSection` (what it says, barge-in, its vendors),
:class:`PreemptiveSection`, :class:`BuiltinToolsSection`, :class:`CallerContextSection` and
:class:`CallbackSection`; the speech-to-speech agents read them too
(:mod:`sipgw.agent.s2s.plugin`). The vendors' own sections are in
:mod:`sipgw.agent.services.registry`.
What any agent may dial (``SIPGW_DIAL_ALLOW``) is the gateway's, not an agent's:
``sipgw.app.security.settings``.

:func:`assistant_settings` makes the typed
:class:`~sipgw.agent.conversation.settings.AssistantSettings` (with typed code mypy checks) from
these sections, the dial allow-list and the log redactor the gateway hands the plug-in
(:class:`sipgw.agent.capabilities.GatewayServices`); :func:`caller_context` loads the
caller-context hook; :func:`with_fallback` adds the fallback lines and the failure policy
(:class:`~sipgw.agent.resilience.settings.FallbackSection`). The plug-in
(:mod:`sipgw.agent.assistant.plugin`) calls them, and so do the speech-to-speech agents'.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from sipgw.agent.conversation.caller_audio import NoiseSettings
from sipgw.agent.conversation.settings import (
    DEFAULT_CALLBACK_GREETING,
    DEFAULT_FALLBACK_PHRASE,
    DEFAULT_FILLER_LINES,
    DEFAULT_GOODBYE_LINE,
    DEFAULT_GREETING,
    DEFAULT_SYSTEM_PROMPT,
    DEFAULT_TRANSFER_LINE,
    AssistantSettings,
    BargeInSettings,
    EarlyEndSettings,
    SpeculationLimits,
)
from sipgw.agent.dialpolicy import DialChecker
from sipgw.agent.resilience.settings import FallbackSection
from sipgw.agent.services.registry import LLM_VENDORS, STT_VENDORS, TTS_VENDORS
from sipgw.agent.tools.quota import CallbackQuota
from sipgw.agent.tools.settings import BUILTIN_TOOL_NAMES, BuiltinToolSettings
from sipgw.agent.turns.early_end import EarlyEndMode
from sipgw.agent.variables import TemplateError, placeholders
from sipgw.foundation.redact import Redactor
from sipgw.foundation.settings import ConfigError, SettingError, section, setting
from sipgw.foundation.settings.parsers import (
    choice,
    float_range,
    int_at_least,
    non_negative,
    on_off,
    or_empty,
    positive,
    real_number,
    text,
)
from sipgw.media.voice.vad import VadConfig

if TYPE_CHECKING:
    from sipgw.agent.conversation.caller_context import CallerContextSettings

__all__ = [
    "AssistantSection",
    "BuiltinToolsSection",
    "CallbackSection",
    "CallerContextSection",
    "PreemptiveSection",
    "assistant_settings",
    "builtin_tool_settings",
    "callback_uri",
    "caller_context",
    "with_fallback",
]

_ASSISTANT = "Read when `--agent assistant`"


def filler_lines(value: str) -> tuple[str, ...]:
    """Lines separated by ``|`` (they may contain commas), blanks dropped."""
    lines = tuple(line.strip() for line in value.split("|") if line.strip())
    if not lines:
        raise ValueError("give at least one line (separate lines with |)")
    return lines


def _callback_db(value: str) -> str:
    """The callback store's file; empty: the default one."""
    return value.strip() or "callbacks.sqlite3"


def tool_names(value: str) -> tuple[str, ...]:
    """Comma-separated built-in tool names, each once ("" = none)."""
    names = tuple(dict.fromkeys(part.strip() for part in value.split(",") if part.strip()))
    for name in names:
        if name not in BUILTIN_TOOL_NAMES:
            raise ValueError(
                f"{name!r} is no built-in tool (there are {', '.join(BUILTIN_TOOL_NAMES)})"
            )
    return names


def _vendor_help(kind: str, names: tuple[str, ...]) -> str:
    return f"{kind} vendor: {', '.join(names)} (its settings below)."


@section(
    "assistant",
    title="Assistant agent",
    intro=f"{_ASSISTANT}; environment variables (or `.env` lines) only.",
)
@dataclass(frozen=True)
class AssistantSection:
    """What the assistant says, when it yields the floor, and which vendors it uses."""

    stt: str = setting(
        next(iter(STT_VENDORS)), env="SIPGW_STT", parse=choice(*STT_VENDORS),
        help=_vendor_help("Speech-to-text", tuple(STT_VENDORS)),
    )  # fmt: skip
    llm: str = setting(
        next(iter(LLM_VENDORS)), env="SIPGW_LLM", parse=choice(*LLM_VENDORS),
        help=_vendor_help("Chat model", tuple(LLM_VENDORS)),
    )  # fmt: skip
    tts: str = setting(
        next(iter(TTS_VENDORS)), env="SIPGW_TTS", parse=choice(*TTS_VENDORS),
        help=_vendor_help("Text-to-speech", tuple(TTS_VENDORS)),
    )  # fmt: skip
    system_prompt_file: str = setting(
        "", env="SIPGW_SYSTEM_PROMPT_FILE", parse=text,
        help="File with the system prompt; empty = the built-in shop-assistant prompt.",
    )  # fmt: skip
    greeting: str = setting(
        DEFAULT_GREETING, env="SIPGW_GREETING", parse=text,
        help="Said when an incoming call is answered; empty = wait for the caller. May use the "
        "call's variables as {name} (write {{ for a brace).",
    )  # fmt: skip
    outbound_greeting: str = setting(
        "", env="SIPGW_OUTBOUND_GREETING", parse=text,
        help="Said when a call the gateway placed is answered (not a callback), e.g. Hello "
        "{first_name}, this is a reminder of your appointment on {appointment}; empty = the LLM "
        "writes the opening line. A call placed without a variable it uses is refused.",
    )  # fmt: skip
    fallback_phrase: str = setting(
        DEFAULT_FALLBACK_PHRASE, env="SIPGW_FALLBACK_PHRASE", parse=text,
        help="Said when the LLM fails or times out.",
    )  # fmt: skip
    tools_module: str = setting(
        "", env="SIPGW_TOOLS_MODULE", parse=text,
        help="A Python module (name or .py path) with your own tools: TOOLS = [Tool(...)] "
        "and/or def register(registry).",
    )  # fmt: skip
    call_record_dir: str = setting(
        "calls", env="SIPGW_CALL_RECORD_DIR", parse=text, state=True,
        help="Directory for per-call JSONL records (relative: under the state directory); "
        "empty = none.",
    )  # fmt: skip
    max_tool_rounds: int = setting(
        4, env="SIPGW_MAX_TOOL_ROUNDS", parse=int_at_least(0),
        help="Tool-call rounds the LLM may take per reply.",
    )  # fmt: skip
    barge_in_start_ms: int = setting(
        60, env="SIPGW_BARGE_IN_START_MS", parse=int_at_least(0),
        help="Caller speech (ms) that pauses the agent's audio.",
    )  # fmt: skip
    barge_in_commit_ms: int = setting(
        600, env="SIPGW_BARGE_IN_COMMIT_MS", parse=int_at_least(0),
        help="Caller speech (ms) that cancels the reply; shorter sounds (\"mm-hm\", a cough) "
        "only pause it, and it resumes.",
    )  # fmt: skip
    barge_in_duck_after_ms: int | None = setting(
        BargeInSettings().duck_after_ms, env="SIPGW_BARGE_IN_DUCK_AFTER_MS",
        parse=or_empty(int_at_least(20), "must be a whole number >= 20, or empty to stay paused"),
        help="A pause of the agent's audio for caller speech still undecided after this long "
        "(ms: no cut yet, no partial transcript saying \"mm-hmm\" or \"wait\") plays on "
        "ducked (SIPGW_BARGE_IN_DUCK_DB softer) from where it stopped until the words decide: "
        "a backchannel then leaves that much silence instead of the partial's latency, and "
        "a real interruption is heard again, softly, until its partial cuts the reply "
        "(docs/quality.md); empty = it stays paused.",
    )  # fmt: skip
    barge_in_duck_db: float = setting(
        BargeInSettings().duck_db, env="SIPGW_BARGE_IN_DUCK_DB", parse=float_range(0.0, 60.0),
        help="How much softer (dB) a ducked reply plays (SIPGW_BARGE_IN_DUCK_AFTER_MS).",
    )  # fmt: skip
    barge_in_min_words: int = setting(
        2, env="SIPGW_BARGE_IN_MIN_WORDS", parse=int_at_least(0),
        help="Words in a partial transcript that cancel the reply.",
    )  # fmt: skip
    vad_min_level_dbfs: float = setting(
        -40.0, env="SIPGW_VAD_MIN_LEVEL_DBFS", parse=real_number,
        help="Caller audio quieter than this is never speech.",
    )  # fmt: skip
    voice_detector: str = setting(
        "model", env="SIPGW_VOICE_DETECTOR", parse=choice("energy", "model"),
        help="What tells caller speech for barge-in and turn-taking: 'model' (Silero VAD, "
        "its weights shipped with sipgw: music, noise and quieter voices in the room are no "
        "speech; about 0.7 ms CPU per call-second on a noisy line, batched across calls) or "
        "'energy' (level above the noise floor: any sound, a tone too; about 0.15 ms: "
        "docs/quality.md). The speech-to-speech agents use it too.",
    )  # fmt: skip
    noise_suppression: bool = setting(
        False, env="SIPGW_NOISE_SUPPRESSION", parse=on_off, default_text="off",
        help="RNNoise on the caller's audio before the detector and speech-to-text or the "
        "speech-to-speech session (needs pyrnnoise; 35-100 ms CPU per call-second; it mutes "
        "voices in the room with the caller's, and a caller's voice cut below 300 Hz: "
        "docs/quality.md).",
    )  # fmt: skip
    echo_guard: bool = setting(
        True, env="SIPGW_ECHO_GUARD", parse=on_off, default_text="on",
        help="Tell the agent's own voice, returned by the caller's phone or PBX (a "
        "speakerphone, a 2-wire hybrid, a loud handset), from the caller: once the line has "
        "shown its echo, a frame that holds nothing more is no speech to the voice detector "
        "(no pause, duck or barge-in, no turn) and reaches speech-to-text or the "
        "speech-to-speech session as the line's noise; the caller talking over it passes "
        "untouched (docs/quality.md, \"The agent's own echo\"). The assistant, "
        "speech-to-speech agents and ConversationRelay sessions. Off: every frame is the "
        "caller's.",
    )  # fmt: skip
    early_turn_end: str = setting(
        "words", env="SIPGW_EARLY_TURN_END",
        parse=choice("off", "vad", "vad+text", "model", "words"),
        help="off: the speech-to-text service alone ends the caller's turn; vad: the gateway's "
        "voice detector ends it after SIPGW_EARLY_TURN_END_MS of silence (AssemblyAI "
        "ForceEndpoint), the service's own end of turn kept as the fallback; vad+text: as vad, "
        "unless the turn's partial transcript leaves the sentence open (it ends in \"and\", "
        "\"for\", \"um\", a comma...); model: the turn model, asked after "
        "SIPGW_EARLY_TURN_END_MS of silence from the voice before the pause and the partial's "
        "words, sets how long the pause must last before the turn ends (200-700 ms as it "
        "hears the caller more or less surely finished; unsure, never: the service decides; "
        "docs/quality.md); words: after SIPGW_EARLY_TURN_END_MS of silence the turn ends "
        "tentatively, and its final is answered only when its words end a sentence (a text "
        "scorer; after the agent's question, a short answer of the kind it asks ends it), "
        "else held and joined to the caller's next words (docs/assistant.md). A "
        "line may set its own ([lines.NAME.settings]).",
    )  # fmt: skip
    early_turn_end_ms: int = setting(
        200, env="SIPGW_EARLY_TURN_END_MS", parse=int_at_least(20),
        help="The voice detector's silence (ms) after which SIPGW_EARLY_TURN_END ends the turn "
        "(model: after which the turn model is asked).",
    )  # fmt: skip
    dtmf_timeout_ms: int = setting(
        1500, env="SIPGW_DTMF_TIMEOUT_MS", parse=int_at_least(0),
        help="Keypad digits are sent to the LLM after this pause (or at #).",
    )  # fmt: skip
    transfer_line: str = setting(
        DEFAULT_TRANSFER_LINE, env="SIPGW_TRANSFER_LINE", parse=text,
        help="Said before a transfer when the LLM said nothing in that reply (the REFER waits "
        "until the line was heard).",
    )  # fmt: skip
    goodbye_line: str = setting(
        DEFAULT_GOODBYE_LINE, env="SIPGW_GOODBYE_LINE", parse=text,
        help="Said before the agent hangs up when the LLM said nothing in that reply (the BYE "
        "waits until it was heard).",
    )  # fmt: skip
    action_line_timeout_ms: int = setting(
        10000, env="SIPGW_ACTION_LINE_TIMEOUT_MS", parse=int_at_least(0),
        help="Longest wait (ms, from the tool call) for the handoff or goodbye line to be heard "
        "before the transfer or hang-up happens anyway.",
    )  # fmt: skip
    filler_after_ms: int = setting(
        700, env="SIPGW_FILLER_AFTER_MS", parse=int_at_least(0),
        help="A tool still running after this long makes the agent say a filler line (once per "
        "tool round); 0 = never.",
    )  # fmt: skip
    filler_lines: tuple[str, ...] = setting(
        DEFAULT_FILLER_LINES, env="SIPGW_FILLER_LINES", parse=filler_lines,
        default_text="|".join(DEFAULT_FILLER_LINES),
        help="The filler lines, separated by |, said in turn.",
    )  # fmt: skip
    answer_wait_ms: int = setting(
        1000, env="SIPGW_ANSWER_WAIT_MS", parse=int_at_least(0),
        help="Longest the answer (200 OK) waits, after the ring time, for text-to-speech: its "
        "connection and the greeting's first audio. Then the call is answered anyway and the "
        "greeting plays when its audio comes (or is skipped, with a log line, if TTS failed). "
        "The speech-to-text connection is always waited for.",
    )  # fmt: skip


@section(
    "preemptive",
    title="Preemptive replies",
    intro=f"{_ASSISTANT}; start the LLM on a stable partial transcript before the end of turn "
    "(docs/assistant.md, preemptive replies).",
)
@dataclass(frozen=True)
class PreemptiveSection:
    """Starting the LLM before the end of turn."""

    preemptive: bool = setting(
        False, env="SIPGW_PREEMPTIVE", parse=on_off, default_text="off",
        help="on: when the caller pauses, the LLM starts on the transcript so far; the reply is "
        "used if the final transcript says the same words, else cancelled. Nothing is spoken "
        "before the turn ends.",
    )  # fmt: skip
    preemptive_pause_ms: int = setting(
        100, env="SIPGW_PREEMPTIVE_PAUSE_MS", parse=int_at_least(0),
        help="Caller silence (ms, VAD) before a partial transcript starts a preemptive request.",
    )  # fmt: skip
    preemptive_during_speech: bool = setting(
        False, env="SIPGW_PREEMPTIVE_DURING_SPEECH", parse=on_off, default_text="off",
        help="on (with SIPGW_PREEMPTIVE=on): a partial transcript heard while the caller still "
        "speaks may start the request too, when it proves stable (it extends the turn's "
        "previous partial, and its last word ends within 150 ms of the caller's last loud "
        "frame); pair it with ASSEMBLYAI_INTERRUPTION_DELAY.",
    )  # fmt: skip
    speculative_speech: bool = setting(
        False, env="SIPGW_SPECULATIVE_SPEECH", parse=on_off, default_text="off",
        help="on (with SIPGW_PREEMPTIVE=on): the preemptive reply's first clause is synthesized "
        "before the turn ends and its audio held; it plays the moment the turn is confirmed, "
        "and is discarded unheard when the caller goes on.",
    )  # fmt: skip
    speculative_max_waste_percent: int = setting(
        10, env="SIPGW_SPECULATIVE_MAX_WASTE_PERCENT", parse=int_at_least(0),
        help="Speculative speech holds a clause only if, were it and every clause not yet "
        "settled discarded, the characters discarded would stay within this share (%) of the "
        "characters spoken (over all calls): the waste never exceeds it (nothing is held "
        "until enough was spoken).",
    )  # fmt: skip


@section(
    "tools",
    title="Built-in tools",
    intro=f"{_ASSISTANT}: which of the order-status, callback, transfer and hang-up tools the "
    "model gets, and their files and transfer target.",
)
@dataclass(frozen=True)
class BuiltinToolsSection:
    """The built-in tools' files and transfer target."""

    orders_file: str = setting(
        "", env="SIPGW_ORDERS_FILE", parse=text,
        help="Orders JSON for get_order_status; empty = the bundled sample.",
    )  # fmt: skip
    orders_verify: bool = setting(
        True, env="SIPGW_ORDERS_VERIFY", parse=on_off, default_text="on",
        help="on: an order is read out only to its owner (the number a trusted trunk "
        "asserted is the order's phone, or the caller gives its verification, e.g. the "
        "postcode; the From proves nothing); off: any order to anyone.",
    )  # fmt: skip
    callback_db: str = setting(
        "callbacks.sqlite3", env="SIPGW_CALLBACK_DB", parse=_callback_db, state=True,
        help="SQLite file (relative: under the state directory; empty: the default) where "
        "schedule_callback stores requests and from which the gateway "
        "dials them (see the Callbacks section), and take_message the callers' messages.",
    )  # fmt: skip
    transfer_target: str = setting(
        "", env="SIPGW_TRANSFER_TARGET", parse=text,
        help="SIP URI transfer_to_human sends callers to (REFER), e.g. "
        "sip:support@pbx.example.com; empty = no transfers.",
    )  # fmt: skip
    builtin_tools: tuple[str, ...] = setting(
        BUILTIN_TOOL_NAMES, env="SIPGW_BUILTIN_TOOLS", parse=tool_names,
        default_text=",".join(BUILTIN_TOOL_NAMES),
        help="The built-in tools the model gets, comma-separated: "
        f"{', '.join(BUILTIN_TOOL_NAMES)}; empty = none (a production prompt without the "
        "demo's order lookup).",
    )  # fmt: skip

    @property
    def callback_path(self) -> Path:
        """The callback store's file."""
        return Path(self.callback_db)


@section(
    "caller_context",
    title="Caller context",
    intro=f"{_ASSISTANT}: your own async function that looks the caller up (a CRM) while the "
    "phone rings; what it returns goes into the system prompt (docs/assistant.md, Caller "
    "context).",
)
@dataclass(frozen=True)
class CallerContextSection:
    """The caller-context hook and how long the first reply waits for it."""

    caller_context: str = setting(
        "", env="SIPGW_CALLER_CONTEXT", parse=text,
        help="module:function (module: a name or a .py path) of an async def f(caller, called) "
        "returning text, a dict or None; caller is the number a trusted trunk asserted, never "
        "the From (\"\" when none); empty = none.",
    )  # fmt: skip
    caller_context_timeout: float = setting(
        1.5, env="SIPGW_CALLER_CONTEXT_TIMEOUT", parse=positive,
        help="Seconds after the INVITE that the first reply waits for it at most; later, the "
        "call goes on without it. It never delays the answer.",
    )  # fmt: skip


def number_prefixes(value: str) -> tuple[str, ...]:
    """``+1,+44`` -> ``("+1", "+44")``: each a ``+`` and/or digits."""
    prefixes = tuple(part.strip().replace(" ", "") for part in value.split(",") if part.strip())
    for prefix in prefixes:
        if not prefix.lstrip("+").isdigit() or prefix.count("+") > int(prefix.startswith("+")):
            raise ValueError(f"{prefix!r} is not a number prefix (digits, optional leading +)")
    return prefixes


def callback_uri(value: str) -> str:
    """ "" or a ``sip:``/``sips:`` URI template with ``{number}`` as its user part.

    The shape only: the gateway parses the URI itself where it builds what agents may
    dial (``sipgw.app.security.settings``), with the SIP core's parser, and a URI it cannot
    parse stops ``serve`` naming this setting.
    """
    template = value.strip()
    if template:
        scheme, _, rest = template.partition(":")
        user, at, host = rest.partition("@")
        if (
            scheme.lower() not in ("sip", "sips")
            or template.count("{number}") != 1
            or "{number}" not in user
            or not at
            or not host.strip()
        ):
            raise ValueError("must be a sip: or sips: URI with {number} as its user part")
    return template


def callback_greeting(value: str) -> str:
    """The callback's opening line: said as written, so never with the caller's words."""
    text = value.strip()
    if "{reason}" in text:
        raise ValueError(
            "{reason} is no longer filled in: what a callback is about are a caller's words, "
            "which are never spoken as they are (the model is told them as data and says what "
            "the call is about itself; docs/security.md)"
        )
    return text


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


@section(
    "callbacks",
    title="Callbacks",
    intro=f"{_ASSISTANT}: the callbacks `schedule_callback` stores in `SIPGW_CALLBACK_DB` are "
    "dialed at their time by the gateway, persisted across restarts (docs/assistant.md, "
    "Callbacks).",
)
@dataclass(frozen=True)
class CallbackSection:
    """How stored callbacks are dialed, and the assistant's opening line."""

    callback_attempts: int = setting(
        3, env="SIPGW_CALLBACK_ATTEMPTS", parse=int_at_least(1),
        help="Dial attempts per callback before it is given up as failed (busy, no answer, "
        "unreachable all count).",
    )  # fmt: skip
    callback_retry_delay: float = setting(
        300.0, env="SIPGW_CALLBACK_RETRY_DELAY", parse=non_negative,
        help="Seconds between two attempts of one callback.",
    )  # fmt: skip
    callback_allowed_prefixes: tuple[str, ...] = setting(
        (), env="SIPGW_CALLBACK_ALLOWED_PREFIXES", parse=number_prefixes, default_text="",
        help="Comma-separated number prefixes callbacks may dial, e.g. +1,+44 (against toll "
        "fraud: a caller can ask for a call back to any number). Callbacks may dial these and "
        "what SIPGW_DIAL_ALLOW allows; both empty = no callbacks are dialed.",
    )  # fmt: skip
    callback_uri: str = setting(
        "", env="SIPGW_CALLBACK_URI", parse=callback_uri,
        help="How a callback number is dialed: a SIP URI with {number} in it, e.g. "
        "sip:{number}@pbx.example.com; empty = the number itself (routed like `sipgw call "
        "NUMBER`).",
    )  # fmt: skip
    callback_timezone: str = setting(
        "", env="SIPGW_CALLBACK_TIMEZONE", parse=time_zone_name,
        help="IANA time zone (e.g. America/New_York) of callback times the caller gives without "
        "an offset; empty = the server's local time.",
    )  # fmt: skip
    callback_greeting: str = setting(
        DEFAULT_CALLBACK_GREETING, env="SIPGW_CALLBACK_GREETING", parse=callback_greeting,
        help="The assistant's first words when a callback is answered, said as written (what "
        "the caller asked about is never spoken verbatim). Empty = the LLM writes the opening "
        "line.",
    )  # fmt: skip
    callback_max_per_caller: int = setting(
        3, env="SIPGW_CALLBACK_MAX_PER_CALLER", parse=int_at_least(0),
        help="Callbacks one caller may schedule in 24 hours (by their proven number when the "
        "call has one, a trusted trunk's P-Asserted-Identity; else by the From's number, kept "
        "apart; anonymous callers together); 0 = no limit.",
    )  # fmt: skip
    callback_max_per_number: int = setting(
        3, env="SIPGW_CALLBACK_MAX_PER_NUMBER", parse=int_at_least(0),
        help="Callbacks to one number scheduled in 24 hours, whoever asked; 0 = no limit.",
    )  # fmt: skip
    callback_max_per_day: int = setting(
        100, env="SIPGW_CALLBACK_MAX_PER_DAY", parse=int_at_least(0),
        help="Callbacks scheduled in 24 hours in all; 0 = no limit.",
    )  # fmt: skip


def builtin_tool_settings(
    tools: BuiltinToolsSection, callbacks: CallbackSection, dial_policy: DialChecker
) -> BuiltinToolSettings:
    """The built-in tools' settings: their files, the transfer target, the callback rules,
    and what the gateway lets agents dial (``dial_policy``: :class:`sipgw.agent.capabilities.
    GatewayServices`)."""
    return BuiltinToolSettings(
        orders_file=Path(tools.orders_file) if tools.orders_file else None,
        orders_verify=tools.orders_verify,
        callback_db=tools.callback_path,
        transfer_target=tools.transfer_target or None,
        callback_allowed_prefixes=callbacks.callback_allowed_prefixes,
        callback_timezone=callbacks.callback_timezone,
        dial_policy=dial_policy,
        callback_quota=CallbackQuota(
            per_caller=callbacks.callback_max_per_caller,
            per_number=callbacks.callback_max_per_number,
            per_day=callbacks.callback_max_per_day,
        ),
        enabled=tools.builtin_tools,
    )


def noise_settings(assistant: AssistantSection) -> NoiseSettings:
    """The detector and suppression settings, checked against what is installed.

    Raises:
        ConfigError: suppression is asked for and its package is not installed (the
            model detector needs nothing more than sipgw).
    """
    noise = NoiseSettings(
        suppression=assistant.noise_suppression,
        detector="model" if assistant.voice_detector == "model" else "energy",
        echo_guard=assistant.echo_guard,
    )  # the detectors' thresholds are constants (media/voice/vad.py)
    missing = noise.missing()
    if missing:
        raise SettingError("{noise_suppression}: {why}", AssistantSection, why=missing)
    return noise


def assistant_settings(
    assistant: AssistantSection,
    preemptive: PreemptiveSection,
    tools: BuiltinToolsSection,
    callbacks: CallbackSection,
    dial_policy: DialChecker,
    redactor: Redactor,
) -> AssistantSettings:
    """The assistant's :class:`~sipgw.agent.conversation.settings.AssistantSettings` from its
    sections.

    Raises:
        ConfigError: the system prompt file cannot be read.
    """
    prompt = DEFAULT_SYSTEM_PROMPT
    if prompt_file := assistant.system_prompt_file:
        try:
            prompt = Path(prompt_file).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise SettingError(
                "{system_prompt_file}: cannot read {path}: {why}", AssistantSection,
                path=prompt_file, why=exc.strerror or exc,
            ) from None  # fmt: skip
    templates = (
        (AssistantSection, "system_prompt_file", prompt),
        (AssistantSection, "greeting", assistant.greeting),
        (AssistantSection, "outbound_greeting", assistant.outbound_greeting),
        (CallbackSection, "callback_greeting", callbacks.callback_greeting),
    )
    for cls, name, template in templates:
        try:
            placeholders(template)
        except TemplateError as exc:
            if not prompt_file and name == "system_prompt_file":
                raise ConfigError(f"the built-in system prompt: {exc}") from None
            raise SettingError(f"{{{name}}}: {{why}}", cls, why=exc) from None
    record_dir = assistant.call_record_dir
    return AssistantSettings(
        system_prompt=prompt,
        greeting=assistant.greeting,
        callback_greeting=callbacks.callback_greeting,
        outbound_greeting=assistant.outbound_greeting,
        fallback_phrase=assistant.fallback_phrase,
        tools_module=assistant.tools_module,
        builtin_tools=builtin_tool_settings(tools, callbacks, dial_policy),
        record_dir=Path(record_dir) if record_dir else None,
        max_tool_rounds=assistant.max_tool_rounds,
        barge_in=BargeInSettings(
            commit_ms=assistant.barge_in_commit_ms,
            min_words=assistant.barge_in_min_words,
            vad=VadConfig(
                start_ms=assistant.barge_in_start_ms,
                hangover_ms=BargeInSettings().vad.hangover_ms,
                min_level_dbfs=assistant.vad_min_level_dbfs,
            ),
            noise=noise_settings(assistant),
            duck_after_ms=assistant.barge_in_duck_after_ms,
            duck_db=assistant.barge_in_duck_db,
        ),
        early_end=EarlyEndSettings(
            EarlyEndMode(assistant.early_turn_end), assistant.early_turn_end_ms
        ),
        dtmf_timeout=assistant.dtmf_timeout_ms / 1000,
        preemptive_pause_ms=preemptive.preemptive_pause_ms if preemptive.preemptive else None,
        preemptive_during_speech=preemptive.preemptive and preemptive.preemptive_during_speech,
        speculative_speech=preemptive.preemptive and preemptive.speculative_speech,
        speculation=SpeculationLimits(
            max_wasted_share=preemptive.speculative_max_waste_percent / 100,
        ),
        answer_wait=assistant.answer_wait_ms / 1000,
        redactor=redactor,
        transfer_line=assistant.transfer_line,
        goodbye_line=assistant.goodbye_line,
        action_line_timeout=assistant.action_line_timeout_ms / 1000,
        filler_after=(assistant.filler_after_ms / 1000) or None,
        filler_lines=assistant.filler_lines,
    )


def caller_context(settings: CallerContextSection) -> CallerContextSettings | None:
    """The caller-context hook loaded (None when not set), with its timeout.

    Raises:
        ConfigError: the module or function cannot be loaded or is not ``async def``.
    """
    from sipgw.agent.conversation.caller_context import (
        CallerContextError,
        CallerContextSettings,
        load_caller_context_hook,
    )

    spec = settings.caller_context
    if not spec:
        return None
    try:
        hook = load_caller_context_hook(spec)
    except CallerContextError as exc:
        raise SettingError("{caller_context}: {why}", CallerContextSection, why=exc) from None
    return CallerContextSettings(hook, timeout=settings.caller_context_timeout)


def with_fallback(settings: AssistantSettings, fallback: FallbackSection) -> AssistantSettings:
    """``settings`` with the fallback lines' words, their cache and the failure policy."""
    cache = fallback.fallback_cache_dir
    return dataclasses.replace(
        settings,
        one_moment_line=fallback.one_moment_line,
        stt_down_line=fallback.stt_down_line,
        fallback_cache_dir=Path(cache) if cache else None,
        failure_policy=fallback.policy(),
    )
