"""``<Dial><Conference>``: the caller joins a named room of this gateway, as Twilio does.

Theory of operation
-------------------
The TwiML agent (:mod:`sipgw.agent.twiml.agent`) stays the caller's agent. A
:class:`ConferenceDial` carries out one ``<Dial><Conference>``
(:class:`~sipgw.twilio.document.DialConference`): it takes a seat in the room of that name
(:class:`~sipgw.agent.multiparty.conferences.ConferenceRoom`, from the gateway's registry), with
the noun's ``muted``, ``beep``, ``startConferenceOnEnter``, ``endConferenceOnExit``,
``maxParticipants``, ``participantLabel`` and ``coach``.

- Until the room starts the caller hears the ``waitUrl`` (the agent plays it:
  ``waiting``, a coroutine the agent gives, cancelled once the room starts) and is heard by
  nobody; then, at each tick, the caller's 20 ms (the playout of its jitter buffer) goes
  into the room's mix and the mix of the others comes out for the caller.
- It is over when the room ends (a participant with ``endConferenceOnExit`` left),
  ``timeLimit`` passes, the caller presses ``*`` (``hangupOnStar``), or the caller hangs
  up. The seat is given up (the room hears the exit beep), and :meth:`ConferenceDial.run`
  says how for the ``<Dial action>`` (``DialCallStatus=answered`` and ``DialBridged=true``,
  with no ``DialCallSid`` nor ``DialCallDuration``, as Twilio's ``<Dial>`` page gives a
  conference's; a full room: ``failed``); the TwiML goes on after the ``<Dial>``, or with
  its ``action``.
- The room's events this participant is to report (:data:`~sipgw.agent.multiparty.conferences.
  Listener`) and that its ``statusCallbackEvent`` lists are posted to its
  ``statusCallback`` with Twilio's parameters (:func:`status_form`), through the call's
  status poster. With ``speaker`` among them (and a ``statusCallback``), the room detects
  who speaks (:mod:`sipgw.agent.multiparty.conference_speech`): each tick's frame goes to the seat
  with the time it was heard.
- The caller takes a seat in its own format (:func:`~sipgw.agent.twiml.dial.audioformat.
  seat_audio`): a wideband call (G.722, Opus) joins as 16 kHz linear when ``wideband``
  (the agent's frames go nowhere else in μ-law), else as 8 kHz μ-law. A wideband caller's
  agent switches to that format, and its media with it
  (:class:`~sipgw.agent.twiml.dial.audioformat.WidenedBridge`), once the room starts mixing it
  (the wait music before plays in μ-law), and back when it leaves, before the TwiML after
  the ``<Dial>`` plays. The room mixes at 16 kHz as soon as one participant is wideband.
- With ``record``, the room's mix is recorded from its start to its end
  (:class:`~sipgw.agent.multiparty.conferences.RoomRecording`); whoever's leaving ends the room
  writes it and posts its ``recordingStatusCallback`` (``recorded``, the agent's); the first
  participant to hear it start reports it ``in-progress`` (``recording_started``).
- Given the agent's means of making audio (``announcements``,
  :class:`~sipgw.agent.twiml.announce.AnnouncementAudio`), it is its seat's
  :class:`~sipgw.agent.multiparty.conferences.SeatPlayer`: an announcement the app asked for (to the
  room, or to this participant) is made into audio in the background and handed to the
  room, its end (or failure) the room's ``announcement-end`` (``-fail``) event; while the
  app holds this participant with a ``HoldUrl``, that music plays to it alone, round after
  round, until it is resumed or leaves.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import logging
from collections.abc import Callable, Coroutine
from dataclasses import replace
from typing import Any, Final

from sipgw.agent.base import CallControl
from sipgw.agent.multiparty.conferences import (
    KICKED,
    Announcement,
    ConferenceRoom,
    ConferenceRooms,
    RoomClosed,
    RoomEvent,
    RoomFull,
    RoomRecording,
    Seat,
    SeatRules,
)
from sipgw.agent.twiml.announce import AnnouncementAudio, AnnouncementFailed
from sipgw.agent.twiml.dial.audioformat import FollowsAgentFormat, WidenedBridge, seat_audio
from sipgw.agent.twiml.dial.rules import DialResult
from sipgw.agent.twiml.webhook import call_sid_of
from sipgw.media.codecs.base import ULAW_8K
from sipgw.twilio.conferencetwiml import Conference
from sipgw.twilio.document import DialConference

__all__ = ["EVENT_WORDS", "ConferenceDial", "ended_reason", "status_form"]

log = logging.getLogger("sipgw.agent")

EVENT_WORDS: Final = {
    "conference-start": "start",
    "conference-end": "end",
    "participant-join": "join",
    "participant-leave": "leave",
    "participant-mute": "mute",
    "participant-unmute": "mute",
    "participant-hold": "hold",
    "participant-unhold": "hold",
    "participant-modify": "modify",
    "announcement-end": "announcement",
    "announcement-fail": "announcement",
    "participant-speech-start": "speaker",
    "participant-speech-stop": "speaker",
}
"""Each room event and the ``statusCallbackEvent`` word that asks for it."""

_LEFT: Final = {"caller": "participant_hung_up", "star": "hangup_on_star",
                "time-limit": "time_limit", "updated": "participant_updated_via_api",
                "kicked": KICKED}  # fmt: skip
"""Why a participant left (:attr:`ConferenceDial.ended_by`) as ``ReasonParticipantLeft``.

