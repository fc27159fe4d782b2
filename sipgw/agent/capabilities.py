"""What an agent can do, declared once: the record the gateway reads instead of asking.

An agent plug-in is a factory function (its parameters annotated with the settings
sections it reads; docs/writing-an-agent.md). It declares what its agents can do with
:func:`declare`::

    @declare(AgentCapabilities(callbacks=True, line_keys={"greeting": (MySection, "hello")}))
    def make(settings: MySection) -> AgentFactory: ...

The gateway reads that :class:`AgentCapabilities` record and nothing else: whether a
placed call may ask for answering-machine detection, whether ``serve`` dials the callbacks
the agents store, which routes-file keys a line may set, whether a gateway with nothing
configured about who may call may take calls for it. The built-in agents declare theirs
the same way. A factory function declaring nothing gets :data:`UNDECLARED` (today's
behaviour of a plug-in: it reads ``call.amd``, spends money, nothing more).

What the factory *returns* (a plain :data:`~sipgw.agent.base.AgentFactory` or one with the
hooks of :mod:`sipgw.agent.factory`, :mod:`sipgw.agent.record`,
:mod:`sipgw.agent.variables`) is turned into one :class:`PluginFactory` where the plug-in is built
(:func:`plugin_factory`): the
gateway reads its services, record and variables hooks as fields, never by probing. A
factory object built outside a plug-in (a warm transfer's consultation agents, a test's)
may carry its record itself (:class:`DeclaresCapabilities`).

What the gateway hands a plug-in besides its settings is one :class:`GatewayServices`
(a factory parameter annotated with it gets it): what agents may dial, read with the SIP
core's URI parser that the agent layer does not import, and the log redactor with every
secret the gateway knows.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypeVar, runtime_checkable

from sipgw.agent.base import Agent, AgentFactory, CallControl, Direction
from sipgw.agent.dialpolicy import NOTHING_ALLOWED, DialChecker
from sipgw.agent.factory import WarmUp, services_of, vendors_of, warm_up_of
from sipgw.agent.multiparty.conferences import ConferenceRooms
from sipgw.agent.multiparty.queues import CallQueues
from sipgw.agent.observer import Service
from sipgw.agent.record import CallRecord, KeepsRecords
from sipgw.agent.variables import VariablesCheck
from sipgw.foundation.redact import Redactor
from sipgw.media.codecs.base import ULAW_8K, AudioFormat

if TYPE_CHECKING:
    from sipgw.agent.tools.callback_store import CallbackStore
    from sipgw.agent.tools.message_store import MessageStore

__all__ = [
    "UNDECLARED",
    "AgentCapabilities",
    "DeclaresCapabilities",
    "GatewayServices",
    "Leg",
    "LineKeys",
    "PluginFactory",
    "SectionLoader",
    "TransferKind",
    "capabilities_of",
    "check_audio",
    "declare",
    "plugin_factory",
]

TransferKind = Literal["blind", "warm"]
"""A transfer the agent's calls may make (docs/transfers.md)."""
Leg = Literal["sip", "twilio", "browser"]
"""A leg the agent's calls may come on (a SIP call, a Twilio media stream, the browser's
call page: docs/legs.md)."""
SectionLoader = Callable[[type[Any]], Any]
"""Loads one settings section from a line's sources (for keys that depend on a value)."""
LineKeys = Mapping[str, tuple[type[Any], str]]
"""Routes-file key -> (settings section, field) it sets (docs/lines.md)."""

F = TypeVar("F", bound=Callable[..., AgentFactory])


