"""The ``srs`` agent's settings section (docs/siprec.md)."""

from __future__ import annotations

from dataclasses import dataclass

from sipgw.foundation.settings import section, setting
from sipgw.foundation.settings.parsers import choice, optional_file, text

__all__ = ["SrsSection"]


@section(
    "srs",
    title="SIPREC recording server",
    intro='Read when `--agent srs` (or a line\'s `agent = "srs"`): the calls are SIPREC '
    "recording sessions (RFC 7866), each participant's stream transcribed (docs/siprec.md).",
)
@dataclass(frozen=True)
class SrsSection:
    """The speech-to-text of each recorded stream, where the call records go, agent assist."""

    stt: str = setting(
        "assemblyai", env="SIPGW_SRS_STT", parse=choice("assemblyai"),
        help="The streaming speech-to-text each participant's stream goes to, one session "
        "per stream: assemblyai (its ASSEMBLYAI_* settings).",
    )  # fmt: skip
    record_dir: str = setting(
        "calls", env="SIPGW_SRS_RECORD_DIR", parse=text, state=True,
        help="Directory for the per-call JSONL records (the participants, each utterance "
        "with who said it; relative: under the state directory); empty = none.",
    )  # fmt: skip
    assist_prompt_file: str = setting(
        "", env="SIPGW_SRS_ASSIST_PROMPT_FILE", parse=optional_file, default_text="",
        help="Agent assist: a file with the system prompt of a chat model that reads each "
        "recording's transcript after every utterance and suggests what the contact centre's "
        "agent could do (posted as call.suggestion; a reply of - suggests nothing); empty = "
        "no assist.",
    )  # fmt: skip
    assist_llm: str = setting(
        "openai", env="SIPGW_SRS_ASSIST_LLM", parse=choice("openai"),
        help="The chat model of agent assist: openai (its OPENAI_* settings: any "
        "OpenAI-compatible server).",
    )  # fmt: skip
