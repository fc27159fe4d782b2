"""``<Record>`` in the interpreter: the caller recorded (:mod:`sipgw.agent.twiml.recording`),
the WAV written where the operator serves it, transcribed when asked
(:mod:`sipgw.agent.twiml.recordtranscribe`), and the recording status callbacks (a
``<Dial record>``'s too: :meth:`RecordVerb.recording_status`)."""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import logging
import time

from sipgw.agent.twiml.program import absolute_url
from sipgw.agent.twiml.recording import BEEP, FRAME_SECONDS, Recorder, ulaw_wav
from sipgw.agent.twiml.recordtranscribe import RecordTranscription, start_transcription
from sipgw.agent.twiml.statusposts import Callback, callback_url
from sipgw.agent.twiml.verbs.context import VerbContext, VerbHandler
from sipgw.agent.twiml.webhook import call_params, new_sid
from sipgw.foundation.private_files import write_private_atomic
from sipgw.twilio.document import Dial, Record

log = logging.getLogger("sipgw.agent")


def time_ago(seconds: float) -> str:
    """The wall-clock time ``seconds`` ago in RFC 2822, GMT (a ``RecordingStartTime``)."""
    return email.utils.formatdate(time.time() - seconds, usegmt=True)


class RecordVerb(VerbHandler):
    """``<Record>``; :attr:`recording` while it records (its recorder, verb, and the event
    set when it is over)."""

    def __init__(self, ctx: VerbContext) -> None:
        super().__init__(ctx)
        self.recording: tuple[Recorder, Record, asyncio.Event] | None = None

    async def record(self, verb: Record) -> None:
        """``<Record>`` (:mod:`sipgw.agent.twiml.recording`): the beep, the caller until
        silence, a key or ``maxLength``; the WAV written (0600) where the operator serves
        it; its URL, length and SID posted to ``action``. Nothing heard: the next verb."""
        self.steps.append("record")
        settings = self.settings
        if settings.recording_dir is None or not settings.recording_url:
            why = "no recording directory and URL are configured (SIPGW_TWIML_RECORDING_DIR, _URL)"
            log.warning("[%s] TwiML <Record> refused: %s", self.call.call_id, why)
            self.ctx.note("refused", verb="Record", why=why)
            return
        if verb.play_beep:
            await self.ctx.out.play_audio(BEEP)
        recorder = Recorder(verb.timeout, verb.max_length, verb.finish_on_key, sid=new_sid("RE"))
        self._record_status(verb, recorder.sid, "in-progress", {})
        over = asyncio.Event()
        self.recording = (recorder, verb, over)
        try:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(verb.max_length + 1.0):
                    await over.wait()
        finally:
            if not self.ctx.closed:
                self.recording = None
        if self.ctx.closed:  # the hang-up kept and posted it (close)
            return
        recorder.ended_by = recorder.ended_by or "max-length"
        params = self._save_recording(recorder, verb)
        if params is None:
            return  # silence only: the next verb, as on Twilio
        assert self.ctx.program is not None
        if not self.ctx.program.post(verb.action, verb.method, params, "<Record action>"):
            log.warning("[%s] <Record> without action in an inline document: kept, "
                        "nowhere to post it; the TwiML goes on", self.call.call_id)  # fmt: skip

    def _save_recording(
        self, recorder: Recorder, verb: Record
    ) -> tuple[tuple[str, str], ...] | None:
        """The recording written, its status callback queued; the action's form (None
        when nothing was heard)."""
        audio = recorder.audio(verb.trim)
        sid = recorder.sid or new_sid("RE")
        if not recorder.heard_anything or not audio:
            self.ctx.note("record", ended_by=recorder.ended_by, seconds=0)
            self._record_status(verb, sid, "absent", {})  # no file
            return None
        url = self.write_recording(sid, ulaw_wav(audio), "<Record>")
        if url is None:
            return None
        seconds = len(audio) / 8000
        digits = recorder.key_pressed or ("hangup" if recorder.ended_by == "hangup" else "")
        self.ctx.note("record", recording_sid=sid, ended_by=recorder.ended_by,
                      seconds=round(seconds, 2))  # fmt: skip
        self._record_status(verb, sid, "completed", {
            "RecordingUrl": url, "RecordingDuration": str(round(seconds)),
            "RecordingStartTime": time_ago(len(recorder.frames) * FRAME_SECONDS),
        })  # fmt: skip
        if verb.transcribe:
            self._transcribe_recording(verb, sid, url, audio)
        return (("RecordingUrl", url), ("RecordingDuration", str(round(seconds))),
                ("RecordingSid", sid), ("Digits", digits))  # fmt: skip

    def _transcribe_recording(self, verb: Record, sid: str, url: str, audio: bytes) -> None:
        """``transcribe`` (:mod:`sipgw.agent.twiml.recordtranscribe`): the text written as
        ``<TranscriptionSid>.txt`` beside the recording, ``transcribeCallback`` posted."""
        settings, program = self.settings, self.ctx.program
        assert settings.recording_dir is not None and program is not None
        transcription_sid = new_sid("TR")
        text_url = settings.recording_url.rstrip("/") + f"/{transcription_sid}.txt"
        target = where = None
        if verb.transcribe_callback:
            where = callback_url(program.url, verb.transcribe_callback, self.call.call_id,
                                 "<Record transcribeCallback>")  # fmt: skip
        if where is not None:
            status = "completed" if self.ctx.closed else "in-progress"
            form = call_params(self.call, self.call_sid, settings.identity.account_sid, status)
            form.update({"TranscriptionSid": transcription_sid, "TranscriptionUrl": text_url,
                         "RecordingSid": sid, "RecordingUrl": url})  # fmt: skip
            target = RecordTranscription(where, "POST", settings.identity, settings.timeout, form)
        if settings.stt is None:
            log.warning("[%s] <Record transcribe>: no speech-to-text is configured "
                        "(SIPGW_TWIML_STT): failed", self.call.call_id)  # fmt: skip
        directory, log_id = settings.recording_dir, self.call.call_id

        def keep(text: str | None) -> None:
            if text is not None:
                try:
                    write_private_atomic(directory / f"{transcription_sid}.txt", text.encode())
                except OSError as exc:
                    log.error("[%s] <Record transcribe>: the text could not be written: %s",
                              log_id, exc)  # fmt: skip
            if not self.ctx.closed:
                self.ctx.note("record_transcription", transcription_sid=transcription_sid,
                              recording_sid=sid, status="failed" if text is None else "completed",
                              words=len((text or "").split()))  # fmt: skip

        self.ctx.note("record_transcribing", transcription_sid=transcription_sid, recording_sid=sid)
        start_transcription(audio, settings.stt, target, keep)

    def _record_status(self, verb: Record, sid: str, status: str, extra: dict[str, str]) -> None:
        """``status`` of a ``<Record>``'s recording (:meth:`recording_status`)."""
        self.recording_status("Record", verb, status, {
            "RecordingSid": sid, "RecordingChannels": "1", "RecordingSource": "RecordVerb",
            **extra,
        })  # fmt: skip

    def recording_status(
        self, tag: str, verb: Record | Dial, status: str, form: dict[str, str]
    ) -> None:
        """``status`` (``in-progress``, ``completed``, ``absent``) of a ``<Record>``'s or a
        ``<Dial record>``'s recording to its ``recordingStatusCallback``, when its
        ``recordingStatusCallbackEvent`` lists it, with Twilio's fields and ``form``."""
        ctx = self.ctx
        if (not verb.recording_status_callback or ctx.poster is None or ctx.program is None
                or status not in verb.recording_status_callback_events):  # fmt: skip
            return
        where = callback_url(ctx.program.url, verb.recording_status_callback, self.call.call_id,
                             f"<{tag} recordingStatusCallback>")  # fmt: skip
        if where is None:
            return
        ctx.poster.post(Callback(where, verb.recording_status_callback_method), {
            "AccountSid": self.settings.identity.account_sid, "CallSid": self.call_sid,
            "RecordingStatus": status, **form,
        })  # fmt: skip

    def at_hangup(self) -> None:
        """The caller hung up while recording: kept, and the action gets it with
        ``Digits=hangup`` (its answer is not followed: the call is over), as on Twilio."""
        recording, self.recording = self.recording, None
        if recording is None:
            return
        recorder, verb, over = recording
        recorder.hangup()
        over.set()
        params = self._save_recording(recorder, verb)
        if params is None or self.ctx.poster is None or self.ctx.program is None:
            return
        try:
            url = absolute_url(self.ctx.program.url, verb.action or self.ctx.program.url)
        except ValueError:
            return
        form = call_params(self.call, self.call_sid, self.settings.identity.account_sid,
                           "completed")  # fmt: skip
        self.ctx.poster.post(Callback(url, verb.method), {**form, **dict(params)})
