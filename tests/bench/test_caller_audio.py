"""Noisy callers for the capacity bench: the loop (bench/caller_audio.py), the load generator
sending it (bench.loadgen --audio-file) and bench.capacity's options for both."""

from __future__ import annotations

import argparse
import asyncio
import math
import shutil
import socket
import wave
from pathlib import Path

import pytest

from bench.capacity import build_parser, describe_callers
from bench.capacity_steps import assistant_env, caller_audio, loadgen_args, stt_script_flags
from bench.loadgen import LoadGenerator, Options, read_loop
from sipgw.app.evaluation.fakes.assemblyai_script import CallerScript
from sipgw.media import g711

pytestmark = pytest.mark.skipif(
    shutil.which("espeak-ng") is None or shutil.which("sox") is None,
    reason="the noisy callers are made with espeak-ng and sox",
)

from bench.caller_audio import FRAME, ROOM_TEXTS, SENTENCES, NoisyCaller, noisy_loop  # noqa: E402
from tests.toolkit.amdset.speech import Voice  # noqa: E402
from tests.toolkit.noisy_audio import room_voices  # noqa: E402
from tests.toolkit.voice_identity import same_audio  # noqa: E402


def frame_dbfs(frame: bytes) -> float:
    pcm = g711.ulaw_to_linear(frame)
    samples = [int.from_bytes(pcm[i : i + 2], "little", signed=True) for i in range(0, 320, 2)]
    level = math.sqrt(sum(s * s for s in samples) / len(samples))
    return 20 * math.log10(max(level, 1.0) / 32768)


def power_mean(frames: list[bytes]) -> float:
    return 10 * math.log10(sum(10 ** (frame_dbfs(f) / 10) for f in frames) / len(frames))


def segment_levels(loop: bytes, seconds: float, segments: int) -> list[tuple[float, float]]:
    """Per segment: the level (RMS) of its first second (the sentence over the background)
    and of its last second (the background alone), in dBFS."""
    frames = [loop[i : i + FRAME] for i in range(0, len(loop), FRAME)]
    per = int(seconds / 0.02)
    assert len(frames) == per * segments
    out = []
    for k in range(segments):
        seg = frames[k * per : (k + 1) * per]
        out.append((power_mean(seg[:50]), power_mean(seg[-50:])))
    return out


def test_the_loop_is_a_sentence_over_each_background_and_never_silent() -> None:
    loop = noisy_loop(NoisyCaller(snr_db=10.0, backgrounds=("babble", "street"), every=4.0))
    assert len(loop) % FRAME == 0
    levels = segment_levels(loop, 4.0, 2)
    for head, tail in levels:
        assert head > tail + 5  # speech at -20 dBFS over a background 10 dB under it
        assert -40 < tail < -22
    frames = [loop[i : i + FRAME] for i in range(0, len(loop), FRAME)]
    assert min(frame_dbfs(f) for f in frames) > -50  # no frame the model would skip


def test_the_snr_sets_the_background_under_the_same_speech() -> None:
    quiet = segment_levels(noisy_loop(NoisyCaller(20.0, ("pink",), 5.0)), 5.0, 1)[0]
    loud = segment_levels(noisy_loop(NoisyCaller(5.0, ("pink",), 5.0)), 5.0, 1)[0]
    assert loud[1] - quiet[1] == pytest.approx(15.0, abs=1.5)


def test_a_recorded_caller_takes_the_sentences_place(tmp_path: Path) -> None:
    seconds = 5.0  # longer than a segment: the segment grows to hold it
    samples = [round(6000 * math.sin(2 * math.pi * 440 * i / 8000)) for i in range(40000)]
    path = tmp_path / "caller.wav"
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"".join(s.to_bytes(2, "little", signed=True) for s in samples))
    loop = noisy_loop(NoisyCaller(10.0, ("pink", "street"), every=2.0, voice=path))
    assert len(loop) == 2 * int(seconds / 0.02) * FRAME
    (head, tail), _ = segment_levels(loop, seconds, 2)
    assert abs(head - tail) < 1.5  # the tone lasts the whole segment at one level


def test_unknown_backgrounds_are_refused() -> None:
    with pytest.raises(ValueError, match="backgrounds"):
        NoisyCaller(backgrounds=("rain",))


