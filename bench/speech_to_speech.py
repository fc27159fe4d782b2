"""The pipeline assistant against the speech-to-speech agents, side by side, on the same calls.

Run from the repository root::

    .venv/bin/python -m bench.speech_to_speech                 # 3 calls x 3 rounds per agent
    .venv/bin/python -m bench.speech_to_speech --calls 5 --rounds 4

Set-up
------
* **The agents**: ``pipeline`` (the assistant: fake AssemblyAI streaming STT, fake
  OpenAI chat, fake ElevenLabs TTS), ``voice-agent`` (AssemblyAI's Voice Agent API),
  ``realtime`` (OpenAI Realtime, server VAD), ``realtime-local`` (OpenAI Realtime,
  our own turn-taking) and ``realtime-early`` (the same, each reply started
  ``--preemptive-ms`` into the caller's silence, its audio held until the turn's end:
  ``OPENAI_REALTIME_PREEMPTIVE_MS``). Each one answers through the real gateway, in this process
  (``running_gateway`` with the agent's factory), with its production clients.
* **The fakes** (``tests.toolkit.fakes``, each in a thread of its own, on real loopback
  sockets) all have the same *stated delays*: the caller's turn ends after
  ``--turn-silence-ms`` of silence (the STT's ``min_turn_silence``, the Voice Agent's
  and the Realtime server VAD's silence, our local endpointer's); the first audio of
  every reply comes ``--model-ms`` after the turn's end or the tool result (pipeline:
  ``--model-ms`` minus ``--tts-first-byte-ms`` to the LLM's first token, then the
  TTS's first byte; speech-to-speech: the model's delay). Replies are tones sent at
  ``--speed`` times real time.
* **The caller** is the toolkit's scripted phone (kernel receive timestamps). Each
  call: the greeting, then ``--rounds`` rounds of: the caller asks (0.6 s of a 300 Hz
  tone); the model calls ``get_order_status`` and answers with a long sentence (a tone
  of its own); 0.8 s into it the caller talks over it for 0.8 s (a barge-in); the
  model answers that with a short sentence.

Figures (ms, p50/p95)
---------------------
* ``first_audio_ms``: the caller's last speech packet sent -> the first packet of the
  short answer received (a plain turn). Stated: turn silence + model delay.
* ``tool_turn_ms``: the same for the turn with the tool call. Stated: turn silence + 2
  model delays (the pipeline's tool round has no audio, so its TTS first byte counts
  once); the tool itself reads a small file.
* ``barge_in_ms``: the caller's first speech packet sent over the long answer -> the
  first packet received after its last one (the moment its audio stops for good).
* ``tool_round_trip_ms``: measured at the fake service: the model's tool call going
  out -> the model free to go on (the next chat request; the Voice Agent's
  ``tool.result``; the Realtime ``response.create`` after the function output).

Output: a table on stdout and JSON (``--json``, default
``bench/results/speech-to-speech-<UTC>.json``) with the machine and the parameters.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench._harness import fmt, format_table, log, machine_info, percentile, summarize, write_json
from sipgw.agent.conversation.caller_audio import NoiseSettings
from sipgw.agent.conversation.settings import AssistantSettings, BargeInSettings, EarlyEndSettings
from sipgw.agent.s2s.factories import realtime_factory, voice_agent_factory
from sipgw.agent.services.assemblyai.voice_agent import VoiceAgentSettings
from sipgw.agent.services.openai.realtime import RealtimeSettings
from sipgw.agent.tools.builtin import builtin_tools
from sipgw.agent.tools.registry import ToolRegistry
from sipgw.agent.tools.settings import BuiltinToolSettings
from sipgw.app.evaluation.audio import tone_frames, tone_share
from sipgw.app.evaluation.fakes.assemblyai import FakeAssemblyAI
from sipgw.app.evaluation.fakes.elevenlabs import FakeElevenLabs
from sipgw.app.evaluation.fakes.openai import FakeOpenAI, FakeResponse, FakeToolCall
from sipgw.app.evaluation.phone import Heard, Phone
from sipgw.sip.dialpolicy import DialPolicy
from tests.toolkit.fakes.realtime import FakeRealtime
from tests.toolkit.fakes.voice_agent import FakeVoiceAgent
from tests.toolkit.fakes.voice_base import FakeReply, SpokenReply
from tests.toolkit.gateway_in_process import running_gateway

__all__ = ["AGENTS", "BenchParams", "main", "run"]

AGENTS = ("pipeline", "voice-agent", "realtime", "realtime-local", "realtime-early")
KEY = "bench-s2s-key"
GREETING = "Hi there."
ASK, INTERRUPT = "Where is my order 1234?", "Wait, one more thing."
ANSWER = "Your order 1234 has shipped with DHL and arrives tomorrow before noon, as planned."
SHORT = "Sure, go ahead."
GREETING_HZ, ANSWER_HZ, SHORT_HZ, SPEECH_HZ = 500.0, 900.0, 1300.0, 300.0
TOOL = FakeToolCall("get_order_status", {"order_id": "1234"})


@dataclass(frozen=True)
class BenchParams:
    """The stated delays and the amount of work."""

    calls: int = 3
    rounds: int = 3
    turn_silence_ms: int = 300
    model_ms: int = 500
    tts_first_byte_ms: int = 150
    speed: float = 1.5
    agents: tuple[str, ...] = AGENTS
    preemptive_ms: int = 100
    """``realtime-early``'s silence before its reply starts (OPENAI_REALTIME_PREEMPTIVE_MS)."""


