"""Agent assist on a recording session: a chat model reads the transcript, suggests.

A contact centre records its calls to the gateway (docs/siprec.md) so that its agents get help
while they talk. With ``SIPGW_SRS_ASSIST_PROMPT_FILE`` set, :class:`AssistAdvisor` hears each
finished utterance (:meth:`~AssistAdvisor.heard`) and asks the chat model (``SIPGW_LLM``'s
vendor, its ``OPENAI_*`` settings) for one suggestion: the operator's prompt as the system
message, the transcript so far as the user message, each line ``name (address) [label]:
text``. What the model answers, if anything, is handed to ``suggest`` (the transcriber writes
it to the call record as a ``suggestion`` line; the feed posts it as ``call.suggestion``).
Nothing is said on the call.

One request at a time per call: utterances that finish while the model is still answering
are read by the next request, which starts once the running one ends (the suggestions follow
the conversation without piling up). A reply of only ``-`` (or nothing) suggests nothing. A
failed request is logged and counted; the next utterance tries again.

The transcript is the callers' words: it goes to the model as data in the user message, never
as instructions of the system prompt.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass

from sipgw.agent.services.llm.base import ChatLLM, LlmError, LlmTextDelta

__all__ = ["AssistAdvisor", "Heard", "NOTHING"]

log = logging.getLogger("sipgw.agent")

NOTHING = "-"
"""A reply that suggests nothing (what the prompt should tell the model to answer then)."""


@dataclass(frozen=True, slots=True)
class Heard:
    """One utterance of the transcript the model reads."""

    label: str
    who: str
    """The speaker as the transcript shows them: ``name (address)``, or the address, or
    ``stream LABEL``."""
    text: str


class AssistAdvisor:
    """Suggestions from a chat model over one call's transcript (see the module docstring).

    Args:
        llm: the chat model (shared by the gateway's calls).
        prompt: the system prompt.
        suggest: gets each suggestion and how many utterances it read.
        log_id: how log lines name the call.
    """

    def __init__(
        self,
        llm: ChatLLM,
        prompt: str,
        suggest: Callable[[str, int], None],
        log_id: str = "",
    ) -> None:
        self.llm = llm
        self.prompt = prompt
        self.suggest = suggest
        self.log_id = log_id
        self.transcript: list[Heard] = []
        self.failures = 0
        self.requests = 0
        self._task: asyncio.Task[None] | None = None
        self._again = False

    def heard(self, utterance: Heard) -> None:
        """A finished utterance: a request now, or after the one running."""
        self.transcript.append(utterance)
        if self._task is not None and not self._task.done():
            self._again = True
            return
        self._task = asyncio.get_running_loop().create_task(self._advise())

    async def _advise(self) -> None:
        while True:
            self._again = False
            read = len(self.transcript)
            self.requests += 1
            try:
                text = await self._ask(self.transcript[:read])
            except LlmError as exc:
                self.failures += 1
                log.warning("[%s] assist: the chat model failed: %s", self.log_id, exc)
                text = ""
            if text and text != NOTHING:
                self.suggest(text, read)
            if not self._again:
                return

    async def _ask(self, transcript: list[Heard]) -> str:
        lines = "\n".join(f"{h.who} [{h.label}]: {h.text}" for h in transcript)
        messages = [
            {"role": "system", "content": self.prompt},
            {"role": "user", "content": f"The call's transcript so far:\n{lines}"},
        ]
        parts: list[str] = []
        async with contextlib.aclosing(self.llm.stream(messages, [])) as events:
            async for event in events:
                if isinstance(event, LlmTextDelta):
                    parts.append(event.text)
        return "".join(parts).strip()

    async def close(self, within: float = 1.0) -> None:
        """Let the request running finish (within ``within`` seconds), then stop."""
        task = self._task
        if task is None or task.done():
            return
        self._again = False
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(within):
                await asyncio.shield(task)
        task.cancel()
        with contextlib.suppress(BaseException):
            await task
