"""What a call is placed with: target, caller id, variables, headers, agent, account, AMD.

:class:`CallRequest` is the one description of a call to place, whoever asks:
``POST /api/calls`` (:func:`call_request` reads its JSON body), ``sipgw call``
(``--var name=value``, ``--header X-Name=value``: :func:`assignments`), a callback, or
a line that supplies defaults (:meth:`CallRequest.over`). Everything is checked here,
once, with errors that name the field and what is allowed: variables follow
:func:`sipgw.agent.variables.check_variables`, headers
:func:`sipgw.sip.customheaders.check_custom_headers` (no header injection).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from sipgw.agent.amd.settings import AmdMode, AmdRequest, parse_mode
from sipgw.agent.ivr.goal import check_goal
from sipgw.agent.twiml.program import absolute_url
from sipgw.agent.variables import check_variables
from sipgw.sip.customheaders import check_custom_headers
from sipgw.twilio.document import MAX_TWIML_BYTES, TwimlError, parse_twiml

__all__ = [
    "FIELDS",
    "MAX_AMD_MESSAGE",
    "CallDefaults",
    "CallRequest",
    "TwimlSource",
    "amd_request",
    "assignments",
    "call_request",
    "ivr_goal",
    "twiml_source",
]

FIELDS = (
    "target", "caller_id", "variables", "headers", "agent", "account", "ring_timeout", "line",
    "amd", "amd_message", "twiml_url", "twiml", "ivr_goal",
)  # fmt: skip
"""The fields of a call request (and of ``POST /api/calls``, with ``wait``)."""


@dataclass(frozen=True, slots=True)
class TwimlSource:
    """A placed call's own TwiML, for the ``twiml`` agent (docs/twilio-apps.md): the webhook
    to fetch it from (``twiml_url``) or the document itself (``twiml``); one of them."""

    url: str = ""
    document: str = ""
    machine_detection: Mapping[str, str] = field(default_factory=dict)
    """Twilio's ``MachineDetection`` parameters of a call created through the REST subset
    (docs/twilio-api.md); {} = none."""


@dataclass(frozen=True, slots=True)
class CallDefaults:
    """What a line (or anything that places calls for someone) gives every call it places,
    unless the call says otherwise."""

    caller_id: str | None = None
    variables: Mapping[str, str] = field(default_factory=dict)
    headers: tuple[tuple[str, str], ...] = ()
    agent: str | None = None
    account: str | None = None
    amd: AmdRequest | None = None
    """Answering-machine detection of every call (a campaign's: docs/amd.md)."""
    ivr_goal: str | None = None
    """What every call is to reach through a phone menu first (docs/ivr.md); None: none."""


@dataclass(frozen=True, slots=True)
class CallRequest:
    """One call to place.

    Attributes:
        target: a phone number or a SIP URI.
        caller_id: the From for this call; None = the account's (``SIPGW_CALLER_ID``).
        variables: the call's variables, for its agent (checked).
        headers: ``X-`` headers for its INVITE and its REFERs (checked).
        agent: the agent (by the name it was started with); None = the gateway's.
        account: the account to call through (its proxy, credentials and caller id);
            None = the ``--register`` one and the outbound settings.
        ring_timeout: seconds before CANCEL; None = ``SIPGW_RING_TIMEOUT``.
        line: the routes file's line to call on (its agent, and its defaults under what
            this request says: :meth:`over`); None = none.
        amd: its answering-machine detection (``amd``, ``amd_message``); None = its
            line's, else ``SIPGW_AMD`` (docs/amd.md).
        twiml: its own TwiML (``twiml_url`` or ``twiml``), for the ``twiml`` agent; None =
            the agent's ``SIPGW_TWIML_URL`` (or its line's).
        ivr_goal: what to reach through a phone menu before its agent talks (docs/ivr.md);
            None = its line's; "" = none.
    """

    target: str
    caller_id: str | None = None
    variables: Mapping[str, str] = field(default_factory=dict)
    headers: tuple[tuple[str, str], ...] = ()
    agent: str | None = None
    account: str | None = None
    ring_timeout: float | None = None
    line: str | None = None
    amd: AmdRequest | None = None
    twiml: TwimlSource | None = None
    ivr_goal: str | None = None

    def over(self, defaults: CallDefaults) -> CallRequest:
        """This request with what it leaves open taken from ``defaults``: variables and
        headers merged (this request's win, name by name).

        Raises:
            ValueError: the merged headers are too many.
        """
        names = {name.lower() for name, _ in self.headers}
        headers = (*[h for h in defaults.headers if h[0].lower() not in names], *self.headers)
        return CallRequest(
            self.target,
            self.caller_id if self.caller_id is not None else defaults.caller_id,
            {**defaults.variables, **self.variables},
            check_custom_headers(headers),
            self.agent if self.agent is not None else defaults.agent,
            self.account if self.account is not None else defaults.account,
            self.ring_timeout,
            self.line,
            self.amd if self.amd is not None else defaults.amd,
            self.twiml,
            self.ivr_goal if self.ivr_goal is not None else defaults.ivr_goal,
        )


def _text(body: Mapping[str, object], name: str, required: bool = False) -> str | None:
    value = body.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip():
        what = "a phone number or SIP URI" if name == "target" else "a non-empty string"
        raise ValueError(f'"{name}" must be {what}')
    return value.strip()


def _object(body: Mapping[str, object], name: str) -> Mapping[str, object]:
    value = body.get(name)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ValueError(f'"{name}" must be an object of strings, e.g. {{"first_name": "Ada"}}')
    return value


def call_request(body: Mapping[str, object]) -> CallRequest:
    """A request from ``POST /api/calls``'s JSON object (``wait`` is the API's own).

    Raises:
        ValueError: a field is missing, of the wrong type, or not allowed; or an unknown
            field (the message names it).
    """
    unknown = sorted(set(body) - {*FIELDS, "wait"})
    if unknown:
        raise ValueError(f'unknown field "{unknown[0]}" (fields: {", ".join(FIELDS)}, wait)')
    target = _text(body, "target", required=True)
    assert target is not None
    try:
        variables = check_variables(_object(body, "variables"))
    except ValueError as exc:
        raise ValueError(f'"variables": {exc}') from None
    raw_headers = _object(body, "headers")
    for name, value in raw_headers.items():
        if not isinstance(value, str):
            raise ValueError(f'"headers": header {name}: the value must be a string')
    try:
        headers = check_custom_headers([(str(k), str(v)) for k, v in raw_headers.items()])
    except ValueError as exc:
        raise ValueError(f'"headers": {exc}') from None
    ring_timeout = body.get("ring_timeout")
    if ring_timeout is not None and (
        isinstance(ring_timeout, bool)
        or not isinstance(ring_timeout, int | float)
        or not 0 < ring_timeout <= 600
    ):
        raise ValueError('"ring_timeout" must be a number of seconds, more than 0, at most 600')
    return CallRequest(
        target,
        _text(body, "caller_id"),
        variables,
        headers,
        _text(body, "agent"),
        _text(body, "account"),
        float(ring_timeout) if ring_timeout is not None else None,
        _text(body, "line"),
        amd_request(body),
        twiml_source(body),
        ivr_goal(body),
    )


def twiml_source(body: Mapping[str, object]) -> TwimlSource | None:
    """A call's own TwiML: ``twiml_url`` (an http(s) URL) or ``twiml`` (a document, parsed
    here so that a bad one is refused before the call is placed); None = neither.

    Raises:
        ValueError: both given, a URL that is not http(s), or a document that is not TwiML
            sipgw follows (the message names the field and says why).
    """
    url, document = body.get("twiml_url"), body.get("twiml")
    if url is not None and document is not None:
        raise ValueError('"twiml_url" and "twiml": give one of them, not both')
    if url is not None:
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise ValueError('"twiml_url" must be an http:// or https:// URL')
        try:
            absolute_url("", url)
        except ValueError as exc:
            raise ValueError(f'"twiml_url": {exc}') from None
        return TwimlSource(url=url)
    if document is not None:
        if not isinstance(document, str) or len(document.encode()) > MAX_TWIML_BYTES:
            raise ValueError(f'"twiml" must be a TwiML document of at most {MAX_TWIML_BYTES} bytes')
        try:
            parse_twiml(document)
        except TwimlError as exc:
            raise ValueError(f'"twiml": {exc}') from None
        return TwimlSource(document=document)
    return None


def ivr_goal(body: Mapping[str, object]) -> str | None:
    """A call's (or a line's) ``ivr_goal``: what to reach through a phone menu; None =
    not given ("" = none).

    Raises:
        ValueError: no text, or too long (naming the field).
    """
    if "ivr_goal" not in body:
        return None
    return check_goal(body["ivr_goal"])


MAX_AMD_MESSAGE = 1000
"""Characters a call's own voicemail message may have."""


def amd_request(body: Mapping[str, object]) -> AmdRequest | None:
    """The detection a call (or a line) asks for with ``amd`` (``off``, ``detect``,
    ``leave_message``, ``hang_up``) and ``amd_message`` (its voicemail message; alone, it
    asks for ``leave_message``); None = the default.

    Raises:
        ValueError: a mode that is none of the four, or a message that is no text or too
            long (the message names the field).
    """
    mode, message = body.get("amd"), body.get("amd_message")
    if message is not None and (not isinstance(message, str) or len(message) > MAX_AMD_MESSAGE):
        raise ValueError(f'"amd_message" must be text of at most {MAX_AMD_MESSAGE} characters')
    if mode is None:
        return None if message is None else AmdRequest(AmdMode.LEAVE_MESSAGE, message.strip())
    if not isinstance(mode, str):
        raise ValueError('"amd" must be off, detect, leave_message or hang_up')
    try:
        parsed = parse_mode(mode)
    except ValueError as exc:
        raise ValueError(f'"amd" {exc}') from None
    return AmdRequest(parsed, message.strip() if message is not None else None)


def assignments(items: Iterable[str], flag: str) -> dict[str, str]:
    """``["first_name=Ada", ...]`` (``--var`` or ``--header`` values) as a dict.

    Raises:
        ValueError: an item without ``=`` or with an empty name (the message names the flag).
    """
    result: dict[str, str] = {}
    for item in items:
        name, eq, value = item.partition("=")
        if not eq or not name.strip():
            raise ValueError(f"{flag} {item!r}: must be NAME=VALUE")
        result[name.strip()] = value
    return result
