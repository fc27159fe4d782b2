"""The three AI-service fakes (AssemblyAI, OpenAI, ElevenLabs) in a process of their own.

Run from the repository root::

    .venv/bin/python -m bench.fake_services --json-ready

It starts the fakes of ``tests.toolkit.fakes`` on 127.0.0.1 (port 0 each), all on one event
loop (uvloop when installed), prints ONE JSON line on stdout::

    {"assemblyai_url": "ws://127.0.0.1:P/v3/ws", "openai_base_url": "http://127.0.0.1:Q/v1",
     "elevenlabs_base_url": "http://127.0.0.1:R",
     "keys": {"ASSEMBLYAI_API_KEY": "...", "OPENAI_API_KEY": "...", "ELEVENLABS_API_KEY": "..."}}

and serves until SIGTERM or SIGINT (then exits 0). Point a gateway at it with
``ASSEMBLYAI_STREAMING_URL``, ``OPENAI_BASE_URL``, ``ELEVENLABS_BASE_URL`` and the keys.

With ``--caller-script`` (a script ``bench.caller_audio`` wrote beside its loop of noisy
callers) the STT fake transcribes what each caller said, ending turns on the caller's
silence and not on the room's sound (``--stt-room``: whether the room's voices are
transcribed too; :mod:`sipgw.app.evaluation.fakes.assemblyai_script`). Without it, the
defaults suit a capacity run with many concurrent calls: every STT turn gets the
same transcript (``--transcript``; it ends with a period, so a turn ends after the
fake's ``min_turn_silence``), every LLM request the same one-sentence reply
(``--reply``, sent whole in the first content chunk after ``--llm-first-token-ms``),
and TTS audio is streamed at ``--tts-speed`` times real time after
``--tts-first-byte-ms``. Records of finished sessions are dropped every
``--prune-interval`` seconds, so memory stays flat over long runs. Without
``--json-ready`` a human-readable summary also goes to stderr. On SIGUSR1 it prints a line
``{"tally": {...}}`` on stdout: the requests the fakes got so far, and those the client
dropped (:mod:`sipgw.app.evaluation.fakes.tally`).

Faults (``--fault-every S``): every S seconds the next of ``--faults`` (default: all of
:data:`~sipgw.app.evaluation.fakes.faults.FAULTS`, each vendor in turn: disconnects,
5xx, stalls of ``--fault-stall`` seconds) is applied to the fakes
(:mod:`sipgw.app.evaluation.fakes.faults`), and a line ``fault {"t", "fault"}`` (wall
clock) goes to stderr for each.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
import sys
import time
from collections.abc import Sequence

from sipgw.app.evaluation.fakes.faults import FAULTS, FaultSchedule, apply_fault
from sipgw.app.evaluation.fakes.services import (
    KEYS,
    FakeServices,
    ServiceOptions,
    start_services,
)

__all__ = ["build_parser", "main"]

log = logging.getLogger("bench.fake_services")


def build_parser() -> argparse.ArgumentParser:
    """The command line."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.fake_services",
        description="Run the AssemblyAI, OpenAI and ElevenLabs fakes on 127.0.0.1 until "
        "SIGTERM/SIGINT; print one JSON line with their URLs and keys.",
    )
    defaults = ServiceOptions()
    parser.add_argument(
        "--json-ready",
        action="store_true",
        help="print only the JSON ready line (no human-readable summary on stderr)",
    )
    parser.add_argument(
        "--stt-final-latency",
        type=float,
        metavar="MS",
        default=defaults.stt_final_latency_ms,
        help="delay of the final transcript after the end of turn (default %(default)s)",
    )
    parser.add_argument(
        "--stt-min-turn-silence",
        type=int,
        metavar="MS",
        default=defaults.stt_min_turn_silence_ms,
        help="silence that ends a turn (the server default; default %(default)s)",
    )
    parser.add_argument(
        "--transcript",
        default=defaults.transcript,
        help="the transcript of every turn (end it with . ? or !; default %(default)r)",
    )
    parser.add_argument(
        "--caller-script",
        metavar="PATH",
        help="a caller script (bench.caller_audio): transcribe what each caller said, ending "
        "turns on the caller's silence (default: turns on the audio's energy, --transcript)",
    )
    parser.add_argument(
        "--stt-room",
        choices=("silent", "transcribed"),
        default=defaults.stt_room,
        help="with --caller-script: whether the room's voices (babble, TV) are transcribed as "
        "turns of their own (default %(default)s)",
    )
    parser.add_argument(
        "--llm-first-token-ms",
        type=float,
        metavar="MS",
        default=defaults.llm_first_token_ms,
        help="delay before the LLM's first chunk (default %(default)s)",
    )
    parser.add_argument(
        "--reply",
        default=defaults.reply,
        help="the LLM's answer to every request, one chunk (default %(default)r)",
    )
    parser.add_argument(
        "--tts-first-byte-ms",
        type=float,
        metavar="MS",
        default=defaults.tts_first_byte_ms,
        help="delay before each utterance's first audio byte (default %(default)s)",
    )
    parser.add_argument(
        "--tts-speed",
        type=float,
        metavar="X",
        default=defaults.tts_speed,
        help="TTS streaming pace in multiples of real time; 0 = as fast as possible "
        "(default %(default)s)",
    )
    parser.add_argument(
        "--tts-ms-per-char",
        type=int,
        metavar="MS",
        default=defaults.tts_ms_per_char,
        help="speech length per character (default %(default)s)",
    )
    parser.add_argument(
        "--prune-interval",
        type=float,
        metavar="S",
        default=30.0,
        help="forget finished sessions this often; 0 = never (default %(default)s)",
    )
    parser.add_argument(
        "--fault-every",
        type=float,
        metavar="S",
        default=0.0,
        help="apply the next fault every S seconds; 0 = none (default %(default)s)",
    )
    parser.add_argument(
        "--faults",
        default=",".join(FAULTS),
        help="the faults, cycled in this order (default: all, %(default)s)",
    )
    parser.add_argument(
        "--fault-stall",
        type=float,
        metavar="S",
        default=5.0,
        help="how long a stall lasts, and how late it makes answers (default %(default)s)",
    )
    parser.add_argument("--log-level", default="WARNING", help="default %(default)s")
    return parser