@dataclass
class Samples:
    """One agent's measurements (ms)."""

    first_audio: list[float] = field(default_factory=list)
    tool_turn: list[float] = field(default_factory=list)
    barge_in: list[float] = field(default_factory=list)
    tool_round_trip: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------- the phone side


def first_tone_after(phone: Phone, hz: float, after: float) -> float | None:
    """Receive time of the first loud packet carrying ``hz`` after ``after``."""
    for heard in phone.heard:
        if heard.at > after and heard.loud and tone_share(heard.packet.payload, hz) > 0.5:
            return heard.at
    return None


def stop_after(heard: Sequence[Heard], hz: float, onset: float) -> float | None:
    """When ``hz`` stopped for good after ``onset``: the receive time of the first packet
    after its last one (None if nothing followed it yet, or if that packet came before
    ``onset``: the tone had stopped before the caller spoke).

    The last packet of ``hz`` itself may come before ``onset``. On a loaded machine the
    loop that runs the caller and the gateway stalls; when it wakes, the gateway sends
    the frames it owes in a burst, and the caller sends the frames it owes too, so
    ``onset`` (the first barge-in frame sent) falls behind schedule and the gateway gets
    60 ms of the caller's speech at once. The gateway pauses the answer before its next
    frame, so that frame is silent. Nothing was heard between the tone's last packet and
    ``onset``, so the tone had not stopped before ``onset``: the stop is that next packet.
    """
    last = next(
        (i for i in range(len(heard) - 1, -1, -1)
         if heard[i].loud and tone_share(heard[i].packet.payload, hz) > 0.5),
        None,
    )  # fmt: skip
    if last is None or last + 1 >= len(heard) or heard[last + 1].at < onset:
        return None
    return heard[last + 1].at


async def stopped_after(phone: Phone, hz: float, onset: float, within: float = 5.0) -> float | None:
    """:func:`stop_after` once ``hz`` has been quiet for 0.1 s and a packet followed it (on
    a loaded machine the stop can come after the caller's 0.8 s, when nothing followed
    yet); None if it had stopped before ``onset`` or did not within ``within``."""
    with contextlib.suppress(TimeoutError):
        await phone.wait_until_quiet(0.1, hz=hz, within=within)
    deadline = time.monotonic() + within
    while (stopped := stop_after(phone.heard, hz, onset)) is None:
        if time.monotonic() > deadline:
            return None
        await asyncio.sleep(0.02)
    return stopped


async def wait_tone(phone: Phone, hz: float, after: float, within: float = 10.0) -> float:
    deadline = time.monotonic() + within
    while (found := first_tone_after(phone, hz, after)) is None:
        if time.monotonic() > deadline:
            raise TimeoutError(f"no {hz:g} Hz tone after the caller spoke")
        await asyncio.sleep(0.02)
    return found


