"""The fallback lines recorded in the package: the last resort.

When neither text-to-speech nor the line cache (agent/resilience/line_cache.py) has
a line, the agent says the recording shipped with sipgw:
``agent/resilience/prompts/<line>.ulaw``, raw G.711 μ-law at 8 kHz in whole 20 ms
frames, made by scripts/make_fallback_prompts.py (espeak-ng, then sox) from the
default words; ``index.json`` says which words each one speaks. It is another voice
than the agent's, and it says the default words even when the settings changed them.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources

from sipgw.agent.resilience.lines import FallbackLine

__all__ = ["FRAME_BYTES", "shipped_frames", "shipped_text"]

FRAME_BYTES = 160
"""One 20 ms frame of 8 kHz μ-law."""


@cache
def shipped_frames(line: FallbackLine) -> tuple[bytes, ...]:
    """The shipped recording of ``line`` as 160-byte frames (read once, then kept).

    Raises:
        FileNotFoundError: the package lacks it (a broken install).
    """
    audio = (
        resources.files("sipgw.agent.resilience")
        .joinpath(f"prompts/{line.value}.ulaw")
        .read_bytes()
    )
    audio += b"\xff" * (-len(audio) % FRAME_BYTES)
    return tuple(audio[i : i + FRAME_BYTES] for i in range(0, len(audio), FRAME_BYTES))


@cache
def shipped_text(line: FallbackLine) -> str:
    """The words the shipped recording of ``line`` speaks."""
    index = json.loads(
        resources.files("sipgw.agent.resilience").joinpath("prompts/index.json").read_text()
    )
    return str(index[line.value]["text"])
