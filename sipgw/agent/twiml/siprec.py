"""``<Start><Siprec>`` and ``<Stop><Siprec>``: the call recorded by a SIPREC recording server.

Twilio's ``<Siprec>`` page (https://www.twilio.com/docs/voice/twiml/siprec): Twilio is the
Session Recording Client (RFC 7866) and sends the call's audio, one stream per track, to
the Session Recording Server behind a configured "SIPREC connector", named by
``connectorName``; the document goes on at once. sipgw does the same: the operator names
each connector's SRS URI (``SIPGW_TWIML_SIPREC_CONNECTORS``, :func:`siprec_connectors`),
and the call (a :class:`SiprecCall`, the gateway's SIP calls) places the recording session
(:mod:`sipgw.sip.siprec`; the gateway's side in :mod:`sipgw.app.calls.siprecfork`): an
INVITE to the SRS with the two streams (the caller's, labelled 1; the other side's, what
the agent or a bridged ``<Dial>``'s called party says, labelled 2) and their metadata,
then both streams' RTP until ``<Stop><Siprec>`` or the end of the call (a BYE).

:class:`SiprecSessions` is what the TwiML agent runs the two verbs with; the record has
``twiml_siprec`` (started: the name, the SID, the connector), ``twiml_siprec_failed`` (why),
``twiml_siprec_stopped`` and ``twiml_siprec_ignored`` (what is not followed:
``statusCallback``, ``<Parameter>``). ``track`` chooses the streams: ``inbound_track`` the
caller's only, ``outbound_track`` the other side's only, ``both_tracks`` (the default) both.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable, Coroutine
from typing import Any, Protocol, runtime_checkable

from sipgw.agent.base import CallControl
from sipgw.twilio.sids import new_sid
from sipgw.twilio.siprectwiml import Siprec

__all__ = ["SiprecCall", "SiprecFailed", "SiprecSessions", "siprec_connectors"]

log = logging.getLogger("sipgw.agent")

_NAME = re.compile(r"[A-Za-z0-9_.-]{1,64}")
_URI = re.compile(r"sips?:[^\s,]+")

Note = Callable[..., None]
"""Writes a line of the call record: ``note(kind, **fields)``."""


def siprec_connectors(value: str) -> tuple[tuple[str, str], ...]:
    """``gridspace=sip:rec@srs.example.com;transport=tcp,own=sip:srs@10.0.0.9``: each
    connector's name (letters, digits, ``_.-``) and its SRS's ``sip:`` or ``sips:`` URI,
    comma-separated.

    Raises:
        ValueError: an entry is not ``name=sip:...``, or a name repeats.
    """
    pairs: list[tuple[str, str]] = []
    for item in filter(None, (part.strip() for part in value.split(","))):
        name, equals, uri = (text.strip() for text in item.partition("="))
        if not equals or not _NAME.fullmatch(name) or not _URI.fullmatch(uri):
            raise ValueError(f"{item[:80]!r}: each entry must be name=sip:user@host (or sips:)")
        if any(name == known for known, _ in pairs):
            raise ValueError(f"connector {name!r} is named twice")
        pairs.append((name, uri))
    return tuple(pairs)


class SiprecFailed(Exception):
    """A recording session could not be set up (the message says why)."""


@runtime_checkable
class SiprecCall(Protocol):
    """A call that can be recorded by a SIPREC server (the gateway's SIP calls)."""

    async def start_siprec(self, uri: str, name: str, track: str = "both_tracks") -> None:
        """Record the call to the SRS at ``uri`` (RFC 7866: a stream for the caller's side,
        ``inbound_track``, one for the agent's, ``outbound_track``, or both, the
        default), the session named ``name``; returns once the SRS answered.

        Raises:
            SiprecFailed: the SRS refused or did not answer, or no port was free.
        """
        ...

    def stop_siprec(self, name: str) -> bool:
        """End the recording session ``name`` (BYE); False when none runs by that name."""
        ...


class SiprecSessions:
    """One call's ``<Start><Siprec>``s (see the module docstring).

    Args:
        call: the call.
        connectors: each connector's name and its SRS's URI.
        spawn: runs a coroutine as a task of the call's agent.
        note: writes the call record.
    """

    def __init__(
        self,
        call: CallControl,
        connectors: tuple[tuple[str, str], ...],
        spawn: Callable[[Coroutine[Any, Any, None]], asyncio.Task[Any]],
        note: Note,
    ) -> None:
        self.call = call
        self.connectors = dict(connectors)
        self.spawn = spawn
        self.note = note
        self.running: dict[str, str] = {}
        """Each session started (or starting): its name -> its SID."""

    def start(self, noun: Siprec) -> None:
        """``<Start><Siprec>``: the session starts in the background (the document goes on)."""
        uri = self.connectors.get(noun.connector_name)
        call = self.call
        why = ""
        if uri is None:
            why = f"no connector {noun.connector_name!r} in SIPGW_TWIML_SIPREC_CONNECTORS"
        elif not isinstance(call, SiprecCall):
            why = "this call cannot be recorded by SIPREC (not a SIP call of the gateway)"
        sid = new_sid("SR")
        name = noun.name or sid
        if not why and name in self.running:
            why = f"a <Siprec> named {name!r} already runs"
        if why or uri is None or not isinstance(call, SiprecCall):
            log.warning("[%s] TwiML <Start><Siprec> refused: %s", call.call_id, why)
            self.note("refused", verb="Start><Siprec", why=why)
            return
        ignored = [attribute for attribute, used in (
            ("statusCallback", bool(noun.status_callback)), ("Parameter", bool(noun.parameters)),
        ) if used]  # fmt: skip
        if ignored:
            self.note("siprec_ignored", attributes=ignored)
        self.running[name] = sid
        self.spawn(self._start(call, uri, name, sid, noun))

    async def _start(self, call: SiprecCall, uri: str, name: str, sid: str, noun: Siprec) -> None:
        connector = noun.connector_name
        try:
            await call.start_siprec(uri, name, noun.track)
        except SiprecFailed as exc:
            self.running.pop(name, None)
            log.warning("[%s] TwiML <Start><Siprec> to %s failed: %s", self.call.call_id,
                        connector, exc)  # fmt: skip
            self.note("siprec_failed", name=name, sid=sid, connector=connector, reason=str(exc))
            return
        self.note("siprec", name=name, sid=sid, connector=connector)

    def stop(self, name: str) -> None:
        """``<Stop><Siprec name>``: that session (by its name or SID) ends; no name: all."""
        call = self.call
        if not isinstance(call, SiprecCall):
            return
        for known, sid in list(self.running.items()):
            if name and name not in (known, sid):
                continue
            del self.running[known]
            if call.stop_siprec(known):
                self.note("siprec_stopped", name=known, sid=sid)