async def say(phone: Phone, seconds: float, tag: int) -> tuple[float, float]:
    """The caller speaks; (first packet sent, last packet sent)."""
    phone.say(tone_frames(SPEECH_HZ, seconds), tag=tag)
    last = await phone.wait_said(tag, within=seconds + 5)
    first = next(i for i, t in enumerate(phone.sent_tags) if t == tag)
    return phone.sent_at[first], phone.sent_at[last]


async def one_call(new_phone: Callable[..., Any], rounds: int, samples: Samples) -> None:
    """Greeting, then ``rounds`` of: ask (tool turn), barge in over the answer, short answer."""
    caller: Phone = await new_phone()
    ok = await caller.invite()
    if ok.status != 200:
        raise RuntimeError(f"the call was refused: {ok.status}")
    phone = caller.start_audio()
    try:
        await wait_tone(phone, GREETING_HZ, 0.0)
        await phone.wait_until_quiet(0.2, hz=GREETING_HZ)
        for n in range(rounds):
            _, asked = await say(phone, 0.6, tag=3 * n)
            answer = await wait_tone(phone, ANSWER_HZ, asked)
            samples.tool_turn.append((answer - asked) * 1000)
            await asyncio.sleep(max(0.0, answer + 0.8 - time.monotonic()))
            onset, interrupted = await say(phone, 0.8, tag=3 * n + 1)
            stopped = await stopped_after(phone, ANSWER_HZ, onset)
            if stopped is not None:
                samples.barge_in.append((stopped - onset) * 1000)
            short = await wait_tone(phone, SHORT_HZ, interrupted)
            samples.first_audio.append((short - interrupted) * 1000)
            await phone.wait_until_quiet(0.3)
    finally:
        await phone.stop_audio()
        with contextlib.suppress(TimeoutError):
            await caller.bye()
        caller.close()


# --------------------------------------------------------------------------- the agents


def round_trips_of(replies: Sequence[SpokenReply]) -> list[float]:
    """Model-side tool round trips: a reply's tool call -> the next reply asked for."""
    trips = []
    for reply, following in zip(replies, replies[1:], strict=False):
        if reply.tool_call_at is not None:
            trips.append((following.started_at - reply.tool_call_at) * 1000)
    return trips


def assistant_settings(workdir: Path) -> AssistantSettings:
    tools = BuiltinToolSettings(callback_db=workdir / "callbacks.sqlite3", dial_policy=DialPolicy())
    return AssistantSettings(
        greeting=GREETING, record_dir=workdir / "calls", builtin_tools=tools, answer_wait=2.0,
        # the caller "speaks" a tone: no voice to a speech model
        barge_in=BargeInSettings(noise=NoiseSettings(detector="energy")),
    )  # fmt: skip


@asynccontextmanager
async def pipeline(
    params: BenchParams, workdir: Path
) -> AsyncIterator[tuple[Any, Callable[[], list[float]]]]:
    """The assistant on its three fakes; yields the gateway's phone maker and the round trips."""
    silence = params.turn_silence_ms
    stt = FakeAssemblyAI(api_key=KEY, min_turn_silence_ms=silence, max_turn_silence_ms=silence,
                         default_transcript=INTERRUPT).start_in_thread()  # fmt: skip
    stt.script([ASK, INTERRUPT] * params.calls * params.rounds)
    llm = FakeOpenAI(api_key=KEY)
    llm_url = llm.start_in_thread()
    first_token = max(0, params.model_ms - params.tts_first_byte_ms) / 1000

    def respond(body: dict[str, Any]) -> FakeResponse:
        last = body["messages"][-1]
        if last["role"] == "tool":
            return FakeResponse(text=ANSWER, first_chunk_delay=first_token)
        if last["role"] == "user" and "order" in str(last.get("content")):
            return FakeResponse(tool_calls=[TOOL], first_chunk_delay=first_token)
        return FakeResponse(text=SHORT, first_chunk_delay=first_token)

    llm.responder = respond
    tts = FakeElevenLabs(api_key=KEY, first_byte_latency=params.tts_first_byte_ms / 1000,
                         speed=params.speed, ms_per_char=20)  # fmt: skip
    tts_url = tts.start_in_thread()
    for text, hz in ((GREETING, GREETING_HZ), (ANSWER, ANSWER_HZ), (SHORT, SHORT_HZ)):
        tts.map_text(text[:12], hz)
    env = {
        "ASSEMBLYAI_API_KEY": KEY, "ASSEMBLYAI_STREAMING_URL": stt.url,
        "OPENAI_API_KEY": KEY, "OPENAI_BASE_URL": llm_url,
        "ELEVENLABS_API_KEY": KEY, "ELEVENLABS_BASE_URL": tts_url,
        "SIPGW_GREETING": GREETING, "SIPGW_CALL_RECORD_DIR": str(workdir / "calls"),
        "SIPGW_CALLBACK_DB": str(workdir / "callbacks.sqlite3"),
        "SIPGW_VOICE_DETECTOR": "energy",  # the caller "speaks" a tone: no voice to a speech model
    }  # fmt: skip

    def round_trips() -> list[float]:
        requests = llm.requests
        trips = []
        for request, following in zip(requests, requests[1:], strict=False):
            if request.response is not None and request.response.tool_calls:
                if request.chunk_times:
                    trips.append((following.received_at - request.chunk_times[-1]) * 1000)
        return trips

    try:
        async with running_gateway(agent="assistant", env=env) as (_, new_phone):
            yield new_phone, round_trips
    finally:
        stt.stop()
        llm.stop()
        tts.stop()


