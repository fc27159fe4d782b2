"""CPU of the in-band DTMF detector per 20 ms frame, and its talk-off on a labelled set.

    python -m bench.dtmf_detect [--seconds 8] [--repeats 5] [--talk-off speech music babble]
                                [--json PATH]

Cost: :class:`sipgw.media.tones.dtmf_detect.DtmfToneDetector` alone, fed 20 ms frames of silence,
espeak-ng speech (``bench.media_core``'s), babble (five voices mixed by sox) and key tones
(every key, 100 ms on, 100 ms off), at 8 kHz (G.711 calls) and 16 kHz (G.722 and Opus),
in CPU time (``time.process_time``), ``--repeats`` rounds, the median reported; and a PCMU
call's per-tick session work (a packet received, a frame played out: ``MediaSession.receive``
and ``caller_frame``) carrying that speech with ``inband_dtmf`` off and on, the difference
being what a call that listens pays. The detector runs only on calls that listen (no
telephone-event agreed, or ``SIPGW_INBAND_DTMF=on``).

Talk-off: every sample of the labelled set (tests.toolkit.dtmf_audio: speech from
espeak-ng, and flite and festival when present; chords, sweeps and a melody from sox;
babble), through μ-law, and the digits the detector reported in it (there should be none);
then how many of the 16 keys it heard in a run of 40 ms presses 40 ms apart with white
noise 15 dB below them. Needs Debian's ``espeak-ng`` and ``sox``.
"""

from __future__ import annotations

import argparse
import statistics
import time
from array import array
from collections.abc import Sequence
from typing import Any

from bench._harness import fmt, format_table, log, machine_info, write_json
from bench.media_core import speech
from sipgw.media import _accel, g711
from sipgw.media.rtp import RtpPacket
from sipgw.media.session import MediaSession, StreamParams
from sipgw.media.tones.dtmf_detect import DtmfToneDetector
from tests.toolkit.dtmf_audio import heard, key_tones, noise, talk_off_set
from tests.toolkit.noisy_audio import background

TICK_US = 20_000
KEYS = "0123456789*#ABCD"
GROUPS = ("speech", "music", "babble")


def _frames(pcm: bytes, rate: int) -> list[bytes]:
    size = rate // 50 * 2
    return [pcm[i : i + size] for i in range(0, len(pcm) - size + 1, size)]


