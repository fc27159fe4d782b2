"""A campaign's settings, its contacts and their states (plain data, no I/O).

A campaign is ``running``, ``paused``, ``cancelled`` or ``finished`` (nothing left to
dial). Each contact goes ``pending`` -> ``dialing`` -> ``pending`` again (a retry) or one
final state: ``done`` (answered: by a person or a machine), ``failed`` (no attempt left, or
refused), ``dnc`` (on the do-not-call list when its turn came) or ``cancelled`` (the
campaign was). :func:`campaign_spec` reads the settings of ``POST /api/campaigns``,
naming the field at fault.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sipgw.agent.amd.settings import AmdRequest
from sipgw.app.upstream.callrequest import amd_request, ivr_goal

__all__ = [
    "DAYS",
    "FINAL_STATES",
    "RETRY_OUTCOMES",
    "Campaign",
    "CampaignLimits",
    "CampaignSpec",
    "CampaignState",
    "CallingHours",
    "Contact",
    "ContactRow",
    "ContactState",
    "Progress",
    "RetryRule",
    "campaign_spec",
    "spec_from_json",
    "time_zone",
]

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
"""Weekday names of ``days``, Monday first (``datetime.weekday()`` order)."""
RETRY_OUTCOMES = ("busy", "no_answer", "failed", "voicemail")
"""The outcomes ``retry`` may name (docs/campaigns.md, "Retries")."""


class CampaignState(Enum):
    """Where a campaign is."""

    RUNNING = "running"
    PAUSED = "paused"
    CANCELLED = "cancelled"
    FINISHED = "finished"


class ContactState(Enum):
    """Where one contact is (see the module docstring)."""

    PENDING = "pending"
    DIALING = "dialing"
    DONE = "done"
    FAILED = "failed"
    DNC = "dnc"
    CANCELLED = "cancelled"


FINAL_STATES = frozenset({ContactState.DONE, ContactState.FAILED, ContactState.DNC,
                          ContactState.CANCELLED})  # fmt: skip


@dataclass(frozen=True, slots=True)
class CampaignLimits:
    """The operator's bounds on what a campaign may ask (the ``campaigns`` settings)."""

    max_contacts: int = 10000
    max_field: int = 1000
    """Characters of one CSV field or JSON value."""
    max_per_second: float = 10.0
    max_concurrency: int = 20


@dataclass(frozen=True, slots=True)
class CallingHours:
    """When contacts may be called, in each contact's own time zone.

    ``start`` and ``end`` are minutes after midnight (``end`` excluded; ``end`` before
    ``start`` spans midnight); ``days`` the weekdays (0 = Monday) a window may start on.
    """

    start: int = 9 * 60
    end: int = 20 * 60
    days: frozenset[int] = frozenset(range(7))

    def describe(self) -> str:
        """``09:00-20:00`` (and the days when not every day)."""
        text = (
            f"{self.start // 60:02d}:{self.start % 60:02d}-{self.end // 60:02d}:{self.end % 60:02d}"
        )
        if self.days != frozenset(range(7)):
            text += " " + ",".join(DAYS[d] for d in sorted(self.days))
        return text


@dataclass(frozen=True, slots=True)
class RetryRule:
    """Retries by outcome: ``delays[outcome]`` seconds before the next attempt, None = not
    retried; at most ``max_attempts`` attempts per contact in all."""

    delays: Mapping[str, float | None] = field(
        default_factory=lambda: {
            "busy": 300.0,
            "no_answer": 900.0,
            "failed": 1800.0,
            "voicemail": None,
        }  # fmt: skip
    )
    max_attempts: int = 3


@dataclass(frozen=True, slots=True)
class CampaignSpec:
    """What ``POST /api/campaigns`` sets (docs/campaigns.md lists every field)."""

    name: str
    line: str | None = None
    agent: str | None = None
    caller_id: str | None = None
    amd: AmdRequest | None = None
    ivr_goal: str | None = None
    """What each call reaches through a phone menu before the agent talks (docs/ivr.md);
    None: the line's."""
    ring_timeout: float | None = None
    per_second: float = 1.0
    concurrency: int = 2
    hours: CallingHours = CallingHours()
    time_zone: str = "UTC"
    """The time zone of contacts that give none."""
    retry: RetryRule = RetryRule()

    def as_json(self) -> dict[str, Any]:
        """The settings as ``GET /api/campaigns/{id}`` shows them (and the store keeps them)."""
        return {
            "name": self.name, "line": self.line, "agent": self.agent,
            "caller_id": self.caller_id,
            "amd": self.amd.mode.value if self.amd is not None else None,
            "amd_message": self.amd.message if self.amd is not None else None,
            "ivr_goal": self.ivr_goal,
            "ring_timeout": self.ring_timeout, "per_second": self.per_second,
            "concurrency": self.concurrency,
            "hours": self.hours.describe().split(" ")[0],
            "days": ",".join(DAYS[d] for d in sorted(self.hours.days)),
            "time_zone": self.time_zone,
            "retry": dict(self.retry.delays), "max_attempts": self.retry.max_attempts,
        }  # fmt: skip