@asynccontextmanager
async def speech_to_speech(
    kind: str, params: BenchParams, workdir: Path
) -> AsyncIterator[tuple[Any, Callable[[], list[float]]]]:
    """A speech-to-speech agent on its fake; yields the phone maker and the round trips."""
    options: dict[str, Any] = {"reply_delay": params.model_ms / 1000, "speed": params.speed}
    fake: FakeVoiceAgent | FakeRealtime
    if kind == "voice-agent":
        fake = FakeVoiceAgent(KEY, silence_ms=params.turn_silence_ms, **options)
    else:
        fake = FakeRealtime(KEY, **options)
    fake.start_in_thread()
    for text, hz in ((GREETING, GREETING_HZ), (ANSWER, ANSWER_HZ), (SHORT, SHORT_HZ)):
        fake.map_text(text[:12], hz)
    fake.script([FakeReply(tool_calls=[TOOL]), FakeReply(ANSWER), FakeReply(SHORT)]
                * params.calls * params.rounds)  # fmt: skip
    settings = assistant_settings(workdir)
    tools = ToolRegistry(builtin_tools(settings.builtin_tools))
    if isinstance(fake, FakeVoiceAgent):
        factory = voice_agent_factory(settings, VoiceAgentSettings(api_key=KEY, url=fake.url),
                                      tools)  # fmt: skip
    else:
        local = kind in ("realtime-local", "realtime-early")
        realtime = RealtimeSettings(
            api_key=KEY, base_url=fake.base_url, silence_ms=params.turn_silence_ms,
            turn_detection="local" if local else "server_vad",
            preemptive_ms=params.preemptive_ms if kind == "realtime-early" else 0,
        )  # fmt: skip
        factory = realtime_factory(settings, realtime, tools)

    def round_trips() -> list[float]:
        return [t for session in fake.sessions for t in round_trips_of(session.replies)]

    try:
        async with running_gateway(factory) as (_, new_phone):
            yield new_phone, round_trips
    finally:
        fake.stop()


async def run_agent(kind: str, params: BenchParams) -> Samples:
    samples = Samples()
    with tempfile.TemporaryDirectory(prefix="sipgw-s2s-bench-") as tmp:
        workdir = Path(tmp)
        stack = pipeline(params, workdir) if kind == "pipeline" else (
            speech_to_speech(kind, params, workdir))  # fmt: skip
        async with stack as (new_phone, round_trips):
            for n in range(params.calls):
                try:
                    await one_call(new_phone, params.rounds, samples)
                except (TimeoutError, RuntimeError) as exc:
                    samples.failures.append(f"call {n}: {exc}")
                    log(f"{kind}: call {n} failed: {exc}")
            samples.tool_round_trip = round_trips()
    return samples


# --------------------------------------------------------------------------- report


