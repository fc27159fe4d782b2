"""How often a reply started early would be dropped: the realtime agent's preemptive replies.

Run from the repository root (espeak-ng and sox on PATH)::

    .venv/bin/python -m bench.early_reply_waste
    .venv/bin/python -m bench.early_reply_waste --silence-ms 500 --early-ms 100,200,300

With ``OPENAI_REALTIME_TURN_DETECTION=local`` and ``OPENAI_REALTIME_PREEMPTIVE_MS`` the
agent starts the reply after that much caller silence and drops it (a response cancelled,
its items deleted) if the caller goes on before ``OPENAI_REALTIME_SILENCE_MS`` ends the
turn. This counts the drops on speech, with the agent's own detector and endpointer
(:class:`sipgw.media.voice.vad.VoiceActivityDetector` with the barge-in settings' thresholds,
:class:`sipgw.agent.turns.endpointing.SilenceEndpointer`) fed frame by frame, no network: each
turn is one of :data:`bench.turn_ends.SENTENCES` said by espeak-ng, whole or with a pause
between its two clauses (``--pauses-ms``). Per early silence and pause: the dropped
replies per turn, and the turns the end of turn itself split (the pause reached
``--silence-ms``: then the caller is cut off whatever the early start does).

The saving is the bench's other half: ``bench.speech_to_speech --agents
realtime-local,realtime-early`` (first audio sooner by the silence minus the early
silence, at most the model's delay).
"""

from __future__ import annotations

import argparse
import tempfile
from collections.abc import Sequence
from pathlib import Path

from bench._harness import format_table
from bench.turn_ends import SENTENCES, speak
from sipgw.agent.conversation.settings import BargeInSettings
from sipgw.agent.turns.endpointing import SilenceEndpointer
from sipgw.media import g711
from sipgw.media.voice.vad import VoiceActivityDetector

__all__ = ["dropped_and_split", "main"]

SILENCE = g711.silence_frame("PCMU")


def frames(audio: bytes) -> list[bytes]:
    return [audio[i : i + 160] for i in range(0, len(audio), 160)]


def dropped_and_split(stream: Sequence[bytes], silence_ms: int, early_ms: int) -> tuple[int, int]:
    """One turn's audio through the detector and endpointer: (early replies dropped, ends
    of turn before the last one)."""
    vad = VoiceActivityDetector(BargeInSettings().vad)
    endpointer = SilenceEndpointer(silence_ms, early_ms)
    early = False
    dropped = ends = 0
    for frame in stream:
        vad.push(frame)
        ended = endpointer.push(vad.speaking, vad.loud)
        if early and vad.loud:
            dropped, early = dropped + 1, False
        if ended:
            ends, early = ends + 1, False
        elif endpointer.early:
            early = True
    return dropped, max(0, ends - 1)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.early_reply_waste", description=__doc__)
    p.add_argument("--silence-ms", type=int, default=500, help="OPENAI_REALTIME_SILENCE_MS")
    p.add_argument("--early-ms", default="100,200,300", help="OPENAI_REALTIME_PREEMPTIVE_MS")
    p.add_argument("--pauses-ms", default="0,300,400", help="pause between the clauses")
    args = p.parse_args(argv)
    early = [int(v) for v in args.early_ms.split(",")]
    pauses = [int(v) for v in args.pauses_ms.split(",")]
    with tempfile.TemporaryDirectory(prefix="sipgw-early-") as tmp:
        said = [(speak(a, Path(tmp), f"a{i}").audio, speak(b, Path(tmp), f"b{i}").audio)
                for i, (a, b) in enumerate(SENTENCES)]  # fmt: skip
    rows = []
    for early_ms in early:
        for pause in pauses:
            dropped = split = 0
            for first, second in said:
                stream = [SILENCE] * 25 + frames(first) + [SILENCE] * (pause // 20)
                stream += frames(second) + [SILENCE] * (args.silence_ms // 20 + 10)
                d, s = dropped_and_split(stream, args.silence_ms, early_ms)
                dropped, split = dropped + d, split + s
            turns = len(said)
            rows.append([str(early_ms), str(pause), f"{dropped / turns:.2f}", f"{split}/{turns}"])
    headers = ["early ms", "pause ms", "dropped per turn", "turns split"]
    print(format_table(headers, rows) + f"\n(silence {args.silence_ms} ms; espeak-ng sentences)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
