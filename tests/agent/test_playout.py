"""The playout queue: held/paused/cancelled replies and what the caller heard."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from sipgw.agent.playout import CHARS_PER_SECOND, Playout, played
from sipgw.agent.talk import TalkTally
from sipgw.agent.transfer.holdmusic import HoldMusic
from sipgw.app.evaluation.audio import goertzel_dbfs, rms_dbfs, tone_samples
from sipgw.media import g711
from sipgw.media.codecs import PCM16_16K, ULAW_8K, AudioFormat

A = b"\x11" * 160


def drain(playout: Playout, ticks: int) -> list[bytes | None]:
    return [playout.next_frame(0.02 * i) for i in range(ticks)]


def test_held_until_answered_then_frames_in_order() -> None:
    p = Playout()
    p.begin("r1")
    p.push_audio("r1", A * 2 + b"\x22" * 100)  # 2.6 frames
    p.finish("r1")  # the tail is padded with μ-law silence
    assert drain(p, 3) == [None, None, None]
    p.held = False
    frames = drain(p, 4)
    assert frames[:2] == [A, A] and frames[2] == b"\x22" * 100 + b"\xff" * 60 and frames[3] is None
    assert p.finished("r1") and p.first_played_at("r1") == 0.0


def test_release_plays_from_now_on_and_tells_the_media_layer_when_audio_waits() -> None:
    readied: list[None] = []
    p = Playout(on_ready=lambda: readied.append(None))
    p.release()
    assert not p.held and readied == []  # nothing queued: nothing to send at once
    p.held = True
    p.begin("r1")
    p.push_audio("r1", A)
    assert readied == []  # held: the audio waits
    p.release()
    assert readied == [None] and drain(p, 1) == [A]


def test_pause_resumes_where_it_stopped() -> None:
    p = Playout()
    p.held = False
    p.begin("r1")
    p.push_audio("r1", A + b"\x22" * 160)
    assert p.next_frame(0) == A
    p.paused = True
    assert p.next_frame(0.02) is None and p.pending and not p.audible
    p.paused = False
    assert p.next_frame(0.04) == b"\x22" * 160


def test_cancel_drops_only_that_reply_and_late_audio() -> None:
    p = Playout()
    p.held = False
    p.begin("r1")
    p.begin("r2")
    p.push_audio("r1", A * 3)
    p.push_audio("r2", b"\x33" * 160)
    p.next_frame(0)
    p.cancel("r1")
    p.push_audio("r1", A * 5)  # late audio of the cancelled reply
    assert drain(p, 2) == [b"\x33" * 160, None]


def test_heard_text_from_alignment() -> None:
    p = Playout()
    p.held = False
    p.begin("r1")
    p.add_text("r1", "Hello there. How are you?")
    p.push_audio("r1", A * 2, text="Hello ")
    p.push_audio("r1", A * 2, text="there. How are you?")
    drain(p, 2)  # the first chunk ("Hello ") has played
    assert p.heard_text("r1") == "Hello"
    drain(p, 2)
    assert p.heard_text("r1") == "Hello there. How are you?"


def test_heard_text_estimated_without_alignment_and_cut_at_a_word() -> None:
    p = Playout()
    p.held = False
    p.begin("r1")
    text = "One two three four five six seven eight nine ten eleven twelve."
    p.add_text("r1", text)
    p.push_audio("r1", A * 100)
    ticks = round(20 / (CHARS_PER_SECOND * 0.02))  # about 20 characters' worth
    drain(p, ticks)
    heard = p.cancel("r1")
    assert text.startswith(heard) and heard.endswith(("four", "five")), heard


def test_first_frame_callbacks_run_from_the_tick_that_sends_it() -> None:
    p = Playout()
    p.begin("r1")
    seen: list[tuple[str, float | None]] = []
    p.when_first_played("r1", lambda when: seen.append(("a", when)))
    p.when_first_played("r1", lambda when: seen.append(("b", when)))
    p.push_audio("r1", A * 2)
    assert p.next_frame(0.0) is None and seen == []  # held: nothing went out
    p.held = False
    p.next_frame(0.5)
    p.next_frame(0.52)
    assert seen == [("a", 0.5), ("b", 0.5)]  # once, at the first frame
    p.when_first_played("r1", lambda when: seen.append(("late", when)))
    assert seen[-1] == ("late", 0.5)  # already played: at once


def test_first_frame_callbacks_get_none_when_the_reply_cannot_play() -> None:
    p = Playout()
    p.held = False
    seen: list[tuple[str, float | None]] = []

    def waiter(reply_id: str) -> Callable[[float | None], None]:
        return lambda when: seen.append((reply_id, when))

    for reply_id in ("cancelled", "silent"):
        p.begin(reply_id)
        p.when_first_played(reply_id, waiter(reply_id))
    p.push_audio("cancelled", A)
    p.cancel("cancelled")
    p.finish("silent")  # finished without any audio
    p.when_first_played("unknown", lambda when: seen.append(("unknown", when)))
    assert seen == [("cancelled", None), ("silent", None), ("unknown", None)]
    assert p.next_frame(0.0) is None


def test_when_played_runs_from_the_tick_that_sends_the_last_frame() -> None:
    p = Playout()
    p.held = False
    p.begin("r1")
    p.push_audio("r1", A * 2)
    played: list[bool] = []
    p.when_played("r1", played.append)
    assert drain(p, 2) == [A, A] and played == []  # the audio may still grow
    p.finish("r1")
    assert played == [True]  # everything already went out
    p.begin("r2")
    p.push_audio("r2", A * 2)
    p.finish("r2")
    p.when_played("r2", played.append)
    assert p.next_frame(0.1) == A and played == [True]
    assert p.next_frame(0.12) == A and played == [True, True]
    p.when_played("gone", played.append)  # finished and forgotten: at once
    assert played == [True, True, True]


def test_when_played_gets_false_when_the_reply_is_dropped() -> None:
    p = Playout()
    p.held = False
    p.begin("r1")
    p.push_audio("r1", A * 3)
    played: list[bool] = []
    p.when_played("r1", played.append)
    p.next_frame(0)
    p.cancel("r1")
    assert played == [False]


def test_drop_cuts_a_reply_at_a_frame_boundary_and_keeps_the_pause() -> None:
    filler, answer = b"\x33" * 160, b"\x44" * 160
    p = Playout()
    p.held = False
    p.begin("filler")
    p.push_audio("filler", filler * 3)
    assert p.next_frame(0) == filler
    p.paused = True
    assert p.drop("filler") == ""
    assert p.paused  # unlike cancel (a barge-in), dropping keeps a pause
    p.paused = False
    p.begin("answer")
    p.push_audio("answer", answer)
    assert drain(p, 2) == [answer, None]  # no half frame of the filler, straight on


def test_clear_forgets_every_reply_its_audio_and_callbacks_uncalled() -> None:
    p = Playout()
    p.held = False
    called: list[object] = []
    p.begin("line")
    p.when_first_played("line", called.append)
    p.when_played("line", called.append)
    p.begin("reply")
    p.push_audio("reply", b"\x44" * 320)
    p.clear()
    assert p.next_frame(0) is None and not p.pending
    assert called == []  # the call is over: no one listens
    assert p.first_played_at("line") is None and p.played_ms("reply") == 0


async def test_played_waits_for_the_last_frame_or_the_drop() -> None:
    p = Playout()
    p.held = False
    p.begin("r1")
    p.push_audio("r1", A * 2)
    p.finish("r1")
    waiting = asyncio.ensure_future(played(p, "r1"))
    await asyncio.sleep(0)
    drain(p, 1)
    await asyncio.sleep(0)
    assert not waiting.done()  # one frame still to go
    drain(p, 1)
    assert await waiting is True
    p.begin("r2")
    p.push_audio("r2", A)
    dropped = asyncio.ensure_future(played(p, "r2"))
    await asyncio.sleep(0)
    p.cancel("r2")
    assert await dropped is False
    assert await played(p, "unknown") is True  # over and forgotten: nothing to wait for


def test_cancel_takes_frames_the_leg_held_unheard_off_what_was_heard() -> None:
    """A Twilio stream still held the last frames sent: the caller heard the text before them."""
    recalled: list[int] = []

    def recall() -> int:
        recalled.append(2)
        return 2  # the last two frames sent never played

    p = Playout(recall=recall)
    p.held = False
    p.begin("r1")
    p.add_text("r1", "Hello there. How are you?")
    p.push_audio("r1", A * 2, text="Hello ")
    p.push_audio("r1", A * 2, text="there. How are you?")
    drain(p, 4)  # everything went out: on SIP all of it was heard
    assert p.heard_text("r1") == "Hello there. How are you?"
    assert p.cancel("r1") == "Hello" and recalled == [2]


def test_a_pause_puts_the_frames_the_leg_held_back_and_a_resume_plays_them() -> None:
    unheard = [0]
    p = Playout(recall=lambda: unheard[0])
    p.held = False
    p.begin("r1")
    p.add_text("r1", "Hello there. How are you?")
    p.push_audio("r1", b"\x01" * 160 + b"\x02" * 160, text="Hello ")
    p.push_audio("r1", b"\x03" * 160 + b"\x04" * 160, text="there. How are you?")
    assert drain(p, 3) == [b"\x01" * 160, b"\x02" * 160, b"\x03" * 160]
    unheard[0] = 2  # the leg still held frames 2 and 3
    p.paused = True
    assert p.heard_text("r1") == "Hello" and p.pending and not p.audible  # chunk 1 is "Hello "
    unheard[0] = 0
    p.paused = False
    assert drain(p, 4) == [b"\x02" * 160, b"\x03" * 160, b"\x04" * 160, None]
    assert p.heard_text("r1") == "Hello there. How are you?"


def test_a_pause_then_a_barge_in_drops_what_the_leg_held() -> None:
    unheard = [1]
    p = Playout(recall=lambda: unheard[0])
    p.held = False
    p.begin("r1")
    p.add_text("r1", "Hello there. How are you?")
    p.push_audio("r1", A * 2, text="Hello ")
    p.push_audio("r1", A * 2, text="there. How are you?")
    drain(p, 3)
    p.paused = True  # frame 3 comes back unheard
    unheard[0] = 0  # nothing is in flight any more when the barge-in commits
    assert p.cancel("r1") == "Hello"
    assert drain(p, 2) == [None, None]


def test_a_recall_past_the_reply_counts_nothing_heard() -> None:
    p = Playout(recall=lambda: 10)
    p.held = False
    p.begin("r1")
    p.add_text("r1", "One two three four five six.")
    p.push_audio("r1", A * 8)
    drain(p, 3)
    assert p.cancel("r1") == ""  # 10 unheard > 3 played: not a word was heard


def test_on_sip_no_sent_frames_are_kept() -> None:
    """Only a leg that holds audio can recall it: without ``recall`` the last second sent is
    not kept (50 frames, about 9 KB a call)."""
    p = Playout()
    p.held = False
    p.begin("r1")
    p.push_audio("r1", A * 60)
    drain(p, 60)
    assert len(p._sent) == 0
    with_recall = Playout(recall=lambda: 0)
    with_recall.held = False
    with_recall.begin("r1")
    with_recall.push_audio("r1", A * 60)
    drain(with_recall, 60)
    assert len(with_recall._sent) == 50


def frames_of(*octets: int) -> bytes:
    return b"".join(bytes([o]) * 160 for o in octets)


def test_a_kept_reply_starts_over_from_its_first_frame() -> None:
    """An opening the callee talked over plays again whole: the frames that went out go
    back to the head of the queue, ahead of the rest, and count as not heard."""
    p = Playout()
    p.begin("r1")
    p.add_text("r1", "Hi there")
    p.push_audio("r1", frames_of(1, 2, 3, 4))
    p.finish("r1")
    p.keep("r1", 1.0)
    p.held = False
    assert drain(p, 2) == [frames_of(1), frames_of(2)]
    assert p.rewindable("r1") and p.rewind("r1")
    assert p.played_ms("r1") == 0 and p.heard_text("r1") == ""
    p.begin("r2")
    p.push_audio("r2", frames_of(9))  # queued after it: plays after all of r1
    assert drain(p, 6) == [*(frames_of(o) for o in (1, 2, 3, 4, 9)), None]
    assert p.finished("r1") and not p.rewindable("r1")  # heard whole: not said again


def test_a_reply_played_longer_than_kept_cannot_start_over() -> None:
    p = Playout()
    p.held = False
    p.begin("r1")
    p.push_audio("r1", frames_of(1, 2, 3, 4))
    p.keep("r1", 0.04)  # two frames
    drain(p, 3)
    assert not p.rewindable("r1") and not p.rewind("r1")
    assert drain(p, 2) == [frames_of(4), None]  # nothing changed


def test_keep_starts_before_the_first_frame_only_and_zero_forgets() -> None:
    p = Playout()
    p.held = False
    p.begin("r1")
    p.push_audio("r1", frames_of(1, 2, 3))
    drain(p, 1)
    p.keep("r1", 1.0)  # already playing: its first frame was not kept
    assert not p.rewindable("r1")
    p.begin("r2")
    p.push_audio("r2", frames_of(5, 6))
    p.keep("r2", 1.0)
    p.keep("r2", 0)
    assert not p.rewindable("r2") and not p.rewind("unknown")


def test_frames_a_leg_recalls_are_not_kept_twice() -> None:
    """A pause recalls what the leg held unheard (they return to the queue): a rewind
    after it plays each frame once."""
    p = Playout(recall=lambda: 1)
    p.held = False
    p.begin("r1")
    p.push_audio("r1", frames_of(1, 2, 3))
    p.keep("r1", 1.0)
    drain(p, 2)
    p.paused = True  # the leg never played frame 2: back to the queue
    p.paused = False
    assert p.rewind("r1")
    assert drain(p, 4) == [frames_of(1), frames_of(2), frames_of(3), None]


# --------------------------------------------------------------------------- 16 kHz (issue 43)

W = b"\x11\x01" * 320  # 20 ms of 16 kHz s16le


def ulaw_tone(hz: float, seconds: float) -> bytes:
    return g711.linear_to_ulaw(pcm_tone(hz, seconds, 8000))


def pcm_tone(hz: float, seconds: float, rate: int) -> bytes:
    samples = tone_samples(hz, seconds, -12.0, rate)
    return b"".join(s.to_bytes(2, "little", signed=True) for s in samples)


def test_a_16_khz_playout_recuts_its_own_audio_untouched_and_pads_with_zeros() -> None:
    """On an HD-voice call the playout hands out 640-octet frames of the TTS's s16le as it
    came, in chunks that split samples, and pads the last one with zero samples (not μ-law's
    0xFF, a full-scale click in s16le)."""
    p = Playout(format=PCM16_16K)
    p.held = False
    p.begin("r1")
    audio = W * 2 + b"\x22\x02" * 50
    for start in range(0, len(audio), 333):  # odd chunks: samples split across pushes
        p.push_audio("r1", audio[start : start + 333], format=PCM16_16K)
    p.finish("r1")
    frames = drain(p, 4)
    assert frames[:2] == [W, W] and frames[3] is None
    assert frames[2] == b"\x22\x02" * 50 + bytes(540)


def test_mulaw_audio_on_a_16_khz_playout_is_converted_once_frame_for_frame() -> None:
    """A line recorded in 8 kHz μ-law (the fallback cache, the shipped prompts) on an HD-voice
    call: each 20 ms in is 20 ms out, 640 octets of 16 kHz s16le, its tone kept; after a
    reply's own 16 kHz audio its partial frame is padded first."""
    p = Playout(format=PCM16_16K)
    p.held = False
    p.begin("r1")
    p.push_audio("r1", W + b"\x22\x02" * 10, format=PCM16_16K)  # TTS audio, 21 ms
    line = ulaw_tone(1000, 0.5)
    p.push_audio("r1", line[:1001], format=ULAW_8K)  # the fallback line, in two pushes
    p.push_audio("r1", line[1001:], format=ULAW_8K)
    p.finish("r1")
    frames = [f for f in drain(p, 40) if f is not None]
    assert frames[0] == W and frames[1] == b"\x22\x02" * 10 + bytes(620)
    converted = frames[2:]
    assert len(converted) == 25 and {len(f) for f in converted} == {640}  # 0.5 s, 25 frames
    samples = memoryview(b"".join(converted[1:])).cast("h").tolist()
    assert goertzel_dbfs(samples, 1000, 16000) > rms_dbfs(samples) - 1.5
    assert p.finished("r1")


