"""Reading contacts: CSV and JSON, numbers tidied, bounds, errors naming row and field."""

from __future__ import annotations

import pytest

from sipgw.app.campaigns.contacts import (
    ContactError,
    contacts_from_csv,
    contacts_from_json,
    normalize_number,
)
from sipgw.app.campaigns.model import CampaignLimits

LIMITS = CampaignLimits(max_contacts=3, max_field=25)


def allow_all(target: str) -> bool:
    return True


def test_a_csv_with_variables_and_time_zones() -> None:
    text = (
        "\ufeffPhone,first_name,TZ\r\n"
        "+1 (555) 010-0100,Ada,America/New_York\r\n"
        "\r\n"  # blank lines are not rows
        "0044 20 7946 0000,Bob,\r\n"
        'sip:carol@pbx.example.com,"Carol, Jr",Europe/Paris\r\n'
    )
    first, second, third = contacts_from_csv(text, "UTC", allow_all, LIMITS)
    assert (first.number, first.variables, first.time_zone, first.row) == (
        "+15550100100", {"first_name": "Ada"}, "America/New_York", 1,
    )  # fmt: skip
    assert (second.number, second.time_zone, second.row) == ("+442079460000", "UTC", 2)
    assert (third.number, third.variables["first_name"]) == (
        "sip:carol@pbx.example.com", "Carol, Jr",
    )  # fmt: skip


def test_a_json_list() -> None:
    (contact,) = contacts_from_json(
        [{"number": "+15550100", "variables": {"x": "1"}, "time_zone": "Asia/Tokyo"}],
        "UTC", allow_all, LIMITS,
    )  # fmt: skip
    assert (contact.number, contact.variables, contact.time_zone) == (
        "+15550100", {"x": "1"}, "Asia/Tokyo",
    )  # fmt: skip


@pytest.mark.parametrize(
    ("text", "row", "field"),
    [
        ("number\r\n+1555\r\n+1556\r\n+1557\r\n+1558\r\n", 4, "csv"),  # over max_contacts
        ("number\r\n" + "1" * 26 + "\r\n", 1, "number"),  # over max_field
        ("number,note\r\n+1555," + "x" * 26 + "\r\n", 1, "note"),
        ('number\r\n"unclosed\r\n', 1, "number"),
        ("", 0, "header"),
        ("number,number\r\n+1555,+1556\r\n", 0, "header"),
        ("number\r\n", 1, "csv"),
        ("number\r\n\r\n+1555\r\n+1 555\r\n", 2, "number"),  # the same number twice
    ],
)
def test_csv_errors_name_the_row_and_field(text: str, row: int, field: str) -> None:
    with pytest.raises(ContactError) as raised:
        contacts_from_csv(text, "UTC", allow_all, LIMITS)
    assert (raised.value.row, raised.value.field) == (row, field), raised.value
    assert str(raised.value).startswith(f"row {row}, {field}: ")


def test_the_dial_allow_list_judges_every_number() -> None:
    seen: list[str] = []

    def allowed(target: str) -> bool:
        seen.append(target)
        return target.startswith("+1555")

    with pytest.raises(ContactError, match="row 2, number: \\+4420 is not in the dial"):
        contacts_from_csv("number\r\n+1555 01\r\n+44 20\r\n", "UTC", allowed, LIMITS)
    assert seen == ["+155501", "+4420"]  # judged as they will be dialled


def test_json_errors_name_the_row_and_field() -> None:
    with pytest.raises(ContactError, match="row 2, time_zone: 'Nowhere/Land'"):
        contacts_from_json([{"number": "+1555"}, {"number": "+1556", "time_zone": "Nowhere/Land"}],
                           "UTC", allow_all, LIMITS)  # fmt: skip
    with pytest.raises(ContactError, match="row 4, contacts: more than 3"):
        contacts_from_json([{"number": f"+155{i}"} for i in range(4)], "UTC", allow_all, LIMITS)
    with pytest.raises(ContactError, match="row 1, number: missing"):
        contacts_from_json([{"variables": {}}], "UTC", allow_all, LIMITS)


@pytest.mark.parametrize("text", ["sip:", "sips:@", "tel:+1555", "555-CALL-NOW", "12"])
def test_what_is_no_number(text: str) -> None:
    with pytest.raises(ValueError):
        normalize_number(text)
