"""The ``summary`` settings section: whether answered calls get a post-call summary, and bounds."""

from __future__ import annotations

from dataclasses import dataclass

from sipgw.foundation.settings import section, setting
from sipgw.foundation.settings.parsers import int_range, on_off, positive, text

__all__ = ["DEFAULT_SUMMARY_PROMPT", "SummarySection"]

DEFAULT_SUMMARY_PROMPT = (
    "You summarize phone calls between a caller and an AI phone agent for the business that "
    "runs the agent. In two to four plain sentences say what the caller wanted, what was "
    "done or agreed, and anything left to follow up. Use only what the transcript says."
)


@section(
    "summary",
    title="Post-call summary",
    intro="After an answered call, the chat model (SIPGW_LLM and its settings) summarizes the "
    "transcript, with a structured extraction when the call's line has a JSON schema; the "
    "result goes into the call record and the call.ended webhook (docs/webhooks.md). "
    "Environment variables (or `.env` lines) only.",
)
@dataclass(frozen=True)
class SummarySection:
    """Whether calls are summarized, with what instructions, and its bounds."""

    summary: bool = setting(
        False, env="SIPGW_SUMMARY", parse=on_off, default_text="off",
        help="on: summarize every answered call after the hang-up (a line of the routes file "
        "may turn it on or off for its calls); costs one LLM request per call.",
    )  # fmt: skip
    summary_prompt: str = setting(
        DEFAULT_SUMMARY_PROMPT, env="SIPGW_SUMMARY_PROMPT", parse=text,
        help="The instructions the summary request starts with.",
    )  # fmt: skip
    summary_timeout: float = setting(
        20.0, env="SIPGW_SUMMARY_TIMEOUT", parse=positive,
        help="Seconds one summary may take; the call.ended webhook waits no longer for it.",
    )  # fmt: skip
    summary_max_chars: int = setting(
        12000, env="SIPGW_SUMMARY_MAX_CHARS", parse=int_range(500, 200000),
        help="Transcript characters sent at most (a longer one keeps its start and its end).",
    )  # fmt: skip