@pytest.mark.parametrize("audio", [ULAW_8K, PCM16_16K], ids=["8k-ulaw", "16k-s16le"])
def test_barge_in_and_what_was_heard_are_the_same_in_16_khz_frames(audio: AudioFormat) -> None:
    """The accounting is in frames, whatever their size: 1 s of a line without alignment,
    30 frames played, then a pause that takes back the 10 a leg still held, and a barge-in:
    the same text is heard, the same milliseconds played, at 8 kHz and at 16 kHz."""
    unheard = [0]
    p = Playout(recall=lambda: unheard[0], format=audio)
    p.held = False
    p.begin("r1")
    p.add_text("r1", "One two three four five six seven eight nine ten.")
    p.push_audio("r1", bytes([0x11]) * (audio.frame_bytes * 50), format=audio)
    p.finish("r1")
    sent = drain(p, 30)
    assert {len(f) for f in sent if f is not None} == {audio.frame_bytes}
    assert p.played_ms("r1") == 600
    unheard[0] = 10
    p.paused = True  # the 10 frames come back to the head of the queue
    unheard[0] = 0
    assert p.played_ms("r1") == 400
    assert p.cancel("r1") == "One"  # 0.4 s at 15 characters a second: "One tw"
    assert drain(p, 2) == [None, None]


