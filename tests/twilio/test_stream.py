"""MediaStreamSession on a fake clock: the caller through the jitter buffer, the agent paced and
marked, clear and what it drops."""

from __future__ import annotations

import base64
import json

import pytest

from sipgw.media import g711
from sipgw.twilio.messages import DtmfReceived, MalformedMessage, StreamStarted
from sipgw.twilio.stream import (
    MediaStreamConfig,
    MediaStreamSession,
    StreamState,
    UnexpectedMessage,
    UnsupportedFormat,
)

SID = "MZ00000000000000000000000000000001"
SILENCE = g711.silence_frame("PCMU")


def frame(n: int) -> bytes:
    return bytes([(n * 7 + i) % 120 + 1 for i in range(160)])


def start(sid: str = SID, **fmt: object) -> str:
    media_format = {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1, **fmt}
    return json.dumps({
        "event": "start", "sequenceNumber": "1", "streamSid": sid,
        "start": {"streamSid": sid, "callSid": "CA1", "accountSid": "AC1", "tracks": ["inbound"],
                  "customParameters": {"caller": "+15551234567"}, "mediaFormat": media_format},
    })  # fmt: skip


def media(chunk: int, payload: bytes, timestamp: int | None = None, sid: str = SID,
          track: str = "inbound") -> str:  # fmt: skip
    stamp = (chunk - 1) * 20 if timestamp is None else timestamp
    return json.dumps({
        "event": "media", "streamSid": sid,
        "media": {"track": track, "chunk": str(chunk), "timestamp": str(stamp),
                  "payload": base64.b64encode(payload).decode()},
    })  # fmt: skip


def mark(name: str) -> str:
    return json.dumps({"event": "mark", "streamSid": SID, "mark": {"name": name}})


def started(now: float = 0.0, **config: object) -> MediaStreamSession:
    session = MediaStreamSession(now, MediaStreamConfig(**config))  # type: ignore[arg-type]
    session.receive_text('{"event": "connected", "protocol": "Call", "version": "1.0.0"}', now)
    event = session.receive_text(start(), now)
    assert isinstance(event, StreamStarted) and event.custom_parameters["caller"] == "+15551234567"
    return session


def sent(texts: list[str]) -> list[dict[str, object]]:
    return [json.loads(t) for t in texts]


# -- the caller's audio -------------------------------------------------------------------------


def run(session: MediaStreamSession, arrivals: list[tuple[float, str]], ticks: int) -> list[bytes]:
    """Feed ``arrivals`` (time, text) and pop one frame per 20 ms tick, on one timeline."""
    pending = sorted(arrivals)
    out: list[bytes] = []
    for i in range(ticks):
        now = 0.020 * i
        while pending and pending[0][0] <= now:
            session.receive_text(pending.pop(0)[1], now)
        frame_out = session.caller_frame(now)
        if frame_out is not None:
            out.append(frame_out)
    return out


