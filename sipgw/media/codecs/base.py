"""What the media layer knows of a codec: :class:`Codec`, and the agent's :class:`AudioFormat`.

A :class:`Codec` is resolved once per call (negotiation gives its name,
:func:`sipgw.media.codecs.codec_named` the object) and handed to the stages that carry the
call's audio: the jitter buffer and the ingress tap make silence and conceal losses in
it, the sender pads with its silence, and :mod:`sipgw.media.codecs.convert` turns its frames
into the agent's format and back. No stage compares codec names.

The stages address audio by RTP clock tick, one octet a tick (a 20 ms frame is
``clock_rate // 50`` octets): true of G.711, and of G.722 (64 kbit/s, an 8000 Hz RTP
clock although it carries 16 kHz audio, RFC 3551 §4.5.2). A codec whose octets are not
ticks (Opus: variable-size packets on a 48000 Hz clock) is :attr:`Codec.opaque`: each
packet received is decoded at the edge (:meth:`Codec.edge_decoder`), before the jitter
buffer, into the octet codec the stages carry instead (:attr:`Codec.carried`), with its
timestamp moved to that codec's clock; each 20 ms the sender sends one packet, the frame
the call's encoder made, as it is.

A :class:`Codec` is a codec *type*, one object shared by every call. A call's stream is
decoded and encoded by the :meth:`Codec.decoder` and :meth:`Codec.encoder` it makes for
each direction of each call: a stateless law (G.711) gives itself, nothing allocated;
an ADPCM codec (G.722), whose predictor runs from frame to frame, a fresh state.
:meth:`Codec.decode` and :meth:`Codec.encode` are one-shot (a stateful codec starts from
its initial state each time): for looking at a chunk (its level), never for a stream.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final, Protocol

from sipgw.media.g711 import linear_dbfs

__all__ = [
    "PCM16_8K",
    "PCM16_16K",
    "PCM16_24K",
    "ULAW_8K",
    "AudioFormat",
    "Codec",
    "Decoder",
    "EdgeDecoder",
    "Encoder",
]

ENCODINGS: Final = ("ulaw", "pcm_s16le")
"""The agent-side encodings :mod:`sipgw.media.codecs.convert` produces."""

_SILENCES_KEPT: Final = 64


@dataclass(frozen=True, slots=True)
class AudioFormat:
    """The frames an agent takes and gives (declared by the agent, ``sipgw.agent.base``).

    Attributes:
        encoding: ``ulaw`` (8-bit μ-law) or ``pcm_s16le`` (signed 16-bit little-endian).
        sample_rate: samples per second.
    """

    encoding: str
    sample_rate: int

    def __post_init__(self) -> None:
        if self.encoding not in ENCODINGS:
            raise ValueError(f"audio encoding {self.encoding!r}: expected one of {ENCODINGS}")
        if self.encoding == "ulaw" and self.sample_rate != 8000:
            raise ValueError(f"ulaw is 8000 Hz, not {self.sample_rate}")
        if self.sample_rate not in (8000, 16000, 24000, 48000):
            raise ValueError(
                f"sample rate {self.sample_rate}: expected 8000, 16000, 24000 or 48000"
            )

    @property
    def frame_bytes(self) -> int:
        """Octets of one 20 ms frame."""
        width = 1 if self.encoding == "ulaw" else 2
        return self.sample_rate // 50 * width

    @property
    def bytes_per_ms(self) -> int:
        """Octets of one millisecond (8 for μ-law, 48 for 24 kHz s16le)."""
        return self.frame_bytes // 20

    @property
    def silence_octet(self) -> int:
        """The octet that pads a partial frame with silence (μ-law's 0xFF, 0 for linear
        samples)."""
        return 0xFF if self.encoding == "ulaw" else 0


ULAW_8K: Final = AudioFormat("ulaw", 8000)
"""The default agent format: 160-octet frames of 8 kHz μ-law."""
PCM16_8K: Final = AudioFormat("pcm_s16le", 8000)
PCM16_16K: Final = AudioFormat("pcm_s16le", 16000)
PCM16_24K: Final = AudioFormat("pcm_s16le", 24000)
"""The speech-to-speech services' linear audio (``audio/pcm``: 24 kHz only), the format of
their sessions on an HD-voice call."""


class Decoder(Protocol):
    """One direction of one call's stream, decoded frame after frame, in order."""

    def decode(self, payload: bytes) -> bytes:
        """The next payload as s16le samples at the codec's sample rate."""
        ...


class Encoder(Protocol):
    """One direction of one call's stream, encoded frame after frame, in order."""

    def encode(self, pcm: bytes) -> bytes:
        """The next s16le samples at the codec's sample rate as a payload."""
        ...


class EdgeDecoder(Protocol):
    """An opaque codec's packets (:attr:`Codec.opaque`) into the codec its stages carry, for
    one call, in arrival order."""

    failed: int
    """Packets the decoder refused (counted and dropped: the jitter buffer fills the hole)."""

    def timestamp(self, rtp_timestamp: int) -> int:
        """The packet's RTP timestamp on the carried codec's clock (32 bits, continuous)."""
        ...

    def decode(self, payload: bytes) -> bytes:
        """The packet's audio in the carried codec, as long as the packet lasts; ``b""``
        when it cannot be decoded."""
        ...

    def conceal(self) -> bytes:
        """One lost frame (the last packet's frame size), concealed by the codec itself from
        what it decoded last, in the carried codec; ``b""`` when it cannot."""
        ...


