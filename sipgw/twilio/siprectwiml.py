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

__all__ = ["TRACKS", "Siprec", "StartSiprec", "StopSiprec", "read_siprec"]

TRACKS: Final = ("inbound_track", "outbound_track", "both_tracks")
"""``track``'s values."""
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
    track = attrs.get("track", "").strip() or "both_tracks"
    if track not in TRACKS:
        raise ValueError(f"<Siprec track={track[:40]!r}>: one of {', '.join(TRACKS)}")
    method = attrs.get("statusCallbackMethod", "").strip().upper() or "POST"
    if method not in ("POST", "GET"):
        raise ValueError(f"<Siprec statusCallbackMethod={method[:20]!r}>: POST or GET")
    parameters: list[tuple[str, str]] = []
    for tag, child in children:
        if tag != "Parameter":
            raise ValueError(f"<{tag[:40]}> inside <Siprec> (only <Parameter>)")
        parameters.append((child.get("name", "")[:_MAX], child.get("value", "")[:_MAX]))
    return Siprec(
        connector_name=connector,
        name=attrs.get("name", "").strip()[:_MAX],
        track=track,
        status_callback=attrs.get("statusCallback", "").strip()[:_MAX],
        status_callback_method=method,
        parameters=tuple(parameters),
    )
