"""CPU of a conference's mix per participant: the N-1 mix of one room, per 20 ms tick.

    python -m bench.conference [--sizes 3 10 50 250] [--seconds 4] [--repeats 3]
                               [--room narrow|wide|mixed] [--speaker] [--json PATH]

:class:`sipgw.media.conference.ConferenceMixer` alone, every participant an 8 kHz μ-law
call (the TwiML agent's frames; ``--room narrow``, an 8 kHz mix), or a 16 kHz linear one
(a G.722 call's agent frames: ``wide``, a 16 kHz mix), or every other one each (``mixed``:
a 16 kHz mix, each μ-law participant's frames resampled up and its mix low-passed and
down), speaking a tone of its own each tick (every participant
talking at once: the worst case; a silent one costs less, its frame is not decoded), one
``push`` and one ``pop`` per participant per tick, in CPU time (``time.process_time``),
``--repeats`` rounds, the median reported. The figure per participant should not grow with
the room's size (the total-minus-own mix: O(1) per participant). What a participant's call
costs besides (its RTP, jitter buffer, agent) is a call's cost, as ``bench.dial_cpu``
measures it.

``--speaker`` also measures what a room that asked for ``speaker`` events adds: each
participant's voice detector (:class:`sipgw.agent.multiparty.conference_speech.SpeechWatch`), its
one ``push`` per participant per tick timed alone over the same frames (talkspurts of the
tone, 600 ms, and 400 ms of quiet: speech starting and stopping), in µs per participant
a tick.
"""

from __future__ import annotations

import argparse
import math
import statistics
import struct
import time
from typing import Any

from bench._harness import fmt, format_table, log, machine_info, write_json
from sipgw.agent.multiparty.conference_speech import SpeechWatch
from sipgw.media import _accel, g711
from sipgw.media.bridge import room_rate
from sipgw.media.codecs.base import PCM16_16K, ULAW_8K, AudioFormat
from sipgw.media.conference import ConferenceMixer
from sipgw.media.voice.vad import VadEvent

TICK_US = 20_000


def _tone(hz: float, ticks: int) -> list[bytes]:
    """``ticks`` 20 ms μ-law frames of ``hz`` at -12 dBFS."""
    amplitude = 32767 * 10 ** (-12 / 20)
    pcm = struct.pack(f"<{ticks * 160}h", *(round(amplitude * math.sin(2 * math.pi * hz * i / 8000))
                                            for i in range(ticks * 160)))  # fmt: skip
    ulaw = g711.linear_to_ulaw(pcm)
    return [ulaw[i : i + 160] for i in range(0, len(ulaw), 160)]


def _wide_tone(hz: float, ticks: int) -> list[bytes]:
    """``ticks`` 20 ms 16 kHz linear frames of ``hz`` at -12 dBFS."""
    amplitude = 32767 * 10 ** (-12 / 20)
    w = 2 * math.pi * hz / 16000
    pcm = struct.pack(f"<{ticks * 320}h", *(round(amplitude * math.sin(w * i))
                                            for i in range(ticks * 320)))  # fmt: skip
    return [pcm[i : i + 640] for i in range(0, len(pcm), 640)]


def _formats(room: str, size: int) -> list[AudioFormat]:
    if room == "narrow":
        return [ULAW_8K] * size
    if room == "wide":
        return [PCM16_16K] * size
    return [PCM16_16K if n % 2 == 0 else ULAW_8K for n in range(size)]


def _run(size: int, ticks: int, room: str = "narrow") -> float:
    """CPU µs per participant per tick for a room of ``size``, all talking."""
    formats = _formats(room, size)
    mixer = ConferenceMixer(rate=room_rate(formats))
    frames = [(_tone if f == ULAW_8K else _wide_tone)(300 + 7 * n, 50)
              for n, f in enumerate(formats)]  # fmt: skip
    for n in range(size):
        mixer.join(n, formats[n])
    start = time.process_time()
    for t in range(ticks):
        for n in range(size):
            mixer.push(n, frames[n][t % 50])
            mixer.pop(n)
    spent = time.process_time() - start
    assert mixer.rounds >= ticks - 1 and mixer.dropped == 0
    return spent / ticks / size * 1e6


def _speaker_run(size: int, ticks: int, room: str = "narrow") -> float:
    """CPU µs per participant per tick of the voice detectors of a room of ``size``, each
    participant in talkspurts (30 ticks of its tone, 20 of quiet)."""
    formats = _formats(room, size)
    quiet = {f: bytes([f.silence_octet]) * f.frame_bytes for f in set(formats)}
    frames = [[tone if t % 50 < 30 else quiet[formats[n]] for t, tone in enumerate(
        (_tone if formats[n] == ULAW_8K else _wide_tone)(300 + 7 * n, 50))]
        for n in range(size)]  # fmt: skip
    watches = [SpeechWatch(f) for f in formats]
    started = 0
    start = time.process_time()
    for t in range(ticks):
        for n in range(size):
            started += watches[n].push(frames[n][t % 50]) is VadEvent.STARTED
    spent = time.process_time() - start
    assert ticks < 60 or started >= size  # the detectors did hear the talkspurts
    return spent / ticks / size * 1e6


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[3, 10, 50, 250])
    parser.add_argument("--seconds", type=float, default=4.0, help="of audio per round")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--room", choices=("narrow", "wide", "mixed"), default="narrow",
                        help="the participants' formats (and so the mix's rate)")  # fmt: skip
    parser.add_argument("--speaker", action="store_true",
                        help="also time the voice detectors of speaker events")  # fmt: skip
    parser.add_argument("--json", default=None, help="where to write the JSON ('-': stdout)")
    args = parser.parse_args(argv)
    ticks = round(args.seconds * 50)
    log(
        f"media path: {_accel.PATH}; {args.room} room; {args.repeats} rounds of {ticks} ticks "
        "per room size"
    )
    rows: dict[str, Any] = {}
    for size in args.sizes:
        runs = [_run(size, ticks, args.room) for _ in range(args.repeats)]
        median = statistics.median(runs)
        rows[str(size)] = {"us_runs": runs, "us_per_participant_tick": median,
                           "core_percent_per_participant": median / TICK_US * 100}  # fmt: skip
        if args.speaker:
            runs = [_speaker_run(size, ticks, args.room) for _ in range(args.repeats)]
            rows[str(size)]["speaker_us_runs"] = runs
            rows[str(size)]["speaker_us_per_participant_tick"] = statistics.median(runs)
    data = {"machine": machine_info(), "params": vars(args), "figures": rows}
    machine = data["machine"]
    print(f"media path: {_accel.PATH}; {machine['cpu_model']}, load {machine['loadavg_at_start']}")
    speaker = ["speaker detector µs per participant a tick"] if args.speaker else []
    print(format_table(
        ["participants", "µs per participant a tick", "% of a core per participant", *speaker],
        [[size, fmt(r["us_per_participant_tick"], ".1f"),
          fmt(r["core_percent_per_participant"], ".3f"),
          *([fmt(r["speaker_us_per_participant_tick"], ".2f")] if speaker else [])]
         for size, r in rows.items()],
    ))  # fmt: skip
    print(f"JSON: {write_json(data, args.json, 'conference')}")


if __name__ == "__main__":
    main()