def test_hold_music_in_mulaw_plays_converted_on_a_16_khz_playout() -> None:
    """Hold music (μ-law) under a 16 kHz voice: converted as it plays, seamless across its
    loop; on an 8 kHz playout its frames go as they are."""
    music = ulaw_tone(440, 0.1)
    wide = Playout(format=PCM16_16K)
    wide.held = False
    wide.play_background(HoldMusic(music), ULAW_8K)
    frames = [f for f in drain(wide, 12) if f is not None]  # the 5-frame loop, twice round
    assert len(frames) == 12 and {len(f) for f in frames} == {640}
    samples = memoryview(b"".join(frames[1:])).cast("h").tolist()
    assert goertzel_dbfs(samples, 440, 16000) > rms_dbfs(samples) - 1.5
    narrow = Playout()
    narrow.held = False
    narrow.play_background(HoldMusic(music), ULAW_8K)
    assert b"".join(f or b"" for f in drain(narrow, 5)) == music
    narrow.play_background(None)
    assert narrow.background is None and drain(narrow, 1) == [None]


@pytest.mark.parametrize("audio", [ULAW_8K, PCM16_16K], ids=["ulaw", "s16le"])
def test_a_ducked_playout_plays_on_softer_and_back_at_full_level(audio: AudioFormat) -> None:
    """Ducked, the replies' frames go out ``duck_db`` softer, in order (nothing skipped);
    unducked, at their level again."""
    p = Playout(format=audio)
    p.held = False
    p.begin("r1")
    pcm = pcm_tone(1000, 0.1, audio.sample_rate)
    p.push_audio("r1", g711.linear_to_ulaw(pcm) if audio is ULAW_8K else pcm, format=audio)
    p.finish("r1")

    def level(frame: bytes | None) -> float:
        assert frame is not None
        linear = g711.ulaw_to_linear(frame) if audio is ULAW_8K else frame
        return rms_dbfs(memoryview(linear).cast("h").tolist())

    full = level(p.next_frame(0.0))
    p.duck_db = 12.0
    ducked = [level(p.next_frame(0.02 * i)) for i in (1, 2)]
    assert p.audible and all(abs(full - 12.0 - d) < 0.5 for d in ducked), (full, ducked)
    p.duck_db = None
    assert abs(level(p.next_frame(0.06)) - full) < 0.5
    assert p.played_ms("r1") == 80  # four frames out of five: none skipped while ducked


