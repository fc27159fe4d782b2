"""Parsers: text in, value out, or a message that says what is allowed (never Python's)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from sipgw.foundation.settings import parsers as p

CASES: list[tuple[Callable[[str], Any], str, Any]] = [
    (p.text, "  a b  ", "a b"),
    (p.verbatim, " pass word ", " pass word "),
    (p.whole_number, " 42 ", 42),
    (p.real_number, "1.5", 1.5),
    (p.non_negative, "0", 0.0),
    (p.positive, "0.01", 0.01),
    (p.milliseconds, "40.7", 40),
    (p.float_range(0.01, 4.0), "4", 4.0),
    (p.int_at_least(16), "16", 16),
    (p.int_range(50, 1000), "1000", 1000),
    (p.port, "0", 0),
    (p.port, "65535", 65535),
    (p.optional_port, " ", 0),
    (p.port_range, "10000-20000", (10000, 20000)),
    (p.ip_address, " ::1 ", "::1"),
    (p.optional_ip_address, "", ""),
    (p.optional_int, "unlimited", None),
    (p.optional_int, "0", None),
    (p.optional_int, "7", 7),
    (p.log_level, "debug", "DEBUG"),
    (p.choice("text", "json"), " JSON ", "json"),
    (p.on_off, "ON", True),
    (p.on_off, "off", False),
    (p.true_false, "false", False),
    (p.comma_list, "a, b,,c ", ("a", "b", "c")),
]


@pytest.mark.parametrize(("parse", "given", "value"), CASES)
def test_good_values(parse: Callable[[str], Any], given: str, value: Any) -> None:
    assert parse(given) == value


BAD: list[tuple[Callable[[str], Any], str, str]] = [
    (p.whole_number, "4.5", "must be a whole number"),
    (p.real_number, "nan", "must be a finite number"),
    (p.real_number, "five", "must be a number"),
    (p.non_negative, "-1", "must be a number >= 0"),
    (p.non_negative, "inf", "must be a number >= 0"),
    (p.positive, "0", "must be a number > 0"),
    (p.milliseconds, "soon", "must be a number of milliseconds >= 0"),
    (p.float_range(0.01, 4.0), "5", "must be a number from 0.01 to 4"),
    (p.int_at_least(1), "0", "must be a whole number >= 1"),
    (p.int_range(50, 1000), "20", "must be a whole number from 50 to 1000"),
    (p.port, "abc", "must be a port number 0..65535"),
    (p.port, "70000", "must be a port number 0..65535"),
    (p.port_range, "20000", "must be LO-HI with 1024 <= LO < HI <= 65535, e.g. 10000-20000"),
    (p.port_range, "200-100", "must be LO-HI"),
    (p.port_range, "a-b", "must be LO-HI"),
    (p.ip_address, "example.com", "must be an IPv4 or IPv6 address (not a host name)"),
    (p.optional_int, "-3", "must be a whole number, or 0 for no limit"),
    (p.log_level, "loud", "must be DEBUG, INFO, WARNING or ERROR"),
    (p.choice("text", "json"), "xml", "must be 'text' or 'json'"),
    (p.choice("a", "b", "c"), "d", "must be one of a, b, c"),
    (p.on_off, "yes", "must be 'on' or 'off'"),
]


@pytest.mark.parametrize(("parse", "given", "message"), BAD)
def test_bad_values_say_what_is_allowed(
    parse: Callable[[str], Any], given: str, message: str
) -> None:
    with pytest.raises(ValueError) as error:
        parse(given)
    assert str(error.value).startswith(message)


def test_optional_file(tmp_path: Path) -> None:
    there = tmp_path / "cert.pem"
    there.write_text("x")
    assert p.optional_file(f" {there} ") == str(there) and p.optional_file("") == ""
    with pytest.raises(ValueError, match="^no such file$"):
        p.optional_file(str(tmp_path / "missing.pem"))
    with pytest.raises(ValueError, match="^not a file$"):
        p.optional_file(str(tmp_path))


def test_or_empty_is_none_for_nothing_and_says_what_is_allowed() -> None:
    share = p.or_empty(p.float_range(0.0, 1.0), "must be 0 to 1, or empty")
    assert share(" ") is None and share("0.25") == 0.25
    with pytest.raises(ValueError, match="^must be 0 to 1, or empty$"):
        share("2")
