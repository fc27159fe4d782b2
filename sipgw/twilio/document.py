"""A TwiML document read into verbs, sans-IO: the subset of Twilio's voice TwiML sipgw follows.

sipgw plays Twilio's part toward an app (docs/twilio-apps.md): the app's voice webhook
answers with a ``<Response>`` document, and :func:`parse_twiml` turns it into a tuple of
verbs (frozen dataclasses) that :mod:`sipgw.agent.twiml.program` runs in order.

Verbs followed (Twilio's "TwiML Voice" pages, attribute names as Twilio spells them):
``<Connect><Stream>`` (bidirectional; ``action``), ``<Connect><ConversationRelay>``
(:mod:`sipgw.twilio.relaytwiml`), ``<Start><Stream>`` (a one-way fork,
``track``), ``<Stream>`` takes ``url``, ``name``, ``track``, ``statusCallback``,
``statusCallbackMethod`` and
``<Parameter name value>`` nouns; ``<Say>`` (``voice``, ``language``, ``loop``),
``<Play>`` (``loop``), ``<Pause>`` (``length``), ``<Dial>`` with ``<Number>``/``<Sip>``
nouns or a bare number (``callerId``, ``timeout``, ``action``), ``<Redirect>``,
``<Hangup>``, ``<Reject>`` (``reason``). Any other verb is kept as :class:`Unsupported`
so the program can refuse it by name; it is never dropped silently.

Safety (what defusedxml gives, done on expat directly): the document is at most
:data:`MAX_TWIML_BYTES`; a DOCTYPE, an entity declaration or an external entity
reference is refused (no entity expansion at all: no "billion laughs", no XXE);
nesting deeper than :data:`MAX_DEPTH` and more than :data:`MAX_VERBS` verbs are refused.
Every failure is a :class:`TwimlError` (a ``ValueError``) whose message says why.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final, Literal, TypeAlias
from xml.parsers import expat

from sipgw.twilio.relaytwiml import ConnectRelay, read_relay

__all__ = [
    "MAX_DEPTH",
    "MAX_TWIML_BYTES",
    "MAX_VERBS",
    "Connect",
    "Dial",
    "DialTarget",
    "Hangup",
    "Pause",
    "Play",
    "Redirect",
    "Reject",
    "Say",
    "Start",
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
_TRACKS: Final = ("inbound_track", "outbound_track", "both_tracks")


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
    voice: str = ""
    language: str = ""
    loop: int = 1


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
    """One ``<Number>`` or ``<Sip>`` of a ``<Dial>`` (a bare ``<Dial>`` number is a Number)."""

    kind: Literal["number", "sip"]
    address: str


@dataclass(frozen=True, slots=True)
class Dial:
    """``<Dial>``: hand the call to another party (a transfer through the dial allow-list)."""

    targets: tuple[DialTarget, ...]
    caller_id: str = ""
    timeout: int = 30
    action: str = ""


@dataclass(frozen=True, slots=True)
class Redirect:
    """``<Redirect>``: fetch another document; it replaces the rest of this one."""

    url: str
    method: str = "POST"


@dataclass(frozen=True, slots=True)
class Hangup:
    """``<Hangup>``: end the call."""


@dataclass(frozen=True, slots=True)
class Reject:
    """``<Reject>``: do not answer (``busy`` or ``rejected``)."""

    reason: str = "rejected"


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
    | Redirect
    | Hangup
    | Reject
    | Unsupported
)


@dataclass
class _Element:
    tag: str
    attrs: dict[str, str]
    children: list[_Element] = field(default_factory=list)
    text: str = ""


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
        stack.append(element)

    def end(tag: str) -> None:
        stack.pop()

    def text(chars: str) -> None:
        if stack:
            stack[-1].text += chars

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
        return Unsupported(tag[:40])
    return reader(element, attrs)


def _stream(element: _Element) -> StreamNoun:
    url = element.attrs.get("url", "").strip()
    if not url:
        raise TwimlError("<Stream> without a url")
    track = element.attrs.get("track", "inbound_track")
    if track not in _TRACKS:
        raise TwimlError(f"<Stream track={track[:40]!r}>: one of {', '.join(_TRACKS)}")
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
        track=track,  # type: ignore[arg-type]  # checked against _TRACKS above
        parameters=tuple(parameters),
        status_callback=element.attrs.get("statusCallback", ""),
        status_callback_method=_callback_method(element.attrs.get("statusCallbackMethod", "")),
    )


def _callback_method(value: str) -> str:
    method = value.strip().upper() or "POST"
    if method not in ("POST", "GET"):
        raise TwimlError(f"<Stream statusCallbackMethod={value[:40]!r}>: POST or GET")
    return method


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
        try:
            return read_relay(relay.attrs, [(n.tag, n.attrs) for n in relay.children],
                              attrs.get("action", ""))  # fmt: skip
        except ValueError as exc:
            raise TwimlError(str(exc)) from None
    if len(nouns) == 1 and nouns[0].tag != "Stream":  # <Connect><Room>, <Conversation>, ...
        return Unsupported(f"Connect><{nouns[0].tag[:40]}", "only <Connect><Stream> is followed")
    return Connect(_only_stream(element), attrs.get("action", "").strip())


def _start(element: _Element, attrs: dict[str, str]) -> Verb:
    nouns = element.children
    if len(nouns) == 1 and nouns[0].tag != "Stream":  # <Start><Siprec>, <Transcription>
        return Unsupported(f"Start><{nouns[0].tag[:40]}", "only <Start><Stream> is followed")
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


def _say(element: _Element, attrs: dict[str, str]) -> Verb:
    return Say(
        text=" ".join(element.text.split()),
        voice=attrs.get("voice", ""),
        language=attrs.get("language", ""),
        loop=_number(attrs, "loop", 1, 1, MAX_LOOP),
    )


def _play(element: _Element, attrs: dict[str, str]) -> Verb:
    url = element.text.strip()
    if not url:
        if attrs.get("digits"):
            return Unsupported("Play digits", "<Play digits> is not followed")
        raise TwimlError("<Play> without a URL")
    return Play(url, _number(attrs, "loop", 1, 1, MAX_LOOP))


def _pause(element: _Element, attrs: dict[str, str]) -> Verb:
    return Pause(_number(attrs, "length", 1, 0, MAX_PAUSE))


def _dial(element: _Element, attrs: dict[str, str]) -> Verb:
    targets: list[DialTarget] = []
    for noun in element.children:
        if noun.tag == "Number":
            targets.append(DialTarget("number", noun.text.strip()))
        elif noun.tag == "Sip":
            targets.append(DialTarget("sip", noun.text.strip()))
        else:
            return Unsupported(f"Dial><{noun.tag[:40]}", "only <Number> and <Sip> are dialled")
    if not element.children and element.text.strip():
        targets.append(DialTarget("number", element.text.strip()))
    if not targets or not all(t.address for t in targets):
        raise TwimlError("<Dial> without a number or SIP URI")
    return Dial(
        tuple(targets),
        caller_id=attrs.get("callerId", ""),
        timeout=_number(attrs, "timeout", 30, 5, 600),
        action=attrs.get("action", "").strip(),
    )


def _redirect(element: _Element, attrs: dict[str, str]) -> Verb:
    url = element.text.strip()
    if not url:
        raise TwimlError("<Redirect> without a URL")
    method = attrs.get("method", "POST").upper()
    if method not in ("GET", "POST"):
        raise TwimlError(f"<Redirect method={method[:10]!r}>: GET or POST")
    return Redirect(url, method)


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
    "Say": _say,
    "Play": _play,
    "Pause": _pause,
    "Dial": _dial,
    "Redirect": _redirect,
    "Hangup": _hangup,
    "Reject": _reject,
}
