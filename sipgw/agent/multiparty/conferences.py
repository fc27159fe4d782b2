"""Conference rooms: calls of one gateway process talking together in a named room.

Theory of operation
-------------------
A :class:`ConferenceRoom` is one room: its participants' audio goes through one
:class:`~sipgw.media.conference.ConferenceMixer` (the N-1 mix), and it keeps the rules a
conference keeps (Twilio's ``<Conference>``'s):

- The room *starts* once it holds two participants or more and one of them joined with
  ``start_on_enter`` (:class:`SeatRules`); until then nobody is mixed: each participant
  hears what its agent plays while waiting (:attr:`Seat.started` says which). Once
  started it stays so until it ends.
- It *ends* when a participant that joined with ``end_on_exit`` leaves (everybody else
  is out: :attr:`Seat.over`, the reason in :attr:`ConferenceRoom.end_reason`), or when
  the last participant leaves. An ended room takes nobody; the registry forgets it and
  the name makes a new room.
- ``max_participants`` is the first participant's (the room's creator's): one more is
  refused (:class:`RoomFull`). A participant's ``beep_on_enter``/``beep_on_exit`` puts a
  short beep into the started room's mix, heard by everybody else.
- A participant may ask for the room to be recorded (:class:`RoomRecording`, the first
  request is the room's): the whole mix from the start to the end, handed with the
  ``conference-end`` event to the first listener that takes it (the leaving participant's).
  It is 8 kHz μ-law whatever the room's rate (a 16 kHz mix low-passed and down-converted).
- Each participant joins in its own format (its agent's while it is mixed: 8 kHz μ-law, or
  16 kHz linear for a wideband call); the room mixes at the rate
  :func:`~sipgw.media.bridge.room_rate` decides from them, anew at each join and leave (16
  kHz as soon as one participant is wideband), and its beeps are made at that rate.
- A coach (:attr:`SeatRules.coaching` another participant) is heard by that participant
  only, and hears the room as everybody does (the mixer's whisper).
- A muted participant (joined ``muted``, or :meth:`Seat.set_muted`) is heard by nobody;
  nor is a held one (:meth:`Seat.set_held`: its phone put the call on hold, and what it
  sends meanwhile is its hold music, kept out of the room; or the app held it). A held
  participant does not hear the room: it hears silence, or the hold music the app gave
  (``music``: a URL its :class:`SeatPlayer` plays to it alone, :meth:`ConferenceRoom.tell`).
- The app may announce something (:class:`Announcement`: a URL of audio or TwiML) to the
  whole started room or to one participant (:meth:`ConferenceRoom.announce`): a
  participant's :class:`SeatPlayer` (the one concerned, or the room's first that has one)
  turns it into audio and hands it back (:meth:`ConferenceRoom.play`): mixed over the
  room's audio, heard by everybody (a held participant excepted) or by that participant
  alone; once its last frame was heard (:meth:`ConferenceRoom.announced`), or it failed,
  the room's ``announcement-end`` (``announcement-fail``) event.
- The app may end the room (:meth:`ConferenceRoom.end`: ``conference-ended-via-api``)
  or remove one participant (:meth:`Seat.kick`: it leaves with
  ``participant_updated_via_api``, Twilio's reason for a participant the API took out; the
  room it ends then ends ``participant-with-end-conference-on-exit-kicked`` or
  ``last-participant-kicked``), as Twilio's Conference and Participant resources do.
- While a participant that asked to know who speaks (:attr:`SeatRules.speech_events`) is
  in the started room, each participant heard (neither muted nor held) has a voice
  detector (:class:`~sipgw.agent.multiparty.conference_speech.SpeechWatch`) its 20 ms go through:
  ``participant-speech-start`` when it starts speaking, ``participant-speech-stop`` when it
  stops, or when it is muted or held meanwhile (before that event); a participant leaving
  while it speaks has its ``participant-leave`` only. No such participant in the room: no
  detector runs.

Each change is a :class:`RoomEvent` (Twilio's names: ``conference-start``, ``-end``,
``participant-join``, ``-leave``, ``-mute``, ``-unmute``, ``-hold``, ``-unhold``, ``-modify``: a
coaching or exit rule change, ``announcement-end``, ``-fail``, ``participant-speech-start``,
``-stop``), numbered in order
(``sequence``), handed to every participant's listener (the room's start and end are
what wakes a waiting participant). Participants that subscribed to the same place (the
``subscription`` they joined with: a status callback's URL and method) report each event
once between them: the first of them in the room (the leaving participant itself for its
own leave and for the end it causes) is told to report it, the others are not.

The rooms of one gateway process are a registry the app keeps (:class:`ConferenceRooms`,
``sipgw.app.conferences``) and hands to agents through
:class:`~sipgw.agent.capabilities.GatewayServices`: a room lives in one process, so calls
that another gateway of a cluster (or another worker) took cannot join it.

Nothing here reads a clock or does I/O: ``now`` (Unix seconds) is passed in.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Hashable, Iterator
from dataclasses import dataclass, field
from typing import Final, Literal, Protocol

from sipgw.agent.multiparty.conference_speech import SpeechWatch
from sipgw.media import g711
from sipgw.media.bridge import room_rate
from sipgw.media.codecs.base import ULAW_8K, AudioFormat
from sipgw.media.codecs.convert import Reformat
from sipgw.media.conference import ConferenceMixer
from sipgw.media.halfband import Decimator
from sipgw.media.voice.vad import VadEvent

__all__ = [
    "BEEP_FRAMES",
    "KICKED",
    "Announcement",
    "SeatPlayer",
    "beep_frames",
    "ConferenceRoom",
    "ConferenceRooms",
    "EventKind",
    "Listener",
    "RoomClosed",
    "RoomEvent",
    "RoomFull",
    "RoomRecording",
    "Seat",
    "SeatRules",
]

EventKind = Literal[
    "conference-start",
    "conference-end",
    "participant-join",
    "participant-leave",
    "participant-mute",
    "participant-unmute",
    "participant-hold",
    "participant-unhold",
    "participant-modify",
    "announcement-end",
    "announcement-fail",
    "participant-speech-start",
    "participant-speech-stop",
]


def _beep(rate: int) -> tuple[bytes, ...]:
    """A quarter second of 1 kHz at -18 dBFS, linear at ``rate``: what joining or leaving
    sounds like."""
    import math

    amplitude = 32767 * 10 ** (-18 / 20)
    per_cycle = rate // 1000
    cycle = b"".join(
        int(amplitude * math.sin(2 * math.pi * i / per_cycle)).to_bytes(2, "little", signed=True)
        for i in range(per_cycle)
    )
    pcm = cycle * 20  # one 20 ms frame
    return (pcm,) * 12


KICKED: Final = "participant_updated_via_api"
"""Why a participant the app removed left (:meth:`Seat.kick`): of the ``ReasonParticipantLeft``
values Twilio's ``<Conference>`` page lists (``conference_ended_via_api``,
``moderator_ended_conference``, ``participant_updated_via_api``, ``participant_hung_up``,
``participant_add_failed``), the one for a participant the API acted on."""

BEEP_FRAMES: Final = _beep(8000)
"""The beep heard when a participant joins or leaves (linear, 8 kHz: a narrowband mix's)."""
_BEEPS: Final = {8000: BEEP_FRAMES, 16000: _beep(16000)}


def beep_frames(rate: int) -> tuple[bytes, ...]:
    """The beep, linear at a mix's ``rate`` (8 or 16 kHz)."""
    beep = _BEEPS.get(rate)
    return beep if beep is not None else _BEEPS.setdefault(rate, _beep(rate))


class RoomFull(Exception):
    """The room holds ``max_participants`` already."""


class RoomClosed(Exception):
    """The room has ended: the name makes a new room (ask the registry again)."""


@dataclass(frozen=True, slots=True)
class SeatRules:
    """How one participant joins (each one's own, except ``max_participants``: the room's
    first participant's)."""

    muted: bool = False
    start_on_enter: bool = True
    end_on_exit: bool = False
    beep_on_enter: bool = True
    beep_on_exit: bool = True
    max_participants: int = 250
    label: str = ""
    coaching: str = ""
    """The participant (its call's id) this one coaches: only that one hears it ("": none)."""
    speech_events: bool = False
    """Its listener wants to know who speaks (``participant-speech-start`` and ``-stop``):
    while such a participant is in the room, the room listens to every participant heard."""


SILENCE_DBFS: Final = -45.0
"""A recorded frame quieter than this is silence (trimmed at the ends)."""
_SILENT_FRAME: Final = b"\xff" * 160


@dataclass(eq=False)
class RoomRecording:
    """The room's whole mix recorded from its start to its end (8 kHz μ-law), and where
    it is to be reported (the participant that asked for it said so)."""

    sid: str
    callback: str = ""
    """Where its status goes ("" = nowhere)."""
    method: str = "POST"
    events: frozenset[str] = frozenset({"completed"})
    trim: bool = True
    max_seconds: float = 14400.0
    started_at: float | None = None
    """When the room started (Unix seconds); None: it never did (nothing was recorded)."""
    taken: bool = False
    """Set by the participant that writes and reports it (one does)."""
    announced: bool = False
    """Set by the participant that reports it ``in-progress`` (one does, as it starts)."""
    audio: bytearray = field(default_factory=bytearray)
    loud: list[bool] = field(default_factory=list)

    def frame(self, pcm: bytes | None) -> None:
        """One round's mix (linear, 8 kHz: a 16 kHz room's converted first; None: silence)."""
        if len(self.audio) >= self.max_seconds * 8000:
            return
        ulaw = g711.linear_to_ulaw(pcm) if pcm is not None else _SILENT_FRAME
        self.audio += ulaw
        self.loud.append(pcm is not None and g711.rms_dbfs(ulaw) > SILENCE_DBFS)

    def ulaw(self) -> bytes:
        """The recording, trimmed of the silence before and after when ``trim``."""
        if not self.trim:
            return bytes(self.audio)
        if True not in self.loud:
            return b""
        first = self.loud.index(True)
        last = len(self.loud) - self.loud[::-1].index(True)
        return bytes(self.audio[first * 160 : last * 160])


@dataclass(frozen=True, slots=True)
class RoomEvent:
    """One change of the room, as its participants' listeners get it."""

    kind: EventKind
    sequence: int
    """1, 2, 3... per room, in order."""
    at: float
    """Unix seconds."""
    who: str = ""
    """The participant concerned (its call's id); "" for the room's start and end."""
    muted: bool = False
    held: bool = False
    coaching: bool = False
    label: str = ""
    start_on_enter: bool = False
    end_on_exit: bool = False
    reason: str = ""
    """``conference-end``: why (``participant-with-end-conference-on-exit-left``,
    ``last-participant-left``); ``participant-leave``: the participant's reason."""
    ending: str = ""
    """``conference-end`` by a participant's ``end_on_exit``: who (its call's id)."""
    ending_label: str = ""
    recording: RoomRecording | None = None
    """``conference-end`` of a recorded room: the recording, for one listener to take;
    ``conference-start`` (or the ``participant-join`` that asked for it in a started room):
    the recording starting, for one listener to report ``in-progress``."""


@dataclass(frozen=True, slots=True)
class Announcement:
    """What the app asked to be announced: the URL of its audio (an audio file, or TwiML of
    ``<Play>``, ``<Say>``, ``<Pause>``, ``<Redirect>``) and the method it is fetched with."""

    url: str
    method: str = "POST"
    to: str = ""
    """The participant (its call's id) it is for; "": the whole room."""


class SeatPlayer(Protocol):
    """What turns a URL into audio for the room (the participant's agent, which can fetch
    and speak): each call returns at once, the work goes on in the background."""

    def announce(self, announcement: Announcement) -> None:
        """Make ``announcement``'s audio and hand it to :meth:`ConferenceRoom.play` (or tell
        :meth:`ConferenceRoom.announced` it failed)."""
        ...

    def hold_music(self, music: tuple[str, str] | None) -> None:
        """Play (url, method) to this participant alone, round after round, through
        :meth:`ConferenceRoom.tell` (None: stop)."""
        ...


Listener = Callable[[RoomEvent, bool], None]
"""A participant's ear for the room's events: each event reaches every participant in the
room (and the one leaving), the flag saying whether it is this one's to report (see the
module docstring)."""


class Seat:
    """One participant's place in a room: its 20 ms in and out, and how it leaves."""

    def __init__(
        self, room: ConferenceRoom, who: str, rules: SeatRules, listener: Listener,
        subscription: Hashable | None, joined: float = 0.0, format: AudioFormat = ULAW_8K,  # noqa: A002
    ) -> None:  # fmt: skip
        self.room = room
        self.format = format
        """The participant's frames' format (its agent's while it is mixed)."""
        self.joined = joined
        """When it joined (Unix seconds)."""
        self.updated = joined
        """When it joined, or was last muted, held or resumed."""
        self.who = who
        self.rules = rules
        self.listener = listener
        self.subscription = subscription
        self.muted = rules.muted
        self.held = False
        self.left = False
        self.player: SeatPlayer | None = None
        """Plays announcements and hold music (the participant's agent); None: it cannot."""
        self.hold_music: tuple[str, str] | None = None
        """The held participant's music (url, method); None: silence."""
        self.speech: SpeechWatch | None = None
        """Its voice detector while the room listens and it is heard (see
        :meth:`ConferenceRoom.listen`); None otherwise."""

    @property
    def started(self) -> bool:
        """Whether the room mixes (else the participant hears what its agent plays)."""
        return self.room.started and not self.room.over

    @property
    def over(self) -> bool:
        """Whether this participant is out: it left, or the room ended."""
        return self.left or self.room.over

    def push(self, frame: bytes | None, now: float) -> None:
        """The participant's 20 ms (its jitter buffer's playout, in its agent's format),
        ``now`` (Unix seconds) the time of its speech events if it starts or stops speaking."""
        if self.started and not self.left:
            room = self.room
            room.mixer.push(self.who, frame)
            if room.listeners and not (self.muted or self.held):
                room.listen(self, frame, now)

    def pop(self) -> bytes | None:
        """The 20 ms the participant hears (None: silence, or the room has not started)."""
        if self.started and not self.left:  # held: deaf to the room, its music told it
            return self.room.mixer.pop(self.who)
        return None

    def set_muted(self, muted: bool, now: float) -> None:
        """Mute (or unmute) the participant."""
        self.room.set_muted(self, muted, now)

    def set_coaching(self, coaching: str, now: float) -> None:
        """The participant now coaches ``coaching`` (a call's id; "": it coaches nobody)."""
        self.room.set_coaching(self, coaching, now)

    def set_held(self, held: bool, now: float, music: tuple[str, str] | None = None) -> None:
        """The participant's call was put on hold (or resumed): not heard while held, and
        hearing ``music`` (url, method; None: silence) instead of the room."""
        self.room.set_held(self, held, now, music)

    def set_exit_rules(self, end_on_exit: bool | None, beep_on_exit: bool | None,
                       now: float) -> None:  # fmt: skip
        """Whether its leaving ends the room, and beeps (None: unchanged):
        ``participant-modify`` when either changed."""
        self.room.set_exit_rules(self, end_on_exit, beep_on_exit, now)

    def leave(self, reason: str, now: float) -> None:
        """The participant leaves (its call hung up, ``hangupOnStar``, ``timeLimit``...)."""
        self.room.leave(self, reason, now)

    def kick(self, now: float) -> None:
        """The app removes the participant (:data:`KICKED`): its listener hears its own
        ``participant-leave``."""
        self.room.leave(self, KICKED, now, kicked=True)


class ConferenceRoom:
    """One named room (see the module docstring).

    Args:
        name: the room's name (Twilio's ``FriendlyName``).
        sid: its id (Twilio's ``ConferenceSid``).
        on_over: called once when it ends (the registry forgets it).
    """

    def __init__(
        self, name: str, sid: str, on_over: Callable[[ConferenceRoom], None],
        created: float = 0.0,
    ) -> None:  # fmt: skip
        self.name = name
        self.sid = sid
        self.created = created
        """When it was made (Unix seconds)."""
        self.updated = created
        """When it was made, started or ended."""
        self.ending = ""
        """Who ended it (a participant's call id, ``end_on_exit``); "" otherwise."""
        self.mixer = ConferenceMixer()
        self.seats: list[Seat] = []
        self.started = False
        self.over = False
        self.end_reason = ""
        self.max_participants = 0
        """The first participant's ``max_participants`` (0 before anyone joined)."""
        self.recording: RoomRecording | None = None
        """The room's recording, asked for by a participant (the first to ask)."""
        self._down = Decimator()  # a 16 kHz mix to the recording's 8 kHz
        self._on_over = on_over
        self._sequence = 0
        self.listeners = 0
        """Participants in the room that want its speech events (:attr:`SeatRules.
        speech_events`): while there are none, nobody's speech is detected."""

    def join(
        self, who: str, format: AudioFormat, rules: SeatRules, listener: Listener,  # noqa: A002
        now: float, subscription: Hashable | None = None,
        recording: RoomRecording | None = None,
    ) -> Seat:  # fmt: skip
        """``who`` (a call's id) joins, its frames in ``format``; ``recording``: it asks for
        the room to be recorded (the first such request is the room's).

        Raises:
            RoomFull: the room holds its ``max_participants``.
            RoomClosed: the room has ended.
            ValueError: ``who`` is in the room already.
        """
        if self.over:
            raise RoomClosed(f"conference {self.name!r} has ended")
        if not self.seats and not self.max_participants:
            self.max_participants = rules.max_participants
        if len(self.seats) >= self.max_participants:
            raise RoomFull(f"conference {self.name!r} holds {self.max_participants} already")
        self.mixer.join(who, format, rules.muted, rules.coaching or None)
        self._rerate()
        seat = Seat(self, who, rules, listener, subscription, now, format)
        self.seats.append(seat)
        if rules.speech_events:
            self.listeners += 1
        join = _seat_event("participant-join", seat, now)
        if recording is not None and self.recording is None:
            self.recording = recording
            self.mixer.tap = self._recorded
            if self.started:  # it starts now: the join's listeners hear of it
                recording.started_at = now
                join = dataclasses.replace(join, recording=recording)
        self._event(join, [])
        if not self.started and len(self.seats) >= 2 and any(
            s.rules.start_on_enter for s in self.seats
        ):  # fmt: skip
            self.started = True
            self.updated = now
            if self.recording is not None:
                self.recording.started_at = now
            self._event(RoomEvent("conference-start", 0, now, recording=self.recording), [])
        if self.started and rules.beep_on_enter:  # everybody else hears it
            self.mixer.announce(beep_frames(self.mixer.rate), skip=who)
        return seat

    @property
    def rate(self) -> int:
        """The rate the room mixes at now."""
        return self.mixer.rate

    def _rerate(self) -> None:
        """The mix's rate, from the participants' formats (after a join or a leave)."""
        self.mixer.set_rate(room_rate(self.mixer.formats()))

    def _recorded(self, pcm: bytes | None) -> None:
        """One round's mix to the room's recording, at 8 kHz."""
        if self.recording is None:
            return
        if pcm is not None and self.mixer.rate == 16000:
            pcm = self._down.convert(pcm)
        self.recording.frame(pcm)

    def set_muted(self, seat: Seat, muted: bool, now: float) -> None:
        """Mute (or unmute) ``seat``."""
        if seat.left or seat.muted == muted:
            return
        if muted:
            self._unheard(seat, now)
        seat.muted = muted
        seat.updated = now
        self.mixer.set_muted(seat.who, muted or seat.held)
        kind: EventKind = "participant-mute" if muted else "participant-unmute"
        self._event(_seat_event(kind, seat, now), [])

    def set_coaching(self, seat: Seat, coaching: str, now: float) -> None:
        """``seat`` now coaches ``coaching`` ("": nobody): ``participant-modify``."""
        if seat.left or seat.rules.coaching == coaching:
            return
        seat.rules = dataclasses.replace(seat.rules, coaching=coaching)
        seat.updated = now
        self.mixer.set_coaching(seat.who, coaching or None)
        self._event(_seat_event("participant-modify", seat, now), [])

    def set_held(
        self, seat: Seat, held: bool, now: float, music: tuple[str, str] | None = None
    ) -> None:
        """Hold (or resume) ``seat``: a held participant is heard by nobody and hears only
        ``music`` (its player plays it; None: silence). Held again with other music: the
        music changes, no event."""
        if seat.left:
            return
        new_music = music if held else None
        if seat.held == held:
            if held and new_music != seat.hold_music:
                seat.hold_music = new_music
                self._play_hold(seat)
            return
        if held:
            self._unheard(seat, now)
        seat.held = held
        seat.hold_music = new_music
        seat.updated = now
        self.mixer.set_muted(seat.who, seat.muted or held)
        self.mixer.set_deaf(seat.who, held)
        self._play_hold(seat)
        kind: EventKind = "participant-hold" if held else "participant-unhold"
        self._event(_seat_event(kind, seat, now), [])

    def _play_hold(self, seat: Seat) -> None:
        """``seat``'s hold music (re)started, or stopped (what it was told dropped)."""
        self.mixer.untell(seat.who)
        if seat.player is not None:
            seat.player.hold_music(seat.hold_music)

    def set_exit_rules(
        self, seat: Seat, end_on_exit: bool | None, beep_on_exit: bool | None, now: float
    ) -> None:
        """``seat``'s ``end_on_exit`` and ``beep_on_exit`` (None: unchanged):
        ``participant-modify`` when either changed."""
        rules = seat.rules
        changed = dataclasses.replace(
            rules,
            end_on_exit=rules.end_on_exit if end_on_exit is None else end_on_exit,
            beep_on_exit=rules.beep_on_exit if beep_on_exit is None else beep_on_exit,
        )
        if seat.left or changed == rules:
            return
        seat.rules = changed
        seat.updated = now
        self._event(_seat_event("participant-modify", seat, now), [])

    # -- announcements and hold music

    def announce(self, announcement: Announcement) -> bool:
        """Have ``announcement`` played (see the module docstring): False when nobody can
        (the room has not started or is over, the participant is not in it, or has no
        player)."""
        if not self.started or self.over:
            return False
        if announcement.to:
            players = [s.player for s in self.seats if s.who == announcement.to]
        else:
            players = [s.player for s in self.seats]
        player = next((p for p in players if p is not None), None)
        if player is None:
            return False
        player.announce(announcement)
        return True

    def play(self, announcement: Announcement, ulaw: bytes, done: Callable[[], None]) -> None:
        """``announcement``'s audio (8 kHz μ-law) into the mix, heard by everybody or by the
        participant it is for; ``done`` once its last frame was mixed (not if that
        participant left first, nor if the room ended)."""
        if self.over:
            return
        frames = self._frames(ulaw)
        if not announcement.to:
            self.mixer.announce(frames, done=done)
        elif announcement.to in self.mixer:
            self.mixer.tell(announcement.to, frames, done)

    def tell(self, who: str, ulaw: bytes) -> None:
        """8 kHz μ-law audio that participant ``who`` alone hears (its hold music), after
        what it was told before (:meth:`told`: how much is still to come)."""
        if who in self.mixer and not self.over:
            self.mixer.tell(who, self._frames(ulaw))

    def told(self, who: str) -> int:
        """Frames (20 ms each) ``who`` was told and has not heard yet."""
        return self.mixer.pending(who)

    def _frames(self, ulaw: bytes) -> Iterator[bytes]:
        """8 kHz μ-law as linear 20 ms frames at the mix's rate."""
        mix = AudioFormat("pcm_s16le", self.mixer.rate)
        size = mix.frame_bytes
        pcm = Reformat(ULAW_8K, mix).convert(ulaw + b"\xff" * (-len(ulaw) % 160))
        return (pcm[i : i + size] for i in range(0, len(pcm), size))

    def announced(self, announcement: Announcement, now: float, failed: bool = False) -> None:
        """``announcement`` was heard (or ``failed``): ``announcement-end`` (``-fail``),
        naming its participant when it was for one."""
        if self.over:
            return
        kind: EventKind = "announcement-fail" if failed else "announcement-end"
        seat = next((s for s in self.seats if s.who == announcement.to), None)
        if announcement.to and seat is None:
            return
        self._event(_seat_event(kind, seat, now) if seat else RoomEvent(kind, 0, now), [])

    def leave(self, seat: Seat, reason: str, now: float, kicked: bool = False) -> None:
        """``seat`` leaves (``kicked``: the app removed it); the room ends with the last
        participant or an ``end_on_exit`` one."""
        if seat.left:
            return
        seat.left = True
        self.seats.remove(seat)
        self.mixer.leave(seat.who)
        seat.speech = None
        if seat.rules.speech_events:
            self.listeners -= 1
            if not self.listeners:  # nobody wants them any more: the detectors stop
                for other in self.seats:
                    other.speech = None
        self._rerate()
        try:
            self._leave(seat, reason, now, kicked)
        finally:  # its last events heard: the seat no longer holds its participant
            seat.listener = _deaf

    def _leave(self, seat: Seat, reason: str, now: float, kicked: bool) -> None:
        self._event(_seat_event("participant-leave", seat, now, reason), [seat])
        if self.over:
            return
        if seat.rules.end_on_exit or not self.seats:
            self.over = True
            self.updated = now
            how = "kicked" if kicked else "left"
            self.end_reason = (
                f"participant-with-end-conference-on-exit-{how}" if seat.rules.end_on_exit
                else f"last-participant-{how}"
            )  # fmt: skip
            ending = self.ending = seat.who if seat.rules.end_on_exit else ""
            if self.started:
                end = RoomEvent("conference-end", 0, now, reason=self.end_reason, ending=ending,
                                ending_label=seat.rules.label if ending else "",
                                recording=self.recording)  # fmt: skip
                self._event(end, [seat])
            self._on_over(self)
            return
        if self.started and seat.rules.beep_on_exit:
            self.mixer.announce(beep_frames(self.mixer.rate))

    # -- who speaks

    def listen(self, seat: Seat, frame: bytes | None, now: float) -> None:
        """``seat``'s 20 ms through its voice detector (made on its first frame):
        ``participant-speech-start`` or ``-stop`` at ``now`` when it starts or stops
        speaking. For a started room with :attr:`listeners`, and a participant heard."""
        watch = seat.speech
        if watch is None:
            watch = seat.speech = SpeechWatch(seat.format)
        change = watch.push(frame)
        if change is VadEvent.NONE:
            return
        kind: EventKind = (
            "participant-speech-start" if change is VadEvent.STARTED
            else "participant-speech-stop"
        )  # fmt: skip
        self._event(_seat_event(kind, seat, now), [])

    def _unheard(self, seat: Seat, now: float) -> None:
        """``seat`` is no longer heard (muted, held): its detector stops, and its speech
        with it (``participant-speech-stop`` if it was speaking)."""
        watch, seat.speech = seat.speech, None
        if watch is not None and watch.speaking:
            self._event(_seat_event("participant-speech-stop", seat, now), [])

    def end(self, now: float) -> None:
        """The app ends the room (``conference-ended-via-api``): every participant is out
        (its listener hears ``conference-end``, posted even if the room never started: it
        is what wakes a waiting participant)."""
        if self.over:
            return
        self.over = True
        self.updated = now
        self.end_reason = "conference-ended-via-api"
        self._event(RoomEvent("conference-end", 0, now, reason=self.end_reason,
                              recording=self.recording), [])  # fmt: skip
        self._on_over(self)

    def _event(self, event: RoomEvent, leaving: list[Seat]) -> None:
        """``event`` numbered, to every listener; one per subscription reports it."""
        self._sequence += 1
        numbered = dataclasses.replace(event, sequence=self._sequence)
        told: set[Hashable] = set()
        for seat in [*leaving, *self.seats]:
            report = seat.subscription is not None and seat.subscription not in told
            if report:
                told.add(seat.subscription)
            seat.listener(numbered, report)


def _deaf(event: RoomEvent, report: bool) -> None:
    """A seat's listener once it left (the participant's own no longer held: no cycle)."""


def _seat_event(kind: EventKind, seat: Seat, now: float, reason: str = "") -> RoomEvent:
    rules = seat.rules
    return RoomEvent(kind, 0, now, seat.who, seat.muted, seat.held, bool(rules.coaching),
                     rules.label, rules.start_on_enter, rules.end_on_exit, reason)  # fmt: skip


class ConferenceRooms(Protocol):
    """The rooms of one gateway process (the app's registry: ``sipgw.app.conferences``)."""

    def room(self, name: str) -> ConferenceRoom:
        """The room called ``name``, made if there is none (or the last one ended)."""
        ...
