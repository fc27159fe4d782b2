"""Twilio's side of a Media Stream, sans-IO: its messages as Twilio writes them (checked by
our own reader of Twilio's messages, sipgw.twilio.messages), the app's audio re-cut and
paced one frame per tick, marks echoed once their audio was handed out, clear at once."""

from __future__ import annotations

import base64
import json

from sipgw.twilio.messages import (
    DtmfReceived,
    MarkEchoed,
    MediaReceived,
    StreamConnected,
    StreamStarted,
    StreamStopped,
    parse_message,
)
from sipgw.twilio.streamside import (
    FRAME_BYTES,
    MAX_BUFFERED_FRAMES,
    STANDING_TICKS,
    AppCleared,
    AudioWaiting,
    StreamSide,
    quiet,
)

SID = "MZ" + "0" * 32


def side(**kw: object) -> StreamSide:
    return StreamSide(SID, "CA" + "1" * 32, "AC" + "2" * 32, (("first_name", "Ada"),), **kw)  # type: ignore[arg-type]


def media(audio: bytes) -> str:
    return json.dumps({"event": "media", "streamSid": SID,
                       "media": {"payload": base64.b64encode(audio).decode()}})  # fmt: skip


def mark(name: str) -> str:
    return json.dumps({"event": "mark", "streamSid": SID, "mark": {"name": name}})


def test_messages_are_twilios_shapes() -> None:
    s = side()
    connected, start = (parse_message(m) for m in s.opening())
    assert connected == StreamConnected("Call", "1.0.0")
    assert isinstance(start, StreamStarted)
    assert (start.stream_sid, start.call_sid, start.account_sid) == (
        SID,
        "CA" + "1" * 32,
        "AC" + "2" * 32,
    )
    assert start.custom_parameters == {"first_name": "Ada"} and start.tracks == ("inbound",)
    assert start.media_format.encoding == "audio/x-mulaw" and start.media_format.sample_rate == 8000
    assert start.sequence_number == 1
    frames = [parse_message(s.media("inbound", bytes([i]) * 160)) for i in range(3)]  # type: ignore[arg-type]
    assert [(f.chunk, f.timestamp_ms, f.sequence_number, f.track) for f in frames] == [
        (1, 0, 2, "inbound"), (2, 20, 3, "inbound"), (3, 40, 4, "inbound"),
    ]  # fmt: skip
    assert isinstance(frames[0], MediaReceived) and frames[0].payload == b"\x00" * 160
    silence = parse_message(s.media("inbound", None))  # type: ignore[arg-type]
    assert isinstance(silence, MediaReceived) and silence.payload == b"\xff" * 160
    dtmf = parse_message(s.dtmf("5"))  # type: ignore[arg-type]
    assert dtmf == DtmfReceived(SID, "5", "inbound_track", 6)
    stop = parse_message(s.stop())  # type: ignore[arg-type]
    assert isinstance(stop, StreamStopped) and stop.call_sid == "CA" + "1" * 32
    assert s.stop() is None and s.media("inbound", None) is None  # nothing after stop
    raw = json.loads(s.opening()[1])
    assert raw["sequenceNumber"] == "8" and raw["streamSid"] == SID  # strings, as Twilio's


def test_app_audio_of_any_size_is_recut_and_marks_echo_after_their_audio() -> None:
    s = side()
    s.opening()
    assert s.receive(media(b"\x01" * 250)) == [AudioWaiting()]
    assert s.receive(mark("after-250")) == []  # 250 bytes: a frame and a padded one
    assert s.receive(media(b"\x02" * 160)) == []
    assert s.receive(mark("after-all")) == []
    out = []
    for _ in range(5):
        frame, echoes = s.next_frame()
        out.append((frame[:1] if frame else None, [parse_message(e).name for e in echoes]))
    assert out == [
        (b"\x01", []), (b"\x01", []),  # the second is 90 bytes of audio, then silence
        (b"\x02", ["after-250"]),  # echoed once both frames before it went out
        (None, ["after-all"]),
        (None, []),
    ]  # fmt: skip


def test_the_padded_frame_is_audio_then_silence() -> None:
    s = side()
    s.receive(media(b"\x01" * 250))
    s.next_frame()
    frame, _ = s.next_frame()  # no mark: the remainder plays when nothing else is left
    assert frame == b"\x01" * 90 + b"\xff" * 70


def test_a_mark_with_nothing_buffered_is_echoed_at_once() -> None:
    s = side()
    s.opening()
    (echo,) = s.receive(mark("now"))
    assert isinstance(parse_message(echo), MarkEchoed)  # type: ignore[arg-type]


