"""``<Start><Transcription>`` and ``<Stop><Transcription>``: live transcriptions of the call
(:mod:`sipgw.agent.twiml.transcriptions`), their events posted to the app."""

from __future__ import annotations

import logging
from functools import partial

from sipgw.agent.twiml.statusposts import Callback, callback_url
from sipgw.agent.twiml.transcriptions import LiveTranscription, ignored
from sipgw.agent.twiml.verbs.context import VerbContext, VerbHandler
from sipgw.agent.twiml.webhook import new_sid
from sipgw.twilio.transcriptiontwiml import Transcription, TranscriptionEvents

log = logging.getLogger("sipgw.agent")


class TranscriptionVerbs(VerbHandler):
    """The call's running transcriptions (:attr:`transcriptions`)."""

    def __init__(self, ctx: VerbContext) -> None:
        super().__init__(ctx)
        self.transcriptions: list[LiveTranscription] = []

    async def start(self, noun: Transcription) -> None:
        """``<Start><Transcription>`` (:mod:`sipgw.agent.twiml.transcriptions`): its
        sessions opened, its events posted; the document goes on at once."""
        self.steps.append("transcription")
        assert self.ctx.program is not None
        poster, callback = self.ctx.poster, None
        url = None
        if noun.status_callback_url:
            url = callback_url(self.ctx.program.url, noun.status_callback_url, self.call.call_id,
                               "<Transcription statusCallbackUrl>")  # fmt: skip
        if url is not None:
            callback = Callback(url, noun.status_callback_method)

        def post(form: dict[str, str]) -> None:
            if poster is not None and callback is not None:
                poster.post(callback, form)

        events = TranscriptionEvents(noun, self.settings.identity.account_sid, self.call_sid,
                                     new_sid("GT"))  # fmt: skip
        live = LiveTranscription(noun, events, post, self.call.call_id)
        settings, language = self.settings, noun.language_code
        open_stt = settings.stt
        spoken = settings.stt_spoken is not None and language.lower() != "en-us"
        if spoken and settings.stt_spoken is not None:
            open_stt = partial(settings.stt_spoken, language)
        why = ""
        if open_stt is None:
            why = "no speech-to-text is configured (SIPGW_TWIML_STT)"
        elif noun.name and any(t.noun.name == noun.name for t in self.transcriptions):
            why = f"a transcription named {noun.name[:40]!r} is running"
        if why:
            log.warning("[%s] TwiML <Start><Transcription> refused: %s", self.call.call_id, why)
            self.ctx.note("refused", verb="Start><Transcription", why=why)
            post(events.error(why))
            return
        assert open_stt is not None
        for note in ignored(noun, spoken):
            log.info("[%s] TwiML <Transcription> %s: not followed", self.call.call_id, note)
            self.ctx.note("transcription_ignored", value=note)
        if await live.start(open_stt):
            self.transcriptions.append(live)
            self.ctx.note("transcription", sid=live.sid, name=noun.name, track=noun.track)
        else:
            self.ctx.note("refused", verb="Start><Transcription", why="the speech-to-text could "
                          "not be opened")  # fmt: skip
        for note in live.left_out_hints:
            self.ctx.note("transcription_ignored", value=note)

    async def stop(self, name: str) -> None:
        """``<Stop><Transcription name>``: that one stopped (its last words, then
        ``transcription-stopped``)."""
        chosen = [t for t in self.transcriptions if t.named(name)]
        if not chosen:
            log.warning("[%s] TwiML <Stop><Transcription name=%r>: no such transcription",
                        self.call.call_id, name[:40])  # fmt: skip
            self.ctx.note("refused", verb="Stop><Transcription",
                          why=f"no transcription named {name[:40]!r}")  # fmt: skip
            return
        self.steps.append("transcription stopped")
        for live in chosen:
            self.transcriptions.remove(live)
            await live.stop()
            self.ctx.note("transcription_stopped", sid=live.sid, content=live.posted_content)