def test_bursty_chunks_play_out_as_an_even_stream() -> None:
    session = started()
    # 50 chunks of 20 ms arriving five at a time every 100 ms (TCP bursts).
    arrivals = [(0.1 * (n // 5) + 0.001 * (n % 5), media(n + 1, frame(n))) for n in range(50)]
    out = run(session, arrivals, 120)
    assert out[:50] == [frame(n) for n in range(50)]  # every frame, in order, none torn
    assert session.jitter.stats.lost == 0


def test_a_timestamp_that_jitters_by_a_millisecond_never_tears_a_frame() -> None:
    session = started()
    arrivals = [
        (n * 0.02, media(n + 1, frame(n), timestamp=n * 20 + (1 if n % 3 else 0)))
        for n in range(20)
    ]
    out = run(session, arrivals, 60)
    assert out[:20] == [frame(n) for n in range(20)]
    assert session.stats.reanchors == 0


def test_a_jump_in_twilios_timestamps_moves_the_audio_on_the_grid() -> None:
    session = started()
    for n in range(5):
        session.receive_text(media(n + 1, frame(n)), n * 0.02)
    # Twilio had nothing for 1 s: the next chunk says 1.1 s.
    session.receive_text(media(6, frame(99), timestamp=1103), 1.1)
    assert session.stats.reanchors == 1
    assert session.jitter.stats.played + session.jitter.stats.late == 0  # nothing popped yet
    assert session._position == 1100 * 8 + 160


def test_the_listeners_tap_hears_each_chunk_at_arrival() -> None:
    session = started()
    heard: list[bytes] = []
    session.on_audio = heard.append
    session.receive_text(media(1, frame(0)), 0.0)
    session.receive_text(media(2, frame(1)), 0.02)
    assert heard == [frame(0), frame(1)]
    session.poll_ingress(0.5)  # nothing more: concealment fading out, then silence, in real time
    assert 20 <= len(heard) <= 26 and heard[-1] == SILENCE


def test_other_tracks_and_empty_chunks_are_not_the_caller() -> None:
    session = started()
    session.receive_text(media(1, frame(0), track="outbound"), 0.0)
    session.receive_text(media(2, b""), 0.0)
    assert session.stats.other_track == 1 and session.stats.media_in == 0
    assert session.idle_for(3.0) == 3.0


def test_messages_out_of_place_raise_unexpected_message() -> None:
    session = MediaStreamSession(0.0)
    with pytest.raises(UnexpectedMessage, match="before|awaiting-start"):
        session.receive_text(media(1, frame(0)), 0.0)
    session.receive_text(start(), 0.0)
    with pytest.raises(UnexpectedMessage, match="second 'start'"):
        session.receive_text(start(), 0.0)
    with pytest.raises(UnexpectedMessage, match="MZother"):
        session.receive_text(media(1, frame(0), sid="MZother"), 0.0)
    with pytest.raises(MalformedMessage):
        session.receive_text("{", 0.0)
    session.receive_text(json.dumps({"event": "stop", "streamSid": SID}), 0.0)
    assert session.state is StreamState.STOPPED
    with pytest.raises(UnexpectedMessage, match="stopped"):
        session.receive_text(mark("5"), 0.0)
    assert session.send_frame(frame(0)) == []  # nothing after stop


def test_a_format_other_than_8k_mulaw_is_refused_naming_it() -> None:
    with pytest.raises(UnsupportedFormat, match="audio/x-l16 at 16000 Hz"):
        MediaStreamSession(0.0).receive_text(start(encoding="audio/x-l16", sampleRate=16000), 0.0)


def test_dtmf_and_unlisted_events_come_back_to_the_caller() -> None:
    session = started()
    event = session.receive_text(
        json.dumps({"event": "dtmf", "streamSid": SID, "dtmf": {"digit": "#"}}), 0.0
    )
    assert event == DtmfReceived(SID, "#")
    session.receive_text('{"event": "pong"}', 0.0)
    assert session.stats.other_events == 1


# -- the agent's audio ----------------------------------------------------------------------


def test_nothing_is_sent_before_start() -> None:
    assert MediaStreamSession(0.0).send_frame(frame(0)) == []


def test_frames_go_one_per_tick_with_a_mark_every_few_and_at_each_talkspurts_end() -> None:
    session = started(mark_every=3)
    out: list[dict[str, object]] = []
    for n in range(4):
        out += sent(session.send_frame(frame(n)))
    out += sent(session.send_frame(None))
    assert session.send_frame(None) == []  # silence: nothing at all
    kinds = [(m["event"], m.get("mark", {}).get("name")) for m in out]  # type: ignore[attr-defined]
    assert kinds == [("media", None)] * 3 + [("mark", "3"), ("media", None), ("mark", "4")]
    payloads = [base64.b64decode(m["media"]["payload"]) for m in out if m["event"] == "media"]  # type: ignore[index]
    assert payloads == [frame(n) for n in range(4)]
    assert all(m["streamSid"] == SID for m in out)


def test_marks_echoed_tell_what_was_heard() -> None:
    session = started(mark_every=5)
    for n in range(12):
        session.send_frame(frame(n))
    session.send_frame(None)  # marks 5, 10, 12
    assert session.frames_in_flight == 12 and not session.played_out
    session.receive_text(mark("5"), 0.1)
    assert (session.frames_played, session.frames_in_flight) == (5, 7)
    session.receive_text(mark("12"), 0.3)  # an echo lost on the way: the later one settles it
    assert (session.frames_played, session.frames_in_flight) == (12, 0)
    assert session.played_out
    session.receive_text(mark("10"), 0.3)  # late or repeated: no longer pending
    session.receive_text(mark("someone else's"), 0.3)
    assert session.stats.unknown_marks == 2 and session.frames_played == 12


def test_clear_drops_the_unheard_and_its_echoes_are_not_taken_for_playback() -> None:
    session = started(mark_every=5)
    for n in range(13):
        session.send_frame(frame(n))  # marks 5 and 10 sent; frames 11-13 unmarked
    session.receive_text(mark("5"), 0.1)
    clearing = session.clear()
    assert json.loads(clearing.message) == {"event": "clear", "streamSid": SID}
    assert clearing.unheard_frames == 8 and session.frames_in_flight == 0 and session.played_out
    session.receive_text(mark("10"), 0.2)  # Twilio echoes the pending mark after the clear
    assert session.frames_played == 5 and session.stats.marks_cleared == 1
    # The next reply counts from where the clear left it.
    for n in range(6):
        session.send_frame(frame(n))
    session.send_frame(None)  # marks 18 and 19
    assert session.frames_in_flight == 6
    session.receive_text(mark("18"), 0.5)
    assert (session.frames_played, session.frames_in_flight, session.frames_dropped) == (10, 1, 8)
    session.receive_text(mark("19"), 0.5)
    assert session.frames_played + session.frames_dropped == session.frames_sent == 19


def test_mark_every_must_be_a_frame_or_more() -> None:
    with pytest.raises(ValueError, match="mark_every must be at least 1 frame, not 0"):
        MediaStreamConfig(mark_every=0)
