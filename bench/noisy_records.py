"""What the assistant answered on a capacity run's noisy calls, from their call records.

    python -m bench.noisy_records DIR [--every 6] [--llm-requests N]

``DIR`` is ``bench.capacity --caller-audio noisy --call-records DIR``'s: one JSON-lines record
per call (``SIPGW_CALL_RECORD_DIR``). Per run: the calls and their seconds (the last line's
``t``), the sentences the callers said (a call-second over ``--every``, the loop's segment), the
turns answered (``user`` lines) sorted by their text: a caller's whole sentence
(:data:`bench.caller_audio.SENTENCES`), a piece of one (a split turn), the room's line
(:data:`bench.caller_audio.ROOM_TEXTS`), a piece of it (``room piece``), a caller's sentence
with the room's words after it (``sentence and room``: the caller's words held, answered
with the room's turn) or other; the room's transcripts the gateway heard and
did not answer (``room_speech``); with ``--llm-requests`` (the fakes' tally for the step) the
LLM requests per call-second. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.caller_audio import ROOM_TEXTS, SENTENCES

__all__ = ["main", "summarize"]


def _of_room(text: str, rooms: set[str]) -> bool:
    """Whether ``text`` is the room's words: a line, a piece of one, or pieces of one joined
    (a room turn's words held and answered with the next)."""
    return bool(text) and any(
        text in line or set(text.split()) <= set(line.split()) for line in rooms
    )


def _kind(text: str) -> str:
    sentences = {s for _, s in SENTENCES}
    rooms = set(ROOM_TEXTS.values())
    if text in sentences:
        return "sentence"
    if text in rooms:
        return "room"
    if any(text in s for s in sentences):
        return "piece"
    if _of_room(text, rooms):
        return "room piece"
    if any(text.startswith(s) and _of_room(text[len(s) :].strip(), rooms) for s in sentences):
        return "sentence and room"  # the caller's words held, answered with the room's
    return "other"


def summarize(folder: Path, every: float, llm_requests: int | None = None) -> dict[str, Any]:
    """The run's figures (module docstring)."""
    calls = 0
    seconds = 0.0
    answered: Counter[str] = Counter()
    room_speech = 0
    for path in sorted(folder.glob("*.jsonl")):
        lines = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        if not lines:
            continue
        calls += 1
        seconds += float(lines[-1].get("t", 0.0))
        for line in lines:
            if line.get("type") == "user":
                answered[_kind(str(line.get("text", "")))] += 1
            elif line.get("type") == "room_speech":
                room_speech += 1
    sentences = seconds / every if every else 0.0
    total = sum(answered.values())
    out: dict[str, Any] = {
        "calls": calls,
        "call_seconds": round(seconds, 1),
        "sentences": round(sentences, 1),
        "answered": total,
        "answered_by_kind": dict(answered),
        "answered_per_sentence": round(total / sentences, 3) if sentences else None,
        "room_speech": room_speech,
    }
    if llm_requests is not None and seconds:
        out["llm_requests"] = llm_requests
        out["llm_requests_per_call_second"] = round(llm_requests / seconds, 3)
        out["sentences_per_call_second"] = round(1 / every, 3)
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    p = argparse.ArgumentParser(prog="python -m bench.noisy_records", description=__doc__)
    p.add_argument("folder", type=Path)
    p.add_argument("--every", type=float, default=6.0, help="seconds per sentence (%(default)s)")
    p.add_argument("--llm-requests", type=int, help="the fakes' LLM requests for the run")
    args = p.parse_args(argv)
    print(json.dumps(summarize(args.folder, args.every, args.llm_requests)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
