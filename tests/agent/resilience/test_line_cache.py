"""The fallback line cache against the ElevenLabs fake, over real sockets, and on disk."""

from __future__ import annotations

import os
import stat
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from sipgw.agent.conversation.settings import AssistantSettings
from sipgw.agent.resilience.line_cache import (
    FallbackLineCache,
    LineOutcome,
    VoiceKey,
    fallback_audio,
    prepare_lines,
)
from sipgw.agent.resilience.lines import FallbackLine
from sipgw.agent.resilience.shipped_prompts import shipped_frames
from sipgw.agent.services.elevenlabs.tts import ElevenLabsSettings, ElevenLabsTTSService
from sipgw.app.evaluation.fakes.elevenlabs import FakeElevenLabs
from sipgw.app.evaluation.ports import free_port

pytestmark = pytest.mark.timeout(30)

TEXTS = AssistantSettings().fallback_texts()
LONGEST = max(TEXTS, key=lambda line: len(TEXTS[line]))
"""The line synthesized first (the longest first: FallbackLineCache.prepare)."""
VOICE = VoiceKey("elevenlabs", "voice-1", "eleven_flash_v2_5")


@pytest.fixture
async def fake() -> AsyncIterator[FakeElevenLabs]:
    async with FakeElevenLabs(speed=None) as server:
        yield server


def tts_for(base_url: str, **options: Any) -> ElevenLabsTTSService:
    return ElevenLabsTTSService(
        ElevenLabsSettings(api_key="test-key", voice_id="voice-1", base_url=base_url, **options)
    )


async def prepare(
    cache: FallbackLineCache, tts: ElevenLabsTTSService, **options: Any
) -> dict[FallbackLine, LineOutcome]:
    try:
        return await cache.prepare(TEXTS, tts, **options)
    finally:
        await tts.close()


def nowhere() -> str:
    return f"http://127.0.0.1:{free_port()}"


def padded(audio: bytes) -> bytes:
    return audio + b"\xff" * (-len(audio) % 160)


async def test_lines_are_synthesized_once_and_kept_owner_only(fake, tmp_path: Path) -> None:
    directory = tmp_path / "cache"
    cache = FallbackLineCache(VOICE, directory)
    outcomes = await prepare(cache, tts_for(fake.base_url))
    assert outcomes == dict.fromkeys(TEXTS, "synthesized")
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    for line, text in TEXTS.items():
        (context,) = [c for c in fake.contexts if c.text.strip() == text]
        frames = cache.frames(line)
        assert frames is not None and all(len(f) == 160 for f in frames)
        assert b"".join(frames) == padded(context.audio)
        path = cache.path_for(text)
        assert path is not None and path.read_bytes() == b"".join(frames)
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert fallback_audio(line, cache).source == "cache"
    assert sorted(p.suffix for p in directory.iterdir()) == [".ulaw"] * len(TEXTS)


async def test_a_restart_loads_them_while_the_vendor_is_down(fake, tmp_path: Path) -> None:
    first = FallbackLineCache(VOICE, tmp_path)
    await prepare(first, tts_for(fake.base_url))
    restarted = FallbackLineCache(VOICE, tmp_path)
    outcomes = await prepare(restarted, tts_for(nowhere(), connect_timeout=1.0))
    assert outcomes == dict.fromkeys(TEXTS, "disk")
    for line in TEXTS:
        assert restarted.frames(line) == first.frames(line)
        assert fallback_audio(line, restarted).source == "cache"


async def test_no_vendor_at_the_first_start_means_the_shipped_prompts(tmp_path: Path) -> None:
    cache = FallbackLineCache(VOICE, tmp_path)
    started = time.monotonic()
    outcomes = await prepare(cache, tts_for(nowhere(), connect_timeout=1.0))
    assert outcomes == dict.fromkeys(TEXTS, "failed")
    assert time.monotonic() - started < 2.5  # one refused connection, not one per line
    assert os.listdir(tmp_path) == []
    for line in FallbackLine:
        audio = fallback_audio(line, cache)
        assert audio.source == "shipped" and audio.frames == shipped_frames(line)
    assert fallback_audio(FallbackLine.GOODBYE, None).source == "shipped"


async def test_one_failed_line_does_not_stop_the_others(fake, tmp_path: Path) -> None:
    fake.fail_next(500, "The system had a hiccup")  # the first POST: the longest line
    cache = FallbackLineCache(VOICE, tmp_path)
    outcomes = await prepare(cache, tts_for(fake.base_url, transport="http"))
    assert outcomes[LONGEST] == "failed"
    assert {outcomes[line] for line in TEXTS if line is not LONGEST} == {"synthesized"}
    assert fallback_audio(LONGEST, cache).source == "shipped"
    again = await prepare(cache, tts_for(fake.base_url, transport="http"))
    assert again[LONGEST] == "synthesized"  # the next start fills the gap
    assert again[FallbackLine.GOODBYE] == "memory"


async def test_lines_are_synthesized_a_few_at_a_time(tmp_path: Path) -> None:
    # Each line's audio starts 0.5 s after its request: one after the other, the five
    # lines take 2.5 s at least; three at a time, two rounds (1 s at least: never more
    # than three at once).
    async with FakeElevenLabs(speed=None, first_byte_latency=0.5) as slow:
        cache = FallbackLineCache(VOICE, tmp_path)
        started = time.monotonic()
        outcomes = await prepare(cache, tts_for(slow.base_url), at_once=3)
        took = time.monotonic() - started
    assert outcomes == dict.fromkeys(TEXTS, "synthesized")
    assert list(outcomes) == list(TEXTS)  # reported in the order of the texts
    assert 1.0 <= took < 2.3, took


