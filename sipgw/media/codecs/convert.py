"""The one place audio changes format between the wire codec and the agent's.

:class:`ToAgent` turns the call's codec into the format the agent declared
(``sipgw.agent.base.Agent.audio_format``), :class:`ToWire` the other way. Which of them a
call needs is decided here, by :func:`conversions`: when the call's media starts, again
when a re-INVITE changes the codec, and again when the call's agent changes to one of
another format (a hand-off between lines: the codec's decoder and encoder go on with
their state, only the agent's side is made anew). Three cases, chosen at construction,
never per frame:

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

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from sipgw.media import g711
from sipgw.media.codecs.base import AudioFormat, Codec, Decoder, Encoder

__all__ = ["Conversions", "Reformat", "ToAgent", "ToWire", "conversions", "reformatted"]


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

    def __init__(  # noqa: A002
        self, codec: Codec, format: AudioFormat, after: ToAgent | None = None
    ) -> None:
        # ``after``: the converter of the same codec this one replaces, whose decoder (and
        # its ADPCM state, G.722's) goes on with the stream
        self._decoder: Decoder = after._decoder if after is not None else codec.decoder()
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
        self, codec: Codec, format: AudioFormat, fmtp: str | None = None,
        after: ToWire | None = None,
    ) -> None:  # fmt: skip
        rate = format.sample_rate
        self._rate_in = rate
        self._rate_out = rate if rate in codec.encode_rates else codec.sample_rate
        # ``after``: the converter of the same codec and fmtp this one replaces; its
        # encoder goes on with the stream (its state: the far end's decoder follows it)
        # when it encodes at the same rate
        if after is not None and after._rate_out == self._rate_out:
            self._encoder: Encoder = after._encoder
        else:
            self._encoder = codec.encoder(self._rate_out, fmtp)
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


def reformatted(frames: Iterable[bytes], from_format: AudioFormat, to: AudioFormat) -> list[bytes]:
    """``frames`` (one stream, in order) in ``to``: one :class:`Reformat` through them all,
    its resampling state kept from one to the next (the caller's audio a hand-off kept for
    the next agent, when that agent hears another format)."""
    convert = Reformat(from_format, to)
    if convert.passthrough:
        return list(frames)
    return [convert.convert(frame) for frame in frames]


@dataclass(frozen=True, slots=True)
class Conversions:
    """What one call's media converts (:func:`conversions`); None where nothing is to do.

    Attributes:
        to_agent: the caller's played-out frames to the agent (``MediaSession.caller_frame``).
        tap: the caller's frames at arrival to the listeners' tap (``MediaSession.on_audio``),
            with a decoder and resampling state of its own.
        to_wire: the agent's frames into the wire codec.
    """

    to_agent: ToAgent | None
    tap: ToAgent | None
    to_wire: ToWire | None


def conversions(
    codec: Codec,
    agent_format: AudioFormat,
    caller_format: AudioFormat | None = None,
    fmtp: str | None = None,
    before: Conversions | None = None,
) -> Conversions:
    """The decision: what a call on ``codec`` (the peer's ``fmtp``) converts for an agent
    that gives ``agent_format`` and takes ``caller_format`` (None: ``agent_format`` too).

    The caller's side starts from the codec the stages carry (``Codec.carried``: an opaque
    codec is decoded at the edge); a converter is made only where the formats differ (else
    the frames pass as they are). ``before``: the conversions this replaces on the same
    codec and ``fmtp`` (the call's agent changed format); each new converter carries on with
    the codec state of the one it replaces, so the streams both ways go on without a seam
    in the codec, and only the agent's side (its rate, its resampling) starts anew.
    """
    heard = caller_format or agent_format
    old = before or _NONE
    to_wire = (
        None
        if codec.native_format == agent_format
        else ToWire(codec, agent_format, fmtp, old.to_wire)
    )
    carried = codec.carried
    if carried.native_format == heard:
        return Conversions(None, None, to_wire)
    return Conversions(
        ToAgent(carried, heard, old.to_agent), ToAgent(carried, heard, old.tap), to_wire
    )


_NONE: Final = Conversions(None, None, None)
