"""``<Start><Siprec>`` and ``<Stop><Siprec>`` read, sans-IO.

As Twilio's ``<Siprec>`` page gives them (https://www.twilio.com/docs/voice/twiml/siprec)
and its SDKs' ``Start.siprec``/``Stop.siprec`` name the attributes: ``connectorName`` (the
SIPREC connector the call's audio goes to; required to start one), ``name`` (what
``<Stop><Siprec name>`` stops it by; else its SID), ``track`` (``inbound_track``,
``outbound_track`` or ``both_tracks``, the default), ``statusCallback`` and
``statusCallbackMethod`` (POST), and ``<Parameter name value>`` children, kept in order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from sipgw.twilio.attributes import post_or_get, track_value

__all__ = ["Siprec", "StartSiprec", "StopSiprec", "read_siprec"]

_MAX: Final = 2000
"""Longest attribute value kept."""


@dataclass(frozen=True, slots=True)
class Siprec:
    """One ``<Siprec>`` noun (see the module docstring)."""

    connector_name: str
    name: str = ""
    track: str = "both_tracks"
    status_callback: str = ""
    status_callback_method: str = "POST"
    parameters: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class StartSiprec:
    """``<Start><Siprec>``: the call's audio is recorded by a SIPREC server; the document
    goes on at once."""

    siprec: Siprec


@dataclass(frozen=True, slots=True)
class StopSiprec:
    """``<Stop><Siprec name>``: the recording session named ``name`` (its ``name`` or its
    SID) ends; no name: every one of the call's."""

    name: str = ""


def read_siprec(attrs: dict[str, str], children: Sequence[tuple[str, dict[str, str]]]) -> Siprec:
    """The ``<Start>``'s noun of ``attrs`` and its ``children`` (tag, attributes).

    Raises:
        ValueError: no ``connectorName``, or a value Twilio does not take (the message says
            which).
    """
    connector = attrs.get("connectorName", "").strip()[:_MAX]
    if not connector:
        raise ValueError("<Siprec> without a connectorName")
    parameters: list[tuple[str, str]] = []
    for tag, child in children:
        if tag != "Parameter":
            raise ValueError(f"<{tag[:40]}> inside <Siprec> (only <Parameter>)")
        parameters.append((child.get("name", "")[:_MAX], child.get("value", "")[:_MAX]))
    return Siprec(
        connector_name=connector,
        name=attrs.get("name", "").strip()[:_MAX],
        track=track_value(attrs, "Siprec"),
        status_callback=attrs.get("statusCallback", "").strip()[:_MAX],
        status_callback_method=post_or_get(attrs, "statusCallbackMethod", "Siprec"),
        parameters=tuple(parameters),
    )