async def test_the_longest_lines_are_synthesized_first(fake, tmp_path: Path) -> None:
    # A line takes about as long as its words: the three longest start together, the two
    # shortest as slots free up (in the order of the texts, the longest would start last
    # and the start would wait for it after a shorter one).
    cache = FallbackLineCache(VOICE, tmp_path)
    outcomes = await prepare(cache, tts_for(fake.base_url, transport="http"), at_once=3)
    asked = [r.body["text"] for r in fake.stream_requests]
    assert outcomes == dict.fromkeys(TEXTS, "synthesized")
    assert list(outcomes) == list(TEXTS)  # reported in the order of the texts
    by_length = sorted(TEXTS.values(), key=len, reverse=True)
    assert set(asked[:3]) == set(by_length[:3]), asked
    assert set(asked[3:]) == set(by_length[3:]), asked


async def test_a_line_refused_for_too_many_at_once_is_tried_again_alone(
    fake, tmp_path: Path
) -> None:
    fake.fail_next(429, "too_many_concurrent_requests")  # the first POST: the longest line
    cache = FallbackLineCache(VOICE, tmp_path)
    outcomes = await prepare(cache, tts_for(fake.base_url, transport="http"))
    assert outcomes == dict.fromkeys(TEXTS, "synthesized")
    assert fallback_audio(LONGEST, cache).source == "cache"


async def test_a_line_that_takes_too_long_is_given_up(tmp_path: Path) -> None:
    async with FakeElevenLabs(speed=None, first_byte_latency=5.0) as slow:
        cache = FallbackLineCache(VOICE, tmp_path)
        texts = {FallbackLine.ONE_MOMENT: TEXTS[FallbackLine.ONE_MOMENT]}
        tts = tts_for(slow.base_url)
        try:
            outcomes = await cache.prepare(texts, tts, seconds_per_line=0.3)
        finally:
            await tts.close()
    assert outcomes == {FallbackLine.ONE_MOMENT: "failed"}


async def test_another_voice_or_other_words_are_synthesized_anew(fake, tmp_path: Path) -> None:
    await prepare(FallbackLineCache(VOICE, tmp_path), tts_for(fake.base_url))
    other_voice = FallbackLineCache(VoiceKey("elevenlabs", "voice-2", VOICE.model), tmp_path)
    texts = {FallbackLine.GOODBYE: TEXTS[FallbackLine.GOODBYE]}
    tts = tts_for(fake.base_url)
    try:
        assert await other_voice.prepare(texts, tts) == {FallbackLine.GOODBYE: "synthesized"}
        same = FallbackLineCache(VOICE, tmp_path)
        changed = {FallbackLine.GOODBYE: "Bye for now."}
        assert await same.prepare(changed, tts) == {FallbackLine.GOODBYE: "synthesized"}
    finally:
        await tts.close()
    assert len(os.listdir(tmp_path)) == len(TEXTS) + 2


async def test_a_damaged_file_is_synthesized_anew(fake, tmp_path: Path) -> None:
    cache = FallbackLineCache(VOICE, tmp_path)
    path = cache.path_for(TEXTS[FallbackLine.GOODBYE])
    assert path is not None
    path.write_bytes(b"\xff" * 100)  # not whole frames
    outcomes = await prepare(cache, tts_for(fake.base_url))
    assert outcomes[FallbackLine.GOODBYE] == "synthesized"
    assert len(path.read_bytes()) % 160 == 0 and len(path.read_bytes()) > 100


async def test_without_a_directory_the_cache_lives_in_memory(fake) -> None:
    cache = FallbackLineCache(VOICE, None)
    assert await prepare(cache, tts_for(fake.base_url)) == dict.fromkeys(TEXTS, "synthesized")
    assert cache.path_for("anything") is None
    assert await prepare(cache, tts_for(nowhere())) == dict.fromkeys(TEXTS, "memory")


async def test_an_unusable_directory_falls_back_to_memory(fake, tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    cache = FallbackLineCache(VOICE, blocker / "cache")
    assert await prepare(cache, tts_for(fake.base_url)) == dict.fromkeys(TEXTS, "synthesized")
    assert cache.directory is None


async def test_prepare_lines_connects_its_own_client_and_keeps_what_disk_has(
    fake, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    directory = tmp_path / "cache"
    made: list[ElevenLabsTTSService] = []

    def new_tts(base_url: str) -> ElevenLabsTTSService:
        made.append(tts_for(base_url))
        return made[-1]

    first = FallbackLineCache(VOICE, directory)
    outcomes = await prepare_lines(first, TEXTS, lambda: new_tts(fake.base_url))
    assert (
        set(outcomes.values()) == {"synthesized"} and "fallback lines of elevenlabs" in caplog.text
    )
    # The next start, with the vendor unreachable: the disk has them all, nothing is tried.
    again = FallbackLineCache(VOICE, directory)
    outcomes = await prepare_lines(again, TEXTS, lambda: new_tts(nowhere()))
    assert set(outcomes.values()) == {"disk"}
    assert "unreachable" in caplog.text and len(made) == 2
    assert fallback_audio(FallbackLine.GOODBYE, again).source == "cache"
