"""A recording session's streams as the gateway runs them: who speaks on each, their ports
and media steps, stepped once a tick.

Streams are keyed by the index of their ``m=`` line in the SRC's offer (RFC 3264 §8: a
line keeps its place in every new offer), named by their ``a=label`` (RFC 4574; a line
without one by its place, ``m3`` for the third). They come with the INVITE, or later with a
re-INVITE or UPDATE that adds them (RFC 7866 §8.1), and go when a new offer removes them
(port 0) or the session ends. With a recorder, the WAV has one channel per stream the
INVITE's answer took (two at least), in their order: the first stream left, the second
right, a third the third channel... A channel stays with its stream (silent once that stream
ends), and a stream added later takes a channel only when one was never given (else it is
transcribed, not recorded): a WAV's channels are fixed when it starts.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from sipgw.agent.srs.transcriber import RecordedParty, RecordedStreams
from sipgw.app.calls.recording import CallRecorder
from sipgw.media.aio.callmedia import CallMedia
from sipgw.media.aio.rtp_endpoint import RtpEndpoint
from sipgw.sip.rsmetadata import RsMetadata
from sipgw.sip.srs import RecordingRequest

__all__ = ["RecordedMedia", "StreamFeed", "label_of", "parties_for", "parties_of"]


def label_of(labels: Mapping[int, str], index: int) -> str:
    """The name of the stream on ``m=`` line ``index``: its label, else ``m<n>``."""
    return labels.get(index) or f"m{index + 1}"


def parties_for(
    labels: Mapping[int, str], indexes: Iterable[int], metadata: RsMetadata
) -> list[RecordedParty]:
    """Each stream's label (:func:`label_of`) and who sends it, as ``metadata`` says."""
    parties = []
    for index in indexes:
        label = label_of(labels, index)
        sender = metadata.sender_of(label)
        if sender is None:
            parties.append(RecordedParty(label))
        else:
            parties.append(RecordedParty(label, sender.participant_id, sender.aor, sender.name))
    return parties


def parties_of(recording: RecordingRequest, metadata: RsMetadata) -> list[RecordedParty]:
    """Each stream of a recording session's INVITE and who sends it (:func:`parties_for`)."""
    return parties_for(dict(enumerate(recording.labels)), recording.streams, metadata)


class StreamFeed:
    """One stream's frames to the agent (the ``FrameAgent`` of its :class:`CallMedia`)."""

    __slots__ = ("agent", "label")

    def __init__(self, agent: RecordedStreams, label: str) -> None:
        self.agent = agent
        self.label = label

    def on_caller_frame(self, frame: bytes | None) -> None:
        self.agent.on_stream_frame(self.label, frame)

    def next_frame(self) -> bytes | None:
        return None


@dataclass(eq=False)
class RecordedMedia:
    """A recording session's streams, stepped once a tick (the ticker's participant).

    Attributes:
        labels: each stream's ``a=label`` by ``m=`` line ("" for none), the streams offered
            and not removed.
        endpoints: each stream's RTP ports, by ``m=`` line (bound, answered or not yet).
        steps: each answered stream's media step (its frames to the agent), by ``m=`` line.
        recorder: the WAV, None when not recorded.
        channels: the ``m=`` line of each of the WAV's channels (None: not given), as many
            as it has.
        metadata: what the SRC's metadata says now.
        watchdog: when the streams' silence is next judged (``SIPGW_RTP_TIMEOUT``).
    """

    labels: dict[int, str] = field(default_factory=dict)
    endpoints: dict[int, RtpEndpoint] = field(default_factory=dict)
    steps: dict[int, CallMedia] = field(default_factory=dict)
    recorder: CallRecorder | None = None
    channels: list[int | None] = field(default_factory=lambda: [None, None])
    metadata: RsMetadata = field(default_factory=RsMetadata)
    watchdog: asyncio.TimerHandle | None = None

    def parties(self, indexes: Iterable[int] | None = None) -> list[RecordedParty]:
        """Who speaks on the streams of ``indexes`` (default: every answered one)."""
        chosen = self.steps if indexes is None else indexes
        return parties_for(self.labels, chosen, self.metadata)

    def add(self, index: int, step: CallMedia) -> None:
        """An answered stream's step joins the ticks (and a WAV channel never given)."""
        self.steps[index] = step
        if None in self.channels:
            self.channels[self.channels.index(None)] = index

    def remove(self, index: int) -> tuple[CallMedia | None, RtpEndpoint | None]:
        """A stream removed: its step and ports, to be closed (its channel stays silent)."""
        self.labels.pop(index, None)
        return self.steps.pop(index, None), self.endpoints.pop(index, None)

    def idle_for(self, now: float) -> float:
        """Seconds since any of its streams last showed the SRC alive (RTP or RTCP)."""
        return min((step.session.idle_for(now) for step in self.steps.values()), default=0.0)

    def tick(self, now: float) -> None:
        """One 20 ms step of every stream, then the channels' frames to the recorder."""
        steps = self.steps
        for step in steps.values():
            step.tick(now)
        recorder = self.recorder
        if recorder is not None and steps:
            recorder.tick_channels(
                [steps[index].caller_frame if index in steps else None for index in self.channels]
            )

    def skip(self, ticks: int) -> None:
        """Ticks dropped after a stall (nothing is sent: nothing to keep in time)."""
        for step in self.steps.values():
            step.skip(ticks)
