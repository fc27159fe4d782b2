"""What the agent may reach: one allow-list for transfers, calls it places and DTMF it sends.

Toll fraud through an AI agent is a caller talking it into dialing a premium or
foreign number ("transfer me to +44 20 ...", "call me back at ...") or keying
one into a PBX. The defence is not the system prompt: every target an agent
acts on passes :meth:`DialPolicy.check`, and the gateway calls it on the way
out (``sipgw.app.callhandle`` for REFER and DTMF, ``Gateway.place_call`` for
callbacks). Nothing is allowed unless the operator named it.

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
as ``+``); a ``tel:`` URI counts as its number. A SIP URI with parameters other
than ``transport`` and ``user``, or with headers (``?``), matches only an
entry written exactly like it: ``maddr`` could route it anywhere.

Some features name their own targets (``SIPGW_TRANSFER_TARGET`` for
transfers, ``SIPGW_CALLBACK_ALLOWED_PREFIXES`` and ``SIPGW_CALLBACK_URI`` for
callbacks); those are added for that action only (``per_action``,
``call_templates``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

__all__ = ["DIAL_ACTIONS", "DialPolicy", "DialRefused", "tidy_number"]

DIAL_ACTIONS = ("transfer", "call", "dtmf")
"""What an agent can do to reach someone: REFER, place a call, key digits."""

_KEYPAD = "0-9A-D*#"
_NUMBER_TARGET = re.compile(rf"\+?[{_KEYPAD}]+")
_SIP = re.compile(r"(?i)(sips?):([^@]+)@([^;?]+)(.*)")
_SAFE_PARAMS = frozenset({"transport", "user"})


class DialRefused(Exception):
    """An agent asked for a target the operator did not allow.

    Attributes:
        action: ``transfer``, ``call`` or ``dtmf``.
        target: what was asked for, as given.
        reason: why it was refused, for the model, the call record and the log.
    """

    def __init__(self, action: str, target: str, reason: str) -> None:
        super().__init__(f"{action} to {target!r} refused: {reason}")
        self.action = action
        self.target = target
        self.reason = reason


def tidy_number(text: str) -> str | None:
    """``"+1 (555) 010-0"`` -> ``"+15550100"``; ``tel:`` URIs too; None if not a number."""
    value = text.strip()
    if value.lower().startswith("tel:"):
        value = value[4:].split(";", 1)[0]
    value = re.sub(r"[\s().\-]", "", value).upper()
    if value.startswith("00") and len(value) > 4:
        value = "+" + value[2:]
    return value if _NUMBER_TARGET.fullmatch(value) else None


def _number_regex(pattern: str) -> re.Pattern[str]:
    """An entry's number pattern as a regex (see the module docstring)."""
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
    return re.compile("".join(out))


@dataclass(frozen=True, slots=True)
class _SipUri:
    scheme: str
    user: str
    hostport: str
    params: str

    @classmethod
    def parse(cls, text: str) -> _SipUri | None:
        value = text.strip()
        if value.startswith("<") and value.endswith(">"):
            value = value[1:-1]
        match = _SIP.fullmatch(value)
        if match is None:
            return None
        scheme, user, hostport, params = match.groups()
        return cls(scheme.lower(), user, hostport.lower(), params)

    @property
    def plain(self) -> bool:
        """No headers and no parameters that change where the request goes."""
        if "?" in self.params:
            return False
        names = [p.split("=", 1)[0].lower() for p in self.params.split(";") if p]
        return all(name in _SAFE_PARAMS for name in names)


@dataclass(frozen=True, slots=True)
class _Rule:
    text: str
    number: re.Pattern[str] | None = None
    sip: _SipUri | None = None
    user: re.Pattern[str] | None = None
    """For a SIP entry whose user part is ``*`` or a number pattern."""

    @classmethod
    def parse(cls, entry: str) -> _Rule:
        text = entry.strip()
        if text.lower().startswith(("sip:", "sips:")):
            uri = _SipUri.parse(text)
            if uri is None:
                raise ValueError(f"{text!r} is not a SIP URI (sip:user@host)")
            user = None
            if uri.user == "*":
                user = re.compile(".+")
            elif re.match(r"[+0-9\[]", uri.user):
                user = _number_regex(uri.user)
            return cls(text, sip=uri, user=user)
        try:
            return cls(text, number=_number_regex(text.replace(" ", "")))
        except ValueError as exc:
            raise ValueError(f"{text!r}: {exc}") from None

    def matches_number(self, number: str) -> bool:
        return self.number is not None and self.number.fullmatch(number) is not None

    def matches_sip(self, target: str, uri: _SipUri) -> bool:
        rule = self.sip
        if rule is None:
            return False
        if target.strip().strip("<>") == self.text:
            return True
        if not uri.plain or (rule.scheme, rule.hostport) != (uri.scheme, uri.hostport):
            return False
        if self.user is not None:
            user = tidy_number(uri.user) if rule.user != "*" else uri.user
            return user is not None and self.user.fullmatch(user) is not None
        return rule.user == uri.user


def _template_regex(template: str) -> re.Pattern[str]:
    before, _, after = template.partition("{number}")
    return re.compile(f"(?i){re.escape(before)}(?P<number>[^@;?]+){re.escape(after)}")


class DialPolicy:
    """The targets agents may reach; empty (the default) allows nothing.

    Args:
        entries: allowed for every action (``SIPGW_DIAL_ALLOW``).
        per_action: more entries for one action each, e.g. ``{"transfer":
            ("sip:support@pbx.example.com",)}``.
        call_templates: SIP URI templates with ``{number}`` (``SIPGW_CALLBACK_URI``):
            a call to the template filled with an allowed number is allowed.

    Raises:
        ValueError: an entry does not parse; the message names it.
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
        templates = tuple(t for t in call_templates if t)
        self._templates = tuple(_template_regex(t) for t in templates)
        self._key = (
            self.entries,
            tuple(
                sorted(
                    (a, tuple(r.text for r in rules))
                    for a, rules in self._per_action.items()
                    if rules
                )
            ),
            templates,
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

    def allows(self, action: str, target: str) -> bool:
        """True when ``action`` (``transfer``, ``call``, ``dtmf``) may reach ``target``."""
        rules = self._rules(action)
        number = tidy_number(target)
        if number is not None:
            return any(rule.matches_number(number) for rule in rules)
        uri = _SipUri.parse(target)
        if uri is None:
            return False
        if any(rule.matches_sip(target, uri) for rule in rules):
            return True
        if action == "call" and uri.plain:
            for template in self._templates:
                match = template.fullmatch(target.strip().strip("<>"))
                filled = tidy_number(match["number"]) if match else None
                if filled is not None and any(r.matches_number(filled) for r in rules):
                    return True
        return False

    def check(self, action: str, target: str) -> None:
        """Return if allowed.

        Raises:
            DialRefused: ``target`` is not on the allow-list for ``action``.
        """
        if not self.allows(action, target):
            raise DialRefused(action, target, "not an allowed target (SIPGW_DIAL_ALLOW)")

    def __repr__(self) -> str:
        extra = {a: len(r) for a, r in self._per_action.items() if r}
        templates = len(self._templates)
        return f"DialPolicy({list(self.entries)!r}, per_action={extra}, templates={templates})"