def test_clear_drops_the_audio_at_once_and_echoes_its_marks() -> None:
    s = side()
    s.receive(media(b"\x01" * 1600))
    s.receive(mark("m1"))
    s.receive(media(b"\x02" * 1600))
    s.receive(mark("m2"))
    assert s.next_frame()[0] == b"\x01" * 160
    out = s.receive(json.dumps({"event": "clear", "streamSid": SID}))
    assert [parse_message(e).name for e in out if isinstance(e, str)] == ["m1", "m2"]
    assert out[-1] == AppCleared(19)
    assert s.next_frame() == (None, [])  # the very next tick is silence
    assert s.clears == 1 and s.frames_cleared == 19


def test_buffer_is_bounded_and_bad_messages_counted() -> None:
    s = side()
    s.receive(media(b"\x01" * FRAME_BYTES * (MAX_BUFFERED_FRAMES + 10)))
    assert s.buffered_frames == MAX_BUFFERED_FRAMES and s.frames_dropped == 10
    for bad in ["not json", "[]", '{"event":"media","media":{"payload":"%%%"}}',
                '{"event":"mark","mark":{}}', '{"event":"dance"}']:  # fmt: skip
        assert s.receive(bad) == []
    assert s.bad_messages == 5


def test_a_fork_takes_no_audio_from_the_app_and_sends_no_dtmf() -> None:
    s = side(tracks=("inbound", "outbound"), bidirectional=False)
    assert s.receive(media(b"\x01" * 160)) == [] and s.buffered_frames == 0
    assert s.dtmf("1") is None
    out = parse_message(s.media("outbound", b"\x03" * 160))  # type: ignore[arg-type]
    assert isinstance(out, MediaReceived) and out.track == "outbound" and out.chunk == 1


def test_audio_after_a_silence_says_its_first_frame_may_go_now() -> None:
    s = side()
    s.opening()
    assert s.receive(media(b"\x01" * 100)) == []  # short of a frame: nothing to send yet
    assert s.receive(media(b"\x01" * 100)) == [AudioWaiting()]  # a whole frame waits now
    assert s.receive(media(b"\x02" * 160)) == []  # more behind it: the tick paces it
    assert s.next_frame()[0] is not None and s.next_frame()[0] is not None
    assert s.next_frame()[0] is not None  # the 40 bytes left, padded
    assert s.next_frame() == (None, [])
    assert s.receive(media(b"\x03" * 160)) == [AudioWaiting()]  # a new talkspurt
    assert s.receive(json.dumps({"event": "clear", "streamSid": SID})) == [AppCleared(1)]
    assert s.receive(media(b"\x04" * 160)) == [AudioWaiting()]  # after a clear, too


def test_a_standing_backlog_is_shed_in_the_apps_silence() -> None:
    # An app streaming in real time, one frame per tick, that once sent two frames between
    # two ticks: one frame stays queued for good, until a quiet frame is shed (issue 41).
    s = side()
    quiet_frame, loud = b"\xff" * 160, b"\x10" * 160
    s.receive(media(quiet_frame))
    waits = []
    for tick in range(STANDING_TICKS + 10):
        s.receive(media(quiet_frame if tick < STANDING_TICKS + 2 else loud))
        waits.append(s.buffered_frames)  # frames queued as the tick comes
        frame, _ = s.next_frame()
        assert frame is not None
    assert waits[:STANDING_TICKS] == [2] * STANDING_TICKS  # the backlog stood STANDING_TICKS ticks
    assert s.frames_shed == 1 and waits[STANDING_TICKS:] == [1] * 10  # then no frame waits
    # the loud frames are each played at the tick they arrived before
    assert s.receive(media(loud)) == [AudioWaiting()] and s.next_frame()[0] == loud


def test_loud_audio_marks_and_an_app_ahead_of_time_are_never_shed() -> None:
    loud = b"\x10" * 160
    s = side()
    s.receive(media(loud))
    for _ in range(3 * STANDING_TICKS):  # a standing backlog of speech: played whole
        s.receive(media(loud))
        assert s.next_frame()[0] == loud
    assert s.frames_shed == 0
    ahead = side()  # an app that sent 4 s of silence at once: a pause, played whole
    ahead.receive(media(b"\xff" * 160 * 200))
    assert sum(ahead.next_frame()[0] is not None for _ in range(200)) == 200
    assert ahead.frames_shed == 0


def test_quiet_is_exponent_zero_mu_law() -> None:
    assert quiet(b"\xff" * 160) and quiet(b"\x7f\xf0" * 80)
    assert not quiet(b"\xff" * 159 + b"\xef") and not quiet(b"\x10" * 160)
