"""What agents may reach: one allow-list for transfers, calls they place and DTMF they key.

Toll fraud through an AI agent is a caller talking it into dialing a premium or
foreign number ("transfer me to +44 20 ...", "call me back at ...") or keying
one into a PBX. The defence is not the system prompt: every target an agent
acts on passes :meth:`DialPolicy.allows`, on the way out of the gateway
(``sipgw.app.calls.dialing``) and, earlier, in the tools that name targets. Nothing
is allowed unless the operator named it.

Entries (``SIPGW_DIAL_ALLOW``, comma-separated)::

    sip:support@pbx.example.com     exactly this SIP URI (user, host and port as written)
    sip:*@pbx.example.com           any user at that host (and port, if one is written)
    sip:+1800*@pbx.example.com      users matching a number pattern at that host
    +1800*                          numbers starting with +1800
    +1555010[0-9]                   +15550100 to +15550109
    +15550100                       exactly this number

A number pattern is digits, ``+``, the keypad's ``*`` ``#`` and ``A``-``D``;
``[0-9]``, ``[13]`` or ``[1-3]`` stand for one digit of a set; a ``*`` at the
end stands for any further digits (a prefix). Numbers are compared after
tidying (blanks, dashes, dots and parentheses dropped, a leading ``00`` read
as ``+``); a ``tel:`` URI counts as its number. DTMF is compared as keyed:
keypad characters only, no ``00`` reading. A SIP URI with parameters other
than ``transport`` and ``user``, with headers (``?``) or with a password
matches only an entry that is the same URI: ``maddr`` could route it anywhere.

Some features name their own targets (``SIPGW_TRANSFER_TARGET`` for
transfers, ``SIPGW_CALLBACK_ALLOWED_PREFIXES`` and ``SIPGW_CALLBACK_URI`` for
callbacks); those are added for that action only (``per_action``,
``call_templates``).

Theory of operation
-------------------
A target is read once, by :func:`parse_dial_target`: a :class:`PhoneNumber`, or
a URI read by :func:`sipgw.sip.uri.parse_uri`, the parser every REFER and INVITE
goes through. The policy judges that object and the gateway sends that same
object (the REFER's ``Refer-To``, the INVITE's Request-URI) or those digits
(RFC 4733), so no second parser can read the target another way. Entries are
read by the same parser. URIs compare as RFC 3261 §19.1.4 has it (user and
password case-sensitive, escapes as written; scheme, host and parameter values
case-insensitive; parameter order ignored), but strictly: every parameter and
header must be on both.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from sipgw.sip.errors import SipError
from sipgw.sip.uri import AbsoluteUri, SipUri, copy_uri, parse_uri

__all__ = [
    "DIAL_ACTIONS",
    "DialPolicy",
    "DialTarget",
    "PhoneNumber",
    "number_pattern",
    "parse_call_template",
    "parse_dial_target",
]

DIAL_ACTIONS = ("transfer", "call", "dtmf")
"""What an agent can do to reach someone: REFER, place a call, key digits."""

_KEYPAD = "0-9A-D*#"
_NUMBER = re.compile(rf"\+?[{_KEYPAD}]+")
_KEYED = re.compile(rf"[{_KEYPAD}]+")
_SEPARATORS = re.compile(r"[\s().\-]")
_SAFE_PARAMS = frozenset({"transport", "user"})
_PLACEHOLDER = "{number}"


@dataclass(frozen=True, slots=True)
class PhoneNumber:
    """A phone number or keypad digits, as dialled."""

    digits: str
    """Keypad characters (``0-9 * # A-D``) after an optional ``+``: blanks and visual
    separators dropped, letters upper-cased. This is what a call to a number puts in the
    Request-URI's user part and what DTMF keys."""

    @classmethod
    def parse(cls, text: str) -> PhoneNumber | None:
        """``"+1 (555) 010-0"`` -> ``PhoneNumber("+15550100")``; None if not a number."""
        digits = _SEPARATORS.sub("", text).upper()
        return cls(digits) if _NUMBER.fullmatch(digits) else None

    @property
    def international(self) -> str:
        """The digits with a leading ``00`` read as ``+``: what number entries match."""
        if self.digits.startswith("00") and len(self.digits) > 4:
            return "+" + self.digits[2:]
        return self.digits

    @property
    def keyed(self) -> bool:
        """Whether a keypad can send it (no ``+``)."""
        return _KEYED.fullmatch(self.digits) is not None


DialTarget = PhoneNumber | SipUri | AbsoluteUri
"""A target as read once: a number, a SIP URI, or another URI (``tel:``, or one we
cannot reach)."""


def parse_dial_target(text: str) -> DialTarget:
    """Read ``text`` (surrounding blanks and angle brackets allowed) as a target.

    Raises:
        ValueError: neither a phone number nor a URI.
    """
    value = text.strip()
    if value.startswith("<") and value.endswith(">"):
        value = value[1:-1]
    number = PhoneNumber.parse(value)
    if number is not None:
        return number
    try:
        return parse_uri(value)
    except SipError:
        raise ValueError(f"{text!r} is neither a phone number nor a URI") from None


def _tel_number(uri: AbsoluteUri) -> PhoneNumber | None:
    """A ``tel:`` URI's number (its parameters dropped, RFC 3966 §3)."""
    if uri.scheme != "tel":
        return None
    return PhoneNumber.parse(uri.rest.split(";", 1)[0])


def _host_key(host: str) -> str:
    try:
        return ipaddress.ip_address(host).compressed
    except ValueError:
        return host


def _same_uri(a: SipUri, b: SipUri) -> bool:
    """The same URI (RFC 3261 §19.1.4 comparison, with every parameter and header required)."""

    def key(uri: SipUri) -> tuple[object, ...]:
        params = sorted((n, None if v is None else v.lower()) for n, v in uri.params.items())
        headers = [(n.lower(), v) for n, v in uri.headers]
        return (uri.scheme, uri.user, uri.password, _host_key(uri.host), uri.port, params, headers)

    return key(a) == key(b)


def _plain(uri: SipUri) -> bool:
    """No headers, no password, no parameters that change where the request goes."""
    return not uri.headers and uri.password is None and uri.params.keys() <= _SAFE_PARAMS


def _number_regex(pattern: str, starts: bool = False) -> re.Pattern[str]:
    """An entry's number pattern as a regex (see the module docstring); ``starts``: one
    that matches the beginnings of what the pattern matches too (each token optional
    once the ones before it matched)."""
    body, prefix = (pattern[:-1], True) if pattern.endswith("*") else (pattern, False)
    out = []
    for token in re.findall(r"\[[^\]]*\]|.", body):
        if token.startswith("["):
            if not re.fullmatch(r"\[(?:[0-9]-[0-9]|[0-9])+\]", token):
                raise ValueError(f"{token!r} is not a digit set like [0-9] or [13]")
            out.append(token)
        elif token == "+" and not out:
            out.append(r"\+")
        elif re.fullmatch(f"[{_KEYPAD}]", token.upper()):
            out.append(re.escape(token.upper()))
        else:
            raise ValueError(f"{token!r} is not allowed in a number pattern")
    if prefix:
        out.append(f"[{_KEYPAD}]*")
    if not out:
        raise ValueError("an empty number pattern")
    if starts:
        return re.compile("".join(f"(?:{token}" for token in out) + ")?" * len(out))
    return re.compile("".join(out))


def number_pattern(pattern: str) -> re.Pattern[str]:
    """A number pattern (``+15550100``, ``+1555010[0-9]``, ``+1800*``; see the module
    docstring) as a regex to ``fullmatch`` against :attr:`PhoneNumber.international`.

    Raises:
        ValueError: it is not a number pattern; the message says what is wrong.
    """
    return _number_regex(pattern.replace(" ", ""))


def _entry_uri(text: str) -> SipUri:
    try:
        uri = parse_uri(text)
    except SipError:
        uri = None
    if not isinstance(uri, SipUri) or uri.user is None:
        raise ValueError(f"{text!r} is not a SIP URI (sip:user@host)")
    return uri


@dataclass(frozen=True, slots=True)
class _Rule:
    text: str
    number: re.Pattern[str] | None = None
    number_start: re.Pattern[str] | None = None
    """What begins a string ``number`` matches (keypad digits keyed so far)."""
    uri: SipUri | None = None
    user: re.Pattern[str] | None = None
    """For a SIP entry whose user part is ``*`` or a number pattern."""

    @classmethod
    def parse(cls, entry: str) -> _Rule:
        text = entry.strip()
        if text.lower().startswith(("sip:", "sips:")):
            uri = _entry_uri(text)
            user = None
            if uri.user == "*":
                user = re.compile(".+")
            elif re.match(r"[+0-9\[]", uri.user or ""):
                user = _number_regex(uri.user or "")
            return cls(text, uri=uri, user=user)
        compact = text.replace(" ", "")
        try:
            return cls(text, _number_regex(compact), _number_regex(compact, starts=True))
        except ValueError as exc:
            raise ValueError(f"{text!r}: {exc}") from None

    def matches_number(self, number: str) -> bool:
        return self.number is not None and self.number.fullmatch(number) is not None

    def starts_number(self, digits: str) -> bool:
        return self.number_start is not None and self.number_start.fullmatch(digits) is not None

    def matches_sip(self, target: SipUri) -> bool:
        rule = self.uri
        if rule is None:
            return False
        if _same_uri(rule, target):
            return True
        where = (rule.scheme, _host_key(rule.host), rule.port)
        if not _plain(target) or where != (target.scheme, _host_key(target.host), target.port):
            return False
        if self.user is None:
            return rule.user == target.user
        if rule.user == "*":
            return target.user is not None
        number = PhoneNumber.parse(target.user or "")
        return number is not None and self.user.fullmatch(number.international) is not None


@dataclass(frozen=True, slots=True)
class _CallTemplate:
    """``sip:{number}@pbx.example.com``: a call there with an allowed number is allowed."""

    text: str
    uri: SipUri
    before: str
    after: str
    """The user part around ``{number}``."""

    def number_in(self, target: SipUri) -> PhoneNumber | None:
        """The number ``target`` fills the template with, if it is the template filled."""
        user = target.user or ""
        end = len(user) - len(self.after)
        if end <= len(self.before) or not user.startswith(self.before):
            return None
        if not user.endswith(self.after):
            return None
        filled = copy_uri(self.uri)
        assert isinstance(filled, SipUri)
        filled.user = user
        if not _same_uri(filled, target):
            return None
        return PhoneNumber.parse(user[len(self.before) : end])


def parse_call_template(text: str) -> _CallTemplate:
    """A ``SIPGW_CALLBACK_URI`` template: a SIP URI whose user part holds ``{number}`` once
    (``sip:{number}@pbx``, ``sip:9{number}@pbx;user=phone``).

    Raises:
        ValueError: it is not; the message names it.
    """
    template = text.strip()
    try:
        uri = _entry_uri(template) if template.count(_PLACEHOLDER) == 1 else None
    except ValueError:
        uri = None
    if uri is None or _PLACEHOLDER not in (uri.user or ""):
        raise ValueError(f"{template!r} is not a SIP URI with {_PLACEHOLDER} in its user part")
    before, _, after = (uri.user or "").partition(_PLACEHOLDER)
    return _CallTemplate(template, uri, before, after)


class DialPolicy:
    """The targets agents may reach; empty (the default) allows nothing.

    Args:
        entries: allowed for every action (``SIPGW_DIAL_ALLOW``).
        per_action: more entries for one action each, e.g. ``{"transfer":
            ("sip:support@pbx.example.com",)}``.
        call_templates: SIP URI templates with ``{number}`` (``SIPGW_CALLBACK_URI``):
            a call to the template filled with an allowed number is allowed.

    Raises:
        ValueError: an entry or template does not parse; the message names it.
    """

    __slots__ = ("_common", "_key", "_per_action", "_templates", "entries")

    def __init__(
        self,
        entries: Iterable[str] = (),
        *,
        per_action: Mapping[str, Iterable[str]] | None = None,
        call_templates: Iterable[str] = (),
    ) -> None:
        self.entries = tuple(e.strip() for e in entries if e.strip())
        self._common = tuple(_Rule.parse(e) for e in self.entries)
        self._per_action = {
            action: tuple(_Rule.parse(e) for e in extra if e.strip())
            for action, extra in (per_action or {}).items()
        }
        self._templates = tuple(parse_call_template(t) for t in call_templates if t.strip())
        self._key = (
            self.entries,
            tuple(
                sorted(
                    (a, tuple(r.text for r in rules))
                    for a, rules in self._per_action.items()
                    if rules
                )
            ),
            tuple(t.text for t in self._templates),
        )

    def __eq__(self, other: object) -> bool:
        return isinstance(other, DialPolicy) and self._key == other._key

    def __hash__(self) -> int:
        return hash(self._key)

    @classmethod
    def parse(cls, text: str) -> DialPolicy:
        """``SIPGW_DIAL_ALLOW``'s comma-separated entries (see the module docstring)."""
        return cls(part for part in text.split(","))

    def _rules(self, action: str) -> tuple[_Rule, ...]:
        return self._common + self._per_action.get(action, ())

    def allows(self, action: str, target: str | DialTarget) -> bool:
        """True when ``action`` (``transfer``, ``call``, ``dtmf``) may reach ``target``.

        ``target`` is text (read by :func:`parse_dial_target`; unreadable text is
        refused) or a target already read: the gateway passes the object it sends.
        """
        if isinstance(target, str):
            try:
                target = parse_dial_target(target)
            except ValueError:
                return False
        rules = self._rules(action)
        if action == "dtmf":  # judged as keyed: what RFC 4733 sends
            if not isinstance(target, PhoneNumber) or not target.keyed:
                return False
            return any(rule.matches_number(target.digits) for rule in rules)
        number = _tel_number(target) if isinstance(target, AbsoluteUri) else target
        if isinstance(number, PhoneNumber):
            return any(rule.matches_number(number.international) for rule in rules)
        if not isinstance(target, SipUri):
            return False
        if any(rule.matches_sip(target) for rule in rules):
            return True
        if action != "call":
            return False
        for template in self._templates:
            filled = template.number_in(target)
            if filled is not None and any(r.matches_number(filled.international) for r in rules):
                return True
        return False

    def allows_keyed(self, digits: str) -> bool:
        """Whether the DTMF ``digits`` a call has keyed so far (all of them, in order) are
        an allowed sequence or the beginning of one: ``1`` and ``12`` on the way to an
        allowed ``12#``, never ``1#``. Keys allowed one at a time do not add up to more."""
        number = PhoneNumber.parse(digits)
        if number is None or not number.keyed:
            return False
        return any(rule.starts_number(number.digits) for rule in self._rules("dtmf"))

    def __repr__(self) -> str:
        extra = {a: len(r) for a, r in self._per_action.items() if r}
        templates = len(self._templates)
        return f"DialPolicy({list(self.entries)!r}, per_action={extra}, templates={templates})"