class Codec:
    """One audio codec on the wire (subclassed once per codec family, e.g. G.711).

    Attributes:
        name: the ``a=rtpmap`` encoding name, upper case (``PCMU``).
        payload_type: the static RTP payload type (RFC 3551 §6), or None for a
            dynamic one (the offer's number is used).
        clock_rate: the RTP clock rate (the ``a=rtpmap`` rate).
        sample_rate: the audio's sample rate once decoded.
        frame_bytes: octets of 20 ms on the wire.
        to_ulaw: a 256-entry table translating its octets to μ-law when it is a
            companding law (one :meth:`bytes.translate` a frame); None otherwise.
        from_ulaw: the table back, or None.
        native_format: the agent format its octets already are (PCMU: 8 kHz μ-law,
            passed through untouched), or None.
        conceals: whether the pitch-based concealment (:mod:`sipgw.media.plc`) works in its
            octets (one octet a decoded sample, stateless); a loss in any other codec is
            filled with its silence.
        rtpmap_name: the encoding name as SDP writes it (``opus``, RFC 7587 §7); the
            name matches case-insensitively either way.
        channels: the ``a=rtpmap`` channel count (1; Opus always says 2, RFC 7587 §7).
        fmtp: the ``a=fmtp`` parameters our offers and answers give it (what we want to
            receive), or None.
        opaque: its payloads are whole packets, not one octet a tick (Opus): decoded at
            the edge into :attr:`carried`, sent one 20 ms frame a packet.
        carried: the codec the jitter buffer, the ingress tap and the converters to the
            agent see: itself, or what an opaque codec is decoded into at the edge.
        encode_rates: the sample rates its encoder takes (:meth:`encoder`); the agent's
            audio at another rate is resampled to :attr:`sample_rate` first.
    """

    __slots__ = (
        "carried",
        "channels",
        "clock_rate",
        "conceals",
        "encode_rates",
        "fmtp",
        "frame_bytes",
        "from_ulaw",
        "name",
        "native_format",
        "opaque",
        "payload_type",
        "rtpmap_name",
        "sample_rate",
        "to_ulaw",
        "_silence_octet",
        "_silences",
    )

    def __init__(
        self,
        name: str,
        payload_type: int | None,
        clock_rate: int,
        sample_rate: int,
        silence_octet: int,
        to_ulaw: bytes | None = None,
        from_ulaw: bytes | None = None,
        native_format: AudioFormat | None = None,
        conceals: bool = True,
        *,
        rtpmap_name: str | None = None,
        channels: int = 1,
        fmtp: str | None = None,
        carried: Codec | None = None,
        encode_rates: tuple[int, ...] = (),
    ) -> None:
        self.name = name.upper()
        self.payload_type = payload_type
        self.clock_rate = clock_rate
        self.sample_rate = sample_rate
        self.frame_bytes = clock_rate // 50
        self.to_ulaw = to_ulaw
        self.from_ulaw = from_ulaw
        self.native_format = native_format
        self.conceals = conceals
        self.rtpmap_name = rtpmap_name or self.name
        self.channels = channels
        self.fmtp = fmtp
        self.opaque = carried is not None
        self.carried: Codec = carried if carried is not None else self
        self.encode_rates = encode_rates or (sample_rate,)
        self._silence_octet = silence_octet
        self._silences: dict[int, bytes] = {}

    def silence(self, samples: int) -> bytes:
        """``samples`` ticks of silence in this codec (cached: a shared object).

        Raises:
            ValueError: ``samples`` < 0.
        """
        frame = self._silences.get(samples)
        if frame is not None:
            return frame
        if samples < 0:
            raise ValueError("samples must not be negative")
        frame = bytes((self._silence_octet,)) * samples
        if len(self._silences) < _SILENCES_KEPT:  # the few sizes calls use, bounded
            self._silences[samples] = frame
        return frame

    def decode(self, payload: bytes) -> bytes:
        """The payload as s16le samples at :attr:`sample_rate` (one-shot: see the module
        docstring)."""
        raise NotImplementedError(f"{self.name} has no decoder")

    def encode(self, pcm: bytes) -> bytes:
        """s16le samples at :attr:`sample_rate` as this codec's payload (one-shot)."""
        raise NotImplementedError(f"{self.name} has no encoder")

    def decoder(self) -> Decoder:
        """A decoder for one direction of one call (a stateless codec: itself)."""
        return self

    def encoder(self, sample_rate: int = 0, fmtp: str | None = None) -> Encoder:
        """An encoder for one direction of one call (a stateless codec: itself).

        Args:
            sample_rate: the rate of the s16le it will take, one of :attr:`encode_rates`
                (0: :attr:`sample_rate`).
            fmtp: the peer's ``a=fmtp`` parameters for the payload type (what it wants to
                receive: Opus's bit rate, bandwidth and FEC), or None.
        """
        return self

    def edge_decoder(self) -> EdgeDecoder:
        """An opaque codec's per-call decoder into :attr:`carried` (see the module docstring).

        Raises:
            NotImplementedError: the codec is not opaque (its octets are ticks already).
        """
        raise NotImplementedError(f"{self.name}'s octets are carried as they are")

    def unavailable(self) -> str | None:
        """Why this codec cannot be used in this installation (a missing library, with the
        command that installs it), or None: it can."""
        return None

    def rms_dbfs(self, payload: bytes) -> float:
        """The level of the payload in dB relative to full scale; ``-inf`` for silence."""
        return linear_dbfs(self.decode(payload)) if payload else -math.inf

    def __repr__(self) -> str:
        return f"<Codec {self.name}/{self.clock_rate}>"
