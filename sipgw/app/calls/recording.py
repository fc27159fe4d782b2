"""Call recording: one stereo WAV per call, caller left, agent right.

Off unless ``SIPGW_RECORD_DIR`` names a directory. :class:`CallRecorder`
writes 8 kHz 16-bit PCM (decoded from the call's μ-law frames; 16 kHz when either side's
frames are, on an HD-voice call, the other side converted by
:class:`sipgw.media.codecs.convert.Reformat`) as the call runs: both channels advance
one 20 ms frame per tick of the gateway's media clock, and a side with no audio that
tick gets silence, so the two stay aligned in time; a call handed to an agent of other
formats goes on in the same file at its rate (:meth:`CallRecorder.use_formats`). Frames go
to a buffered file as they come (nothing is held in memory); the WAV header's lengths are
written when the call ends, so a file cut short by a crash holds its audio but says it is
empty. A SIPREC recording session's WAV may have more channels, one per stream
(``channels``, :meth:`CallRecorder.tick_channels`), all in the same format.

The directory is created ``0700`` and each file ``0600`` (:mod:`sipgw.foundation.private_files`),
named ``YYYYmmdd-HHMMSS-<random>.wav`` (UTC): nothing in the name comes from the
caller, and the file is always created anew (the call's log line names it).
:func:`delete_expired` removes recordings older than ``SIPGW_RECORD_RETENTION_DAYS``;
the gateway's :class:`Recordings` runs it at start and daily, and starts each call's
recorder.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import time
import wave
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from sipgw.agent.base import Agent
from sipgw.app.settings import OperationsSection
from sipgw.foundation.private_files import FILE_MODE, make_private_dir
from sipgw.foundation.settings import SettingError
from sipgw.media.codecs import ULAW_8K, AudioFormat
from sipgw.media.codecs.convert import Reformat

__all__ = [
    "FRAME_SAMPLES",
    "RETENTION_CHECK_INTERVAL",
    "SAMPLE_RATE",
    "CallRecorder",
    "Recordings",
    "delete_expired",
    "formats_of",
    "recording_name",
]

log = logging.getLogger("sipgw.recording")

SAMPLE_RATE = 8000
FRAME_SAMPLES = 160
"""Samples per channel per 20 ms tick."""
RETENTION_CHECK_INTERVAL = 86400.0
"""Seconds between two retention sweeps while the gateway runs."""


def formats_of(agent: Agent | None) -> tuple[AudioFormat, AudioFormat]:
    """The formats of the frames a call's recorder gets: the caller's, the agent's."""
    if agent is None:
        return ULAW_8K, ULAW_8K
    return agent.caller_format or agent.audio_format, agent.audio_format


def recording_name(when: datetime) -> str:
    """A file name for a call's recording: UTC start time, then a random part."""
    return f"{when.astimezone(UTC):%Y%m%d-%H%M%S}-{secrets.token_hex(6)}.wav"


class _Channel:
    """One side's frames as one tick of linear samples at the recording's rate."""

    __slots__ = ("_convert", "_format", "_silence")

    def __init__(self, audio: AudioFormat, rate: int) -> None:
        self._format = audio
        self._convert = Reformat(audio, AudioFormat("pcm_s16le", rate))
        self._silence = bytes(rate // 50 * 2)

    def linear(self, frame: bytes | None) -> bytes:
        """The frame decoded (one tick's worth at most), or silence."""
        if not frame:
            return self._silence
        pcm = self._convert.convert(frame[: self._format.frame_bytes])
        return pcm[: len(self._silence)] + self._silence[len(pcm) :]


class CallRecorder:
    """Writes one call's stereo WAV (or one of more channels), a tick at a time."""

    def __init__(
        self,
        path: Path,
        caller: AudioFormat = ULAW_8K,
        agent: AudioFormat = ULAW_8K,
        channels: int = 2,
    ) -> None:
        """Create ``path`` (``0600``, must not exist) and write the WAV header; ``caller``
        and ``agent`` are the formats of each side's frames (past two ``channels``, each
        channel's frames are in ``caller``'s).

        Raises:
            OSError: the file cannot be created.
            ValueError: fewer than two channels.
        """
        if channels < 2:
            raise ValueError(f"a call's recording has two channels or more, not {channels}")
        self.path = path
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, FILE_MODE)
        self._file = os.fdopen(fd, "wb")
        self._wav = wave.open(self._file, "wb")  # noqa: SIM115 - closed in close()
        self._wav.setnchannels(channels)
        self._wav.setsampwidth(2)
        rate = max(caller.sample_rate, agent.sample_rate)
        self._wav.setframerate(rate)
        self._caller, self._agent = _Channel(caller, rate), _Channel(agent, rate)
        self._more = [_Channel(caller, rate) for _ in range(channels - 2)]
        self.channels = channels
        """How many channels the file has."""
        self.formats = (caller, agent)
        """The formats of the caller's frames and the agent's it takes now."""
        self._samples = rate // 50
        self.ticks = 0
        self.closed = False

    @classmethod
    def start(
        cls,
        directory: Path,
        when: datetime | None = None,
        formats: tuple[AudioFormat, AudioFormat] = (ULAW_8K, ULAW_8K),
        channels: int = 2,
    ) -> CallRecorder:
        """A recorder in a new file of ``directory`` (created ``0700`` if missing).

        Raises:
            OSError: the directory or file cannot be created.
        """
        make_private_dir(directory)
        for _ in range(7):
            try:
                name = recording_name(when or datetime.now(UTC))
                return cls(directory / name, *formats, channels=channels)
            except FileExistsError:
                continue  # a name drawn twice: draw again
        name = recording_name(when or datetime.now(UTC))
        return cls(directory / name, *formats, channels=channels)

    def use_formats(self, caller: AudioFormat, agent: AudioFormat) -> None:
        """The frames come in ``caller`` and ``agent`` from the next tick (the call's agent
        changed to one of other formats: a hand-off between lines). The file keeps its rate
        (the higher of the first agent's two): each side is converted to it from now on."""
        if (caller, agent) == self.formats:
            return
        rate = self._wav.getframerate()
        self._caller, self._agent = _Channel(caller, rate), _Channel(agent, rate)
        self._more = [_Channel(caller, rate) for _ in self._more]
        self.formats = (caller, agent)

    def tick(self, caller: bytes | None, agent: bytes | None) -> None:
        """Append one 20 ms tick: the caller's frame left, the agent's right (None = silence).

        A write error stops the recording (logged once); the call goes on.
        """
        if self.closed:
            return
        if self._more:
            self.tick_channels([caller, agent])
            return
        left, right = self._caller.linear(caller), self._agent.linear(agent)
        out = bytearray(4 * self._samples)
        out[0::4], out[1::4] = left[0::2], left[1::2]
        out[2::4], out[3::4] = right[0::2], right[1::2]
        self._write(out)

    def tick_channels(self, frames: Sequence[bytes | None]) -> None:
        """Append one 20 ms tick, one frame per channel in order (None, or a channel past
        ``frames``: silence)."""
        if self.closed:
            return
        width = 2 * self.channels
        out = bytearray(width * self._samples)
        for number, channel in enumerate((self._caller, self._agent, *self._more)):
            pcm = channel.linear(frames[number] if number < len(frames) else None)
            out[2 * number :: width], out[2 * number + 1 :: width] = pcm[0::2], pcm[1::2]
        self._write(out)

    def _write(self, out: bytearray) -> None:
        """A write error stops the recording (logged once); the call goes on."""
        try:
            self._wav.writeframesraw(out)
        except OSError as exc:
            log.warning("recording %s stopped: %s", self.path.name, exc)
            self.close()
            return
        self.ticks += 1

    def close(self) -> None:
        """Write the header's lengths and close the file (idempotent)."""
        if self.closed:
            return
        self.closed = True
        try:
            self._wav.close()
        except OSError as exc:
            log.warning("recording %s not finished: %s", self.path.name, exc)
        finally:
            self._file.close()


