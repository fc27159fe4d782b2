"""Re-cut a stream of audio bytes into fixed-size 20 ms frames.

Text-to-speech services hand audio back in chunks of whatever size their
transport produced (1,024 bytes, then 576, then 1,391 ...; a chunk of 16-bit PCM may
end mid-sample). The media ticker takes exactly one 20 ms frame per tick (160 bytes of
8 kHz μ-law, 640 of 16 kHz s16le), so the agent re-cuts the stream here. Nothing is
resampled or transcoded: every input byte comes out, in order, in exactly one frame.
"""

from __future__ import annotations

__all__ = ["ULAW_SILENCE", "Reframer"]

ULAW_SILENCE = 0xFF
"""μ-law code of a zero sample, used to pad the last partial frame."""


class Reframer:
    """Re-cuts arbitrary byte chunks into exact frames, 160 bytes by default (no resampling).

    Example:
        >>> r = Reframer()
        >>> [len(f) for f in r.push(bytes(400))]
        [160, 160]
        >>> len(r.flush())
        160
    """

    __slots__ = ("_buffer", "_frame_bytes")

    def __init__(self, frame_bytes: int = 160) -> None:
        """Create an empty reframer.

        Args:
            frame_bytes: Size of every frame handed out (160 = 20 ms of 8 kHz G.711, 640 =
                20 ms of 16 kHz s16le).

        Raises:
            ValueError: If ``frame_bytes`` is not positive.
        """
        if frame_bytes <= 0:
            raise ValueError(f"frame_bytes must be positive, got {frame_bytes}")
        self._frame_bytes = frame_bytes
        self._buffer = bytearray()

    @property
    def frame_bytes(self) -> int:
        """Size of every frame handed out."""
        return self._frame_bytes

    @property
    def pending(self) -> int:
        """Bytes held back because they do not fill a frame yet (always < ``frame_bytes``)."""
        return len(self._buffer)

    def push(self, data: bytes) -> list[bytes]:
        """Add a chunk of audio and return every frame that is now complete.

        Args:
            data: Audio bytes of any length (may be empty).

        Returns:
            The complete frames, oldest first; each is exactly ``frame_bytes`` long.
            The remainder is kept for the next call.
        """
        buf = self._buffer
        buf += data
        size = self._frame_bytes
        whole = len(buf) - len(buf) % size
        if whole == 0:
            return []
        view = memoryview(buf)
        frames = [bytes(view[i : i + size]) for i in range(0, whole, size)]
        view.release()
        del buf[:whole]
        return frames

    def flush(self, pad: int = ULAW_SILENCE) -> bytes | None:
        """Return the held-back partial frame padded to full size, and empty the buffer.

        Call it when a reply's audio has ended, so its last few milliseconds are played.

        Args:
            pad: The byte used for padding (μ-law silence by default; 0 for linear PCM).

        Returns:
            One ``frame_bytes``-long frame, or None if nothing was held back.
        """
        if not self._buffer:
            return None
        frame = bytes(self._buffer) + bytes([pad]) * (self._frame_bytes - len(self._buffer))
        self._buffer.clear()
        return frame

    def clear(self) -> None:
        """Drop the held-back partial frame (barge-in: the rest of the reply is not played)."""
        self._buffer.clear()
