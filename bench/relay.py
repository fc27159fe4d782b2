"""ConversationRelay against the assistant, side by side, on the same fakes and the same calls.

Run from the repository root::

    .venv/bin/python -m bench.relay                      # 3 calls x 3 rounds per agent
    .venv/bin/python -m bench.relay --calls 5 --rounds 4

Set-up
------
* **The agents**, each through the real gateway in this process (``running_gateway``):
  ``relay``, the ``twiml`` agent running ``<Connect><ConversationRelay>`` toward the
  toolkit's ConversationRelay app (tests/toolkit/apps/relay_app.py: it answers each
  ``prompt`` with "You said <it>." one word a token, at once); ``assistant``, the pipeline
  whose fake LLM answers the same words, also at once. Both on the same fake AssemblyAI
  (turns end after ``--turn-silence-ms`` of silence) and fake ElevenLabs (first byte after
  ``--tts-first-byte-ms``, tones at ``--speed`` times real time), with their production
  clients, each fake in a thread of its own.
* **The caller** is the toolkit's scripted phone (kernel receive timestamps): the greeting,
  then ``--rounds`` times a question (0.6 s of a 300 Hz tone) and the answer heard.

Figures (ms, p50/p95)
---------------------
* ``turn_to_text_ms``: the caller's last speech packet sent -> the turn's text reaching the
  app (relay: the ``prompt`` message arriving at the app's socket; assistant: the chat
  request arriving at the fake LLM). Both wait for the same STT end of turn.
* ``text_to_audio_ms``: the app's first ``text`` token sent (relay) / the fake LLM's first
  chunk written (assistant) -> the answer's first packet at the caller.
* ``turn_to_audio_ms``: the caller's last speech packet sent -> the answer's first packet.

Output: a table on stdout and JSON (``--json``, default ``bench/results/relay-<UTC>.json``)
with the machine (CPU model, cores, load) and the parameters.
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

from twilio.twiml.voice_response import VoiceResponse

from bench._harness import fmt, format_table, log, machine_info, percentile, summarize, write_json
from sipgw.app.evaluation.audio import tone_frames, tone_share
from sipgw.app.evaluation.fakes.assemblyai import FakeAssemblyAI
from sipgw.app.evaluation.fakes.elevenlabs import FakeElevenLabs
from sipgw.app.evaluation.fakes.openai import FakeOpenAI, FakeResponse
from sipgw.app.evaluation.phone import Phone
from tests.toolkit.apps.relay_app import RelayApp
from tests.toolkit.gateway_in_process import running_gateway
from tests.toolkit.twilio_app import TwilioSdkApp, WebhookRequest

AGENTS = ("relay", "assistant")
KEY = "bench-relay-key"
TOKEN = "r" * 32
ACCOUNT = "AC" + "9" * 32
GREETING, QUESTION = "Hello, how can I help?", "What time is it"
ANSWER = f"You said {QUESTION}."
SPEECH_HZ, GREETING_HZ, ANSWER_HZ = 300, 500, 700


@dataclass(frozen=True)
class BenchParams:
    calls: int = 3
    rounds: int = 3
    turn_silence_ms: int = 300
    tts_first_byte_ms: int = 100
    speed: float = 4.0


@dataclass
class Samples:
    turn_to_text: list[float] = field(default_factory=list)
    text_to_audio: list[float] = field(default_factory=list)
    turn_to_audio: list[float] = field(default_factory=list)


def first_tone_after(phone: Phone, hz: float, after: float) -> float | None:
    """Receive time of the first loud packet carrying ``hz`` after ``after``."""
    for heard in phone.heard:
        if heard.at > after and heard.loud and tone_share(heard.packet.payload, hz) > 0.5:
            return heard.at
    return None


async def wait_tone(phone: Phone, hz: float, after: float, within: float = 10.0) -> float:
    deadline = time.monotonic() + within
    while (found := first_tone_after(phone, hz, after)) is None:
        if time.monotonic() > deadline:
            raise TimeoutError(f"no {hz:g} Hz tone after the caller spoke")
        await asyncio.sleep(0.01)
    return found


async def one_call(
    new_phone: Callable[..., Any],
    rounds: int,
    text_times: Callable[[], list[tuple[float, float]]],
    samples: Samples,
) -> None:
    """Greeting, then ``rounds`` questions; ``text_times()``: (text arrived, first token
    sent) of each answer so far, in order."""
    caller: Phone = await new_phone()
    ok = await caller.invite()
    if ok.status != 200:
        raise RuntimeError(f"the call was refused: {ok.status}")
    phone = caller.start_audio()
    before = len(text_times())
    try:
        await wait_tone(phone, GREETING_HZ, 0.0)
        await phone.wait_until_quiet(0.2, hz=GREETING_HZ)
        for n in range(rounds):
            phone.say(tone_frames(SPEECH_HZ, 0.6), tag=n)
            last = phone.sent_at[await phone.wait_said(n, within=6)]
            answer = await wait_tone(phone, ANSWER_HZ, last)
            await phone.wait_until_quiet(0.3)
            arrived, token = text_times()[before + n]
            samples.turn_to_text.append((arrived - last) * 1000)
            samples.text_to_audio.append((answer - token) * 1000)
            samples.turn_to_audio.append((answer - last) * 1000)
    finally:
        await phone.stop_audio()
        with contextlib.suppress(TimeoutError):
            await caller.bye()
        caller.close()


@asynccontextmanager
async def services(params: BenchParams) -> AsyncIterator[tuple[dict[str, str], FakeOpenAI]]:
    silence = params.turn_silence_ms
    stt = FakeAssemblyAI(api_key=KEY, min_turn_silence_ms=silence, max_turn_silence_ms=silence,
                         default_transcript=QUESTION).start_in_thread()  # fmt: skip
    llm = FakeOpenAI(api_key=KEY)
    llm_url = llm.start_in_thread()
    llm.responder = lambda body: FakeResponse(text=ANSWER)
    tts = FakeElevenLabs(api_key=KEY, first_byte_latency=params.tts_first_byte_ms / 1000,
                         speed=params.speed, ms_per_char=20)  # fmt: skip
    tts_url = tts.start_in_thread()
    tts.map_text("Hello", GREETING_HZ)
    tts.map_text("You said", ANSWER_HZ)
    env = {
        "ASSEMBLYAI_API_KEY": KEY, "ASSEMBLYAI_STREAMING_URL": stt.url,
        "OPENAI_API_KEY": KEY, "OPENAI_BASE_URL": llm_url,
        "ELEVENLABS_API_KEY": KEY, "ELEVENLABS_BASE_URL": tts_url,
        "SIPGW_GREETING": GREETING,
        "SIPGW_VOICE_DETECTOR": "energy",  # the caller "speaks" a tone: no voice to a speech model
    }  # fmt: skip
    try:
        yield env, llm
    finally:
        stt.stop()
        llm.stop()
        tts.stop()


async def run_relay(params: BenchParams, workdir: Path, samples: Samples) -> None:
    web = TwilioSdkApp(TOKEN).start_in_thread()
    relay = RelayApp(TOKEN, token_gap=0.0)
    assert web._loop is not None
    asyncio.run_coroutine_threadsafe(relay.start(), web._loop).result(10)

    def twiml(app: TwilioSdkApp, request: WebhookRequest) -> VoiceResponse:
        response = VoiceResponse()
        response.connect().conversation_relay(url=relay.url, welcome_greeting=GREETING)
        return response

    web.twiml = twiml

    def text_times() -> list[tuple[float, float]]:
        times: list[tuple[float, float]] = []
        for seen in list(relay.sessions):
            prompts = [at for m, at in zip(seen.messages, seen.arrived, strict=False)
                       if m.get("type") == "prompt"]  # fmt: skip
            times += zip(prompts, seen.tokens_sent_at, strict=False)
        return times

    try:
        async with services(params) as (env, _), running_gateway(agent="twiml", env={
            **env, "SIPGW_TWIML_URL": web.url, "SIPGW_TWIML_ACCOUNT_SID": ACCOUNT,
            "SIPGW_TWIML_AUTH_TOKEN": TOKEN, "SIPGW_TWIML_RECORD_DIR": str(workdir / "calls"),
            "SIPGW_TWIML_STT": "assemblyai", "SIPGW_TWIML_TTS": "elevenlabs",
        }) as (_, new_phone):  # fmt: skip
            for _ in range(params.calls):
                await one_call(new_phone, params.rounds, text_times, samples)
    finally:
        asyncio.run_coroutine_threadsafe(relay.stop(), web._loop).result(10)
        web.stop_thread()


async def run_assistant(params: BenchParams, workdir: Path, samples: Samples) -> None:
    async with services(params) as (env, llm):

        def text_times() -> list[tuple[float, float]]:
            return [(r.received_at, r.chunk_times[0]) for r in llm.requests if r.chunk_times]

        env = {**env, "SIPGW_CALL_RECORD_DIR": str(workdir / "calls"),
               "SIPGW_CALLBACK_DB": str(workdir / "callbacks.sqlite3")}  # fmt: skip
        async with running_gateway(agent="assistant", env=env) as (_, new_phone):
            for _ in range(params.calls):
                await one_call(new_phone, params.rounds, text_times, samples)


async def run(params: BenchParams) -> dict[str, Samples]:
    results: dict[str, Samples] = {}
    for kind in AGENTS:
        log(f"{kind}: {params.calls} calls x {params.rounds} rounds")
        samples = results[kind] = Samples()
        with tempfile.TemporaryDirectory(prefix=f"bench-relay-{kind}-") as tmp:
            runner = run_relay if kind == "relay" else run_assistant
            await runner(params, Path(tmp), samples)
    return results


def report(params: BenchParams, results: dict[str, Samples]) -> tuple[str, dict[str, Any]]:
    def pair(values: list[float]) -> str:
        return f"{fmt(percentile(values, 50), '.0f')}/{fmt(percentile(values, 95), '.0f')}"

    rows = [[kind, str(len(s.turn_to_audio)), pair(s.turn_to_text), pair(s.text_to_audio),
             pair(s.turn_to_audio)] for kind, s in results.items()]  # fmt: skip
    table = format_table(
        [
            "agent",
            "turns",
            "turn_to_text p50/p95",
            "text_to_audio p50/p95",
            "turn_to_audio p50/p95",
        ],
        rows,
    )
    machine = machine_info()
    data = {
        "bench": "relay", "params": params.__dict__, "machine": machine,
        "results": {kind: {"turn_to_text_ms": summarize(s.turn_to_text),
                           "text_to_audio_ms": summarize(s.text_to_audio),
                           "turn_to_audio_ms": summarize(s.turn_to_audio)}
                    for kind, s in results.items()},
    }  # fmt: skip
    cpu, cores, load = machine["cpu_model"], machine["cores"], machine["loadavg_at_start"]
    return f"{table}\n\nCPU: {cpu} x {cores}; load average at the start: {load}", data


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench.relay",
        description="ConversationRelay and the assistant on the same fakes and calls.",
    )
    parser.add_argument("--calls", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--turn-silence-ms", type=int, default=300)
    parser.add_argument("--tts-first-byte-ms", type=int, default=100)
    parser.add_argument("--speed", type=float, default=4.0)
    parser.add_argument("--json", default=None, help="where the JSON goes (- = stdout)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    params = BenchParams(args.calls, args.rounds, args.turn_silence_ms, args.tts_first_byte_ms,
                         args.speed)  # fmt: skip
    results = asyncio.run(run(params))
    table, data = report(params, results)
    print(table)
    where = write_json(data, args.json, "relay")
    print(f"JSON: {where}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
