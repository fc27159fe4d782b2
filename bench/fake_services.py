"""The three AI-service fakes (AssemblyAI, OpenAI, ElevenLabs) in a process of their own.

Run from the repository root::

    .venv/bin/python -m bench.fake_services --json-ready

It starts the fakes of ``tests/fakes`` on 127.0.0.1 (port 0 each), all on one event
loop (uvloop when installed), prints ONE JSON line on stdout::

    {"assemblyai_url": "ws://127.0.0.1:P/v3/ws", "openai_base_url": "http://127.0.0.1:Q/v1",
     "elevenlabs_base_url": "http://127.0.0.1:R",
     "keys": {"ASSEMBLYAI_API_KEY": "...", "OPENAI_API_KEY": "...", "ELEVENLABS_API_KEY": "..."}}

and serves until SIGTERM or SIGINT (then exits 0). Point a gateway at it with
``ASSEMBLYAI_STREAMING_URL``, ``OPENAI_BASE_URL``, ``ELEVENLABS_BASE_URL`` and the keys.

The defaults suit a capacity run with many concurrent calls: every STT turn gets the
same transcript (``--transcript``; it ends with a period, so a turn ends after the
fake's ``min_turn_silence``), every LLM request the same one-sentence reply
(``--reply``, sent whole in the first content chunk after ``--llm-first-token-ms``),
and TTS audio is streamed at ``--tts-speed`` times real time after
``--tts-first-byte-ms``. Records of finished sessions are dropped every
``--prune-interval`` seconds, so memory stays flat over long runs. Without
``--json-ready`` a human-readable summary also goes to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from tests.fakes.assemblyai import FakeAssemblyAI
from tests.fakes.elevenlabs import FakeElevenLabs
from tests.fakes.openai import FakeOpenAI, FakeResponse

__all__ = [
    "DEFAULT_REPLY",
    "DEFAULT_TRANSCRIPT",
    "KEYS",
    "FakeServices",
    "ServiceOptions",
    "build_parser",
    "main",
    "start_services",
]

KEYS: dict[str, str] = {
    "ASSEMBLYAI_API_KEY": "bench-assemblyai-key",
    "OPENAI_API_KEY": "sk-bench-openai-key",
    "ELEVENLABS_API_KEY": "bench-elevenlabs-key",
}
"""The API keys the fakes accept (printed in the ready line)."""
DEFAULT_TRANSCRIPT = "Hello, I have a question about my order."
DEFAULT_REPLY = "Thanks, I can help you with that."

log = logging.getLogger("bench.fake_services")


@dataclass(frozen=True)
class ServiceOptions:
    """How the fakes behave (milliseconds unless said otherwise)."""

    stt_final_latency_ms: float = 50.0
    stt_min_turn_silence_ms: int = 100
    stt_max_turn_silence_ms: int = 1000
    transcript: str = DEFAULT_TRANSCRIPT
    llm_first_token_ms: float = 100.0
    reply: str = DEFAULT_REPLY
    tts_first_byte_ms: float = 75.0
    tts_speed: float = 1.5
    tts_ms_per_char: int = 60


@dataclass
class FakeServices:
    """The three running fakes."""

    stt: FakeAssemblyAI
    llm: FakeOpenAI
    tts: FakeElevenLabs

    def ready_line(self) -> dict[str, Any]:
        """The JSON object announced on stdout."""
        return {
            "assemblyai_url": self.stt.url,
            "openai_base_url": self.llm.base_url,
            "elevenlabs_base_url": self.tts.base_url,
            "keys": dict(KEYS),
        }

    def prune(self) -> int:
        """Forget finished sessions and requests (call on the fakes' loop)."""
        return (
            self.stt.forget_ended_sessions()
            + self.llm.forget_finished()
            + self.tts.forget_finished()
        )

    async def aclose(self) -> None:
        """Stop all three."""
        await asyncio.gather(
            self.stt.aclose(), self.llm.aclose(), self.tts.aclose(), return_exceptions=True
        )


def reply_responder(reply: str, first_token_s: float) -> Callable[[dict[str, Any]], FakeResponse]:
    """An LLM responder that answers every request with ``reply`` in one content chunk."""

    def respond(body: dict[str, Any]) -> FakeResponse:
        return FakeResponse(text_deltas=[reply], first_chunk_delay=first_token_s)

    return respond


async def start_services(options: ServiceOptions) -> FakeServices:
    """Start the three fakes on the running loop."""
    stt = FakeAssemblyAI(
        api_key=KEYS["ASSEMBLYAI_API_KEY"],
        min_turn_silence_ms=options.stt_min_turn_silence_ms,
        max_turn_silence_ms=options.stt_max_turn_silence_ms,
        final_latency=options.stt_final_latency_ms / 1000,
        default_transcript=options.transcript,
    )
    llm = FakeOpenAI(api_key=KEYS["OPENAI_API_KEY"])
    llm.responder = reply_responder(options.reply, options.llm_first_token_ms / 1000)
    tts = FakeElevenLabs(
        api_key=KEYS["ELEVENLABS_API_KEY"],
        first_byte_latency=options.tts_first_byte_ms / 1000,
        speed=options.tts_speed if options.tts_speed > 0 else None,
        ms_per_char=options.tts_ms_per_char,
    )
    await stt.start()
    try:
        await llm.start()
        await tts.start()
    except BaseException:
        await asyncio.gather(stt.aclose(), llm.aclose(), tts.aclose(), return_exceptions=True)
        raise
    return FakeServices(stt, llm, tts)


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
    parser.add_argument("--log-level", default="WARNING", help="default %(default)s")
    return parser


async def _serve(options: ServiceOptions, json_only: bool, prune_interval: float) -> int:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    services = await start_services(options)
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
        await services.aclose()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr)
    options = ServiceOptions(
        stt_final_latency_ms=args.stt_final_latency,
        stt_min_turn_silence_ms=args.stt_min_turn_silence,
        transcript=args.transcript,
        llm_first_token_ms=args.llm_first_token_ms,
        reply=args.reply,
        tts_first_byte_ms=args.tts_first_byte_ms,
        tts_speed=args.tts_speed,
        tts_ms_per_char=args.tts_ms_per_char,
    )
    coro = _serve(options, args.json_ready, args.prune_interval)
    try:
        import uvloop
    except ImportError:  # not on Linux
        return asyncio.run(coro)
    return uvloop.run(coro)


if __name__ == "__main__":
    sys.exit(main())
