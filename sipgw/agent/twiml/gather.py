"""``<Gather>`` on one call: the caller's keys or speech, as Twilio collects them.

Theory of operation
-------------------
:class:`GatherRun` plays the nested ``<Say>``/``<Play>``/``<Pause>`` (a coroutine the
agent hands it) while it waits for input; the first input stops them (barge-in: a key,
or speech when ``bargeIn`` is true, Twilio's default). Then, as Twilio documents it:

- **Keys** (``input`` has ``dtmf``): collected until ``numDigits`` of them, or the
  ``finishOnKey`` key (not part of ``Digits``; "" disables it), or ``timeout`` seconds
  without a key (counted from the end of the prompts, then from each key).
- **Speech** (``input`` has ``speech``): the caller's audio goes to the speech-to-text
  service (:class:`~sipgw.agent.services.stt.base.SpeechToText`) as it arrives; each finished turn
  adds its words; the gather ends ``speechTimeout`` seconds after a turn ends with no new
  speech (``auto``: at the first turn's end, the service's own end-of-turn detection);
  ``timeout`` seconds with no speech at all end it empty. Partial transcripts go to
  ``partialResultCallback`` when the app asked for them (``UnstableSpeechResult``,
  ``StableSpeechResult``, ``SequenceNumber``).
- With both, the first input heard wins (Twilio: "the first detected input takes
  precedence").

The result (:class:`GatherResult`) is what Twilio posts to ``action``: ``Digits`` (and
``FinishedOnKey``), or ``SpeechResult`` with ``Confidence`` (the mean of the words'
confidences, 0 to 1). The program decides where it goes (:meth:`Program.gathered`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Final

from sipgw.agent.services.stt.base import (
    SpeechToText,
    SttEvent,
    SttFailed,
    SttPartialTranscript,
    SttSpeechStarted,
    SttTurnEnded,
)
from sipgw.foundation.stopping import cancel_and_wait
from sipgw.twilio.document import Gather
from sipgw.twilio.profanity import mask_profanity

__all__ = ["MAX_SPEECH", "GatherResult", "GatherRun", "KeyCollector"]

log = logging.getLogger("sipgw.agent")

MAX_SPEECH: Final = 60.0
"""Longest a caller may talk into one ``<Gather>`` (Twilio's limit: 60 s of speech)."""


@dataclass
class GatherResult:
    """What the caller gave: keys, speech, or nothing."""

    digits: str = ""
    finished_on_key: str = ""
    speech: str = ""
    confidence: float = 0.0
    partials: int = 0

    @property
    def empty(self) -> bool:
        """No key and no words."""
        return not self.digits and not self.speech

    def params(self) -> tuple[tuple[str, str], ...]:
        """The form fields Twilio posts to ``action`` for this result."""
        if self.speech:
            return (("SpeechResult", self.speech), ("Confidence", f"{self.confidence:.4f}"))
        if self.digits or self.finished_on_key:
            fields = [("Digits", self.digits)]
            if self.finished_on_key:
                fields.append(("FinishedOnKey", self.finished_on_key))
            return tuple(fields)
        return ()


@dataclass
class KeyCollector:
    """The keys of one ``<Gather>``, sans-IO: :meth:`key` says when the keys are done."""

    num_digits: int = 0
    finish_on_key: str = "#"
    digits: str = ""
    finished_on_key: str = ""

    def key(self, digit: str) -> bool:
        """Take one key; True once ``numDigits`` are in or the finish key came."""
        if self.finish_on_key and digit == self.finish_on_key:
            self.finished_on_key = digit
            return True
        self.digits += digit
        return bool(self.num_digits) and len(self.digits) >= self.num_digits


@dataclass
class GatherRun:
    """One ``<Gather>`` (see the module docstring).

    Args:
        gather: the verb.
        prompts: plays the nested verbs (cancelled on barge-in).
        stt: the speech-to-text session, connected (None: no speech).
        on_partial: takes each partial result's form (``partialResultCallback``).
        log_id: how log lines name the call.
    """

    gather: Gather
    prompts: Callable[[], Awaitable[None]]
    stt: SpeechToText | None = None
    on_partial: Callable[[dict[str, str]], None] | None = None
    log_id: str = ""
    result: GatherResult = field(default_factory=GatherResult)
    _inputs: asyncio.Queue[str | SttEvent] = field(default_factory=asyncio.Queue)
    _turns: list[str] = field(default_factory=list)
    _confidences: list[float] = field(default_factory=list)

    def key(self, digit: str) -> None:
        """A key the caller pressed (ignored when ``input`` has no ``dtmf``)."""
        if "dtmf" in self.gather.input:
            self._inputs.put_nowait(digit)

    def audio(self, frame: bytes) -> None:
        """The caller's 20 ms, as it arrives, to the speech-to-text."""
        if self.stt is not None:
            self.stt.send_audio(frame)

    async def run(self) -> GatherResult:
        """Play the prompts, collect the input, return it (see the module docstring)."""
        gather, loop = self.gather, asyncio.get_running_loop()
        keys = KeyCollector(gather.num_digits, gather.finish_on_key)
        pump = loop.create_task(self._pump()) if self.stt is not None else None
        prompts: asyncio.Task[None] | None = loop.create_task(self._prompts())
        deadline: float | None = None
        mode = ""  # "dtmf" or "speech" once one was heard: the first input wins
        try:
            while True:
                if deadline is None and (prompts is None or prompts.done()):
                    deadline = loop.time() + gather.timeout
                getter = loop.create_task(self._inputs.get())
                waits: set[asyncio.Future[object]] = {getter}  # type: ignore[arg-type]
                if prompts is not None and not prompts.done():
                    waits.add(prompts)  # type: ignore[arg-type]
                timeout = None if deadline is None else max(0.0, deadline - loop.time())
                done, _ = await asyncio.wait(waits, timeout=timeout,
                                             return_when=asyncio.FIRST_COMPLETED)  # fmt: skip
                if getter not in done:
                    getter.cancel()
                    if prompts is not None and prompts in done:
                        continue  # the prompts ended: the timeout starts now
                    break  # the time ran out
                item = getter.result()
                now = loop.time()
                if isinstance(item, str):  # a key
                    if mode == "speech":
                        continue
                    mode = "dtmf"
                    prompts = self._stop(prompts)
                    if keys.key(item):
                        break
                    deadline = now + gather.timeout
                elif isinstance(item, SttSpeechStarted | SttPartialTranscript):
                    if mode == "dtmf":
                        continue
                    mode = "speech"
                    if gather.barge_in:
                        prompts = self._stop(prompts)
                    deadline = now + MAX_SPEECH  # the caller is talking: no timeout meanwhile
                    if isinstance(item, SttPartialTranscript):
                        self._partial(item.text)
                elif isinstance(item, SttTurnEnded):
                    if mode == "dtmf" or not item.text.strip():
                        continue
                    mode = "speech"
                    prompts = self._stop(prompts)
                    self._turns.append(item.text.strip())
                    self._confidences.extend(w.confidence for w in item.words)
                    if gather.speech_timeout is None or gather.speech_timeout <= 0:
                        break  # "auto": the service's end of turn ends it
                    deadline = now + gather.speech_timeout
                elif isinstance(item, SttFailed):
                    log.warning("[%s] <Gather> speech-to-text failed: %s", self.log_id,
                                item.reason)  # fmt: skip
                    if "dtmf" not in gather.input and mode != "speech":
                        break
        finally:
            self._stop(prompts)
            await cancel_and_wait(pump)
        result = self.result
        if mode == "dtmf":
            result.digits, result.finished_on_key = keys.digits, keys.finished_on_key
        elif self._turns:
            result.speech = self._filtered(" ".join(self._turns))
            confidences = self._confidences
            result.confidence = sum(confidences) / len(confidences) if confidences else 0.0
        return result

    async def _prompts(self) -> None:
        with contextlib.suppress(asyncio.CancelledError):
            await self.prompts()

    @staticmethod
    def _stop(prompts: asyncio.Task[None] | None) -> asyncio.Task[None] | None:
        """Barge-in: the prompts stop (their audio is dropped); None from now on."""
        if prompts is not None and not prompts.done():
            prompts.cancel()
        return None

    async def _pump(self) -> None:
        assert self.stt is not None
        async for event in self.stt.events():
            self._inputs.put_nowait(event)

    def _partial(self, text: str) -> None:
        if self.on_partial is None or not self.gather.partial_result_callback:
            return
        self.result.partials += 1
        self.on_partial({
            "UnstableSpeechResult": self._filtered(text),
            "StableSpeechResult": self._filtered(" ".join(self._turns)),
            "SequenceNumber": str(self.result.partials),
        })  # fmt: skip

    def _filtered(self, text: str) -> str:
        """``profanityFilter`` (true by default): profane words masked but their first letter."""
        return mask_profanity(text) if self.gather.profanity_filter else text
