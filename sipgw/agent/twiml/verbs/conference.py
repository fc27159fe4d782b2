"""``<Dial><Conference>`` in the interpreter: the caller in one of the gateway's rooms
(:mod:`sipgw.agent.twiml.conference`), its wait music (:mod:`sipgw.agent.twiml.waitmusic`),
the room's recording written and its status callbacks posted."""

from __future__ import annotations

import asyncio
import email.utils
import logging
import time
from collections.abc import Callable
from functools import partial

from sipgw.agent.multiparty.conferences import ConferenceRoom, RoomRecording
from sipgw.agent.twiml.announce import AnnouncementAudio
from sipgw.agent.twiml.conference import ConferenceDial
from sipgw.agent.twiml.dial.rules import DialResult
from sipgw.agent.twiml.program import absolute_url
from sipgw.agent.twiml.recording import ulaw_wav
from sipgw.agent.twiml.statusposts import Callback, callback_url
from sipgw.agent.twiml.verbs.context import VerbContext, VerbHandler
from sipgw.agent.twiml.verbs.playback import Playback
from sipgw.agent.twiml.waitmusic import ConferenceWaitMusic, WaitDocument, fetch_wait_document
from sipgw.agent.twiml.webhook import call_params, new_sid
from sipgw.twilio.conferencetwiml import Conference
from sipgw.twilio.document import DialConference

log = logging.getLogger("sipgw.agent")