@dataclass(frozen=True, slots=True)
class AgentCapabilities:
    """What an agent's calls can do and take, as the gateway reads it.

    Attributes:
        amd: its agents act on a placed call's ``amd`` (read ``call.amd``); False: a
            call or a start-up asking for answering-machine detection is refused rather
            than greeting every voicemail (docs/amd.md).
        callbacks: its agents store callbacks (the ``schedule_callback`` tool:
            agent/tools/callback_store.py); ``serve`` then dials them when due.
        transfers: the transfers its calls make (none: it never transfers).
        keypad: its agents take the caller's keypad digits (``on_dtmf``); False: digits
            are not delivered to them (logged once per call, at debug level).
        legs: the legs its calls may come on: a Twilio call or media stream for an agent
            without ``twilio`` is refused (the webhook answers busy, the stream is closed,
            a log line naming the agent), a browser call without ``browser`` too (503).
            SIP calls are the gateway's own: ``sip`` is informative.
        audio: the audio formats its agents may take and give
            (:attr:`sipgw.agent.base.Agent.audio_format`; default 20 ms of μ-law at 8 kHz, the
            frame of :mod:`sipgw.agent.base`). The call's media converts the negotiated codec to
            the agent's format in one place (``media/codecs/convert.py``); an agent whose
            format its record does not declare is not started (:func:`check_audio`): the
            call ends, with a log line naming the agent.
        ivr: its agents get a placed call through a phone menu to its goal (read
            ``call.ivr_goal``: :class:`sipgw.agent.ivr.goal.IvrCall`); False: a call placed
            with a goal is refused (docs/ivr.md).
        arrival_audio: its agents also get :meth:`~sipgw.agent.base.Agent.on_caller_audio`: the
            caller's audio in order as soon as it arrives, with no playout delay (for
            speech recognition and voice-activity detection).
        hears_while_preparing: with ``arrival_audio``, on a call the gateway placed: they
            get it from the answer on, while :meth:`~sipgw.agent.base.Agent.prepare` still runs
            (the callee's first "Hello?" comes then). Calls placed with ``amd`` get it
            anyway.
        line_keys: the routes-file keys a line may set for it (``greeting``, ...) and
            the field each sets; a key not here is refused naming the line.
        more_line_keys: keys that depend on the line's settings (the assistant's chosen
            vendors' ``voice``, ``keyterms``, ``language``), given a loader of its
            sections.
        own_sections: sections it loads itself from the sources rather than by its
            parameters (the assistant's vendors'): a line's ``[settings]`` may set them.
        paid: its calls spend money (AI services): a gateway running only agents that
            do not may take calls from this host and private networks with nothing
            configured about who may call (:mod:`sipgw.app.security.access`).
        twiml: its agents follow a placed call's own TwiML (``twiml_url``, ``twiml``:
            :attr:`sipgw.agent.base.CallDetails.twiml`); False: a call placed with one is refused.
        early_media: on a call the gateway placed, its agents hear the callee's early media
            (a 183 with SDP): built then, their frames meanwhile the callee's ringback or
            announcement, :meth:`~sipgw.agent.base.Agent.on_answered` at the answer.
        recording_sessions: its calls are SIPREC recording sessions (RFC 7866): its agents
            take several streams, one per participant, and say nothing back
            (:class:`sipgw.agent.srs.transcriber.RecordedStreams`); an ordinary call to
            its line is refused (421), as a recording session to any other line is (420).
    """

    amd: bool = True
    callbacks: bool = False
    transfers: frozenset[TransferKind] = frozenset()
    keypad: bool = False
    legs: frozenset[Leg] = frozenset({"sip", "twilio", "browser"})
    audio: frozenset[AudioFormat] = frozenset({ULAW_8K})
    line_keys: LineKeys = field(default_factory=dict)
    more_line_keys: Callable[[SectionLoader], LineKeys] | None = None
    own_sections: tuple[type[Any], ...] = ()
    paid: bool = True
    twiml: bool = False
    ivr: bool = False
    arrival_audio: bool = False
    hears_while_preparing: bool = False
    early_media: bool = False
    recording_sessions: bool = False

    def routes_keys(self, load: SectionLoader) -> LineKeys:
        """Every routes-file key it reads, for a line whose sections ``load`` gives."""
        extra = self.more_line_keys(load) if self.more_line_keys is not None else {}
        return {**self.line_keys, **extra}


UNDECLARED = AgentCapabilities()
"""A factory function that declares nothing: reads ``call.amd``, spends money, no callbacks,
no transfers, no keypad, no routes-file keys; hears the caller after the playout buffer
only."""


@runtime_checkable
class DeclaresCapabilities(Protocol):
    """An agent factory object that carries its own record (read by :func:`plugin_factory`
    when the plug-in gives none)."""

    @property
    def capabilities(self) -> AgentCapabilities:
        """What its agents can do."""
        ...


