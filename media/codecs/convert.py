"""The one place audio changes format between the wire codec and the agent's.

:class:`ToAgent` turns the call's codec into the format the agent declared
(``sipgw.agent.base.Agent.audio_format``), :class:`ToWire` the other way; both are made
once per call (again when a re-INVITE changes the codec). Three cases, chosen at
construction, never per frame:

- the codec's octets are the agent's format (PCMU to the default 8 kHz μ-law):
  :attr:`passthrough`, and the caller skips the call altogether;
- a companding law to 8 kHz μ-law (PCMA): one :meth:`bytes.translate` a frame;
- anything else: decode to s16le, resample when the rates differ (the state kept
  across frames, one per direction and stream), encode.
"""

from __future__ import annotations

from sipgw.media import g711
from sipgw.media.codecs.base import AudioFormat, Codec

__all__ = ["ToAgent", "ToWire"]


class ToAgent:
    """Frames of ``codec`` into the agent's ``format`` (see the module docstring)."""

    __slots__ = ("_codec", "_state", "_table", "_to_ulaw", "_rate_in", "_rate_out", "passthrough")

    def __init__(self, codec: Codec, format: AudioFormat) -> None:  # noqa: A002
        self._codec = codec
        self.passthrough = codec.native_format == format
        """Whether frames go to the agent as they are (then do not call :meth:`convert`)."""
        self._to_ulaw = format.encoding == "ulaw"
        self._table = codec.to_ulaw if self._to_ulaw else None
        self._rate_in = codec.sample_rate
        self._rate_out = format.sample_rate
        self._state: object = None

    def convert(self, frame: bytes) -> bytes:
        """One frame (or part of one) from the wire, in the agent's format."""
        if self.passthrough:
            return frame
        table = self._table
        if table is not None:
            return frame.translate(table)
        pcm = self._codec.decode(frame)
        if self._rate_in != self._rate_out:
            pcm, self._state = g711.resample(pcm, self._rate_in, self._rate_out, self._state)
        return g711.linear_to_ulaw(pcm) if self._to_ulaw else pcm


class ToWire:
    """Frames in the agent's ``format`` into ``codec`` (see the module docstring)."""

    __slots__ = ("_codec", "_from_ulaw", "_state", "_table", "_rate_in", "_rate_out", "passthrough")

    def __init__(self, codec: Codec, format: AudioFormat) -> None:  # noqa: A002
        self._codec = codec
        self.passthrough = codec.native_format == format
        """Whether the agent's frames go out as they are (then do not call :meth:`convert`)."""
        self._from_ulaw = format.encoding == "ulaw"
        self._table = codec.from_ulaw if self._from_ulaw else None
        self._rate_in = format.sample_rate
        self._rate_out = codec.sample_rate
        self._state: object = None

    def convert(self, frame: bytes) -> bytes:
        """One frame of the agent's, in the wire codec."""
        if self.passthrough:
            return frame
        table = self._table
        if table is not None:
            return frame.translate(table)
        pcm = g711.ulaw_to_linear(frame) if self._from_ulaw else frame
        if self._rate_in != self._rate_out:
            pcm, self._state = g711.resample(pcm, self._rate_in, self._rate_out, self._state)
        return self._codec.encode(pcm)