def _signals(rate: int, seconds: float) -> dict[str, bytes]:
    """Each signal as s16le at ``rate``, ``seconds`` long (looped)."""
    count = int(rate * seconds)

    def looped(pcm: bytes) -> bytes:
        return (pcm * (count * 2 // len(pcm) + 1))[: count * 2]

    babble = array("h", background("babble", seconds, 200)).tobytes()
    if rate != 8000:
        babble = g711.resample(babble, 8000, rate, None)[0]
    return {
        "silence": bytes(count * 2),
        "speech (espeak-ng)": looped(speech(rate)),
        "babble (5 voices)": looped(babble),
        "key tones": looped(array("h", key_tones(KEYS, 100, 100, rate=rate)).tobytes()),
    }


def _detector_us(frames: Sequence[bytes], rate: int) -> float:
    detector = DtmfToneDetector(rate)
    push = detector.push
    start = time.process_time()
    for frame in frames:
        push(frame)
    return (time.process_time() - start) / len(frames) * 1e6


def _session_us(frames: Sequence[bytes], mode: str) -> float:
    """µs per tick of a PCMU call's receive and playout carrying ``frames`` (8 kHz)."""
    session = MediaSession(StreamParams(("127.0.0.1", 40000)), now=0.0, inband_dtmf=mode)
    packets = [
        RtpPacket(0, n & 0xFFFF, n * 160, 7, payload=g711.linear_to_ulaw(frame)).serialize()
        for n, frame in enumerate(frames)
    ]
    source = ("127.0.0.1", 40000)
    start = time.process_time()
    for n, packet in enumerate(packets):
        now = n * 0.02
        session.receive(packet, source, now)
        session.caller_frame(now + 0.04)
    return (time.process_time() - start) / len(packets) * 1e6


def _talk_off(groups: Sequence[str]) -> dict[str, Any]:
    samples = talk_off_set(groups)
    result: dict[str, Any] = {}
    for group in groups:
        members = [s for s in samples if s.group == group]
        found = {s.name: "".join(p.digit for p in heard(list(s.samples))) for s in members}
        result[group] = {
            "samples": len(members),
            "seconds": round(sum(s.seconds for s in members), 1),
            "digits": sum(len(d) for d in found.values()),
            "with_digits": {name: d for name, d in found.items() if d},
            "engines": sorted({s.name.split(":")[0] for s in members}),
        }
    return result


def _noisy_keys(seeds: int = 5) -> dict[str, int]:
    """Keys heard of 16 pressed 40 ms on and 40 ms off, 15 dB SNR, ``seeds`` noises."""
    got = [
        "".join(p.digit for p in heard(noise(key_tones(KEYS, 40, 40), 15.0, seed=seed)))
        for seed in range(seeds)
    ]
    return {
        "pressed": seeds * len(KEYS),
        "heard": sum(len(g) for g in got),
        "right": sum(g == KEYS for g in got) * len(KEYS),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=8.0, help="audio per cost case")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument(
        "--talk-off", nargs="*", default=list(GROUPS), choices=GROUPS,
        help="groups of the talk-off set to run (none: skip it)",
    )  # fmt: skip
    parser.add_argument("--json", default=None, help="where to write the JSON ('-': stdout)")
    args = parser.parse_args(argv)
    log(f"media path: {_accel.PATH}; cost: {args.repeats} rounds of {args.seconds:g} s")
    cost: dict[str, dict[str, Any]] = {}
    for rate in (8000, 16000):
        for name, pcm in _signals(rate, args.seconds).items():
            frames = _frames(pcm, rate)
            runs = [_detector_us(frames, rate) for _ in range(args.repeats)]
            cost[f"{name}, {rate // 1000} kHz"] = {
                "us_runs": runs,
                "us_median": statistics.median(runs),
                "core_percent": statistics.median(runs) / TICK_US * 100,
            }
    speech_frames = _frames(speech(8000), 8000)
    session: dict[str, Any] = {}
    for mode in ("off", "on"):
        runs = [_session_us(speech_frames, mode) for _ in range(args.repeats)]
        session[mode] = {"us_runs": runs, "us_median": statistics.median(runs)}
    session["listening_costs_us"] = session["on"]["us_median"] - session["off"]["us_median"]
    log("talk-off set" if args.talk_off else "no talk-off set")
    figures: dict[str, Any] = {
        "path": _accel.PATH,
        "detector_us_per_frame": cost,
        "pcmu_call_tick_us": session,
        "talk_off": _talk_off(args.talk_off) if args.talk_off else {},
        "keys_at_15_db_snr": _noisy_keys(),
    }
    data = {"machine": machine_info(), "params": vars(args), "figures": figures}
    machine = data["machine"]
    print(f"media path: {_accel.PATH}; {machine['cpu_model']}, load {machine['loadavg_at_start']}")
    print(format_table(
        ["detector, 20 ms frame", "µs (median)", "% of a core"],
        [[name, fmt(c["us_median"], ".1f"), fmt(c["core_percent"], ".3f")]
         for name, c in cost.items()],
    ))  # fmt: skip
    print(format_table(
        ["PCMU call, one tick (receive + play out), speech", "µs (median)"],
        [["inband_dtmf off", fmt(session["off"]["us_median"], ".1f")],
         ["inband_dtmf on", fmt(session["on"]["us_median"], ".1f")],
         ["what listening costs", fmt(session["listening_costs_us"], ".1f")]],
    ))  # fmt: skip
    if figures["talk_off"]:
        print(format_table(
            ["talk-off group", "samples", "seconds", "digits reported", "engines / kinds"],
            [[group, str(r["samples"]), fmt(r["seconds"], ".1f"), str(r["digits"]),
              ", ".join(r["engines"])] for group, r in figures["talk_off"].items()],
        ))  # fmt: skip
    keys = figures["keys_at_15_db_snr"]
    print(f"keys at 15 dB SNR, 40 ms on / 40 ms off: {keys['heard']} of {keys['pressed']} heard")
    print(f"JSON: {write_json(data, args.json, 'dtmf_detect')}")


if __name__ == "__main__":
    main()