@dataclass(frozen=True, slots=True)
class GatewayServices:
    """What the gateway hands an agent plug-in's factory besides its settings: a parameter
    annotated ``GatewayServices`` gets it (docs/writing-an-agent.md).

    Attributes:
        dial_policy: what its agents may transfer to, call and key (``SIPGW_DIAL_ALLOW``
            and the transfer and callback settings): tools check it early, the gateway
            enforces it again on the way out.
        redactor: masks every secret the gateway knows (and card numbers, the operator's
            pattern) in what its agents write down.
        callback_store: the cluster's callbacks (``SIPGW_DATABASE_URL``); None = the
            agent's own SQLite file.
        message_store: the cluster's messages; None = the agent's own SQLite file.
        conferences: the conference rooms of this gateway process (TwiML
            ``<Dial><Conference>``); None: there are none here.
        call_queues: the gateway process's call queues (TwiML ``<Enqueue>``); None = none.
    """

    dial_policy: DialChecker = NOTHING_ALLOWED
    redactor: Redactor = field(default_factory=Redactor)
    callback_store: CallbackStore | None = None
    message_store: MessageStore | None = None
    conferences: ConferenceRooms | None = None
    call_queues: CallQueues | None = None


_DECLARED: dict[Callable[..., AgentFactory], AgentCapabilities] = {}


def declare(capabilities: AgentCapabilities) -> Callable[[F], F]:
    """Decorator: the agent factory function ``capabilities`` describes (returned as is)."""

    def declared(factory: F) -> F:
        _DECLARED[factory] = capabilities
        return factory

    return declared


def capabilities_of(factory: Callable[..., AgentFactory]) -> AgentCapabilities:
    """What factory function ``factory`` declared (:data:`UNDECLARED` if nothing)."""
    return _DECLARED.get(factory, UNDECLARED)


@dataclass(frozen=True, slots=True)
class PluginFactory:
    """A built agent factory with its record and hooks, as fields (see the module docstring).

    Attributes:
        make: builds one call's agent.
        capabilities: what its agents can do.
        services: the AI services its calls use (one breaker each: :mod:`sipgw.agent.factory`).
        vendors: the breaker key of each of those services.
        warm_up: done once when the gateway starts; None = nothing.
        new_record: opens the record of a call that never reached an agent
            (:class:`sipgw.agent.record.KeepsRecords`); None = its agents keep none.
        missing_variables: the variables a call's templates lack
            (:class:`sipgw.agent.variables.VariablesCheck`); None = it needs none.
        name: how messages name it (the ``--agent`` spec or built-in name it was built
            from; "" when built outside a plug-in).
    """

    make: AgentFactory
    capabilities: AgentCapabilities = UNDECLARED
    services: frozenset[Service] = frozenset()
    vendors: Mapping[Service, str] = field(default_factory=dict)
    warm_up: WarmUp | None = None
    new_record: Callable[[str], CallRecord | None] | None = None
    missing_variables: Callable[[Mapping[str, str], Direction], tuple[str, ...]] | None = None
    name: str = ""

    def __call__(self, call: CallControl) -> Agent:
        """One call's agent."""
        return self.make(call)

    def breaker_keys(self) -> dict[Service, str]:
        """Each service its calls use -> its breaker's key: the vendor behind it, else the
        service's own name."""
        return {service: self.vendors.get(service) or service for service in self.services}


def plugin_factory(
    factory: AgentFactory, capabilities: AgentCapabilities | None = None, name: str = ""
) -> PluginFactory:
    """``factory`` as a :class:`PluginFactory` (itself if it is one and ``capabilities`` is
    None), its hooks read once, here; without ``capabilities``, the record the factory
    object carries (:class:`DeclaresCapabilities`), else :data:`UNDECLARED`."""
    if isinstance(factory, PluginFactory):
        if capabilities is None:
            return factory
        factory = factory.make
    if capabilities is None:
        capabilities = (
            factory.capabilities if isinstance(factory, DeclaresCapabilities) else UNDECLARED
        )
    return PluginFactory(
        factory,
        capabilities,
        services_of(factory),
        vendors_of(factory),
        warm_up_of(factory),
        factory.new_record if isinstance(factory, KeepsRecords) else None,
        factory.missing_variables if isinstance(factory, VariablesCheck) else None,
        name,
    )


def check_audio(agent: Agent, plugin: PluginFactory) -> None:
    """Return if ``agent``'s audio format is one its factory ``plugin``'s record declares.

    Raises:
        ValueError: it is not (the agent is not started), naming the agent and both.
    """
    declared = plugin.capabilities.audio
    for audio in (agent.audio_format, agent.caller_format or agent.audio_format):
        if audio not in declared:
            name = plugin.name or type(agent).__name__
            formats = ", ".join(sorted(_format_name(f) for f in declared)) or "none"
            raise ValueError(
                f"agent {name}: its audio {_format_name(audio)} is not among the "
                f"formats its capabilities declare ({formats}): declare it in audio"
            )


def _format_name(audio: AudioFormat) -> str:
    return f"{audio.encoding}/{audio.sample_rate}"