def test_the_talk_tally_hears_the_replies_go_out_and_stop_not_the_hold_music() -> None:
    """Who talks when (sipgw.agent.talk): a reply's frames are the agent speaking, its first
    a reply starting; held, paused, an empty queue and the background are not."""
    p = Playout()
    p.talk = tally = TalkTally()
    tally.answered(0.0)
    p.begin("r1")
    p.push_audio("r1", A * 3)
    p.next_frame(0.5)  # held: nothing went out
    p.held = False
    p.next_frame(1.0)  # r1 from 1.0
    p.next_frame(1.02)
    p.paused = True
    p.next_frame(1.04)  # paused
    tally.caller_started(1.6)
    p.paused = False
    p.next_frame(1.9)  # r1's last frame, over the caller: it goes on, no new reply
    p.play_background(iter([A] * 10))
    p.next_frame(1.92)  # hold music: no speech
    tally.caller_stopped(2.0)
    p.begin("r2")
    p.push_audio("r2", A)
    p.next_frame(3.0)
    p.next_frame(3.02)
    figures = tally.figures(4.0)
    assert figures is not None
    assert figures.agent_talk_s == 0.08  # 1.0-1.04, 1.9-1.92, 3.0-3.02
    assert (figures.first_word_s, figures.caller_cut_off, figures.talk_over_s) == (1.0, 0, 0.02)