def stated(kind: str, params: BenchParams) -> tuple[int, int]:
    """The fakes' delays from the end of the caller's speech to the first audio: of a plain
    turn and of the tool turn. The pipeline's tool round has no audio, so no TTS in it."""
    plain = params.turn_silence_ms + params.model_ms
    if kind == "realtime-early":  # the model's delay runs from the early start
        plain = max(params.turn_silence_ms, params.preemptive_ms + params.model_ms)
    if kind == "pipeline":  # the gateway's own tentative end (early_turn_end=words) may be first
        plain = min(params.turn_silence_ms, EarlyEndSettings().silence_ms) + params.model_ms
        return plain, plain + params.model_ms - params.tts_first_byte_ms
    return plain, plain + params.model_ms


def report(params: BenchParams, results: dict[str, Samples]) -> tuple[str, dict[str, Any]]:
    """The table and the JSON section."""

    def pair(values: list[float]) -> str:
        p50, p95 = percentile(values, 50), percentile(values, 95)
        return f"{fmt(p50, '.0f')} / {fmt(p95, '.0f')}"

    rows = []
    for name, s in results.items():
        plain, tool = stated(name, params)
        rows.append(
            [name, f"{plain} / {tool}", pair(s.first_audio), pair(s.tool_turn), pair(s.barge_in),
             pair(s.tool_round_trip), str(len(s.first_audio)), str(len(s.failures))]
        )  # fmt: skip
    headers = [
        "agent", "stated plain / tool", "first audio", "tool turn", "barge-in stop",
        "tool round trip", "turns", "failed calls",
    ]  # fmt: skip
    table = format_table(headers, rows) + "\n(ms; measured columns p50 / p95)"
    data = {
        "params": dict(params.__dict__),
        "agents": {
            name: {
                "stated_first_audio_ms": stated(name, params)[0],
                "stated_tool_turn_ms": stated(name, params)[1],
                "first_audio_ms": summarize(s.first_audio, 1),
                "tool_turn_ms": summarize(s.tool_turn, 1),
                "barge_in_ms": summarize(s.barge_in, 1),
                "tool_round_trip_ms": summarize(s.tool_round_trip, 1),
                "failures": s.failures,
            }
            for name, s in results.items()
        },
    }  # fmt: skip
    return table, data


async def run(params: BenchParams) -> dict[str, Samples]:
    results = {}
    for kind in params.agents:
        log(f"{kind}: {params.calls} calls x {params.rounds} rounds")
        results[kind] = await run_agent(kind, params)
    return results


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m bench.speech_to_speech",
        description="The pipeline assistant and the speech-to-speech agents on the same calls.",
    )
    defaults = BenchParams()
    p.add_argument("--calls", type=int, default=defaults.calls, help="calls per agent")
    p.add_argument("--rounds", type=int, default=defaults.rounds, help="rounds per call")
    p.add_argument("--turn-silence-ms", type=int, default=defaults.turn_silence_ms)
    p.add_argument(
        "--model-ms",
        type=int,
        default=defaults.model_ms,
        help="turn end (or tool result) to a reply's first audio at the service",
    )
    p.add_argument("--tts-first-byte-ms", type=int, default=defaults.tts_first_byte_ms,
                   help="the pipeline's share of --model-ms spent in TTS")  # fmt: skip
    p.add_argument("--speed", type=float, default=defaults.speed,
                   help="reply audio sent this many times faster than real time")  # fmt: skip
    p.add_argument("--preemptive-ms", type=int, default=defaults.preemptive_ms,
                   help="realtime-early: silence before its reply starts")  # fmt: skip
    p.add_argument("--agents", default=",".join(AGENTS), help="comma-separated subset")
    p.add_argument("--json", default=None, help="where the JSON goes ('-': stdout)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    agents = tuple(a.strip() for a in args.agents.split(",") if a.strip())
    unknown = set(agents) - set(AGENTS)
    if unknown:
        raise SystemExit(f"unknown --agents {sorted(unknown)}; choose from {', '.join(AGENTS)}")
    params = BenchParams(args.calls, args.rounds, args.turn_silence_ms, args.model_ms,
                         args.tts_first_byte_ms, args.speed, agents,
                         args.preemptive_ms)  # fmt: skip
    results = asyncio.run(run(params))
    table, data = report(params, results)
    data = {"bench": "speech_to_speech", "machine": machine_info(), **data}
    print(table)
    print(f"JSON: {write_json(data, args.json, 'speech-to-speech')}")
    return 1 if any(s.failures for s in results.values()) else 0


if __name__ == "__main__":
    raise SystemExit(main())