Twilio's ``<Conference>`` page lists ``conference_ended_via_api``,
``moderator_ended_conference``, ``participant_updated_via_api``, ``participant_hung_up`` and
``participant_add_failed``; it has no word for leaving with ``hangupOnStar`` or at the
``<Dial timeLimit>``, which are ``hangup_on_star`` and ``time_limit`` here. The room's end
is :func:`ended_reason`'s."""

Note = Callable[..., None]
Post = Callable[[dict[str, str]], None]
"""Queues one status callback's form (the call's status poster, to ``statusCallback``)."""
Clock = Callable[[], float]


def status_form(
    event: RoomEvent, conference_sid: str, name: str, account_sid: str
) -> dict[str, str]:
    """What Twilio's conference ``statusCallback`` gets for ``event``."""
    form = {
        "AccountSid": account_sid,
        "ConferenceSid": conference_sid,
        "FriendlyName": name,
        "StatusCallbackEvent": event.kind,
        "SequenceNumber": str(event.sequence),
        "Timestamp": email.utils.formatdate(event.at).replace("-0000", "+0000"),
    }
    if event.who:
        form.update({
            "CallSid": call_sid_of(event.who),
            "Muted": _bool(event.muted),
            "Hold": _bool(event.held),
            "Coaching": _bool(event.coaching),
            "EndConferenceOnExit": _bool(event.end_on_exit),
            "StartConferenceOnEnter": _bool(event.start_on_enter),
        })  # fmt: skip
        if event.label:
            form["ParticipantLabel"] = event.label
    if event.kind == "participant-leave" and event.reason:
        form["ReasonParticipantLeft"] = event.reason
        # the participant's own call: over when it hung up, else its TwiML goes on
        hung_up = event.reason == _LEFT["caller"]
        form["ParticipantCallStatus"] = "completed" if hung_up else "in-progress"
    if event.kind == "conference-end":
        form["ReasonConferenceEnded"] = event.reason
        form["Reason"] = _ENDED.get(event.reason, event.reason)
        if event.ending:
            form["CallSidEndingConference"] = call_sid_of(event.ending)
            if event.ending_label:
                form["ParticipantLabelEndingConference"] = event.ending_label
    return form


_ENDED: Final = {
    "participant-with-end-conference-on-exit-left": (
        "Participant with endConferenceOnExit left the conference"
    ),
    "last-participant-left": "Last participant left the conference",
    "conference-ended-via-api": "Conference ended via API",
    "participant-with-end-conference-on-exit-kicked": (
        "Participant with endConferenceOnExit was removed from the conference"
    ),
    "last-participant-kicked": "Last participant was removed from the conference",
}
"""``conference-end``'s ``Reason``, "a message indicating why the conference ended" (Twilio's
page gives no wording): a sentence for each ``ReasonConferenceEnded``."""


