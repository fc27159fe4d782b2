"""``<Gather>`` in the interpreter: its nested verbs played while it listens for keys or
speech (:mod:`sipgw.agent.twiml.gather` listens), its hints passed on, its partial results
and its input posted."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Final, Protocol, runtime_checkable

from sipgw.agent.services.stt.base import SpeechToText, SttConnectError
from sipgw.agent.twiml.gather import GatherResult, GatherRun
from sipgw.agent.twiml.statusposts import Callback, callback_url
from sipgw.agent.twiml.verbs.context import VerbContext, VerbHandler
from sipgw.agent.twiml.verbs.playback import Playback
from sipgw.twilio.document import Gather, Pause, Play, Say

log = logging.getLogger("sipgw.agent")

MAX_HINTS: Final = 100
"""Most ``<Gather hints>`` passed on as key terms (AssemblyAI's streaming limit)."""
MAX_HINT_CHARS: Final = 50
"""Longest hint passed on (AssemblyAI's limit per key term); longer ones are left out."""


@runtime_checkable
class _Configurable(Protocol):
    """A speech-to-text session that takes configuration mid-session (AssemblyAI's)."""

    async def update_configuration(self, **fields: object) -> None: ...


class GatherVerb(VerbHandler):
    """``<Gather>``; :attr:`gathering` while it listens (also in a wait document:
    :meth:`listen`)."""

    def __init__(self, ctx: VerbContext, playback: Playback) -> None:
        super().__init__(ctx)
        self.playback = playback
        self.gathering: GatherRun | None = None

    async def gather(self, verb: Gather) -> None:
        """``<Gather>`` (:mod:`sipgw.agent.twiml.gather`), then its action or the next verb."""
        self.steps.append("gather")
        assert self.ctx.program is not None
        result = await self.listen(verb)
        if result is None or (result.empty and not verb.action_on_empty_result):
            return  # no input (or speech only, refused): the next verb, as on Twilio
        if not self.ctx.program.gathered(verb, result.params()):
            log.warning("[%s] <Gather> without action in an inline document: nowhere to "
                        "post the input; the TwiML goes on", self.call.call_id)  # fmt: skip
            self.ctx.note("refused", verb="Gather action", why="no action and no document URL")

    async def listen(self, verb: Gather) -> GatherResult | None:
        """A ``<Gather>``'s input, its nested verbs playing (None: speech only, refused)."""
        assert self.ctx.program is not None
        stt = await self._gather_stt(verb)
        if stt is None and verb.input == ("speech",):
            return None  # refused (logged, recorded)
        callback = None
        url = None
        if verb.partial_result_callback:
            url = callback_url(self.ctx.program.url, verb.partial_result_callback,
                               self.call.call_id, "<Gather partialResultCallback>")  # fmt: skip
        if url is not None:
            callback = Callback(url, verb.partial_result_callback_method)
        run = GatherRun(
            verb, lambda: self._prompts(verb), stt,
            on_partial=(lambda form: self._partial(callback, form)) if callback else None,
            log_id=self.call.call_id,
        )  # fmt: skip
        self.gathering = run
        try:
            result = await run.run()
        finally:
            self.gathering = None
            if stt is not None:
                with contextlib.suppress(Exception):
                    await stt.close()
        self._note_gathered(result)
        return result

    def _note_gathered(self, result: GatherResult) -> None:
        self.ctx.note("gather", digits=len(result.digits), finished_on_key=result.finished_on_key,
                      speech=bool(result.speech), confidence=round(result.confidence, 4),
                      partials=result.partials)  # fmt: skip

    async def _gather_stt(self, verb: Gather) -> SpeechToText | None:
        if "speech" not in verb.input:
            return None
        why = ""
        if self.settings.stt is None:
            why = "no speech-to-text is configured (SIPGW_TWIML_STT)"
        else:
            stt = self.settings.stt()
            try:
                await stt.connect()
            except SttConnectError as exc:
                why = f"the speech-to-text could not be opened: {exc}"
            else:
                await self._hint(stt, verb)
                if verb.language != "en-US":  # the session's own language setting holds
                    log.warning("[%s] TwiML <Gather> language=%r: ignored", self.call.call_id,
                                verb.language[:40])  # fmt: skip
                    self.ctx.note("gather_ignored", attribute="language", value=verb.language[:40])
                return stt
        log.warning("[%s] TwiML <Gather input=speech> refused: %s", self.call.call_id, why)
        self.ctx.note("refused", verb="Gather speech", why=why)
        return None

    async def _hint(self, stt: SpeechToText, verb: Gather) -> None:
        """``hints`` as the session's key terms, where the service takes them mid-session
        (AssemblyAI's ``UpdateConfiguration`` ``keyterms_prompt``: at most
        :data:`MAX_HINTS` terms of :data:`MAX_HINT_CHARS` characters); else logged as ignored."""
        if not verb.hints:
            return
        terms = [h for h in verb.hints if len(h) <= MAX_HINT_CHARS][:MAX_HINTS]
        left = len(verb.hints) - len(terms)
        if isinstance(stt, _Configurable) and terms:
            await stt.update_configuration(keyterms_prompt=terms)
            self.ctx.note("gather_hints", terms=len(terms), left_out=left)
            if not left:
                return
            why = f"{left} of {len(verb.hints)} hints (too long or too many)"
        else:
            why = "hints (the speech-to-text takes no key terms)"
        log.warning("[%s] TwiML <Gather> %s: ignored", self.call.call_id, why)
        self.ctx.note("gather_ignored", attribute="hints", value=why)

    async def _prompts(self, verb: Gather) -> None:
        """The nested verbs; cancelled (barge-in), what they queued is dropped at once."""
        try:
            for prompt in verb.prompts:
                if isinstance(prompt, Say):
                    await self.playback.say(prompt)
                elif isinstance(prompt, Play):
                    await self.playback.play(prompt)
                elif isinstance(prompt, Pause):
                    await asyncio.sleep(prompt.length)
        except asyncio.CancelledError:
            self.ctx.out.clear()
            raise

    def _partial(self, callback: Callback, form: dict[str, str]) -> None:
        if self.ctx.poster is not None:
            base = {"AccountSid": self.settings.identity.account_sid, "CallSid": self.call_sid}
            self.ctx.poster.post(callback, {**base, **form})