class ConferenceVerb(VerbHandler):
    """``<Dial><Conference>``; :attr:`conferencing` while the caller is in the room."""

    def __init__(self, ctx: VerbContext, playback: Playback) -> None:
        super().__init__(ctx)
        self.playback = playback
        self.conferencing: ConferenceDial | None = None

    async def conference(self, verb: DialConference) -> None:
        """``<Dial><Conference>`` (:mod:`sipgw.agent.twiml.conference`); then its ``action``
        gets how it ended, or the next verb runs."""
        self.steps.append("conference")
        conf, call = verb.conference, self.call
        rooms = self.settings.conferences
        if rooms is None:
            why = "no conference rooms on this gateway"
            log.warning("[%s] TwiML <Dial><Conference> refused: %s", call.call_id, why)
            self.ctx.note("refused", verb="Dial><Conference", why=why)
            return
        for name, why in conf.ignored:
            log.warning("[%s] TwiML <Conference %s>: not followed (%s)", call.call_id, name, why)
            self.ctx.note("conference_ignored", attribute=name, why=why)
        if conf.wait_url is None:
            self.ctx.note("conference_ignored", attribute="waitUrl",
                          why="absent: silence, not Twilio's own hold music")  # fmt: skip
        post = url = None
        if conf.status_callback and self.ctx.poster is not None and self.ctx.program is not None:
            url = callback_url(self.ctx.program.url, conf.status_callback, call.call_id,
                               "<Conference statusCallback>")  # fmt: skip
        if url is not None and self.ctx.poster is not None:
            post = partial(self.ctx.poster.post, Callback(url, conf.status_callback_method))
        conferencing = ConferenceDial(
            call.call_id, verb, rooms, partial(self._wait_music, conf), post,
            self.settings.identity.account_sid, self.ctx.note, time.time,
            self._conference_recording(conf), self._conference_recorded,
            self._conference_recording_started, call, self.ctx.may_widen(),
            AnnouncementAudio(self._conference_wait_document, self.playback.speech,
                              self.playback.play_file, self.ctx.note, call.call_id),
        )  # fmt: skip
        self.conferencing = conferencing
        try:
            result = await conferencing.run()
        finally:
            if not self.ctx.closed:
                self.conferencing = None
        if self.ctx.closed:
            return
        assert self.ctx.program is not None
        self.ctx.program.dialled(verb.dial, result.params())

    def _conference_recording(self, conf: Conference) -> Callable[[], RoomRecording] | None:
        """What makes the recording ``record`` asks for; None: none asked, or refused (no
        recording directory and URL: logged and recorded)."""
        if not conf.record:
            return None
        settings = self.settings
        if settings.recording_dir is None or not settings.recording_url:
            log.warning("[%s] TwiML <Conference record>: refused (no SIPGW_TWIML_RECORDING_DIR "
                        "and _URL)", self.call.call_id)  # fmt: skip
            self.ctx.note("refused", verb="Conference record", why="no recording directory and URL")
            return None
        callback = ""
        if conf.recording_status_callback and self.ctx.program is not None:
            where = "<Conference recordingStatusCallback>"
            callback = callback_url(self.ctx.program.url, conf.recording_status_callback,
                                    self.call.call_id, where) or ""  # fmt: skip
        method, events, trim = (conf.recording_status_callback_method,
                                conf.recording_status_callback_events, conf.trim)  # fmt: skip
        return lambda: RoomRecording(new_sid("RE"), callback, method, events, trim)

    def _conference_recording_started(self, recording: RoomRecording, room: ConferenceRoom) -> None:
        """A room's recording starting: ``in-progress`` to its ``recordingStatusCallback``
        when its ``recordingStatusCallbackEvent`` asks for it."""
        if not recording.callback or "in-progress" not in recording.events:
            return
        if self.ctx.poster is not None:
            form = {
                "AccountSid": self.settings.identity.account_sid, "ConferenceSid": room.sid,
                "RecordingSid": recording.sid, "RecordingStatus": "in-progress",
                "RecordingChannels": "1", "RecordingSource": "Conference",
                "RecordingStartTime": email.utils.formatdate(
                    recording.started_at or time.time(), usegmt=True
                ),
            }  # fmt: skip
            self.ctx.poster.post(Callback(recording.callback, recording.method), form)

    def _conference_recorded(self, recording: RoomRecording, room: ConferenceRoom) -> None:
        """A room's recording, handed over at its end: written as ``<RecordingSid>.wav`` in
        the recording directory and its ``recordingStatusCallback`` posted (``completed``,
        or ``absent`` when nothing was heard)."""
        settings = self.settings
        if settings.recording_dir is None:
            return
        audio = recording.ulaw()
        form = {
            "AccountSid": settings.identity.account_sid,
            "ConferenceSid": room.sid,
            "RecordingSid": recording.sid,
            "RecordingChannels": "1",
            "RecordingSource": "Conference",
            "RecordingStartTime": email.utils.formatdate(
                recording.started_at or time.time(), usegmt=True
            ),  # fmt: skip
        }
        status = "absent"
        if audio:
            url = self.write_recording(recording.sid, ulaw_wav(audio), "<Conference record>")
            if url is None:
                return
            status = "completed"
            form["RecordingUrl"] = url
            form["RecordingDuration"] = str(round(len(audio) / 8000))
        form["RecordingStatus"] = status
        self.ctx.note("record", recording_sid=recording.sid, verb="Conference", status=status,
                      seconds=round(len(audio) / 8000, 2), conference_sid=room.sid)  # fmt: skip
        if recording.callback and status in recording.events and self.ctx.poster is not None:
            self.ctx.poster.post(Callback(recording.callback, recording.method), form)

    async def _wait_music(self, conf: Conference) -> None:
        """The ``waitUrl`` while the room waits to start (:class:`~sipgw.agent.twiml.waitmusic.
        ConferenceWaitMusic`); none: silence. Cancelled: what it queued is dropped at once."""
        assert self.ctx.program is not None
        if not conf.wait_url:
            return
        music = ConferenceWaitMusic(self._conference_wait_document, self.playback.perform,
                                    self.ctx.out.play_audio, self.ctx.note,
                                    self.call.call_id)  # fmt: skip
        try:
            await music.play(absolute_url(self.ctx.program.url, conf.wait_url), conf.wait_method)
        except ValueError as exc:
            log.warning("[%s] <Conference waitUrl>: %s", self.call.call_id, exc)
        except asyncio.CancelledError:
            self.ctx.out.clear()
            raise

    async def _conference_wait_document(self, url: str, method: str) -> WaitDocument:
        """A conference's wait document (or audio file), with the call's fields."""
        assert self.ctx.session is not None
        params = call_params(self.call, self.call_sid, self.settings.identity.account_sid)
        return await fetch_wait_document(
            self.ctx.session, url, method, params, identity=self.settings.identity,
            timeout=self.settings.timeout, max_bytes=self.settings.max_audio_bytes, audio=True,
        )  # fmt: skip

    def at_hangup(self) -> None:
        """The caller hung up in a conference: its seat is given up, and the ``<Dial
        action>`` gets how (its answer is not followed: the call is over), as on Twilio."""
        conferencing, self.conferencing = self.conferencing, None
        if conferencing is None:
            return
        conferencing.stop("caller")
        conferencing.leave("caller")
        dial = conferencing.verb.dial
        result = DialResult("answered")  # as a conference's <Dial> ends on Twilio
        self.ctx.post_callback(dial.action, dial.method, "completed", result.params())