def ended_reason(end_reason: str) -> str:
    """``ReasonParticipantLeft`` of a participant the room's end took out, for the room's
    ``ReasonConferenceEnded``: ``conference_ended_via_api``, else (a participant with
    ``endConferenceOnExit`` left or was removed) ``moderator_ended_conference``."""
    if end_reason == "conference-ended-via-api":
        return "conference_ended_via_api"
    return "moderator_ended_conference"


def _bool(value: bool) -> str:
    return "true" if value else "false"


class ConferenceDial:
    """One ``<Dial><Conference>`` carried out (see the module docstring).

    Args:
        call_id: the caller's call's id (the participant).
        verb: the verb.
        rooms: the gateway's rooms.
        waiting: plays the ``waitUrl`` until cancelled (the agent's).
        post: queues a status callback's form; None: ``statusCallback`` is not posted.
        account_sid: the account the callbacks name.
        note: writes the call record.
        clock: Unix seconds (the events' ``Timestamp``).
        recording: makes the room's recording this participant asks for (``record``);
            None: it asks for none.
        recorded: writes and reports a room's recording handed to this participant at the
            room's end; None: it leaves that to another.
        recording_started: reports a room's recording starting (``in-progress``); None:
            it leaves that to another.
        call: the caller's call; with ``wideband``, a wideband one takes its seat in 16 kHz
            linear (see the module docstring); None, or not ``wideband``: 8 kHz μ-law.
        announcements: the agent's means of making audio from a URL (announcements and
            hold music); None: the room asks another participant, and a hold is silent.
    """

    def __init__(
        self,
        call_id: str,
        verb: DialConference,
        rooms: ConferenceRooms,
        waiting: Callable[[], Coroutine[Any, Any, None]],
        post: Post | None,
        account_sid: str,
        note: Note,
        clock: Clock,
        recording: Callable[[], RoomRecording] | None = None,
        recorded: Callable[[RoomRecording, ConferenceRoom], None] | None = None,
        recording_started: Callable[[RoomRecording, ConferenceRoom], None] | None = None,
        call: CallControl | None = None,
        wideband: bool = False,
        announcements: AnnouncementAudio | None = None,
    ) -> None:
        self.call_id = call_id
        self.verb = verb
        self.rooms = rooms
        self.waiting = waiting
        self.post = post
        self.account_sid = account_sid
        self.note = note
        self.clock = clock
        self.new_recording = recording
        self.recorded = recorded
        self.recording_started = recording_started
        self.room: ConferenceRoom | None = None
        self.seat: Seat | None = None
        self.ended_by = ""
        """``conference-ended``, ``time-limit``, ``star``, ``caller``, ``updated`` (a mid-call
        update), ``kicked`` (the app removed it); "" while in."""
        self._changed = asyncio.Event()
        self._joined_at: float | None = None
        self.call = call
        self.audio = seat_audio(call) if call is not None and wideband else ULAW_8K
        """The format the caller takes its seat in."""
        self.widened: WidenedBridge | None = None
        """The caller's agent switched to :attr:`audio` while the room mixes it."""
        self.announcements = announcements
        self._tasks: set[asyncio.Task[None]] = set()
        self._music: asyncio.Task[None] | None = None

    @property
    def conference(self) -> Conference:
        """The noun."""
        return self.verb.conference

    async def run(self) -> DialResult:
        """In the room until it is over (see the module docstring); how it ended."""
        conf = self.conference
        rules = SeatRules(
            muted=conf.muted, start_on_enter=conf.start_on_enter, end_on_exit=conf.end_on_exit,
            beep_on_enter=conf.beep_on_enter, beep_on_exit=conf.beep_on_exit,
            max_participants=conf.max_participants, label=conf.participant_label,
        )  # fmt: skip
        subscription = None
        if conf.status_callback and self.post is not None:
            subscription = (conf.status_callback, conf.status_callback_method)
            if "speaker" in conf.status_callback_events:
                rules = replace(rules, speech_events=True)
        seat = None
        recording = self.new_recording() if self.new_recording is not None else None
        for _ in range(2):  # a room that ended in between: its name makes a new one
            room = self.room = self.rooms.room(conf.name)
            if conf.coach:  # the coached call's SID: its participant (absent: heard by nobody)
                coached = [s.who for s in room.seats if call_sid_of(s.who) == conf.coach]
                rules = replace(rules, coaching=coached[0] if coached else conf.coach)
            try:
                seat = room.join(self.call_id, self.audio, rules, self._heard, self.clock(),
                                 subscription, recording)  # fmt: skip
                break
            except RoomClosed:
                continue
            except RoomFull as exc:
                log.warning("[%s] TwiML <Dial><Conference>: %s", self.call_id, exc)
                self.note("conference_full", name=conf.name, max=room.max_participants)
                return DialResult("failed")
        if seat is None:
            return DialResult("failed")
        self.seat = seat
        if self.announcements is not None:
            seat.player = self
        if seat.started:
            self._widen()
        loop = asyncio.get_running_loop()
        self._joined_at = loop.time()
        self.note("conference_joined", name=conf.name, conference_sid=room.sid,
                  started=seat.started, muted=seat.muted,
                  audio=f"{self.audio.encoding}/{self.audio.sample_rate}",
                  room_rate=room.rate)  # fmt: skip
        deadline = self._joined_at + self.verb.dial.time_limit
        try:
            while not self.ended_by:
                if seat.left:  # the app removed it (the Participant resource's DELETE)
                    self.ended_by = "kicked"
                    break
                if seat.over:
                    self.ended_by = "conference-ended"
                    break
                if loop.time() >= deadline:
                    self.ended_by = "time-limit"
                    break
                if not seat.started:
                    await self._wait_to_start(deadline - loop.time())
                    continue
                self._changed.clear()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(deadline - loop.time()):
                        await self._changed.wait()
        finally:  # cancelled without a reason: a mid-call update replaced the TwiML
            self.leave(self.ended_by or "updated")
        seconds = round(loop.time() - self._joined_at)
        self.note("conference_left", name=conf.name, conference_sid=room.sid,
                  ended_by=self.ended_by, seconds=seconds)  # fmt: skip
        return DialResult("answered")  # Twilio's status for a room; no DialCallDuration

    async def _wait_to_start(self, within: float) -> None:
        """The ``waitUrl`` until the room starts, ends, or this participant stops."""
        self._changed.clear()
        music = asyncio.ensure_future(self.waiting())
        changed = asyncio.ensure_future(self._changed.wait())
        loop = asyncio.get_running_loop()
        end = loop.time() + max(within, 0.0)
        try:
            done, _ = await asyncio.wait({music, changed}, timeout=max(within, 0.0),
                                         return_when=asyncio.FIRST_COMPLETED)  # fmt: skip
            if music in done and not changed.done():  # the music ran out: silence till then
                if music.exception() is not None:
                    log.warning("[%s] <Conference waitUrl>: %r", self.call_id, music.exception())
                await asyncio.wait({changed}, timeout=max(end - loop.time(), 0.0))
        finally:
            for task in (music, changed):
                task.cancel()
            for task in (music, changed):
                with contextlib.suppress(BaseException):
                    await task

    def stop(self, why: str) -> None:
        """Leave the room (``why``: see :attr:`ended_by`)."""
        self.ended_by = self.ended_by or why
        self._changed.set()

    def leave(self, why: str) -> None:
        """Give up the seat now (the caller hung up: also when :meth:`run` is cancelled);
        the caller's agent back to its format."""
        for task in self._tasks:
            task.cancel()
        seat = self.seat
        if seat is not None and not seat.left:
            if why == "conference-ended":
                reason = ended_reason(seat.room.end_reason)
            else:
                reason = _LEFT.get(why, why.replace("-", "_"))
            seat.leave(reason, self.clock())
        widened, self.widened = self.widened, None
        if widened is not None:
            widened.restore()

    def _widen(self) -> None:
        """The room mixes this caller: a wideband seat's agent (and media) switch to it."""
        call = self.call
        if self.widened is None and self.audio != ULAW_8K and isinstance(call, FollowsAgentFormat):
            self.widened = WidenedBridge((call,), self.audio)

    # -- announcements and hold music (the seat's SeatPlayer)

    def announce(self, announcement: Announcement) -> None:
        """Make ``announcement``'s audio and hand it to the room (in the background)."""
        self._spawn(self._announce(announcement))

    async def _announce(self, announcement: Announcement) -> None:
        room, made = self.room, self.announcements
        assert room is not None and made is not None
        try:
            audio = await made.announcement(announcement.url, announcement.method)
        except AnnouncementFailed:
            room.announced(announcement, self.clock(), failed=True)
            return
        except asyncio.CancelledError:  # this participant left first: the room is told
            room.announced(announcement, self.clock(), failed=True)
            raise
        self.note("conference_announcement", conference_sid=room.sid, url=announcement.url[:200],
                  to=announcement.to, seconds=round(len(audio) / 8000, 2))  # fmt: skip
        room.play(announcement, audio, lambda: room.announced(announcement, self.clock()))

    def hold_music(self, music: tuple[str, str] | None) -> None:
        """Play ``music`` (url, method) to this participant alone, round after round (None:
        stop)."""
        task, self._music = self._music, None
        if task is not None:
            task.cancel()
        room, seat, made = self.room, self.seat, self.announcements
        if music is None or room is None or seat is None or seat.left or made is None:
            return
        who = seat.who
        self._music = self._spawn(made.music(
            *music, lambda audio: room.tell(who, audio), lambda: room.told(who) * 0.020,
        ))  # fmt: skip

    def _spawn(self, work: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("[%s] conference announcement: %r", self.call_id, task.exception())

    # -- the room's events

    def _heard(self, event: RoomEvent, report: bool) -> None:
        if event.kind in ("conference-start", "conference-end") or (
            event.kind == "participant-leave" and event.who == self.call_id
        ):
            self._changed.set()
        if event.kind == "conference-start" and self.seat is not None:
            self._widen()  # from this tick on, the room's frames (the joiner: after join)
        room = self.room
        recording = event.recording
        if recording is not None and room is not None:
            if event.kind == "conference-end":
                if not recording.taken and self.recorded is not None:
                    recording.taken = True
                    self.recorded(recording, room)
            elif not recording.announced and self.recording_started is not None:
                recording.announced = True
                self.recording_started(recording, room)
        if not report or self.post is None or room is None:
            return
        if EVENT_WORDS[event.kind] in self.conference.status_callback_events:
            self.post(status_form(event, room.sid, room.name, self.account_sid))

    # -- the caller's per-tick calls

    def caller_frame(self, frame: bytes | None) -> None:
        """The caller's 20 ms (from its jitter buffer)."""
        if self.seat is not None:
            self.seat.push(frame, self.clock())

    def frame_for_caller(self) -> bytes | None:
        """The others' mix (None: silence, or not started: the agent plays the wait music)."""
        return self.seat.pop() if self.seat is not None else None

    @property
    def mixing(self) -> bool:
        """Whether the caller is in a started room (else it hears the wait music)."""
        return self.seat is not None and self.seat.started and not self.seat.left

    def hold(self, held: bool) -> None:
        """The caller's phone held (or resumed) the call: not heard meanwhile (its hold
        music kept out of the room)."""
        if self.seat is not None:
            self.seat.set_held(held, self.clock())

    def caller_key(self, digit: str) -> None:
        """``*`` with ``hangupOnStar`` leaves the room; other keys are not passed on."""
        if digit == "*" and self.verb.dial.hangup_on_star:
            self.stop("star")
