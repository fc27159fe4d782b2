"""``<Dial><Conference>`` read into a noun, sans-IO (Twilio's "TwiML Voice: <Conference>" page).

Attributes read (Twilio's spelling and defaults): the room's name (the noun's text),
``muted`` (false), ``beep`` (``true``, ``false``, ``onEnter``, ``onExit``; true),
``startConferenceOnEnter`` (true), ``endConferenceOnExit`` (false), ``waitUrl`` (absent:
Twilio's own hold music; empty: silence), ``waitMethod`` (POST), ``maxParticipants``
(2 to 250; 250), ``statusCallback``, ``statusCallbackMethod`` (POST),
``statusCallbackEvent`` (space- or comma-separated: ``start end join leave mute hold
modify speaker announcement``), ``participantLabel``, ``record`` (``do-not-record``,
``record-from-start``), ``trim`` (``trim-silence``, ``do-not-trim``),
``recordingStatusCallback`` (``Method``; ``Event``: ``in-progress completed absent``,
``completed`` by default), ``coach`` (the call SID of the participant only it is heard by),
and, read so that what is not followed can be named, ``region``, ``jitterBufferSize``,
``eventCallbackUrl``. Every attribute
present that sipgw does not follow is kept by name in :attr:`Conference.ignored`, so the
agent says so. Values out of Twilio's sets raise ``ValueError`` with this module's message
(the document's parser turns it into a ``TwimlError``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final, Literal

from sipgw.twilio.attributes import post_or_get, recording_events, true_or_false

__all__ = [
    "CONFERENCE_EVENTS",
    "IGNORED",
    "Beep",
    "Conference",
    "read_conference",
]

Beep = Literal["true", "false", "onEnter", "onExit"]
"""When the room hears a beep for a participant: both ways, never, joining, leaving."""
_BEEPS: Final[dict[str, Beep]] = {
    "true": "true", "false": "false", "onenter": "onEnter", "onexit": "onExit",
}  # fmt: skip

CONFERENCE_EVENTS: Final = frozenset({
    "start", "end", "join", "leave", "mute", "hold", "modify", "speaker", "announcement",
})  # fmt: skip
"""``statusCallbackEvent``'s words (Twilio's)."""

IGNORED: Final = {
    "region": "the room is mixed by the gateway that took the call: there is no region",
    "jitterBufferSize": "the gateway's own jitter buffer plays each call (SIPGW_JITTER_*)",
    "eventCallbackUrl": "deprecated in Twilio's page for recordingStatusCallback (followed)",
    "recordingConfigurationId": "a Twilio Recording Configuration resource: sipgw has none",
}
"""The attributes read but not followed, with the reason logged and recorded."""

_KNOWN: Final = frozenset({
    "muted", "beep", "startConferenceOnEnter", "endConferenceOnExit", "waitUrl", "waitMethod",
    "maxParticipants", "statusCallback", "statusCallbackMethod", "statusCallbackEvent",
    "participantLabel", "record", "trim", "recordingStatusCallback",
    "recordingStatusCallbackMethod", "recordingStatusCallbackEvent", "coach", *IGNORED,
})  # fmt: skip
_NOT_FOLLOWED_BY_DEFAULT: Final = {"jitterBufferSize": "large"}


@dataclass(frozen=True, slots=True)
class Conference:
    """``<Conference>``: a named room on this gateway (see the module docstring)."""

    name: str
    muted: bool = False
    beep: Beep = "true"
    start_on_enter: bool = True
    end_on_exit: bool = False
    wait_url: str | None = None
    """The TwiML (or audio) played while the room waits to start; None: the attribute is
    absent (Twilio's own hold music); "": silence."""
    wait_method: str = "POST"
    max_participants: int = 250
    status_callback: str = ""
    status_callback_method: str = "POST"
    status_callback_events: frozenset[str] = frozenset()
    participant_label: str = ""
    record: bool = False
    """``record="record-from-start"``: the room's mix is recorded from its start to its end."""
    trim: bool = True
    """``trim="trim-silence"`` (the default): the silence before and after is cut."""
    recording_status_callback: str = ""
    recording_status_callback_method: str = "POST"
    recording_status_callback_events: frozenset[str] = frozenset({"completed"})
    coach: str = ""
    """The call SID (``CA...``) of the participant this one coaches: only it hears this one."""
    ignored: tuple[tuple[str, str], ...] = ()
    """Attributes present that are not followed: (name, why)."""

    @property
    def beep_on_enter(self) -> bool:
        """Whether the room hears a beep when this participant joins."""
        return self.beep in ("true", "onEnter")

    @property
    def beep_on_exit(self) -> bool:
        """Whether the room hears a beep when this participant leaves."""
        return self.beep in ("true", "onExit")


def read_conference(attrs: Mapping[str, str], text: str) -> Conference:
    """The ``<Conference attrs>text</Conference>`` noun.

    Raises:
        ValueError: no room name, or a value out of Twilio's set.
    """
    name = text.strip()
    if not name:
        raise ValueError("<Conference> without a room name")
    beep = _BEEPS.get(attrs.get("beep", "true").strip().lower())
    if beep is None:
        raise ValueError(f"<Conference beep={attrs['beep'][:20]!r}>: true, false, onEnter, onExit")
    largest = attrs.get("maxParticipants", "").strip()
    if largest and (not largest.isascii() or not largest.isdigit() or len(largest) > 4):
        raise ValueError(f"<Conference maxParticipants={largest[:20]!r}>: a whole number")
    events = frozenset(w for w in re.split(r"[\s,]+", attrs.get("statusCallbackEvent", "")) if w)
    unknown = events - CONFERENCE_EVENTS
    if unknown:
        raise ValueError(
            f"<Conference statusCallbackEvent>: {' '.join(sorted(unknown))[:60]!r} is not one "
            f"of {' '.join(sorted(CONFERENCE_EVENTS))}"
        )
    record = attrs.get("record", "").strip() or "do-not-record"
    if record not in ("do-not-record", "record-from-start"):
        raise ValueError(f"<Conference record={record[:30]!r}>: do-not-record or record-from-start")
    trim = attrs.get("trim", "").strip() or "trim-silence"
    if trim not in ("trim-silence", "do-not-trim"):
        raise ValueError(f"<Conference trim={trim[:30]!r}>: trim-silence or do-not-trim")
    ignored = [
        (key, why) for key, why in IGNORED.items()
        if attrs.get(key, "").strip() not in ("", _NOT_FOLLOWED_BY_DEFAULT.get(key, ""))
    ]  # fmt: skip
    ignored += [(key[:40], "not a <Conference> attribute") for key in attrs if key not in _KNOWN]
    return Conference(
        name=name,
        muted=true_or_false(attrs, "muted", False, "Conference"),
        beep=beep,
        start_on_enter=true_or_false(attrs, "startConferenceOnEnter", True, "Conference"),
        end_on_exit=true_or_false(attrs, "endConferenceOnExit", False, "Conference"),
        wait_url=attrs["waitUrl"].strip() if "waitUrl" in attrs else None,
        wait_method=post_or_get(attrs, "waitMethod", "Conference"),
        max_participants=min(max(int(largest), 2), 250) if largest else 250,
        status_callback=attrs.get("statusCallback", "").strip(),
        status_callback_method=post_or_get(attrs, "statusCallbackMethod", "Conference"),
        status_callback_events=events,
        participant_label=attrs.get("participantLabel", "").strip(),
        record=record == "record-from-start",
        trim=trim == "trim-silence",
        recording_status_callback=attrs.get("recordingStatusCallback", "").strip(),
        recording_status_callback_method=post_or_get(
            attrs, "recordingStatusCallbackMethod", "Conference"
        ),
        recording_status_callback_events=recording_events(attrs, "Conference"),
        coach=attrs.get("coach", "").strip(),
        ignored=tuple(ignored),
    )