async def _faults(
    services: FakeServices, schedule: FaultSchedule, stall: float, reply: str
) -> None:
    """Apply each fault when due; end each stall ``stall`` seconds later."""
    loop = asyncio.get_running_loop()
    while True:
        await asyncio.sleep(max(0.0, schedule.next_at() - loop.time()))
        for fault in schedule.due(loop.time()):
            line: dict[str, object] = {
                "t": round(time.time(), 3),
                "fault": fault,
                "n": schedule.applied,
            }
            try:
                undo = apply_fault(services, fault, stall=stall, reply=reply)
            except Exception as exc:  # reported; the schedule goes on
                line["error"] = f"{type(exc).__name__}: {exc}"
            else:
                if undo is not None:
                    loop.call_later(stall, undo)
            sys.stderr.write(f"fault {json.dumps(line)}\n")
            sys.stderr.flush()


def _print_tally(services: FakeServices) -> None:
    """SIGUSR1: one line ``{"tally": {...}}`` on stdout, what the fakes were asked for so
    far (:mod:`sipgw.app.evaluation.fakes.tally`)."""
    sys.stdout.write(json.dumps({"tally": services.tally()}) + "\n")
    sys.stdout.flush()


async def _serve(
    options: ServiceOptions,
    json_only: bool,
    prune_interval: float,
    faults: argparse.Namespace,
) -> int:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    services = await start_services(options)
    loop.add_signal_handler(signal.SIGUSR1, _print_tally, services)
    injector: asyncio.Task[None] | None = None
    if faults.fault_every > 0:
        names = [f.strip() for f in faults.faults.split(",") if f.strip()]
        schedule = FaultSchedule(names, faults.fault_every, loop.time() + faults.fault_every)
        injector = loop.create_task(
            _faults(services, schedule, faults.fault_stall, options.reply), name="faults"
        )
    try:
        ready = services.ready_line()
        sys.stdout.write(json.dumps(ready) + "\n")
        sys.stdout.flush()
        if not json_only:
            print(
                "fake services ready (Ctrl-C stops them); for the gateway:\n"
                f"  ASSEMBLYAI_STREAMING_URL={ready['assemblyai_url']}\n"
                f"  OPENAI_BASE_URL={ready['openai_base_url']}\n"
                f"  ELEVENLABS_BASE_URL={ready['elevenlabs_base_url']}\n"
                + "".join(f"  {name}={value}\n" for name, value in KEYS.items()),
                file=sys.stderr,
                flush=True,
            )
        while not stop.is_set():
            if prune_interval > 0:
                try:
                    await asyncio.wait_for(stop.wait(), prune_interval)
                except TimeoutError:
                    dropped = services.prune()
                    log.debug("pruned %d finished records", dropped)
            else:
                await stop.wait()
    finally:
        if injector is not None:
            injector.cancel()
        await services.aclose()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.fault_every > 0 and args.fault_stall >= args.fault_every:
        parser.error("--fault-stall must be shorter than --fault-every (one stall at a time)")
    try:
        FaultSchedule([f.strip() for f in args.faults.split(",") if f.strip()], 1.0, 0.0)
    except ValueError as exc:
        parser.error(f"--faults: {exc}")
    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr)
    options = ServiceOptions(
        stt_final_latency_ms=args.stt_final_latency,
        stt_min_turn_silence_ms=args.stt_min_turn_silence,
        transcript=args.transcript,
        caller_script=args.caller_script,
        stt_room=args.stt_room,
        llm_first_token_ms=args.llm_first_token_ms,
        reply=args.reply,
        tts_first_byte_ms=args.tts_first_byte_ms,
        tts_speed=args.tts_speed,
        tts_ms_per_char=args.tts_ms_per_char,
    )
    coro = _serve(options, args.json_ready, args.prune_interval, args)
    try:
        import uvloop
    except ImportError:  # not on Linux
        return asyncio.run(coro)
    return uvloop.run(coro)


if __name__ == "__main__":
    sys.exit(main())
