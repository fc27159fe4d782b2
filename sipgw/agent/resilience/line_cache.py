"""The fallback lines in the agent's own voice, ready while text-to-speech is down.

:class:`FallbackLineCache` is made once per voice when the gateway starts. Its
:meth:`~FallbackLineCache.prepare` synthesizes the fallback lines, a few at a time, through the
text-to-speech contract (agent/services/tts/base.py), re-cut into 160-byte μ-law frames, and
keeps them in memory for every call; with a directory, each line is also a file
``<key>.ulaw`` (raw μ-law, whole frames; the key hashes vendor, voice, model and
words), written atomically and owner-only (agent/private_files.py), so a restart
loads it instead of synthesizing it again, and a restart while the vendor is down
still has it. A line that cannot be had (text-to-speech down at the very first
start) is left out: :func:`fallback_audio` then falls back to the shipped recording
(agent/resilience/shipped_prompts.py), so some audio is always there.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, Literal

from sipgw.agent.resilience.lines import FallbackLine
from sipgw.agent.resilience.shipped_prompts import FRAME_BYTES, shipped_frames, shipped_text
from sipgw.agent.services.tts.base import TextToSpeech, TtsConnectError, TtsError
from sipgw.agent.services.tts.reframe import Reframer
from sipgw.foundation.private_files import make_private_dir, tighten_file, write_private_atomic
from sipgw.media.codecs.base import ULAW_8K, AudioFormat

__all__ = [
    "FallbackLineCache",
    "LINES_AT_ONCE",
    "LineAudio",
    "LineOutcome",
    "VoiceKey",
    "fallback_audio",
    "prepare_lines",
]

log = logging.getLogger("sipgw.agent.resilience")

LINES_AT_ONCE: Final = 3
"""Fallback lines synthesized at the same time at start-up (the five one after the other took
about 1.2 s on the fake, ``bench.startup``): fewer than ElevenLabs' five contexts on one
socket (agent/services/elevenlabs/tts.py, ``MAX_CONTEXTS``), so none waits for a free one."""

LineOutcome = Literal["memory", "disk", "synthesized", "failed"]
"""How :meth:`FallbackLineCache.prepare` got a line (or did not)."""


@dataclass(frozen=True, slots=True)
class VoiceKey:
    """Whose voice the cached audio is: a change of any part synthesizes anew."""

    vendor: str
    voice: str
    model: str

    def file_key(self, text: str) -> str:
        """The file name stem of ``text`` in this voice (a hash: the words may be anything)."""
        material = "\0".join((self.vendor, self.voice, self.model, text))
        return hashlib.sha256(material.encode()).hexdigest()[:32]


@dataclass(frozen=True, slots=True)
class LineAudio:
    """A fallback line ready to play.

    Attributes:
        line: Which line.
        frames: Its audio, 20 ms frames in ``format``.
        source: ``"cache"`` (the agent's voice) or ``"shipped"`` (the packaged recording).
        text: The words it says.
        format: Its frames' format: 8 kHz μ-law (160-byte frames), which the playout
            converts once on a call whose agent speaks another (agent/playout.py).
    """

    line: FallbackLine
    frames: tuple[bytes, ...]
    source: Literal["cache", "shipped"]
    text: str = ""
    format: AudioFormat = ULAW_8K


@dataclass(slots=True)
class _Batch:
    """The lines one :meth:`FallbackLineCache.prepare` synthesizes, a few at a time."""

    tts: TextToSpeech
    seconds_per_line: float
    slots: asyncio.Semaphore
    """Taken by each line while it is synthesized."""
    reachable: bool = True
    """False once the service could not be reached: no line still waiting tries."""
    done: list[FallbackLine] = field(default_factory=list)
    """The lines synthesized, in the order they were done."""
    refused: dict[FallbackLine, str] = field(default_factory=dict)
    """Lines refused with 429 (too many at once), to try again alone."""


class FallbackLineCache:
    """The fallback lines of one voice, in memory and (optionally) on disk."""

    def __init__(self, voice: VoiceKey, directory: Path | None) -> None:
        """A cache for ``voice``, kept in ``directory`` (None = memory only)."""
        self.voice = voice
        self.directory = directory
        self._frames: dict[FallbackLine, tuple[bytes, ...]] = {}
        self._texts: dict[FallbackLine, str] = {}

    def frames(self, line: FallbackLine) -> tuple[bytes, ...] | None:
        """``line`` in this voice, or None if it could not be had."""
        return self._frames.get(line)

    def text(self, line: FallbackLine) -> str:
        """The words of ``line`` as they were synthesized ("" if it could not be had)."""
        return self._texts.get(line, "")

    def path_for(self, text: str) -> Path | None:
        """The file that holds ``text`` in this voice (None without a directory)."""
        if self.directory is None:
            return None
        return self.directory / f"{self.voice.file_key(text)}.ulaw"

    async def prepare(
        self,
        texts: Mapping[FallbackLine, str],
        tts: TextToSpeech,
        *,
        seconds_per_line: float = 15.0,
        synthesize: bool = True,
        at_once: int = LINES_AT_ONCE,
    ) -> dict[FallbackLine, LineOutcome]:
        """Have every line of ``texts`` in memory: already there, from disk, or synthesized.

        The lines neither memory nor disk has are synthesized through ``tts`` (the caller
        opens and closes it), ``at_once`` at a time, the longest first (a line takes about
        as long as its words: the short ones fill in beside the long ones, and the start
        waits for the longest alone, not for it after two shorter ones); one refused with
        429 (too many requests at once) is tried again once the others are done, alone.
        Never raises for a vendor's or the disk's failure: a line that fails is reported
        ``"failed"`` and left out (the shipped recording covers it); once the service
        cannot be reached at all, no line not yet started waits for it.

        Args:
            texts: The words of each line (``AssistantSettings.fallback_texts()``).
            tts: A text-to-speech service in this cache's voice.
            seconds_per_line: Seconds one line's synthesis may take.
            synthesize: False: only memory and disk (the service is known to be down).
            at_once: Lines synthesized at the same time (1 = one after the other).

        Returns:
            How each line was had, in the order of ``texts``.
        """
        outcomes: dict[FallbackLine, LineOutcome] = {}
        if self.directory is not None:
            try:
                make_private_dir(self.directory, warn_if_open=False)
            except OSError as exc:
                log.warning("fallback line cache %s unusable (%s): memory only", self.directory,
                            exc)  # fmt: skip
                self.directory = None
        wanted: dict[FallbackLine, str] = {}
        for line, text in texts.items():
            if self._texts.get(line) == text and line in self._frames:
                outcomes[line] = "memory"
                continue
            frames = self._load(text)
            if frames is None:
                outcomes[line], wanted[line] = "failed", text  # unless synthesized below
                continue
            outcomes[line] = "disk"
            self._frames[line], self._texts[line] = frames, text
        if synthesize and wanted:
            batch = _Batch(tts, seconds_per_line, asyncio.Semaphore(max(1, at_once)))
            longest_first = sorted(wanted.items(), key=lambda item: -len(item[1]))
            await asyncio.gather(*(self._fill(line, text, batch) for line, text in longest_first))
            for line, text in batch.refused.items():  # too many at once: alone now
                await self._fill(line, text, batch, retry=False)
            outcomes.update(dict.fromkeys(batch.done, "synthesized"))
        return outcomes

    async def _fill(
        self, line: FallbackLine, text: str, batch: _Batch, *, retry: bool = True
    ) -> None:
        """Synthesize ``line`` into memory and disk as one of ``batch`` (its failure logged)."""
        async with batch.slots:
            if not batch.reachable:
                return
            try:
                frames = await self._synthesize(text, batch.tts, batch.seconds_per_line)
            except TtsConnectError as exc:
                if batch.reachable:
                    log.warning("fallback lines not synthesized: %s", exc)
                batch.reachable = False
                return
            except TimeoutError:
                log.warning("fallback line %s not synthesized: timed out", line.value)
                return
            except TtsError as exc:
                if retry and exc.status == 429:
                    batch.refused[line] = text
                    log.info("fallback line %s refused (%s): tried again alone", line.value, exc)
                else:
                    log.warning("fallback line %s not synthesized: %s", line.value, exc)
                return
        if frames is None:
            return
        self._store(text, frames)
        self._frames[line], self._texts[line] = frames, text
        batch.done.append(line)

    def _load(self, text: str) -> tuple[bytes, ...] | None:
        path = self.path_for(text)
        if path is None:
            return None
        try:
            audio = path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            log.warning("cannot read the cached fallback line %s: %s", path, exc)
            return None
        if not audio or len(audio) % FRAME_BYTES:
            log.warning("cached fallback line %s is not whole frames: synthesized anew", path)
            return None
        tighten_file(path)
        return tuple(audio[i : i + FRAME_BYTES] for i in range(0, len(audio), FRAME_BYTES))

    def _store(self, text: str, frames: tuple[bytes, ...]) -> None:
        path = self.path_for(text)
        if path is None:
            return
        try:
            write_private_atomic(path, b"".join(frames))
        except OSError as exc:
            log.warning("cannot keep the fallback line in %s: %s", path, exc)

    async def _synthesize(
        self, text: str, tts: TextToSpeech, seconds: float
    ) -> tuple[bytes, ...] | None:
        """``text`` as frames; None if no audio came.

        Raises:
            TtsError: the service failed (TtsConnectError: it cannot be reached).
            TimeoutError: not done within ``seconds``.
        """
        reframer = Reframer(FRAME_BYTES)
        frames: list[bytes] = []
        reply = tts.start_reply()
        if reply.format != ULAW_8K:  # the files are μ-law; a call converts them as they play
            await reply.cancel()
            audio = f"{reply.format.encoding}/{reply.format.sample_rate}"
            raise TtsError(f"fallback lines are kept as 8 kHz μ-law, not {audio}")
        try:
            async with asyncio.timeout(seconds):
                await reply.send_text(text)
                await reply.finish()
                async for piece in reply.audio():
                    frames.extend(reframer.push(piece.audio))
        except BaseException:
            await reply.cancel()
            raise
        last = reframer.flush()
        if last is not None:
            frames.append(last)
        return tuple(frames) or None


async def prepare_lines(
    cache: FallbackLineCache,
    texts: Mapping[FallbackLine, str],
    new_tts: Callable[[], TextToSpeech],
) -> dict[FallbackLine, LineOutcome]:
    """Have ``cache`` ready at start-up: a text-to-speech client of its own (``new_tts``),
    connected, used, closed; a service that cannot be reached leaves memory and disk.
    Never raises for the service's failures; logs what it got."""
    tts = new_tts()
    try:
        try:
            await tts.connect()
        except TtsError as exc:
            log.warning("fallback lines: text-to-speech unreachable (%s): cached or shipped "
                        "lines only", exc)  # fmt: skip
            outcomes = await cache.prepare(texts, tts, synthesize=False)
        else:
            outcomes = await cache.prepare(texts, tts)
    finally:
        await tts.close()
    summary = ", ".join(f"{line.value} {how}" for line, how in outcomes.items())
    log.info("fallback lines of %s/%s: %s", cache.voice.vendor, cache.voice.voice, summary)
    return outcomes


def fallback_audio(line: FallbackLine, cache: FallbackLineCache | None) -> LineAudio:
    """``line`` to play now: in the agent's voice when the cache has it, else shipped."""
    frames = cache.frames(line) if cache is not None else None
    if cache is not None and frames is not None:
        return LineAudio(line, frames, "cache", cache.text(line))
    return LineAudio(line, shipped_frames(line), "shipped", shipped_text(line))