@dataclass(frozen=True, slots=True)
class Contact:
    """One contact as given: where to call, its variables, its time zone."""

    number: str
    """A phone number (``+`` and digits) or a SIP URI."""
    variables: Mapping[str, str]
    time_zone: str
    row: int
    """Its row in the list as given (1 = the first contact), for errors and results."""


@dataclass(frozen=True, slots=True)
class ContactRow:
    """One stored contact."""

    id: int
    campaign: int
    row: int
    number: str
    variables: Mapping[str, str]
    time_zone: str
    state: ContactState
    attempts: int
    next_at: float
    last_outcome: str
    """The last attempt's outcome key (``person``, ``machine``, ``busy``, ``no_answer``,
    ``declined``, ``failed``, ``interrupted``, ``refused``; "" before any)."""
    detail: str
    """The last attempt for people (``busy (SIP 486 Busy Here)``)."""
    call_id: str
    """The last attempt's call log id ("" before any)."""
    claimed_by: str | None
    lease_until: float | None
    updated: float


@dataclass(frozen=True, slots=True)
class Campaign:
    """One stored campaign."""

    id: int
    spec: CampaignSpec
    state: CampaignState
    created: float
    next_dial_at: float
    """The pacing: no contact of it is claimed before this time."""


@dataclass(frozen=True, slots=True)
class Progress:
    """A campaign's counts (``GET /api/campaigns/{id}``, the dashboard, ``/metrics``)."""

    total: int = 0
    dialled: int = 0
    """Attempts made (a contact retried counts each time)."""
    person: int = 0
    """Contacts answered by a person."""
    machine: int = 0
    """Contacts answered by a machine (voicemail, announcement, screener)."""
    completed: int = 0
    """Contacts done (answered, by whoever)."""
    failed: int = 0
    dnc: int = 0
    cancelled: int = 0
    dialing: int = 0
    left: int = 0
    """Contacts still to dial (pending or dialing)."""

    def as_json(self) -> dict[str, int]:
        return {
            "total": self.total, "dialled": self.dialled, "person": self.person,
            "machine": self.machine, "completed": self.completed, "failed": self.failed,
            "dnc": self.dnc, "cancelled": self.cancelled, "dialing": self.dialing,
            "left": self.left,
        }  # fmt: skip


# -- reading the settings ------------------------------------------------------------------

_FIELDS = ("name", "line", "agent", "caller_id", "amd", "amd_message", "ivr_goal", "ring_timeout",
           "per_second", "concurrency", "hours", "days", "time_zone", "retry",
           "max_attempts")  # fmt: skip
_HOURS = re.compile(r"([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-4]):([0-5]\d)")


def time_zone(text: str) -> str:
    """An IANA time zone name (``Europe/Paris``), checked.

    Raises:
        ValueError: not one this machine knows.
    """
    name = text.strip()
    if not name or len(name) > 64 or name.startswith(("/", ".")) or ".." in name:
        raise ValueError(f"{text!r} is not a time zone (IANA name, e.g. Europe/Paris)")
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{text!r} is not a time zone (IANA name, e.g. Europe/Paris)") from None
    return name


def _number(body: Mapping[str, Any], name: str, low: float, high: float, default: float) -> float:
    value = body.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not low < value <= high:
        raise ValueError(f'"{name}" must be a number more than {low:g}, at most {high:g}')
    return float(value)


def _string(body: Mapping[str, Any], name: str, limit: int = 200) -> str | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip() or len(value) > limit:
        raise ValueError(f'"{name}" must be a non-empty string of at most {limit} characters')
    if any(not ch.isprintable() for ch in value):
        raise ValueError(f'"{name}" must be one line of printable text')
    return value.strip()


