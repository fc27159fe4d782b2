"""The one place audio changes format between the wire codec and the agent's.

:class:`ToAgent` turns the call's codec into the format the agent declared
(``sipgw.agent.base.Agent.audio_format``), :class:`ToWire` the other way; both are made
once per call (again when a re-INVITE changes the codec). Three cases, chosen at
construction, never per frame:

- the codec's octets are the agent's format (PCMU to the default 8 kHz μ-law):
  :attr:`passthrough`, and the caller skips the call altogether;
- a companding law to 8 kHz μ-law (PCMA): one :meth:`bytes.translate` a frame;
- anything else: decode to s16le, resample when the rates differ (the state kept
  across frames, one per direction and stream), encode; the decoder and encoder are the
  codec's per-call ones (:meth:`~sipgw.media.codecs.base.Codec.decoder`), made here, so
  each converter carries its own ADPCM state (G.722) or libopus encoder (Opus) through
  the stream it converts. An encoder that takes the agent's rate as it is (Opus: 8 or
  16 kHz) is made for that rate, and nothing is resampled.

An opaque codec's received audio (Opus) reaches :class:`ToAgent` already decoded into the
codec it is carried as (``Codec.carried``, media/session.py gives that one); its
:class:`ToWire` makes one packet a frame, and one of silence when the agent has nothing
(:meth:`ToWire.silence`), so its encoder hears a continuous stream.
"""

from __future__ import annotations

from sipgw.media import g711
from sipgw.media.codecs.base import AudioFormat, Codec, Decoder, Encoder

__all__ = ["Reformat", "ToAgent", "ToWire"]


def _primed(rate_in: int, rate_out: int) -> object:
    """A resampling state that has seen one 20 ms frame of silence: ``audioop.ratecv``
    gives one sample short on a stream's first chunk going up (319 for 320), which a
    codec counting whole frames (G.722: two samples an octet, 160 octets a packet)
    cannot take; primed, every 20 ms in gives 20 ms out."""
    if rate_in == rate_out:
        return None
    return g711.resample(bytes(rate_in // 50 * 2), rate_in, rate_out, None)[1]


class ToAgent:
    """Frames of ``codec`` into the agent's ``format`` (see the module docstring)."""

    __slots__ = ("_decoder", "_state", "_table", "_to_ulaw", "_rate_in", "_rate_out", "passthrough")

    def __init__(self, codec: Codec, format: AudioFormat) -> None:  # noqa: A002
        self._decoder: Decoder = codec.decoder()
        self.passthrough = codec.native_format == format
        """Whether frames go to the agent as they are (then do not call :meth:`convert`)."""
        self._to_ulaw = format.encoding == "ulaw"
        self._table = codec.to_ulaw if self._to_ulaw else None
        self._rate_in = codec.sample_rate
        self._rate_out = format.sample_rate
        self._state = _primed(self._rate_in, self._rate_out)

    def convert(self, frame: bytes) -> bytes:
        """One frame (or part of one) from the wire, in the agent's format."""
        if self.passthrough:
            return frame
        table = self._table
        if table is not None:
            return frame.translate(table)
        pcm = self._decoder.decode(frame)
        if self._rate_in != self._rate_out:
            pcm, self._state = g711.resample(pcm, self._rate_in, self._rate_out, self._state)
        return g711.linear_to_ulaw(pcm) if self._to_ulaw else pcm


class ToWire:
    """Frames in the agent's ``format`` into ``codec`` (see the module docstring)."""

    __slots__ = (
        "_encoder",
        "_from_ulaw",
        "_silence",
        "_state",
        "_table",
        "_rate_in",
        "_rate_out",
        "passthrough",
    )

    def __init__(  # noqa: A002
        self, codec: Codec, format: AudioFormat, fmtp: str | None = None
    ) -> None:
        rate = format.sample_rate
        self._rate_in = rate
        self._rate_out = rate if rate in codec.encode_rates else codec.sample_rate
        self._encoder: Encoder = codec.encoder(self._rate_out, fmtp)
        self.passthrough = codec.native_format == format
        """Whether the agent's frames go out as they are (then do not call :meth:`convert`)."""
        self._from_ulaw = format.encoding == "ulaw"
        self._table = codec.from_ulaw if self._from_ulaw else None
        self._state = _primed(self._rate_in, self._rate_out)
        self._silence = bytes(self._rate_out // 50 * 2)

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
        return self._encoder.encode(pcm)

    def silence(self) -> bytes:
        """20 ms of silence through the call's encoder: an opaque codec's (Opus) packet for
        a tick the agent is silent, its encoder's state kept continuous."""
        return self._encoder.encode(self._silence)


class Reformat:
    """Frames of one agent-side format into another (``from_format`` to ``to``): the
    assistant's VAD hears a 16 kHz caller as 8 kHz μ-law, the recorder writes either
    side as linear audio at its rate. Made once per stream; the resampling state is kept.
    """

    __slots__ = ("_from_ulaw", "_rate_in", "_rate_out", "_state", "_to_ulaw", "passthrough")

    def __init__(self, from_format: AudioFormat, to: AudioFormat) -> None:
        self.passthrough = from_format == to
        """Whether frames are in ``to`` already (then :meth:`convert` returns them)."""
        self._from_ulaw = from_format.encoding == "ulaw"
        self._to_ulaw = to.encoding == "ulaw"
        self._rate_in = from_format.sample_rate
        self._rate_out = to.sample_rate
        self._state = _primed(self._rate_in, self._rate_out)

    def convert(self, frame: bytes) -> bytes:
        """One frame (or part of one) in the target format."""
        if self.passthrough:
            return frame
        pcm = g711.ulaw_to_linear(frame) if self._from_ulaw else frame
        if self._rate_in != self._rate_out:
            pcm, self._state = g711.resample(pcm, self._rate_in, self._rate_out, self._state)
        return g711.linear_to_ulaw(pcm) if self._to_ulaw else pcm
