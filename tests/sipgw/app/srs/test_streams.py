"""A recording session's streams as the gateway runs them (sipgw.app.srs.streams): their
names and speakers, and which of them the two-channel WAV records as streams come and go."""

from __future__ import annotations

from typing import Any, cast

from sipgw.app.calls.recording import CallRecorder
from sipgw.app.srs.streams import RecordedMedia, label_of, parties_for
from sipgw.media.aio.callmedia import CallMedia
from sipgw.sip.rsmetadata import parse_metadata
from tests.sipgw.sip.test_rsmetadata import COMPLETE


class Step:
    """A stream's media step that hears one frame of its own name each tick."""

    def __init__(self, frame: bytes) -> None:
        self.caller_frame: bytes | None = None
        self.frame = frame

    def tick(self, now: float) -> None:
        self.caller_frame = self.frame


class Recorder:
    def __init__(self) -> None:
        self.ticks: list[list[bytes | None]] = []

    def tick_channels(self, frames: list[bytes | None]) -> None:
        self.ticks.append(frames)


def step(frame: bytes) -> CallMedia:
    return cast(CallMedia, Step(frame))


def test_streams_are_named_by_label_or_place_and_by_their_sender() -> None:
    labels = {0: "96", 1: "", 2: "97"}
    assert [label_of(labels, i) for i in (0, 1, 2, 5)] == ["96", "m2", "97", "m6"]
    parties = parties_for(labels, (2, 1), parse_metadata(COMPLETE))
    assert [(p.label, p.aor) for p in parties] == [("97", "sip:bob@biloxy.example.com"), ("m2", "")]


def test_the_wav_keeps_its_channels_as_streams_come_and_go() -> None:
    """The streams answered first are the channels, in order; a removed stream leaves its
    channel silent, and a later stream does not take it."""
    recorder = Recorder()
    media = RecordedMedia({0: "96", 2: "97"}, recorder=cast(CallRecorder, cast(Any, recorder)))
    media.add(0, step(b"A"))
    media.add(2, step(b"B"))
    media.tick(0.0)
    media.remove(0)
    media.add(4, step(b"C"))  # a third stream: transcribed, not recorded
    media.tick(0.02)
    assert recorder.ticks == [[b"A", b"B"], [None, b"B"]]
    assert list(media.steps) == [2, 4] and media.labels == {2: "97"}


def test_a_wav_of_three_channels_records_three_streams() -> None:
    recorder = Recorder()
    media = RecordedMedia(recorder=cast(CallRecorder, cast(Any, recorder)))
    media.channels = [None] * 3  # three streams answered with the INVITE
    for index, frame in ((0, b"A"), (1, b"B"), (3, b"C")):
        media.add(index, step(frame))
    media.tick(0.0)
    assert recorder.ticks == [[b"A", b"B", b"C"]] and media.channels == [0, 1, 3]