def _hours(body: Mapping[str, Any]) -> CallingHours:
    text = body.get("hours", "09:00-20:00")
    match = _HOURS.fullmatch(text.strip()) if isinstance(text, str) else None
    if match is None:
        raise ValueError(
            '"hours" must be HH:MM-HH:MM in each contact\'s time zone, e.g. 09:00-20:00'
        )
    h1, m1, h2, m2 = (int(g) for g in match.groups())
    start, end = h1 * 60 + m1, h2 * 60 + m2
    if end > 24 * 60 or start == end:
        raise ValueError('"hours": the window must not be empty, and end at 24:00 at the latest')
    days_text = body.get("days", ",".join(DAYS))
    if not isinstance(days_text, str):
        raise ValueError('"days" must be a comma-separated list of mon, tue, ... sun')
    days = set()
    for part in days_text.lower().split(","):
        if part.strip() not in DAYS:
            raise ValueError(f'"days": {part.strip()!r} is not one of {", ".join(DAYS)}')
        days.add(DAYS.index(part.strip()))
    return CallingHours(start, end, frozenset(days))


def _retry(body: Mapping[str, Any]) -> RetryRule:
    delays: dict[str, float | None] = dict(RetryRule().delays)
    given = body.get("retry", {})
    if not isinstance(given, dict):
        raise ValueError('"retry" must be an object: {"busy": 300, "no_answer": 900, ...}')
    for outcome, delay in given.items():
        if outcome not in RETRY_OUTCOMES:
            raise ValueError(f'"retry": {outcome!r} is not one of {", ".join(RETRY_OUTCOMES)}')
        if delay is None:
            delays[outcome] = None
            continue
        if (
            isinstance(delay, bool)
            or not isinstance(delay, int | float)
            or not 0 <= delay <= 7 * 86400
        ):
            raise ValueError(
                f'"retry": {outcome} must be seconds from 0 to 604800, or null (no retry)'
            )
        delays[outcome] = float(delay)
    attempts = body.get("max_attempts", RetryRule().max_attempts)
    if isinstance(attempts, bool) or not isinstance(attempts, int) or not 1 <= attempts <= 10:
        raise ValueError('"max_attempts" must be a whole number from 1 to 10')
    return RetryRule(delays, attempts)


def campaign_spec(body: Mapping[str, Any], limits: CampaignLimits) -> CampaignSpec:
    """A campaign's settings from ``POST /api/campaigns``'s fields (``contacts`` and ``csv``
    are read by :mod:`~sipgw.app.campaigns.contacts`).

    Raises:
        ValueError: a field is unknown, missing or wrong; the message names it.
    """
    unknown = sorted(set(body) - {*_FIELDS, "contacts", "csv"})
    if unknown:
        raise ValueError(
            f'unknown field "{unknown[0]}" (fields: {", ".join(_FIELDS)}, contacts, csv)'
        )
    name = _string(body, "name", 100)
    if name is None:
        raise ValueError('"name" is required: a short name for the campaign')
    zone = body.get("time_zone", "UTC")
    if not isinstance(zone, str):
        raise ValueError('"time_zone" must be an IANA time zone name, e.g. America/New_York')
    try:
        zone = time_zone(zone)
    except ValueError as exc:
        raise ValueError(f'"time_zone": {exc}') from None
    concurrency = body.get("concurrency", 2)
    if (
        isinstance(concurrency, bool)
        or not isinstance(concurrency, int)
        or not 1 <= concurrency <= limits.max_concurrency
    ):
        raise ValueError(f'"concurrency" must be a whole number from 1 to {limits.max_concurrency}'
                         " (SIPGW_CAMPAIGN_MAX_CONCURRENCY)")  # fmt: skip
    ring = body.get("ring_timeout")
    return CampaignSpec(
        name=name,
        line=_string(body, "line"),
        agent=_string(body, "agent"),
        caller_id=_string(body, "caller_id"),
        amd=amd_request(body),
        ivr_goal=ivr_goal(body),
        ring_timeout=None if ring is None else _number(body, "ring_timeout", 0, 600, 60),
        per_second=_number(body, "per_second", 0, limits.max_per_second, 1.0),
        concurrency=concurrency,
        hours=_hours(body),
        time_zone=zone,
        retry=_retry(body),
    )


def spec_from_json(data: Mapping[str, Any]) -> CampaignSpec:
    """The settings as :meth:`CampaignSpec.as_json` wrote them (read back from the store)."""
    body = {k: v for k, v in data.items() if v is not None}
    body["retry"] = data.get("retry") or {}
    limits = CampaignLimits(max_per_second=1e9, max_concurrency=1 << 30)
    return campaign_spec(body, limits)