def delete_expired(directory: Path, days: float, now: float | None = None) -> list[Path]:
    """Delete the ``.wav`` files in ``directory`` last written more than ``days`` ago.

    ``days`` 0 keeps everything. Returns what was deleted; other files, and
    files that vanish meanwhile, are left alone.
    """
    if days <= 0 or not directory.is_dir():
        return []
    cutoff = (time.time() if now is None else now) - days * 86400.0
    deleted: list[Path] = []
    for path in sorted(directory.glob("*.wav")):
        try:
            if path.is_file() and path.stat().st_mtime < cutoff:
                path.unlink()
                deleted.append(path)
        except FileNotFoundError:
            continue
    if deleted:
        log.info("deleted %d recording(s) older than %g days", len(deleted), days)
    return deleted


class Recordings:
    """Where the gateway records calls, and the retention sweep (off with no directory).

    Args:
        directory: ``SIPGW_RECORD_DIR``; "" = no recording.
        retention_days: ``SIPGW_RECORD_RETENTION_DAYS``; 0 = keep forever.
    """

    def __init__(self, directory: str, retention_days: float) -> None:
        self.directory = Path(directory) if directory else None
        self.retention_days = retention_days
        self._sweeper: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Create the directory (0700), delete expired recordings, then sweep daily.

        Raises:
            SettingError: the directory cannot be created (naming ``--record-dir``).
        """
        directory, days = self.directory, self.retention_days
        if directory is None:
            return
        try:
            make_private_dir(directory)
        except OSError as exc:
            raise SettingError(
                "{record_dir}: cannot create {path}: {why}", OperationsSection,
                path=directory, why=exc.strerror or exc,
            ) from None  # fmt: skip
        await asyncio.to_thread(delete_expired, directory, days)
        log.info("recording calls to %s (kept %s)", directory,
                 f"{days:g} days" if days > 0 else "forever")  # fmt: skip
        if days > 0:
            self._sweeper = asyncio.get_running_loop().create_task(
                self._sweep(directory, days), name="recording retention"
            )

    async def _sweep(self, directory: Path, days: float) -> None:
        while True:
            await asyncio.sleep(RETENTION_CHECK_INTERVAL)
            try:
                await asyncio.to_thread(delete_expired, directory, days)
            except OSError as exc:
                log.warning("recording retention sweep failed: %s", exc)

    def recorder(
        self,
        call_log: logging.Logger | logging.LoggerAdapter[logging.Logger],
        formats: tuple[AudioFormat, AudioFormat] = (ULAW_8K, ULAW_8K),
        channels: int = 2,
    ) -> CallRecorder | None:
        """A recorder in a new file for frames in ``formats`` (the caller's, the agent's),
        of ``channels`` channels; None when off or the file cannot be made (logged on
        ``call_log``, which names the file: the call goes on unrecorded)."""
        if self.directory is None:
            return None
        try:
            recorder = CallRecorder.start(self.directory, formats=formats, channels=channels)
        except OSError as exc:
            call_log.warning("not recording this call: %s", exc)
            return None
        call_log.info("recording to %s", recorder.path.name)
        return recorder

    def stop(self) -> None:
        """Stop the retention sweep."""
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None
