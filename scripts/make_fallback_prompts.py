#!/usr/bin/env python3
"""Record the shipped fallback prompts: agent/resilience/prompts/<line>.ulaw and index.json.

The last resort when neither text-to-speech nor the line cache has a line: each
fallback line's default words (``AssistantSettings().fallback_texts()``), spoken by
espeak-ng, converted by sox to raw G.711 μ-law at 8 kHz (anti-aliased resampling,
normalized to -3 dBFS peak), padded with μ-law silence to whole 20 ms frames.

Usage: scripts/make_fallback_prompts.py [--out DIR] [--line NAME ...]
Needs espeak-ng and sox (Debian packages of the same names). Run it again, and commit
the files, whenever a default line changes (tests/agent/resilience checks they agree).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from sipgw.agent.conversation.settings import AssistantSettings
from sipgw.agent.resilience.lines import FallbackLine

ROOT = Path(__file__).resolve().parents[1]
PROMPTS = ROOT / "agent" / "resilience" / "prompts"
FRAME = 160
ULAW_SILENCE = b"\xff"
VOICE = "en-us"
WORDS_PER_MINUTE = "160"


def tool_version(command: list[str]) -> str:
    """The tool's name and version, from the first line it prints about its version."""
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    first = (done.stdout or done.stderr).strip().splitlines()[0]
    first = first.split("  Data at")[0]  # espeak-ng: "eSpeak NG text-to-speech: 1.51  Data at"
    return first.split(":", 1)[-1].strip() if first.startswith("sox:") else first


def record(text: str, out: Path) -> int:
    """Speak ``text`` into ``out`` as raw 8 kHz μ-law in whole frames; returns its bytes."""
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "speech.wav"
        subprocess.run(
            ["espeak-ng", "-v", VOICE, "-s", WORDS_PER_MINUTE, "-w", str(wav), text], check=True
        )
        raw = Path(tmp) / "speech.ulaw"
        subprocess.run(
            ["sox", str(wav), "-r", "8000", "-c", "1", "-e", "mu-law", "-t", "raw", str(raw),
             "gain", "-n", "-3"],
            check=True,
        )  # fmt: skip
        audio = raw.read_bytes()
    audio += ULAW_SILENCE * (-len(audio) % FRAME)
    out.write_bytes(audio)
    return len(audio)


def main(argv: list[str] | None = None) -> int:
    """Record the prompts named (all by default) into ``--out``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=PROMPTS)
    parser.add_argument("--line", action="append", choices=[line.value for line in FallbackLine])
    args = parser.parse_args(argv)
    texts = AssistantSettings().fallback_texts()
    chosen = [FallbackLine(name) for name in args.line] if args.line else list(FallbackLine)
    args.out.mkdir(parents=True, exist_ok=True)
    index_path = args.out / "index.json"
    index = json.loads(index_path.read_text()) if index_path.exists() else {}
    made_by = f"{tool_version(['espeak-ng', '--version'])}; {tool_version(['sox', '--version'])}"
    for line in chosen:
        size = record(texts[line], args.out / f"{line.value}.ulaw")
        index[line.value] = {"text": texts[line], "voice": f"espeak-ng {VOICE}",
                             "made_by": made_by}  # fmt: skip
        print(f"{line.value}: {size / 8000:.2f} s  {texts[line]!r}")
    index_path.write_text(json.dumps(dict(sorted(index.items())), indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
