"""``<Say>``, ``<Play>`` and ``<Play digits>``: the caller hears text spoken through the
configured text-to-speech, a fetched audio file, or keys sent as RFC 4733 events."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from typing import Final

from sipgw.agent.dialpolicy import DialRefused
from sipgw.agent.services.tts.base import TextToSpeech, TtsError
from sipgw.agent.twiml.audiofile import AudioFileError, decode_audio
from sipgw.agent.twiml.program import absolute_url
from sipgw.agent.twiml.say import SayVoice
from sipgw.agent.twiml.verbs.context import VerbHandler
from sipgw.agent.twiml.webhook import FetchFailed, fetch
from sipgw.twilio.document import Play, PlayDigits, Say

log = logging.getLogger("sipgw.agent")

DIGIT_SECONDS: Final = 0.16
"""How long one ``<Play digits>`` key takes on the wire (100 ms of event, 60 ms of gap:
the media sender's RFC 4733 defaults); ``w`` is :data:`DIGIT_PAUSE`."""
DIGIT_PAUSE: Final = 0.5


class Playback(VerbHandler):
    """``<Say>``, ``<Play>``, ``<Play digits>`` (also nested in ``<Gather>`` and in wait
    documents: :meth:`perform`)."""

    async def say(self, verb: Say) -> None:
        self.steps.append("say")
        audio = await self.speech(verb)
        if audio is not None:
            await self.ctx.out.play_audio(audio)

    async def speech(self, verb: Say) -> bytes | None:
        """``<Say>``'s audio (None: refused or failed, logged)."""
        if self.settings.tts is None:
            why = "no text-to-speech is configured (SIPGW_TWIML_TTS)"
            log.error("[%s] TwiML <Say> refused: %s", self.call.call_id, why)
            self.ctx.note("refused", verb="Say", why=why)
            return None
        tts = self._voiced(verb)
        audio = bytearray()
        try:
            await tts.connect()
            for piece in verb.pieces():  # words through the TTS, SSML <break>s as silence
                if isinstance(piece, float):
                    audio += b"\xff" * round(piece * 8000)
                    continue
                reply = tts.start_reply()
                await reply.send_text(piece)
                await reply.finish()
                async for chunk in reply.audio():
                    audio += chunk.audio
        except TtsError as exc:
            log.error("[%s] TwiML <Say>: text-to-speech failed: %s", self.call.call_id, exc)
            self.ctx.note("say_failed", reason=str(exc))
            return None
        finally:
            with contextlib.suppress(Exception):
                await tts.close()
        return bytes(audio) * verb.loop

    def _voiced(self, verb: Say) -> TextToSpeech:
        """The text-to-speech for ``verb``: its voice and language where it takes them; what
        it does not take is logged and written in the record, never dropped unsaid."""
        tts_of = self.settings.tts
        assert tts_of is not None
        if isinstance(tts_of, SayVoice):
            tts, ignored = tts_of.voiced(verb.voice, verb.language)
        else:  # a client with no voice or language to choose
            tts = tts_of()
            ignored = [f"{name}={value!r} (the text-to-speech takes none)"
                       for name, value in (("voice", verb.voice), ("language", verb.language))
                       if value]  # fmt: skip
        for what in ignored:
            log.warning("[%s] TwiML <Say> %s: ignored", self.call.call_id, what)
            self.ctx.note("say_ignored", attribute=what)
        return tts

    async def play(self, verb: Play) -> None:
        self.steps.append("play")
        audio = await self.play_file(verb)
        if audio is not None:
            await self.ctx.out.play_audio(audio)

    async def play_file(self, verb: Play) -> bytes | None:
        """``<Play>``'s audio (None: it failed, logged)."""
        assert self.ctx.session is not None and self.ctx.program is not None
        try:
            url = absolute_url(self.ctx.program.url, verb.url)
            fetched = await fetch(
                self.ctx.session, url, method="GET", timeout=self.settings.timeout,
                max_bytes=self.settings.max_audio_bytes,
            )  # fmt: skip
            audio = decode_audio(fetched.body, fetched.content_type)
        except (FetchFailed, AudioFileError, ValueError) as exc:
            log.error("[%s] TwiML <Play> %s: %s", self.call.call_id, verb.url[:200], exc)
            self.ctx.note("play_failed", url=verb.url[:200], reason=str(exc))
            return None
        return audio * verb.loop

    async def play_digits(self, verb: PlayDigits) -> None:
        """``<Play digits>``: RFC 4733 keys through the call's DTMF path (judged by the
        dial allow-list, as every key the call sends), ``w`` half a second's pause."""
        self.steps.append("digits")
        self.ctx.note("digits", digits=verb.digits)
        for run in re.split(r"([wW])", verb.digits):
            if run in ("w", "W"):
                await asyncio.sleep(DIGIT_PAUSE)
            elif run:
                try:
                    self.call.send_dtmf(run)
                except DialRefused as exc:
                    log.warning("[%s] TwiML <Play digits> refused: %s", self.call.call_id, exc)
                    self.ctx.note("refused", verb="Play digits", why=str(exc))
                    return
                await asyncio.sleep(len(run) * DIGIT_SECONDS)  # sent before what follows

    async def perform(self, verb: Say | Play) -> None:
        await (self.say(verb) if isinstance(verb, Say) else self.play(verb))
