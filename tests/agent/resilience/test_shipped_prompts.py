"""The recordings shipped in the package, and the script that makes them."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from sipgw.agent.conversation.settings import AssistantSettings
from sipgw.agent.resilience.lines import FallbackLine
from sipgw.agent.resilience.shipped_prompts import FRAME_BYTES, shipped_frames, shipped_text
from sipgw.media.g711 import rms_dbfs

ROOT = Path(__file__).resolve().parents[3]
SCRIPT = ROOT / "scripts" / "make_fallback_prompts.py"


def speech_share(frames: tuple[bytes, ...]) -> float:
    """The share of 20 ms frames louder than -35 dBFS."""
    return sum(rms_dbfs(frame) > -35 for frame in frames) / len(frames)


@pytest.mark.parametrize("line", list(FallbackLine))
def test_every_line_is_shipped_as_speech_in_whole_frames(line: FallbackLine) -> None:
    frames = shipped_frames(line)
    assert all(len(frame) == FRAME_BYTES for frame in frames)
    assert 0.8 <= len(frames) * 0.02 <= 8.0  # seconds
    assert speech_share(frames) > 0.4
    assert rms_dbfs(frames[-1]) < -40  # it ends in silence, not mid-word
    assert max(rms_dbfs(frame) for frame in frames) < -6  # not clipped


def test_the_shipped_words_are_the_default_words() -> None:
    """Change a default line and this fails until scripts/make_fallback_prompts.py ran."""
    texts = AssistantSettings().fallback_texts()
    assert {line: shipped_text(line) for line in FallbackLine} == texts


def test_the_script_records_a_line(tmp_path: Path) -> None:
    for tool in ("espeak-ng", "sox"):  # Debian packages, installed by scripts/test
        assert shutil.which(tool), f"{tool} is needed (apt-get install {tool})"
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--out", str(tmp_path), "--line", "one_moment"],
        capture_output=True, text=True, timeout=60, cwd=ROOT,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    audio = (tmp_path / "one_moment.ulaw").read_bytes()
    assert len(audio) % FRAME_BYTES == 0
    frames = tuple(audio[i : i + FRAME_BYTES] for i in range(0, len(audio), FRAME_BYTES))
    shipped = shipped_frames(FallbackLine.ONE_MOMENT)
    assert abs(len(frames) - len(shipped)) <= len(shipped) * 0.3
    assert speech_share(frames) > 0.4
    assert "one_moment" in (tmp_path / "index.json").read_text()
