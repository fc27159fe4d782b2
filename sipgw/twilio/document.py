"""A TwiML document read into verbs, sans-IO: the subset of Twilio's voice TwiML sipgw follows.

sipgw plays Twilio's part toward an app (docs/twilio-apps.md): the app's voice webhook
answers with a ``<Response>`` document, and :func:`parse_twiml` turns it into a tuple of
verbs (frozen dataclasses) that :mod:`sipgw.agent.twiml.program` runs in order.

Verbs followed (Twilio's "TwiML Voice" pages, attribute names as Twilio spells them):
:data:`SUPPORTED`. ``<Connect><Stream>`` (bidirectional; ``action``),
``<Connect><ConversationRelay>`` (:mod:`sipgw.twilio.relaytwiml`), ``<Start><Stream>``
(a one-way fork, ``track``), ``<Stop><Stream name>``, ``<Start><Transcription>`` and
``<Stop><Transcription name>`` (:mod:`sipgw.twilio.transcriptiontwiml`),
``<Start><Siprec>`` and ``<Stop><Siprec name>`` (:mod:`sipgw.twilio.siprectwiml`); ``<Stream>``
takes ``url``, ``name``, ``track``, ``statusCallback``, ``statusCallbackMethod`` and
``<Parameter name value>`` nouns; ``<Say>`` (``voice``, ``language``, ``loop``; its SSML's
words said, ``<break>`` as silence), ``<Play>`` (``loop``; ``digits``), ``<Pause>``
(``length``), ``<Gather>`` (every attribute of :class:`Gather`, with nested
``<Say>``/``<Play>``/``<Pause>``), ``<Record>`` (the attributes of :class:`Record`),
``<Dial>`` with ``<Number>``/``<Sip>`` nouns or a bare number, or one ``<Queue url method>``
(the attributes of :class:`Dial`), ``<Dial><Conference>`` (:class:`DialConference`),
``<Enqueue>`` and ``<Leave>`` (:mod:`sipgw.twilio.queuetwiml`), ``<Redirect>``, ``<Hangup>``,
``<Reject>`` (``reason``). Any other verb is kept as :class:`Unsupported` (with
:data:`REFUSED`'s reason for Twilio's own) so the program can refuse it by name; it is never
dropped silently.

Safety (what defusedxml gives, done on expat directly): the document is at most
:data:`MAX_TWIML_BYTES`; a DOCTYPE, an entity declaration or an external entity
reference is refused (no entity expansion at all: no "billion laughs", no XXE);
nesting deeper than :data:`MAX_DEPTH` and more than :data:`MAX_VERBS` verbs are refused.
Every failure is a :class:`TwimlError` (a ``ValueError``) whose message says why.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from typing import Final, Literal, TypeAlias
from xml.parsers import expat

from sipgw.twilio.attributes import post_or_get, recording_events, track_value, true_or_false
from sipgw.twilio.conferencetwiml import Conference, read_conference
from sipgw.twilio.queuetwiml import WORKFLOW_REFUSED, Enqueue, Leave, read_enqueue
from sipgw.twilio.relaytwiml import ConnectRelay, read_relay
from sipgw.twilio.siprectwiml import StartSiprec, StopSiprec, read_siprec
from sipgw.twilio.transcriptiontwiml import (
    StartTranscription,
    StopTranscription,
    read_transcription,
)

__all__ = [
    "LEG_AMD",
    "MAX_DEPTH",
    "MAX_TWIML_BYTES",
    "MAX_VERBS",
    "Connect",
    "REFUSED",
    "SUPPORTED",
    "Dial",
    "DialConference",
    "DialRecord",
    "DialTarget",
    "Gather",
    "Hangup",
    "Pause",
    "Play",
    "PlayDigits",
    "Record",
    "Redirect",
    "Refer",
    "Reject",
    "Say",
    "Start",
    "StartSiprec",
    "StartTranscription",
    "StopSiprec",
    "StopStream",
    "StopTranscription",
    "StreamNoun",
    "TwimlError",
    "Unsupported",
    "Verb",
    "parse_twiml",
]

MAX_TWIML_BYTES: Final = 64 * 1024
"""The longest document read (Twilio's own limit for a TwiML response is 64 kB)."""
MAX_DEPTH: Final = 8
"""Deepest element nesting accepted (TwiML needs 4: Response, Connect, Stream, Parameter)."""
MAX_VERBS: Final = 100
"""Most verbs in one document."""
MAX_LOOP: Final = 100
"""Highest ``loop`` of ``<Say>``/``<Play>`` (0 means "until the call ends" on Twilio: taken
as this many)."""
MAX_PAUSE: Final = 600
"""Longest ``<Pause length>``, seconds."""

Track = Literal["inbound_track", "outbound_track", "both_tracks"]
"""A forked stream's tracks (``<Stream track>``): the caller's, the call's other side, both."""


class TwimlError(ValueError):
    """A document that is not TwiML sipgw can follow (the message says why)."""


@dataclass(frozen=True, slots=True)
class StreamNoun:
    """``<Stream>``: a Media Streams WebSocket to open."""

    url: str
    name: str = ""
    track: Track = "inbound_track"
    parameters: tuple[tuple[str, str], ...] = ()
    """The ``<Parameter>`` nouns, in order (the ``start`` message's ``customParameters``)."""
    status_callback: str = ""
    status_callback_method: str = "POST"
    """How ``status_callback`` is requested: ``POST`` (Twilio's default) or ``GET``."""


@dataclass(frozen=True, slots=True)
class Connect:
    """``<Connect><Stream>``: a bidirectional stream; the document waits until it closes."""

    stream: StreamNoun
    action: str = ""
    """Fetched when the stream ends; its TwiML replaces the rest of this document."""


@dataclass(frozen=True, slots=True)
class Start:
    """``<Start><Stream>``: a one-way fork of the call's audio; the document goes on at once."""

    stream: StreamNoun


@dataclass(frozen=True, slots=True)
class Say:
    """``<Say>``: text for the text-to-speech service."""

    text: str
    """Everything spoken, SSML's words included (``<sub>``'s alias in its place)."""
    voice: str = ""
    language: str = ""
    loop: int = 1
    parts: tuple[str | float, ...] = ()
    """The text cut at SSML ``<break>``s: a string is said, a float is that many seconds
    of silence; empty: ``text`` whole."""

    def pieces(self) -> tuple[str | float, ...]:
        """:attr:`parts`, or ``text`` as the one piece."""
        return self.parts or ((self.text,) if self.text else ())


@dataclass(frozen=True, slots=True)
class PlayDigits:
    """``<Play digits>``: keys sent to the caller as RFC 4733 events; ``w`` is half a
    second's pause."""

    digits: str


@dataclass(frozen=True, slots=True)
class StopStream:
    """``<Stop><Stream name>``: the fork named ``name`` (its ``name`` or its StreamSid)
    stops; no name: every fork stops."""

    name: str = ""


@dataclass(frozen=True, slots=True)
class Gather:
    """``<Gather>``: keys or speech from the caller, posted to ``action``.

    ``timeout`` and ``speech_timeout`` are seconds (``speech_timeout`` None: "auto", the
    speech-to-text's own end of turn); ``num_digits`` 0 is no limit; ``action`` "" is the
    document's own URL, as on Twilio."""

    input: tuple[str, ...] = ("dtmf",)
    action: str = ""
    method: str = "POST"
    timeout: int = 5
    speech_timeout: float | None = 5.0
    finish_on_key: str = "#"
    num_digits: int = 0
    hints: tuple[str, ...] = ()
    language: str = "en-US"
    action_on_empty_result: bool = False
    barge_in: bool = True
    partial_result_callback: str = ""
    partial_result_callback_method: str = "POST"
    prompts: tuple[Say | Play | Pause, ...] = ()
    """The nested verbs, said while the input is awaited (input stops them)."""
    profanity_filter: bool = True
    """Profane words of the speech results masked but their first letter (Twilio's default)."""


@dataclass(frozen=True, slots=True)
class Play:
    """``<Play>``: an audio file's URL (WAV or raw μ-law)."""

    url: str
    loop: int = 1


@dataclass(frozen=True, slots=True)
class Pause:
    """``<Pause>``: silence for ``length`` seconds."""

    length: int = 1


@dataclass(frozen=True, slots=True)
class DialTarget:
    """One ``<Number>``, ``<Sip>`` or ``<Queue>`` of a ``<Dial>`` (a bare ``<Dial>`` number is
    a Number; a Queue's ``address`` is the queue's name)."""

    kind: Literal["number", "sip", "queue"]
    address: str
    url: str = ""
    """``<Queue url>``: TwiML played to the dequeued caller before the two are bridged;
    ``<Number url>``/``<Sip url>``: TwiML run for the called party once it answered, before
    the bridge (call screening, a whisper)."""
    method: str = "POST"
    send_digits: str = ""
    """``<Number sendDigits>``: keys sent to the called party once it answered (``w``
    waits half a second, ``W`` one)."""
    username: str = ""
    """``<Sip username>``: the digest user name the leg answers a 401/407 with ("": none)."""
    password: str = field(default="", repr=False)
    """``<Sip password>`` (never shown)."""
    status_callback: str = ""
    """``<Number statusCallback>``/``<Sip statusCallback>``: where the leg's call progress
    events go ("": nowhere)."""
    status_callback_method: str = "POST"
    status_callback_events: frozenset[str] = frozenset({"completed"})
    """``statusCallbackEvent``: among ``initiated``, ``ringing``, ``answered``,
    ``completed`` (``completed`` alone by default)."""
    amd: tuple[tuple[str, str], ...] = ()
    """``machineDetection`` and its tuning, under the names of Twilio's ``Calls`` parameters
    (``MachineDetection``, ``MachineDetectionTimeout``...): who answered the leg is
    detected before it is screened or bridged (``()``: not)."""
    amd_status_callback: str = ""
    """``amdStatusCallback``: where the leg's ``AnsweredBy`` is posted ("": nowhere)."""
    amd_status_callback_method: str = "POST"


DialRecord = Literal[
    "do-not-record",
    "record-from-answer",
    "record-from-ringing",
    "record-from-answer-dual",
    "record-from-ringing-dual",
]
"""``<Dial record>``: none, the two sides mixed in one channel, or one channel each
(``-dual``); ``true`` reads as ``record-from-answer``, ``false`` as ``do-not-record``."""
_DIAL_RECORDS: Final = (
    "do-not-record", "record-from-answer", "record-from-ringing", "record-from-answer-dual",
    "record-from-ringing-dual",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Dial:
    """``<Dial>``: connect the caller with another party (the gateway's second leg, bridged,
    or a REFER), through the dial allow-list.

    ``timeout`` is the seconds a target may ring; ``time_limit`` the longest the two may
    talk; ``action`` (``method``) gets ``DialCallStatus`` once the ``<Dial>`` is over;
    ``sequential``: several targets ring one after another, not at once."""

    targets: tuple[DialTarget, ...]
    caller_id: str = ""
    timeout: int = 30
    action: str = ""
    method: str = "POST"
    time_limit: int = 14400
    hangup_on_star: bool = False
    answer_on_bridge: bool = False
    record: DialRecord = "do-not-record"
    sequential: bool = False
    recording_status_callback: str = ""
    """Where the ``record``'s ``completed`` goes ("": nowhere)."""
    recording_status_callback_method: str = "POST"
    recording_status_callback_events: frozenset[str] = frozenset({"completed"})
    ring_tone: str = "us"
    """``ringTone``: the country whose ring tone the caller hears while a target rings."""
    recording_track: Literal["both", "inbound", "outbound"] = "both"
    """``recordingTrack``: what ``record`` keeps: both sides, the caller's (``inbound``) or
    the called party's (``outbound``)."""
    trim: bool = False
    """``trim="trim-silence"``: the recording's leading and trailing silence cut."""
    refer_url: str = ""
    """``referUrl``: where a REFER the bridged called party sends is posted (with
    ``ReferTransferTarget``); its TwiML runs for the caller ("": such a REFER is refused)."""
    refer_method: str = "POST"
    """``referMethod``: ``GET`` or ``POST``."""
    ignored: tuple[str, ...] = ()
    """The attributes given that sipgw does not follow (``events``): logged as ignored
    when it runs."""


@dataclass(frozen=True, slots=True)
class DialConference:
    """``<Dial><Conference>``: the caller joins a named room (:mod:`sipgw.twilio.conferencetwiml`);
    ``dial`` holds the ``<Dial>``'s own attributes (``action``, ``method``, ``timeLimit``,
    ``hangupOnStar``; no targets)."""

    dial: Dial
    conference: Conference


@dataclass(frozen=True, slots=True)
class Redirect:
    """``<Redirect>``: fetch another document; it replaces the rest of this one."""

    url: str
    method: str = "POST"


@dataclass(frozen=True, slots=True)
class Refer:
    """``<Refer><Sip>uri</Sip></Refer>``: the caller's phone is asked (SIP REFER, RFC 3515)
    to call ``target`` and leave this call for it; ``action`` (``method``) gets
    ``ReferCallStatus`` once the transfer is over (none: the next verb runs)."""

    target: str
    action: str = ""
    method: str = "POST"


@dataclass(frozen=True, slots=True)
class Hangup:
    """``<Hangup>``: end the call."""


@dataclass(frozen=True, slots=True)
class Reject:
    """``<Reject>``: do not answer (``busy`` or ``rejected``)."""

    reason: str = "rejected"


@dataclass(frozen=True, slots=True)
class Record:
    """``<Record>``: the caller's audio until silence, a key or ``maxLength``, posted to
    ``action`` (the document's own URL when it names none) as a recording's URL."""

    action: str = ""
    method: str = "POST"
    timeout: int = 5
    """Seconds of silence that end it (0: silence does not)."""
    finish_on_key: str = "1234567890*#"
    max_length: int = 3600
    play_beep: bool = True
    trim: bool = True
    """``trim="trim-silence"`` (Twilio's default): the silence before and after is cut."""
    recording_status_callback: str = ""
    recording_status_callback_method: str = "POST"
    recording_status_callback_events: frozenset[str] = frozenset({"completed"})
    """``recordingStatusCallbackEvent``: among ``in-progress``, ``completed``, ``absent``."""
    transcribe: bool = False
    """``transcribe``, or a ``transcribeCallback`` given (which implies it)."""
    transcribe_callback: str = ""


@dataclass(frozen=True, slots=True)
class Unsupported:
    """A verb sipgw does not follow (``<Gather>``, ``<Record>``, ...): refused by name."""

    name: str
    why: str = "not supported by sipgw"


Verb: TypeAlias = (
    Connect
    | ConnectRelay
    | Start
    | Say
    | Play
    | Pause
    | Dial
    | DialConference
    | Redirect
    | Hangup
    | Reject
    | Unsupported
    | Gather
    | PlayDigits
    | StopStream
    | Record
    | Enqueue
    | Leave
    | Refer
    | StartTranscription
    | StopTranscription
    | StartSiprec
    | StopSiprec
)


@dataclass
class _Element:
    tag: str
    attrs: dict[str, str]
    children: list[_Element] = field(default_factory=list)
    text: str = ""
    content: list[str | _Element] = field(default_factory=list)
    """Text and child elements in document order (``<Say>``'s SSML)."""


def parse_twiml(document: str | bytes) -> tuple[Verb, ...]:
    """The verbs of ``document``, a ``<Response>`` (see the module docstring).

    Raises:
        TwimlError: too long, not well-formed XML, a DOCTYPE or entity, no ``<Response>``
            root, or a verb missing what it needs (a ``<Stream>`` without ``url``, ...).
    """
    data = document.encode() if isinstance(document, str) else document
    if len(data) > MAX_TWIML_BYTES:
        raise TwimlError(f"a {len(data)}-byte document (at most {MAX_TWIML_BYTES})")
    root = _read_xml(data)
    if root.tag != "Response":
        raise TwimlError(f"the root element is <{root.tag[:40]}>, not <Response>")
    if len(root.children) > MAX_VERBS:
        raise TwimlError(f"{len(root.children)} verbs (at most {MAX_VERBS})")
    return tuple(_verb(element) for element in root.children)


def _read_xml(data: bytes) -> _Element:
    """The element tree of ``data``, with expat and no DTD or entity of any kind."""
    parser = expat.ParserCreate()
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    stack: list[_Element] = []
    roots: list[_Element] = []

    def refuse(what: str) -> None:
        raise TwimlError(f"{what} in the document (refused: no DTD or entities in TwiML)")

    def start(tag: str, attrs: dict[str, str]) -> None:
        if len(stack) >= MAX_DEPTH:
            raise TwimlError(f"elements nested deeper than {MAX_DEPTH}")
        element = _Element(tag, dict(attrs))
        (stack[-1].children if stack else roots).append(element)
        if stack:
            stack[-1].content.append(element)
        stack.append(element)

    def end(tag: str) -> None:
        stack.pop()

    def text(chars: str) -> None:
        if stack:
            stack[-1].text += chars
            stack[-1].content.append(chars)

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = text
    parser.StartDoctypeDeclHandler = lambda *_: refuse("a DOCTYPE")
    parser.EntityDeclHandler = lambda *_: refuse("an entity declaration")
    parser.UnparsedEntityDeclHandler = lambda *_: refuse("an unparsed entity")
    parser.ExternalEntityRefHandler = lambda *_: refuse("an external entity")  # type: ignore[assignment]
    try:
        parser.Parse(data, True)
    except expat.ExpatError as exc:
        raise TwimlError(f"not well-formed XML: {exc}") from None
    if not roots:
        raise TwimlError("an empty document")
    return roots[0]


def _verb(element: _Element) -> Verb:
    tag, attrs = element.tag, element.attrs
    reader = _VERBS.get(tag)
    if reader is None:
        return Unsupported(tag[:40], REFUSED.get(tag, "not a TwiML voice verb sipgw knows"))
    try:
        return reader(element, attrs)
    except TwimlError:
        raise
    except ValueError as exc:  # the readers of sipgw.twilio.attributes and the nouns' modules
        raise TwimlError(str(exc)) from None


def _stream(element: _Element) -> StreamNoun:
    url = element.attrs.get("url", "").strip()
    if not url:
        raise TwimlError("<Stream> without a url")
    track = track_value(element.attrs, "Stream", "inbound_track")
    parameters: list[tuple[str, str]] = []
    for child in element.children:
        if child.tag != "Parameter":
            raise TwimlError(f"<{child.tag[:40]}> inside <Stream> (only <Parameter>)")
        name = child.attrs.get("name", "")
        if not name:
            raise TwimlError("a <Parameter> without a name")
        parameters.append((name, child.attrs.get("value", "")))
    return StreamNoun(
        url=url,
        name=element.attrs.get("name", ""),
        track=track,  # type: ignore[arg-type]  # one of TRACKS (track_value)
        parameters=tuple(parameters),
        status_callback=element.attrs.get("statusCallback", ""),
        status_callback_method=post_or_get(element.attrs, "statusCallbackMethod", "Stream"),
    )


def _only_stream(element: _Element) -> StreamNoun:
    nouns = element.children
    if len(nouns) != 1 or nouns[0].tag != "Stream":
        found = ", ".join(f"<{n.tag[:40]}>" for n in nouns) or "nothing"
        raise TwimlError(f"<{element.tag}> holds {found}: sipgw follows one <Stream> in it")
    return _stream(nouns[0])


def _connect(element: _Element, attrs: dict[str, str]) -> Verb:
    nouns = element.children
    if len(nouns) == 1 and nouns[0].tag == "ConversationRelay":  # sipgw.twilio.relaytwiml
        relay = nouns[0]
        return read_relay(relay.attrs, [(n.tag, n.attrs) for n in relay.children],
                          attrs.get("action", ""))  # fmt: skip
    if len(nouns) == 1 and nouns[0].tag != "Stream":  # <Connect><Room>, <Conversation>, ...
        name = f"Connect><{nouns[0].tag[:40]}"
        return Unsupported(name, REFUSED.get(name, "only <Connect><Stream> is followed"))
    return Connect(_only_stream(element), attrs.get("action", "").strip())


def _start(element: _Element, attrs: dict[str, str]) -> Verb:
    nouns = element.children
    if len(nouns) == 1 and nouns[0].tag == "Transcription":
        noun = nouns[0]
        return StartTranscription(
            read_transcription(noun.attrs, [(c.tag, c.attrs) for c in noun.children])
        )
    if len(nouns) == 1 and nouns[0].tag == "Siprec":
        noun = nouns[0]
        return StartSiprec(read_siprec(noun.attrs, [(c.tag, c.attrs) for c in noun.children]))
    if len(nouns) == 1 and nouns[0].tag != "Stream":  # <Start><Siprec>, <Transcription>
        name = f"Start><{nouns[0].tag[:40]}"
        return Unsupported(name, REFUSED.get(name, "only <Start><Stream> is followed"))
    return Start(_only_stream(element))


def _number(attrs: dict[str, str], name: str, default: int, low: int, high: int) -> int:
    value = attrs.get(name, "").strip()
    if not value:
        return default
    if not value.isascii() or not value.isdigit() or len(value) > 6:
        raise TwimlError(f"{name}={value[:40]!r} is not a whole number")
    number = int(value)
    if number == 0 and name == "loop":
        return MAX_LOOP
    return min(max(number, low), high)


def _say(element: _Element, attrs: dict[str, str]) -> Say:
    pieces: list[str | float] = []
    _ssml(element, pieces)
    parts: list[str | float] = []
    for piece in pieces:  # words joined, silences summed, both in order
        if isinstance(piece, str):
            if parts and isinstance(parts[-1], str):
                parts[-1] += piece
            else:
                parts.append(piece)
        elif parts and isinstance(parts[-1], float):
            parts[-1] = min(parts[-1] + piece, MAX_BREAK)
        else:
            parts.append(piece)
    said = [" ".join(p.split()) if isinstance(p, str) else p for p in parts]
    said = [p for p in said if p != "" and p != 0.0]
    text = " ".join(p for p in said if isinstance(p, str))
    return Say(
        text=text,
        voice=attrs.get("voice", ""),
        language=attrs.get("language", ""),
        loop=_number(attrs, "loop", 1, 1, MAX_LOOP),
        parts=tuple(said) if any(isinstance(p, float) for p in said) else (),
    )


MAX_BREAK: Final = 10.0
"""Longest SSML ``<break>``, seconds (Amazon Polly's limit, which Twilio's voices use)."""
BREAK_STRENGTH: Final = {
    "none": 0.0, "x-weak": 0.0, "weak": 0.25, "medium": 0.4, "strong": 0.75, "x-strong": 1.25,
}  # fmt: skip
"""``<break strength>`` as seconds of silence (``medium`` when the break has neither
``time`` nor ``strength``; Polly: "none" and "x-weak" are no pause)."""
SSML_TAGS: Final = frozenset(
    {"break", "emphasis", "lang", "p", "phoneme", "prosody", "s", "say-as", "sub", "w",
     "amazon:domain", "amazon:effect"}
)  # fmt: skip
"""SSML inside ``<Say>``: their words are said (``<sub>``: its ``alias``), ``<break>`` is
silence; the voice effects they ask for (rate, pitch, emphasis...) are not rendered."""


def _ssml(element: _Element, out: list[str | float]) -> None:
    for item in element.content:
        if isinstance(item, str):
            out.append(item)
        elif item.tag not in SSML_TAGS:
            raise TwimlError(
                f"<{item.tag[:40]}> inside <Say> (SSML: {', '.join(sorted(SSML_TAGS))})"
            )
        elif item.tag == "break":
            out.append(_break(item.attrs))
        elif item.tag == "sub":
            out.append(f" {item.attrs.get('alias', item.text)} ")
        else:
            boundary = " " if item.tag in ("p", "s", "w") else ""
            out.append(boundary)
            _ssml(item, out)
            out.append(boundary)


def _break(attrs: dict[str, str]) -> float:
    time_ = attrs.get("time", "").strip().lower()
    if time_:
        number, unit = (time_[:-2], 0.001) if time_.endswith("ms") else (time_.rstrip("s"), 1.0)
        try:
            seconds = float(number) * unit
        except ValueError:
            raise TwimlError(f"<break time={time_[:20]!r}>: e.g. 500ms or 2s") from None
        return float(min(max(seconds, 0.0), MAX_BREAK))
    strength = attrs.get("strength", "medium")
    if strength not in BREAK_STRENGTH:
        raise TwimlError(f"<break strength={strength[:20]!r}>: one of {', '.join(BREAK_STRENGTH)}")
    return BREAK_STRENGTH[strength]


_DIGITS: Final = frozenset("0123456789*#ABCDwW")


def _play(element: _Element, attrs: dict[str, str]) -> Verb:
    url = element.text.strip()
    if not url:
        digits = attrs.get("digits", "").strip()
        if digits:
            if not set(digits) <= _DIGITS or len(digits) > 100:
                raise TwimlError(f"<Play digits={digits[:40]!r}>: 0-9, *, #, A-D and w")
            return PlayDigits(digits)
        raise TwimlError("<Play> without a URL")
    return Play(url, _number(attrs, "loop", 1, 1, MAX_LOOP))


def _stop(element: _Element, attrs: dict[str, str]) -> Verb:
    nouns = element.children
    if len(nouns) == 1 and nouns[0].tag == "Transcription":
        return StopTranscription(nouns[0].attrs.get("name", "").strip())
    if len(nouns) == 1 and nouns[0].tag == "Siprec":
        return StopSiprec(nouns[0].attrs.get("name", "").strip())
    if len(nouns) == 1 and nouns[0].tag != "Stream":  # <Stop><Siprec>, <Transcription>
        name = f"Stop><{nouns[0].tag[:40]}"
        return Unsupported(name, REFUSED.get(name, "only <Stop><Stream> is followed"))
    if len(nouns) != 1:
        raise TwimlError("<Stop> holds one <Stream>")
    return StopStream(nouns[0].attrs.get("name", "").strip())


_INPUTS: Final = ("dtmf", "speech")


def _gather(element: _Element, attrs: dict[str, str]) -> Verb:
    inputs = tuple(attrs.get("input", "dtmf").split())
    if not inputs or not set(inputs) <= set(_INPUTS):
        raise TwimlError(f"<Gather input={attrs.get('input', '')[:40]!r}>: dtmf, speech or both")
    finish = attrs.get("finishOnKey", "#")
    if len(finish) > 1 or (finish and finish not in "0123456789*#"):
        raise TwimlError(f"<Gather finishOnKey={finish[:10]!r}>: one of 0-9, *, # or empty")
    timeout = _number(attrs, "timeout", 5, 1, 600)
    speech_timeout: float | None
    raw = attrs.get("speechTimeout", "").strip()
    if raw == "auto":
        speech_timeout = None
    elif raw:
        speech_timeout = float(_number(attrs, "speechTimeout", timeout, 0, 600))
    else:
        speech_timeout = float(timeout)
    prompts: list[Say | Play | Pause] = []
    for child in element.children:
        if child.tag == "Say":
            prompts.append(_say(child, child.attrs))
        elif child.tag == "Play":
            verb = _play(child, child.attrs)
            if not isinstance(verb, Play):
                raise TwimlError("<Play digits> inside <Gather> (a URL only)")
            prompts.append(verb)
        elif child.tag == "Pause":
            prompts.append(Pause(_number(child.attrs, "length", 1, 0, MAX_PAUSE)))
        else:
            raise TwimlError(f"<{child.tag[:40]}> inside <Gather> (only <Say>, <Play>, <Pause>)")
    hints = tuple(h.strip() for h in attrs.get("hints", "").split(",") if h.strip())
    return Gather(
        input=inputs,
        action=attrs.get("action", "").strip(),
        method=post_or_get(attrs, "method", "Gather"),
        timeout=timeout,
        speech_timeout=speech_timeout,
        finish_on_key=finish,
        num_digits=_number(attrs, "numDigits", 0, 1, 100),
        hints=hints,
        language=attrs.get("language", "en-US").strip() or "en-US",
        action_on_empty_result=true_or_false(attrs, "actionOnEmptyResult", False, "Gather"),
        barge_in=true_or_false(attrs, "bargeIn", True, "Gather"),
        partial_result_callback=attrs.get("partialResultCallback", "").strip(),
        partial_result_callback_method=post_or_get(attrs, "partialResultCallbackMethod", "Gather"),
        prompts=tuple(prompts),
        profanity_filter=true_or_false(attrs, "profanityFilter", True, "Gather"),
    )


def _record(element: _Element, attrs: dict[str, str]) -> Verb:
    finish = attrs.get("finishOnKey", "1234567890*#")
    if not set(finish) <= set("0123456789*#"):
        raise TwimlError(f"<Record finishOnKey={finish[:20]!r}>: keys among 0-9, *, #")
    trim = attrs.get("trim", "trim-silence")
    if trim not in ("trim-silence", "do-not-trim"):
        raise TwimlError(f"<Record trim={trim[:20]!r}>: trim-silence or do-not-trim")
    transcribe_callback = attrs.get("transcribeCallback", "").strip()
    return Record(
        action=attrs.get("action", "").strip(),
        method=post_or_get(attrs, "method", "Record"),
        timeout=_number(attrs, "timeout", 5, 0, 600),
        finish_on_key=finish,
        max_length=_number(attrs, "maxLength", 3600, 1, 14400),
        play_beep=true_or_false(attrs, "playBeep", True, "Record"),
        trim=trim == "trim-silence",
        recording_status_callback=attrs.get("recordingStatusCallback", "").strip(),
        recording_status_callback_method=post_or_get(
            attrs, "recordingStatusCallbackMethod", "Record"
        ),
        recording_status_callback_events=recording_events(attrs, "Record"),
        transcribe=true_or_false(attrs, "transcribe", False, "Record") or bool(transcribe_callback),
        transcribe_callback=transcribe_callback,
    )


def _pause(element: _Element, attrs: dict[str, str]) -> Verb:
    return Pause(_number(attrs, "length", 1, 0, MAX_PAUSE))


_SEND_DIGITS: Final = re.compile(r"[0-9*#A-DwW]{0,64}")


def _dial(element: _Element, attrs: dict[str, str]) -> Verb:
    nouns = element.children
    if len(nouns) == 1 and nouns[0].tag == "Conference":  # sipgw.twilio.conferencetwiml
        conference = read_conference(nouns[0].attrs, nouns[0].text)
        return DialConference(_dial_attributes((), attrs), conference)
    targets: list[DialTarget] = []
    for noun in element.children:
        if noun.tag == "Number":
            keys = noun.attrs.get("sendDigits", "").strip()
            if not _SEND_DIGITS.fullmatch(keys):
                raise TwimlError(f"<Number sendDigits={keys[:40]!r}>: 0-9, *, #, A-D, w and W")
            target = DialTarget("number", noun.text.strip(), send_digits=keys)
            targets.append(_leg_attributes(target, noun.tag, noun.attrs))
        elif noun.tag == "Sip":
            user = noun.attrs.get("username", "").strip()
            secret = noun.attrs.get("password", "")
            if secret and not user:
                raise TwimlError("<Sip password> without a username")
            target = DialTarget("sip", noun.text.strip(), username=user, password=secret)
            targets.append(_leg_attributes(target, noun.tag, noun.attrs))
        elif noun.tag == "Queue" and len(element.children) == 1:  # sipgw.twilio.queuetwiml
            method = post_or_get(noun.attrs, "method", "Queue")
            targets.append(DialTarget("queue", noun.text.strip(), noun.attrs.get("url", "").strip(),
                                      method))  # fmt: skip
        else:
            name = f"Dial><{noun.tag[:40]}"
            why = (
                "a <Queue> is dialled alone"
                if noun.tag == "Queue"
                else "only <Number> and <Sip> are dialled"
            )
            return Unsupported(name, REFUSED.get(name, why))
    if not element.children and element.text.strip():
        targets.append(DialTarget("number", element.text.strip()))
    if not targets or not all(t.address for t in targets):
        raise TwimlError("<Dial> without a number or SIP URI")
    dial = _dial_attributes(tuple(targets), attrs)
    ignored = _ignored(element, attrs)
    return dataclasses.replace(dial, ignored=ignored) if ignored else dial


_LEG_EVENTS: Final = ("initiated", "ringing", "answered", "completed")


def _leg_attributes(target: DialTarget, tag: str, attrs: dict[str, str]) -> DialTarget:
    """A ``<Number>``'s or ``<Sip>``'s ``url``/``method`` (call screening) and
    ``statusCallback``/``statusCallbackEvent``/``statusCallbackMethod`` (the leg's call
    progress events), as Twilio's noun pages give them."""
    words = attrs.get("statusCallbackEvent", "").strip()
    events = frozenset(w for w in re.split(r"[\s,]+", words) if w) or frozenset({"completed"})
    if events - set(_LEG_EVENTS):
        raise TwimlError(
            f"<{tag} statusCallbackEvent={words[:40]!r}>: among {', '.join(_LEG_EVENTS)}"
        )
    amd = tuple((param, attrs[name].strip()) for name, param in LEG_AMD.items()
                if attrs.get(name, "").strip())  # fmt: skip
    if amd and dict(amd).get("MachineDetection") not in ("Enable", "DetectMessageEnd"):
        raise TwimlError(f"<{tag} machineDetection>: Enable or DetectMessageEnd")
    return dataclasses.replace(
        target,
        amd=amd,
        amd_status_callback=attrs.get("amdStatusCallback", "").strip(),
        amd_status_callback_method=post_or_get(attrs, "amdStatusCallbackMethod", tag),
        url=attrs.get("url", "").strip(),
        method=post_or_get(attrs, "method", tag),
        status_callback=attrs.get("statusCallback", "").strip(),
        status_callback_method=post_or_get(attrs, "statusCallbackMethod", tag),
        status_callback_events=events,
    )


_IGNORED_DIAL: Final = ("events", "callReason", "recordingConfigurationId")
"""What a ``<Dial>`` may carry that sipgw does not follow (docs/twilio-apps.md says why);
each is logged as ignored."""
_IGNORED_LEG: Final = {
    "Number": ("byoc",),
    "Sip": (),
}
"""What a ``<Number>`` or ``<Sip>`` may carry that sipgw does not follow; each is logged as
ignored (``Number byoc``)."""
LEG_AMD: Final = {
    "machineDetection": "MachineDetection",
    "machineDetectionTimeout": "MachineDetectionTimeout",
    "machineDetectionSpeechThreshold": "MachineDetectionSpeechThreshold",
    "machineDetectionSpeechEndThreshold": "MachineDetectionSpeechEndThreshold",
    "machineDetectionSilenceTimeout": "MachineDetectionSilenceTimeout",
}
"""A ``<Number>``'s and ``<Sip>``'s answering-machine detection attributes, and the
``Calls`` parameters of the same meaning (:attr:`DialTarget.amd`)."""


def _ignored(element: _Element, attrs: dict[str, str]) -> tuple[str, ...]:
    names = [name for name in _IGNORED_DIAL if attrs.get(name, "").strip()]
    for noun in element.children:
        for name in _IGNORED_LEG.get(noun.tag, ()):
            given = f"{noun.tag} {name}"
            if noun.attrs.get(name, "").strip() and given not in names:
                names.append(given)
    return tuple(names)


def _dial_attributes(targets: tuple[DialTarget, ...], attrs: dict[str, str]) -> Dial:
    events = recording_events(attrs, "Dial")
    record = attrs.get("record", "").strip() or "do-not-record"
    record = {"true": "record-from-answer", "false": "do-not-record"}.get(record, record)
    if record not in _DIAL_RECORDS:
        raise TwimlError(f"<Dial record={record[:40]!r}>: one of {', '.join(_DIAL_RECORDS)}")
    track = attrs.get("recordingTrack", "").strip() or "both"
    if track not in ("both", "inbound", "outbound"):
        raise TwimlError(f"<Dial recordingTrack={track[:40]!r}>: inbound, outbound or both")
    trim = attrs.get("trim", "").strip() or "do-not-trim"
    if trim not in ("trim-silence", "do-not-trim"):
        raise TwimlError(f"<Dial trim={trim[:40]!r}>: trim-silence or do-not-trim")
    return Dial(
        targets,
        caller_id=attrs.get("callerId", "").strip(),
        timeout=_number(attrs, "timeout", 30, 5, 600),
        action=attrs.get("action", "").strip(),
        method=post_or_get(attrs, "method", "Dial"),
        time_limit=_number(attrs, "timeLimit", 14400, 1, 14400),
        hangup_on_star=true_or_false(attrs, "hangupOnStar", False, "Dial"),
        answer_on_bridge=true_or_false(attrs, "answerOnBridge", False, "Dial"),
        record=record,  # type: ignore[arg-type]  # checked against _DIAL_RECORDS above
        sequential=true_or_false(attrs, "sequential", False, "Dial"),
        recording_status_callback=attrs.get("recordingStatusCallback", "").strip(),
        recording_status_callback_method=post_or_get(
            attrs, "recordingStatusCallbackMethod", "Dial"
        ),
        recording_status_callback_events=events,
        ring_tone=attrs.get("ringTone", "").strip().lower() or "us",
        recording_track=track,  # type: ignore[arg-type]  # checked above
        trim=trim == "trim-silence",
        refer_url=attrs.get("referUrl", "").strip(),
        refer_method=post_or_get(attrs, "referMethod", "Dial"),
    )


def _refer(element: _Element, attrs: dict[str, str]) -> Verb:
    """Twilio's ``<Refer>``: one ``<Sip>`` noun, a SIP URI (headers in it, ``?X-Name=...``,
    go with the REFER's target as RFC 3261 section 19.1.1 puts them)."""
    nouns = [n for n in element.children if n.tag == "Sip"]
    if len(nouns) != 1 or len(element.children) != 1:
        raise TwimlError("<Refer> takes one <Sip> noun")
    target = nouns[0].text.strip()
    if not target.lower().startswith(("sip:", "sips:")):
        raise TwimlError(f"<Refer><Sip>{target[:40]!r}</Sip>: a sip: or sips: URI")
    return Refer(target, attrs.get("action", "").strip(),
                 post_or_get(attrs, "method", "Refer"))  # fmt: skip


def _redirect(element: _Element, attrs: dict[str, str]) -> Verb:
    url = element.text.strip()
    if not url:
        raise TwimlError("<Redirect> without a URL")
    return Redirect(url, post_or_get(attrs, "method", "Redirect"))


def _enqueue(element: _Element, attrs: dict[str, str]) -> Verb:
    if attrs.get("workflowSid", "").strip():  # its <Task> child, no queue name: TaskRouter's
        return Unsupported("Enqueue workflowSid", WORKFLOW_REFUSED)
    return read_enqueue(attrs, element.text)


def _leave(element: _Element, attrs: dict[str, str]) -> Verb:
    return Leave()


def _hangup(element: _Element, attrs: dict[str, str]) -> Verb:
    return Hangup()


def _reject(element: _Element, attrs: dict[str, str]) -> Verb:
    reason = attrs.get("reason", "rejected")
    if reason not in ("busy", "rejected"):
        raise TwimlError(f"<Reject reason={reason[:40]!r}>: busy or rejected")
    return Reject(reason)


_VERBS: Final = {
    "Connect": _connect,
    "Start": _start,
    "Stop": _stop,
    "Say": _say,
    "Play": _play,
    "Pause": _pause,
    "Gather": _gather,
    "Record": _record,
    "Dial": _dial,
    "Redirect": _redirect,
    "Hangup": _hangup,
    "Refer": _refer,
    "Reject": _reject,
    "Enqueue": _enqueue,
    "Leave": _leave,
}

SUPPORTED: Final = (
    "Connect><Stream", "Connect><ConversationRelay", "Start><Stream", "Stop><Stream", "Say",
    "Play", "Play digits", "Pause", "Gather", "Record", "Dial><Number", "Dial><Sip", "Redirect",
    "Hangup", "Reject", "Dial><Conference", "Enqueue", "Leave", "Dial><Queue", "Refer",
    "Start><Transcription", "Stop><Transcription", "Start><Siprec", "Stop><Siprec",
)  # fmt: skip
"""The verbs (and verb><noun pairs) followed, as docs/twilio-apps.md's table names them."""
REFUSED: Final = {
    "Pay": "card payments are not taken (no PCI-scoped capture)",
    "Prompt": "only inside <Pay>, which is refused",
    "Echo": (
        "undocumented: no Twilio page says what it does (the SDKs' echo() says only \"<Echo> "
        'TwiML Verb")'
    ),
    "Connect><Room": "no Twilio Video rooms",
    "Connect><Conversation": "no Twilio Conversations",
    "Connect><VirtualAgent": "no Dialogflow connector",
    "Connect><Assistant": "no Twilio AI Assistants",
    "Dial><Client": "no Twilio Voice SDK clients",
    "Dial><Application": "no TwiML Apps",
    "Dial><WhatsApp": "no WhatsApp calling",
    "Dial><Sim": "no Twilio Programmable Wireless SIMs",
    "Connect><Autopilot": "no Twilio Autopilot assistants (Twilio retired Autopilot)",
    "Connect><AiSession": "no Twilio AI Connector add-ons",
    "Connect><ConversationRelaySession": (
        "no Twilio ConversationRelaySession connector add-ons (<ConversationRelay url> is followed)"
    ),
    "Start><Recording": (
        "no recording in the background of the call (<Record> and <Dial record> record)"
    ),
    "Sms": "no text messages are sent (Twilio deprecated <Sms> in voice TwiML)",
    "Queue": "a noun of <Dial> (<Dial><Queue>), not a verb",
}
"""The Twilio voice verbs (and verb><noun pairs) refused, each with the reason logged and
recorded (``twiml_refused``); the call goes on to the next verb."""
