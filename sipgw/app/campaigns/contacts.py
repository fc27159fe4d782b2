"""A campaign's contacts from a CSV text or a JSON list: bounded, checked, errors naming
the row and field the user sent.

CSV: a header row, then one contact per row. The column ``number`` (or ``phone``) is where
to call; ``time_zone`` (or ``timezone``, ``tz``), when present, the contact's time zone
(empty: the campaign's); every other column is a variable for the agent (its name an
identifier: ``first_name``). JSON: a list of ``{"number", "variables": {...},
"time_zone"}``.

A number is a phone number (digits, an optional ``+``; blanks, dots, dashes and brackets
dropped; a leading ``00`` read as ``+``) or a SIP URI, and must be allowed by the dial
allow-list (``SIPGW_DIAL_ALLOW``) for calls: the gateway checks it again before every
dial. A number listed twice is refused (a contact is called once).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sipgw.agent.tools.callback_store import dialable_number
from sipgw.agent.variables import check_variables
from sipgw.app.campaigns.model import CampaignLimits, Contact, time_zone
from sipgw.sip.dialpolicy import parse_dial_target

__all__ = ["ContactError", "contacts_from_csv", "contacts_from_json", "normalize_number"]

_NUMBER_COLUMNS = ("number", "phone")
_ZONE_COLUMNS = ("time_zone", "timezone", "tz")


class ContactError(ValueError):
    """A contact that cannot be taken; the message names its row and field."""

    def __init__(self, row: int, field: str, why: str) -> None:
        super().__init__(f"row {row}, {field}: {why}")
        self.row = row
        self.field = field


def normalize_number(text: str) -> str:
    """``+1 (555) 010-0100`` -> ``+15550100100``; a SIP URI as it is (read by the SIP parser).

    Raises:
        ValueError: neither a phone number nor a SIP URI.
    """
    given = text.strip()
    if given.lower().startswith(("sip:", "sips:")):
        try:
            parse_dial_target(given)
        except ValueError as exc:
            raise ValueError(f"{given!r} is not a SIP URI ({exc})") from None
        return given
    return dialable_number(given)


def _contact(
    row: int,
    number: object,
    variables: Mapping[str, object],
    zone: object,
    default_zone: str,
    allowed: Callable[[str], bool],
    limits: CampaignLimits,
    number_field: str,
) -> Contact:
    if not isinstance(number, str) or not number.strip():
        raise ContactError(row, number_field, "missing: where to call (a phone number or SIP URI)")
    if len(number) > limits.max_field:
        raise ContactError(row, number_field, f"longer than {limits.max_field} characters")
    try:
        target = normalize_number(number)
    except ValueError as exc:
        raise ContactError(row, number_field, str(exc)) from None
    if not allowed(target):
        raise ContactError(row, number_field, f"{target} is not in the dial allow-list "
                           "(SIPGW_DIAL_ALLOW)")  # fmt: skip
    for name, value in variables.items():
        if isinstance(value, str) and len(value) > limits.max_field:
            raise ContactError(row, str(name), f"longer than {limits.max_field} characters")
    try:
        checked = check_variables(variables)
    except ValueError as exc:
        raise ContactError(row, "variables", str(exc)) from None
    if zone is None or zone == "":
        zone_name = default_zone
    elif not isinstance(zone, str):
        raise ContactError(row, "time_zone", "must be an IANA time zone name, e.g. Europe/Paris")
    else:
        try:
            zone_name = time_zone(zone)
        except ValueError as exc:
            raise ContactError(row, "time_zone", str(exc)) from None
    return Contact(target, checked, zone_name, row)


def _no_repeats(contacts: Sequence[Contact]) -> None:
    seen: dict[str, int] = {}
    for contact in contacts:
        first = seen.setdefault(contact.number, contact.row)
        if first != contact.row:
            raise ContactError(contact.row, "number", f"{contact.number} is also row {first}: "
                               "each number once")  # fmt: skip


def contacts_from_csv(
    text: str, default_zone: str, allowed: Callable[[str], bool], limits: CampaignLimits
) -> list[Contact]:
    """The contacts of a CSV text (module docstring); row 1 is the first after the header.

    Raises:
        ContactError: a row or field at fault (or ``row 0`` for the header).
    """
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = [name.strip() for name in next(reader)]
    except StopIteration:
        raise ContactError(0, "header", "the CSV is empty: a header row first") from None
    except csv.Error as exc:
        raise ContactError(0, "header", str(exc)) from None
    if not any(header):
        raise ContactError(0, "header", "the first row must name the columns (number, ...)")
    header[0] = header[0].lstrip("\ufeff")  # a spreadsheet's byte-order mark
    lowered = [name.lower() for name in header]
    number_col = next((lowered.index(c) for c in _NUMBER_COLUMNS if c in lowered), None)
    if number_col is None:
        raise ContactError(0, "header", "no column named number (or phone)")
    zone_col = next((lowered.index(c) for c in _ZONE_COLUMNS if c in lowered), None)
    if len(set(lowered)) != len(lowered):
        raise ContactError(0, "header", "a column name is repeated")
    contacts: list[Contact] = []
    row = 0
    while True:
        row += 1
        try:
            values = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            raise ContactError(row, "csv", str(exc)) from None
        if not any(v.strip() for v in values):
            row -= 1  # blank lines are not rows
            continue
        if len(contacts) >= limits.max_contacts:
            raise ContactError(row, "csv", f"more than {limits.max_contacts} contacts "
                               "(SIPGW_CAMPAIGN_MAX_CONTACTS)")  # fmt: skip
        if len(values) != len(header):
            raise ContactError(row, "csv", f"{len(values)} fields, the header has {len(header)}")
        for name, value in zip(header, values, strict=True):
            if len(value) > limits.max_field:
                raise ContactError(row, name, f"longer than {limits.max_field} characters")
        variables = {
            header[i]: values[i].strip() for i in range(len(header))
            if i not in (number_col, zone_col)
        }  # fmt: skip
        zone = values[zone_col].strip() if zone_col is not None else None
        contacts.append(_contact(row, values[number_col], variables, zone, default_zone,
                                 allowed, limits, header[number_col]))  # fmt: skip
    if not contacts:
        raise ContactError(1, "csv", "no contacts after the header")
    _no_repeats(contacts)
    return contacts


def contacts_from_json(
    items: Any, default_zone: str, allowed: Callable[[str], bool], limits: CampaignLimits
) -> list[Contact]:
    """The contacts of ``"contacts"``: a list of objects (module docstring); row 1 is the
    first.

    Raises:
        ContactError: a row or field at fault.
    """
    if not isinstance(items, list) or not items:
        raise ContactError(0, "contacts", 'must be a non-empty list of {"number": ...}')
    if len(items) > limits.max_contacts:
        too_many = f"more than {limits.max_contacts} contacts (SIPGW_CAMPAIGN_MAX_CONTACTS)"
        raise ContactError(limits.max_contacts + 1, "contacts", too_many)
    contacts = []
    for row, item in enumerate(items, start=1):
        if not isinstance(item, dict):
            raise ContactError(row, "contacts", 'must be an object: {"number": ...}')
        unknown = sorted(set(item) - {"number", "variables", "time_zone"})
        if unknown:
            raise ContactError(row, unknown[0], "unknown field (number, variables, time_zone)")
        variables = item.get("variables") or {}
        if not isinstance(variables, dict):
            raise ContactError(row, "variables", 'must be an object: {"first_name": "Ada"}')
        contacts.append(_contact(row, item.get("number"), variables, item.get("time_zone"),
                                 default_zone, allowed, limits, "number"))  # fmt: skip
    _no_repeats(contacts)
    return contacts