def test_the_load_generator_sends_the_loop_each_call_from_its_own_point(tmp_path: Path) -> None:
    loop = bytes(range(256)) * 5  # 8 distinct frames
    path = tmp_path / "loop.ulaw"
    path.write_bytes(loop + b"\x00" * 10)  # a partial frame at the end is dropped
    frames = read_loop(str(path))
    assert len(frames) == 8

    async def run() -> list[list[bytes]]:
        sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sink.bind(("127.0.0.1", 0))
        sink.settimeout(2.0)
        gen = LoadGenerator(
            Options(target=sink.getsockname(), calls=2, audio="file", audio_file=str(path))
        )
        await gen.open()
        gen.place(0)
        gen.place(1)
        calls = sorted(gen.calls.values(), key=lambda c: c.slot)
        for c in calls:
            c.sock.connect(sink.getsockname())
        gen._media_snapshot = tuple(calls)
        ticker = asyncio.create_task(gen.ticker())
        await asyncio.sleep(0.13)
        ticker.cancel()
        got: dict[int, list[bytes]] = {c.sock.getsockname()[1]: [] for c in calls}
        sink.setblocking(False)
        while True:
            try:
                data, addr = sink.recvfrom(2048)
            except BlockingIOError:
                break
            if addr[1] in got:  # not the INVITEs
                got[addr[1]].append(data[12:])
        out = [got[c.sock.getsockname()[1]] for c in calls]
        sink.close()
        for c in calls:
            c.sock.close()
        assert gen.transport is not None
        gen.transport.close()
        return out

    first, second = asyncio.run(run())
    assert len(first) >= 4 and len(second) >= 4
    start = frames.index(first[0])
    assert first == [frames[(start + k) % 8] for k in range(len(first))]
    assert second[0] == frames[(start + 4) % 8]  # two calls: half the loop apart
    assert second == [frames[(start + 4 + k) % 8] for k in range(len(second))]


def parse(*argv: str) -> argparse.Namespace:
    return build_parser().parse_args(list(argv))


def test_capacity_options_make_the_loop_and_pass_it_to_the_load_generator() -> None:
    args = parse("--caller-audio", "noisy", "--snr", "5", "--noise", "babble,tv")
    args.talk = None
    assert describe_callers(args) == (
        "noisy speech at 5 dB SNR over babble/tv, voice detector model"  # unasked: the model
    )
    with caller_audio(args):
        path = Path(args.audio_file)
        assert len(path.read_bytes()) == 2 * 300 * FRAME  # two 6 s segments
        lg = loadgen_args(("127.0.0.1", 5060), 3, args)
        assert lg[lg.index("--audio-file") + 1] == str(path)
        assert "--audio" not in lg and "--talk" not in lg
    assert not path.exists() and args.audio_file is None


def test_the_loops_script_says_who_speaks_and_the_stt_fake_reads_it() -> None:
    args = parse("--caller-audio", "noisy", "--noise", "babble,street")
    with caller_audio(args):
        script = CallerScript.load(Path(args.caller_script))
        flags = stt_script_flags(args)
        assert flags == ["--caller-script", args.caller_script, "--stt-room", "transcribed"]
    assert args.caller_script is None
    assert stt_script_flags(args) == []  # no loop, no script: turns on the audio's energy
    texts = [s.text for s in script.sentences]
    assert texts == [SENTENCES[0][1], SENTENCES[1][1]]
    assert [s.room_text for s in script.sentences] == [ROOM_TEXTS["babble"], None]
    for sentence in script.sentences:
        first, end = sentence.speech_span
        # the voice starts at the segment's start and takes 1.5-3 s of its 6 s
        assert first <= 3 and 75 <= end - first <= 150, sentence.voiced
        assert sentence.voiced == tuple(sorted(sentence.voiced))
    # nearly every frame of the loop is found in its table (a repeated one is left out)
    assert len(script.index) > 0.95 * script.frames


def test_tone_callers_and_the_detector_setting() -> None:
    args = parse("--talk", "0.8/6", "--voice-detector", "model")
    with caller_audio(args):
        lg = loadgen_args(("127.0.0.1", 5060), 3, args)
    assert lg[lg.index("--audio") + 1] == "tone" and "--audio-file" not in lg
    assert lg[lg.index("--talk") + 1] == "0.8/6"
    assert assistant_env(args) == {"SIPGW_VOICE_DETECTOR": "model"}
    # unasked, tone callers get the energy detector (no voice in a tone), noisy ones the model
    assert assistant_env(parse()) == {"SIPGW_VOICE_DETECTOR": "energy"}
    assert assistant_env(parse("--caller-audio", "noisy")) == {"SIPGW_VOICE_DETECTOR": "model"}
    assert describe_callers(args) == "tone in bursts 0.8/6, voice detector model"
    assert describe_callers(parse()) == "tone, voice detector energy"


def test_the_callers_voices_are_their_own_and_no_rooms() -> None:
    """By their samples (this espeak-ng ignores the variants of ``en-gb``): five voices, none
    the TV's reader or a babble's voice at another pitch."""
    callers = [Voice(name) for name, _ in SENTENCES]
    assert same_audio(callers) == []
    rooms = list(room_voices().values())
    assert same_audio([*callers, *rooms]) == same_audio(rooms)
