"""Parsers of setting values: text in, value out, or ``ValueError`` saying what is allowed.

Messages complete ``<what the user wrote>: ...`` (the loader adds the flag or variable
and the value), so each says what would be accepted: ``must be a port number
0..65535``, never Python's ``invalid literal for int()``.
"""

from __future__ import annotations

import ipaddress
import math
import os
from collections.abc import Callable
from typing import TypeVar

__all__ = [
    "choice",
    "comma_list",
    "float_range",
    "int_at_least",
    "int_range",
    "ip_address",
    "log_level",
    "milliseconds",
    "non_negative",
    "on_off",
    "optional_file",
    "optional_int",
    "optional_ip_address",
    "optional_port",
    "or_empty",
    "port",
    "port_range",
    "positive",
    "real_number",
    "switch",
    "text",
    "true_false",
    "verbatim",
    "whole_number",
]

N = TypeVar("N", int, float)


def text(value: str) -> str:
    """Any text, surrounding blanks removed."""
    return value.strip()


def verbatim(value: str) -> str:
    """Any text, exactly as given (a password may begin or end with a blank)."""
    return value


def whole_number(value: str) -> int:
    """A whole number, e.g. ``42``."""
    try:
        return int(value.strip())
    except ValueError:
        raise ValueError("must be a whole number") from None


def real_number(value: str) -> float:
    """A finite number, e.g. ``1.5``."""
    try:
        number = float(value.strip())
    except ValueError:
        raise ValueError("must be a number") from None
    if not math.isfinite(number):
        raise ValueError("must be a finite number")
    return number


def _checked(
    convert: Callable[[str], N], ok: Callable[[N], bool], allowed: str
) -> Callable[[str], N]:
    """``convert``, then ``ok``; either failing raises ``ValueError(allowed)``."""

    def parse(value: str) -> N:
        try:
            number = convert(value)
        except ValueError:
            raise ValueError(allowed) from None
        if not ok(number):
            raise ValueError(allowed)
        return number

    return parse


non_negative = _checked(real_number, lambda x: x >= 0, "must be a number >= 0")
"""A number >= 0."""
positive = _checked(real_number, lambda x: x > 0, "must be a number > 0")
"""A number > 0."""


def milliseconds(value: str) -> int:
    """A duration in ms, >= 0 (a fraction is dropped)."""
    try:
        return int(non_negative(value))
    except ValueError:
        raise ValueError("must be a number of milliseconds >= 0") from None


def float_range(low: float, high: float, unit: str = "") -> Callable[[str], float]:
    """A number from ``low`` to ``high`` (inclusive)."""
    allowed = f"must be a number from {low:g} to {high:g}{unit}"
    return _checked(real_number, lambda x: low <= x <= high, allowed)


def int_at_least(low: int) -> Callable[[str], int]:
    """A whole number >= ``low``."""
    return _checked(whole_number, lambda n: n >= low, f"must be a whole number >= {low}")


def int_range(low: int, high: int) -> Callable[[str], int]:
    """A whole number from ``low`` to ``high`` (inclusive)."""
    allowed = f"must be a whole number from {low} to {high}"
    return _checked(whole_number, lambda n: low <= n <= high, allowed)


def or_empty(parse: Callable[[str], N], allowed: str) -> Callable[[str], N | None]:
    """``parse``, or None for an empty value; a bad one says ``allowed`` (e.g. "must be a
    number from 0 to 1, or empty for the service's default")."""

    def parse_or_none(value: str) -> N | None:
        if not value.strip():
            return None
        try:
            return parse(value)
        except ValueError:
            raise ValueError(allowed) from None

    return parse_or_none


port = _checked(whole_number, lambda n: 0 <= n <= 65535, "must be a port number 0..65535")
"""A UDP or TCP port number, 0..65535."""


def optional_port(value: str) -> int:
    """A port number, or 0 / "" for off."""
    return port(value) if value.strip() else 0


shared_rtp_port = _checked(
    whole_number,
    lambda n: n == 0 or (1024 <= n <= 65534 and n % 2 == 0),
    "must be 0 (off) or an even port 1024..65534 (RTCP takes the one above it)",
)


def port_range(value: str) -> tuple[int, int]:
    """``LO-HI`` with 1024 <= LO < HI <= 65535."""
    allowed = "must be LO-HI with 1024 <= LO < HI <= 65535, e.g. 10000-20000"
    low_text, sep, high_text = value.partition("-")
    if not sep:
        raise ValueError(allowed)
    try:
        low, high = whole_number(low_text), whole_number(high_text)
    except ValueError:
        raise ValueError(allowed) from None
    if not 1024 <= low < high <= 65535:
        raise ValueError(allowed)
    return low, high


def ip_address(value: str) -> str:
    """An IPv4 or IPv6 address (no host names)."""
    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError:
        raise ValueError("must be an IPv4 or IPv6 address (not a host name)") from None


def optional_ip_address(value: str) -> str:
    """An IP address, or "" for "work it out"."""
    return ip_address(value) if value.strip() else ""


def optional_file(value: str) -> str:
    """The path of an existing file, or "" for none."""
    path = value.strip()
    if path and not os.path.isfile(path):
        raise ValueError("no such file" if not os.path.exists(path) else "not a file")
    return path


def optional_int(value: str) -> int | None:
    """A positive whole number, or 0 / "" / ``none`` / ``unlimited`` for no limit (None)."""
    if value.strip().lower() in ("", "0", "none", "unlimited"):
        return None
    try:
        return int_at_least(1)(value)
    except ValueError:
        raise ValueError("must be a whole number, or 0 for no limit") from None


def log_level(value: str) -> str:
    """A logging level name."""
    level = value.strip().upper()
    if level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise ValueError("must be DEBUG, INFO, WARNING or ERROR")
    return level


def choice(*options: str) -> Callable[[str], str]:
    """One of ``options`` (case-insensitive)."""

    def parse(value: str) -> str:
        picked = value.strip().lower()
        if picked not in options:
            if len(options) == 1:
                raise ValueError(f"must be '{options[0]}'")
            if len(options) == 2:
                raise ValueError(f"must be '{options[0]}' or '{options[1]}'")
            raise ValueError(f"must be one of {', '.join(options)}")
        return picked

    return parse


def switch(yes: str, no: str) -> Callable[[str], bool]:
    """``yes`` (True) or ``no`` (False), case-insensitive."""
    pick = choice(yes, no)

    def parse(value: str) -> bool:
        return pick(value) == yes

    return parse


on_off = switch("on", "off")
"""``on`` (True) or ``off`` (False)."""
true_false = switch("true", "false")
"""``true`` or ``false``."""


def comma_list(value: str) -> tuple[str, ...]:
    """Comma-separated items, blanks around each removed, empty ones dropped."""
    return tuple(item.strip() for item in value.split(",") if item.strip())
