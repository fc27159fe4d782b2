"""The voices of a ConversationRelay session: one text-to-speech per language spoken.

A reply speaks with the voice of its language (``text``'s ``lang``, else the session's, which
a ``language`` message's ``ttsLanguage`` switches). :class:`RelayVoices` keeps each
language's client, made (:mod:`sipgw.agent.twiml.relay.providers` maps the verb's voices
onto the operator's service) and connected at its first use; the session's first client
speaks a language no other could be made or connected for.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable

from sipgw.agent.services.tts.base import TextToSpeech, TtsError

__all__ = ["RelayVoices"]

log = logging.getLogger("sipgw.agent")


class RelayVoices:
    """Each language's text-to-speech (see the module docstring).

    Args:
        tts: the session's text-to-speech, for ``lang`` (connected by the session).
        lang: its language (lower case).
        voices: a language's text-to-speech and what of its voice it does not follow (None:
            ``tts`` speaks every language).
        call_id: the call, for the log.
        ignored: told what the app asked that is not followed.
    """

    def __init__(
        self,
        tts: TextToSpeech,
        lang: str,
        voices: Callable[[str], tuple[TextToSpeech, list[str]]] | None,
        call_id: str,
        ignored: Callable[[str], None],
    ) -> None:
        self.tts = tts
        self.voices = voices
        self.call_id = call_id
        self._ignored = ignored
        self._voices: dict[str, TextToSpeech] = {lang: tts}
        self._retired: list[TextToSpeech] = []  # replaced voices, closed with the rest

    def forget(self, lang: str) -> None:
        """``lang``'s voice changed (a ``config``): its next reply makes the new one (a reply
        speaking with the old plays on; the old client is closed with the session)."""
        old = self._voices.pop(lang, None)
        if old is not None:
            self._retired.append(old)

    async def tts_for(self, lang: str) -> TextToSpeech:
        """The text-to-speech of ``lang`` (lower case): made and connected at its first use;
        the session's first when no other can be made."""
        known = self._voices.get(lang)
        if known is not None:
            return known
        if self.voices is None:
            self._ignored(f"lang={lang!r} (the text-to-speech takes no language)")
            self._voices[lang] = self.tts
            return self.tts
        tts, notes = self.voices(lang)
        for what in notes:
            self._ignored(f"{lang}: {what}")
        try:
            await tts.connect()
        except TtsError as exc:
            log.error("[%s] ConversationRelay: text-to-speech for %s: %s", self.call_id,
                      lang, exc)  # fmt: skip
            self._ignored(f"lang={lang!r} (its text-to-speech could not connect)")
            with contextlib.suppress(Exception):
                await tts.close()
            tts = self.tts
        self._voices[lang] = tts
        return tts

    async def close(self) -> None:
        """Close every language's text-to-speech (the session's first too), once each."""
        every = (self.tts, *self._voices.values(), *self._retired)
        for tts in {id(t): t for t in every}.values():
            with contextlib.suppress(Exception):
                await tts.close()
