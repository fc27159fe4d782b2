"""Turn ends against Pipecat's: the same Twilio caller, the same fakes, round by round.

Run from the repository root (Pipecat's venv made as ``tests/toolkit/apps/pipecat_app.py``
says)::

    .venv/bin/python -m bench.turn_ends                 # 2 rounds at each STT speed
    .venv/bin/python -m bench.turn_ends --rounds 1 --stt-end-ms 400 --json -
    .venv/bin/python -m bench.turn_ends --probe   # the turn model on the sentences, offline
    .venv/bin/python -m bench.turn_ends --kept-tune   # each paused sentence said as one

Set-up: one set of fakes in threads of this process, with the delays of the comparison:
the STT (AssemblyAI fake) ends a turn after *E* ms of silence when its words end a sentence
(``max_turn_silence`` 1000 ms otherwise, or *E* when longer), whatever its client asks (the
fake's ``fixed_turn_silence``: the same service for every system, ignoring the
``min_turn_silence`` Pipecat and sipgw may send), and sends the final 120 ms later; the
LLM's first token after 250 ms; the TTS's first byte after 150 ms. *E* is each of
``--stt-end-ms`` in turn (100, 400 and 1000: a service that ends turns fast, and slowly).
Against them, each a Twilio number:

- ``pipecat``: Pipecat's own Twilio example bot (tests/interop/apps/pipecat_twilio_bot.py)
  in its own venv with Pipecat's defaults (``BOT_TURNS=pipecat``: Silero VAD, stop after
  200 ms, the smart-turn v3 model, ForceEndpoint on the VAD's stop);
- ``sipgw-<config>``: ``sipgw serve --agent assistant``'s Media Streams leg
  (``/twilio/stream`` after the signed webhook), one gateway per configuration of
  :data:`CONFIGS` (``SIPGW_EARLY_TURN_END`` off, vad, vad+text, model, words at 200 ms), everything
  else at its defaults.

The caller is the toolkit's Twilio fake (``tests.toolkit.fakes.twilio``): the Media Streams
protocol, 20 ms chunks on absolute deadlines. Each turn it speaks one sentence of espeak-ng
speech, then listens until the reply is over: in two clauses with a pause between them (300,
400, 500, 600, 700 ms), or whole, without a pause (a finished sentence straight through:
:data:`PAUSES_MS`' 0), the kinds in turn. Each round places, at each STT speed, one call on
every system, in a rotated order, each call its :data:`SENTENCES` turns (the fake STT is
told each sentence and where its pause is: u3-rt-pro finds no sentence end there). The two
clauses are two espeak-ng sentences (the first ends in a fall, as a finished one would), or,
with ``--kept-tune``, one sentence with an SSML break between them (``espeak-ng -m``,
:data:`BREAK_MS`), split at the break and put together with each pause: the tune of a
sentence that goes on.

The fake STT's partials fall where u3-rt-pro's would (docs/cloud-apis.md) and carry the
words said by then (:func:`partial_events`, the fake's own detector run over the turn's
audio ahead): one early partial after :data:`EARLY_PARTIAL_MS` of speech, its words the
share of the clause (or of the whole sentence) said by then, whole words only ("i'd like
to", "the", "my order"; tried again later while no word is over); and one partial per
quiet spell that reaches the service's ``min_turn_silence`` (*E*) before the sentence's
end, with the words before that quiet: the first clause at the pause inside the sentence
when the pause is as long as *E*, a word gap at 100 ms. At the sentence's end the service
ends the turn at *E* and sends no partial (the words end a sentence), so at *E* = 1000 ms
the words the early end reads at the end are the early partial's, a fifth to a third of
the sentence.

Per turn, on the caller's clock (the Twilio fake's send and receive times):
- *first audio*: the caller's last loud chunk sent -> the first agent audio received,
  on turns without a cut-off;
- *cut-off*: agent audio received while the caller's sentence was not over (the agent
  spoke while the caller only paused);
- *end-of-turn overhead* (sipgw): first audio less the silence that ended the turn (the
  early end's when the gateway forced the end, unless the STT's is shorter), the STT's final
  latency, the LLM's first token and the TTS's first byte: what the gateway and its
  sockets add (the fakes' own overshoot included).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import secrets
import shutil
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Final

import aiohttp

from bench._harness import fmt, format_table, log, machine_info, percentile, write_json
from sipgw.agent.turns.early_end import sentence_open
from sipgw.app.evaluation.fakes.assemblyai import FakeAssemblyAI, PartialDue, TurnDetector
from sipgw.app.evaluation.fakes.elevenlabs import FakeElevenLabs
from sipgw.app.evaluation.fakes.openai import FakeOpenAI
from sipgw.app.evaluation.fakes.services import KEYS, FakeServices, reply_responder
from sipgw.app.evaluation.gateway_process import GatewayProcess
from sipgw.app.evaluation.ports import free_port
from sipgw.media import g711
from tests.toolkit.apps.pipecat_app import running_bot
from tests.toolkit.fakes.twilio import FakeTwilioStream, call_the_webhook, ulaw_from_wav

__all__ = ["SENTENCES", "main", "run"]

SENTENCES: Final = (
    ("I'd like to book a table for", "two people tomorrow night."),
    ("The package arrived yesterday", "but the box was damaged."),
    ("My order number is", "four five six seven."),
    ("I was charged twice", "for the same delivery."),
    ("I need to change the address", "to my office downtown."),
    ("Could you please send me", "a copy of the invoice?"),
)
"""Each turn's two clauses; the caller pauses between them."""
PAUSES_MS: Final = (0, 300, 400, 500, 600, 700)
"""The pause inside each turn's sentence, in turn; 0: the sentence said whole."""
STT_END_MS: Final = (100, 400, 1000)
"""The STT's end of turn after a sentence (its ``min_turn_silence``), one sweep each."""
MIN_TURN_SILENCE_MS, MAX_TURN_SILENCE_MS = 400, 1000
STT_FINAL_S, LLM_FIRST_TOKEN_S, TTS_FIRST_BYTE_S = 0.120, 0.250, 0.150
EARLY_PARTIAL_MS: Final = 500
"""Speech before the fake STT's early partial in a turn (the service's is ~750 ms, or
``interruption_delay`` + 300 ms: neither system sets one here)."""
REPLY: Final = "Sure, I can help with that."
EARLY_END_MS: Final = 200
FRAME_MS: Final = 20
CONFIGS: Final = {
    "off": {"SIPGW_EARLY_TURN_END": "off"},
    "vad": {"SIPGW_EARLY_TURN_END": "vad"},
    "vad+text": {"SIPGW_EARLY_TURN_END": "vad+text"},
    "model": {"SIPGW_EARLY_TURN_END": "model"},
    "words": {"SIPGW_EARLY_TURN_END": "words"},
}
"""sipgw's configurations (``sipgw-<name>``): the early-end mode."""
DEFAULT_CONFIGS: Final = ("off", "vad+text", "model")
"""Run unless ``--configs`` says otherwise (``vad`` cuts the caller off at every pause)."""
TOKEN: Final = "bench-turn-ends-token"
PUBLIC: Final = "https://gw.bench.test"
LOUD_DBFS: Final = -40.0
"""A caller chunk this loud is speech (the end of speech is the last one)."""
AGENT_DBFS: Final = -50.0
"""An agent chunk this loud is its audio (not silence)."""
QUIET_AFTER_S: Final = 1.0
"""The reply is over after this long without agent audio."""


# --------------------------------------------------------------------------- the speech


@dataclass(frozen=True)
class Clause:
    audio: bytes
    """μ-law, 8 kHz, trimmed to its speech."""

    @property
    def ms(self) -> int:
        return len(self.audio) // 8


@dataclass(frozen=True)
class Sentence:
    first: Clause
    second: Clause
    whole: Clause
    """Both clauses said as one."""


def speak(text: str, workdir: Path, name: str, *, ssml: bool = False) -> Clause:
    """``text`` said by espeak-ng, at 8 kHz, its silence trimmed, about -20 dBFS;
    ``ssml``: ``text`` is SSML (``espeak-ng -m``)."""
    raw, wav = workdir / f"{name}-raw.wav", workdir / f"{name}.wav"
    markup = ["-m"] if ssml else []
    subprocess.run(["espeak-ng", "-v", "en-us", "-s", "165", *markup, "-w", str(raw), text],
                   check=True)  # fmt: skip
    subprocess.run(
        ["sox", str(raw), "-r", "8000", "-c", "1", "-b", "16", str(wav),
         "silence", "1", "0.02", "1%", "reverse", "silence", "1", "0.02", "1%", "reverse",
         "gain", "-n", "-6"],
        check=True,
    )  # fmt: skip
    audio = ulaw_from_wav(wav)
    return Clause(audio[: len(audio) // 160 * 160])


BREAK_MS: Final = 500
"""The SSML break between the clauses of a sentence said with its tune kept."""
BREAK_DBFS: Final = -45.0
"""A frame quieter than this is part of the break."""


def split_at_break(said: Clause) -> tuple[Clause, Clause]:
    """The speech before and after the longest quiet run of ``said`` (its break)."""
    frames = [said.audio[i : i + 160] for i in range(0, len(said.audio), 160)]
    best, start = (0, 0), None
    for k, frame in enumerate([*frames, b"\x00" * 160]):  # a loud end closes the last run
        if not loud(frame, BREAK_DBFS):
            start = k if start is None else start
        elif start is not None:
            best = max(best, (k - start, start))
            start = None
    length, first = best
    if not length:
        raise ValueError("no break in the sentence")
    return Clause(said.audio[: first * 160]), Clause(said.audio[(first + length) * 160 :])


def sentence_of(a: str, b: str, workdir: Path, name: str, *, kept_tune: bool) -> Sentence:
    """A sentence's clauses and its whole: each clause said as a sentence of its own (a
    final fall at the first's end), or, ``kept_tune``, both said as one sentence with an
    SSML ``<break>`` between them (espeak-ng keeps the sentence's tune over it), split there."""
    whole = speak(f"{a} {b}", workdir, f"{name}w")
    if not kept_tune:
        return Sentence(speak(a, workdir, f"{name}a"), speak(b, workdir, f"{name}b"), whole)
    said = speak(f'<speak>{a} <break time="{BREAK_MS}ms"/> {b}</speak>', workdir,
                 f"{name}k", ssml=True)  # fmt: skip
    first, second = split_at_break(said)
    return Sentence(first, second, whole)


# --------------------------------------------------------------------------- one turn


@dataclass
class Turn:
    system: str
    round: int
    turn: int
    pause_ms: int
    """The pause inside the sentence; 0: said whole."""
    open_clause: bool
    """The first clause leaves the sentence open (its last word: vad+text's signal)."""
    stt_end_ms: int = MIN_TURN_SILENCE_MS
    """The STT's end of turn after a sentence."""
    first_audio_ms: float | None = None
    cut_off: bool = False
    forced: bool | None = None
    """sipgw: the gateway ended the turn (a ForceEndpoint after the end of speech)."""
    force_lag_ms: float | None = None
    """sipgw, forced: the ForceEndpoint's arrival at the STT less the sending of the frame
    that completed the early end's silence after the caller's last loud one (the Media
    Stream's way in, the detector's frame, the message); a frame either way where the
    caller's loudness edge and the gateway's detector disagree. Counted from that frame's
    sending, not from the last loud frame's plus the silence: the fake caller sends on a
    20 ms schedule and catches up after a stall, so on a busy machine the silence's frames
    may go out closer together than it lasts (a CI run measured -78.5 ms from the last loud
    frame)."""
    overhead_ms: float | None = None
    error: str | None = None


def loud(chunk: bytes, floor: float) -> bool:
    return g711.rms_dbfs(chunk) > floor


def agent_audio(call: FakeTwilioStream, after: float) -> list[float]:
    """Arrival times of the agent's audible chunks after ``after``."""
    times = []
    for at, message in call.received:
        if at > after and message.get("event") == "media":
            if loud(base64.b64decode(message["media"]["payload"]), AGENT_DBFS):
                times.append(at)
    return times


async def quiet_for(call: FakeTwilioStream, seconds: float, within: float) -> None:
    """Until no agent audio came for ``seconds`` (at most ``within``)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while loop.time() < deadline:
        last = agent_audio(call, loop.time() - seconds)
        if not last:
            return
        await asyncio.sleep(0.05)


async def one_turn(
    call: FakeTwilioStream, stt: FakeAssemblyAI, sentence: Sentence, turn: Turn
) -> None:
    """Say the sentence, listen to the reply, fill ``turn``."""
    audio = turn_audio(sentence, turn.pause_ms)
    start = call.say(audio)
    chunks = [audio[i : i + 160] for i in range(0, len(audio), 160)]
    last = start + max(i for i, c in enumerate(chunks) if loud(c, LOUD_DBFS))
    await call.wait_for(lambda: len(call.sent_at) > last, within=15)
    began, ended = call.sent_at[start], call.sent_at[last]
    await call.wait_for(lambda: bool(agent_audio(call, ended)), within=12)
    await quiet_for(call, QUIET_AFTER_S, within=15)
    heard = agent_audio(call, began)
    turn.cut_off = any(at <= ended for at in heard)
    after = [at for at in heard if at > ended]
    if not turn.cut_off and after:
        turn.first_audio_ms = round((after[0] - ended) * 1000, 1)
    if turn.system.startswith("sipgw-"):
        session = stt.sessions[-1]
        forced = [
            at for at, m in zip(session.message_at, session.messages, strict=True)
            if m.get("type") == "ForceEndpoint" and ended < at < ended + 1.0
        ]  # fmt: skip
        turn.forced = bool(forced)
        if forced:
            silence_done = call.sent_at[min(last + EARLY_END_MS // 20, len(call.sent_at) - 1)]
            turn.force_lag_ms = round((forced[0] - silence_done) * 1000, 1)
        if turn.first_audio_ms is not None:
            stt_silence = turn.stt_end_ms
            silence = min(EARLY_END_MS, stt_silence) if forced else stt_silence
            nominal = silence + (STT_FINAL_S + LLM_FIRST_TOKEN_S + TTS_FIRST_BYTE_S) * 1000
            turn.overhead_ms = round(turn.first_audio_ms - nominal, 1)


async def converse(
    stream: FakeTwilioStream, stt: FakeAssemblyAI, speech: Sequence[Sentence],
    system: str, round_: int, turns: int, stt_end_ms: int,
) -> list[Turn]:  # fmt: skip
    """One call: the greeting heard out, then ``turns`` sentences."""
    results = []
    async with stream as call:
        try:
            await call.wait_for(lambda: bool(agent_audio(call, 0.0)), within=20)
        except TimeoutError:
            return [Turn(system, round_, n, 0, False, stt_end_ms, error="no greeting")
                    for n in range(turns)]  # fmt: skip
        await quiet_for(call, QUIET_AFTER_S, within=15)
        for n in range(turns):
            sentence = speech[n % len(speech)]
            text = " ".join(SENTENCES[n % len(SENTENCES)])
            pause_ms = PAUSES_MS[(round_ + n) % len(PAUSES_MS)]
            turn = Turn(system, round_, n, pause_ms,
                        pause_ms > 0 and sentence_open(SENTENCES[n % len(SENTENCES)][0]),
                        stt_end_ms)  # fmt: skip
            stt.reset()
            said = said_ms(sentence, pause_ms)
            stt.script_sentence(text, speech_ms=said)
            speech_texts, silence_texts = heard_partials(
                sentence, SENTENCES[n % len(SENTENCES)], pause_ms, stt_end_ms, said
            )
            stt.script_speech_partials(speech_texts, replace=True)
            stt.script_partials(silence_texts)
            try:
                await one_turn(call, stt, sentence, turn)
            except TimeoutError as exc:
                turn.error = f"timeout: {exc}"
            results.append(turn)
        await call.stop()
    return results


def turn_audio(sentence: Sentence, pause_ms: int) -> bytes:
    """What the caller says in a turn: the two clauses and the pause, or the whole."""
    if pause_ms:
        return sentence.first.audio + b"\xff" * (pause_ms * 8) + sentence.second.audio
    return sentence.whole.audio


def words_said(
    clauses: tuple[str, str], sentence: Sentence, pause_ms: int, at_ms: int, *,
    at_gap: bool = False,
) -> str:  # fmt: skip
    """The words said ``at_ms`` into the turn's audio (:func:`turn_audio`): each clause's
    words spread evenly over its speech, whole words only (a word counts once its share of
    the time is over; ``at_gap``: ``at_ms`` is where a quiet spell begins, between two
    words, the nearest boundary: espeak's last syllable fades under the detector's
    threshold before the clause's end), as a u3-rt-pro partial writes them
    (:func:`_words`)."""

    def share(text: str, ms: int, of_ms: int) -> list[str]:
        words = text.split()
        part = len(words) * max(0, min(ms, of_ms)) / max(1, of_ms)
        return words[: round(part) if at_gap else int(part)]

    first, second = clauses
    if not pause_ms:
        return _words(" ".join(share(f"{first} {second}", at_ms, sentence.whole.ms)))
    said = share(first, at_ms, sentence.first.ms)
    after = at_ms - sentence.first.ms - pause_ms
    if after > 0:
        said += share(second, after, sentence.second.ms)
    return _words(" ".join(said))


def partial_events(
    sentence: Sentence, clauses: tuple[str, str], pause_ms: int, stt_end_ms: int, said_ms: int
) -> list[tuple[int, bool, str]]:
    """The fake STT's partials in this turn as u3-rt-pro's would fall: the fake's own
    detector (:class:`~sipgw.app.evaluation.fakes.assemblyai.TurnDetector`, its thresholds,
    :data:`EARLY_PARTIAL_MS`, ``min_turn_silence`` at ``stt_end_ms``, the sentence's end
    after ``said_ms`` of speech) run over the turn's audio says when each falls; each
    carries the words said by then (:func:`words_said`). Returns (ms into the turn's audio,
    a silence partial, its text) in order; an early attempt's "" (no word over yet) is
    tried again later, as the fake does."""
    audio = turn_audio(sentence, pause_ms)
    events: list[tuple[int, bool, str]] = []
    detector: TurnDetector

    def early() -> str:
        at = detector.position_ms + FRAME_MS - _LEAD_MS
        text = words_said(clauses, sentence, pause_ms, at)
        events.append((at, False, text))
        return text

    detector = TurnDetector(
        min_turn_silence_ms=stt_end_ms, max_turn_silence_ms=max(MAX_TURN_SILENCE_MS, stt_end_ms),
        partial_after_ms=EARLY_PARTIAL_MS, early_text=early,
        ends_sentence=lambda speech_ms: speech_ms >= said_ms,
    )  # fmt: skip
    stream = b"\xff" * 8 * _LEAD_MS + audio + b"\xff" * 8 * (stt_end_ms + 200)
    for k in range(0, len(stream) - 159, 160):
        for due in detector.feed(stream[k : k + 160]):
            if isinstance(due, PartialDue) and due.silence:
                text = words_said(clauses, sentence, pause_ms, due.end_ms - _LEAD_MS, at_gap=True)
                events.append((detector.position_ms - _LEAD_MS, True, text))
    return events


def heard_partials(
    sentence: Sentence, clauses: tuple[str, str], pause_ms: int, stt_end_ms: int, said_ms: int
) -> tuple[list[str], list[str]]:
    """The texts to script on the fake STT for this turn (:func:`partial_events`): the
    speech partials' (one per early attempt), and the silence partials' (one per quiet
    spell that reaches ``min_turn_silence`` before the sentence's end), then the whole
    sentence's words for the quiet after its end (which the fake ends as a turn instead,
    its words ending a sentence; reset before the next turn)."""
    events = partial_events(sentence, clauses, pause_ms, stt_end_ms, said_ms)
    speech = [text for _, silence, text in events if not silence]
    quiet = [text for _, silence, text in events if silence]
    return speech, [*quiet, _words(f"{clauses[0]} {clauses[1]}")]


def said_ms(sentence: Sentence, pause_ms: int) -> int:
    """Where the fake STT's sentence ends (:meth:`FakeAssemblyAI.script_sentence`): once the
    second clause is two-thirds said (the fake's speech edge is its -35 dBFS threshold,
    inside espeak's fading last syllable)."""
    if pause_ms:
        return sentence.first.ms + pause_ms + sentence.second.ms * 2 // 3
    return sentence.whole.ms - sentence.second.ms // 3


_LEAD_MS: Final = 100
"""Silence before the turn's audio in :func:`partial_events` (stream ms)."""


def _words(text: str) -> str:
    """A partial's words: lower case, no punctuation (u3-rt-pro's unformatted partial)."""
    return " ".join("".join(c for c in w if c.isalnum() or c in "'-").lower() for w in text.split())


# --------------------------------------------------------------------------- the systems


@contextlib.contextmanager
def fakes() -> Any:
    stt = FakeAssemblyAI(
        api_key=KEYS["ASSEMBLYAI_API_KEY"], check_rate=False,
        required_params={"speech_model": "u3-rt-pro", "sample_rate": "8000"},
        min_turn_silence_ms=MIN_TURN_SILENCE_MS, max_turn_silence_ms=MAX_TURN_SILENCE_MS,
        final_latency=STT_FINAL_S, partial_after_ms=EARLY_PARTIAL_MS, fixed_turn_silence=True,
    ).start_in_thread()  # fmt: skip
    llm = FakeOpenAI(api_key=KEYS["OPENAI_API_KEY"])
    llm.responder = reply_responder(REPLY, LLM_FIRST_TOKEN_S)
    llm.start_in_thread()
    tts = FakeElevenLabs(api_key=KEYS["ELEVENLABS_API_KEY"], first_byte_latency=TTS_FIRST_BYTE_S,
                         speed=1.5, formats=("ulaw_8000", "pcm_8000"))  # fmt: skip
    tts.start_in_thread()
    try:
        yield FakeServices(stt, llm, tts)
    finally:
        stt.stop()
        llm.stop()
        tts.stop()


def form() -> dict[str, str]:
    """A new call's voice webhook form (each call its own CallSid)."""
    return {"CallSid": "CA" + secrets.token_hex(16), "From": "+15550001111",
            "To": "+15550002222"}  # fmt: skip


async def sipgw_stream(admin: str) -> FakeTwilioStream:
    async with aiohttp.ClientSession() as http:
        answer = await call_the_webhook(
            http, f"{admin}/twilio/voice", TOKEN, f"{PUBLIC}/twilio/voice", form()
        )
    return answer.stream(admin.replace("http://", "ws://") + "/twilio/stream", TOKEN)


async def pipecat_stream(webhook: str, stream_url: str) -> FakeTwilioStream:
    async with aiohttp.ClientSession() as http:
        answer = await call_the_webhook(http, webhook, TOKEN, webhook, form())
    return answer.stream(stream_url, TOKEN)


def assistant_gateway(
    services: FakeServices,
    home: Path,
    env: dict[str, str],
    program: list[str] | None = None,
) -> GatewayProcess:
    """An assistant gateway for these benches in ``home`` (made here): the fakes, an admin
    port, the Twilio stream's token, call records in ``home/calls``; ``env`` on top."""
    home.mkdir()
    return GatewayProcess(
        home,
        agent="assistant",
        allow_from="127.0.0.0/8",
        extra_env={
            **services.gateway_env(),
            "SIPGW_ADMIN_PORT": str(free_port()),
            "SIPGW_ADMIN_TOKEN": "bench-admin-token",
            "SIPGW_TWILIO_AUTH_TOKEN": TOKEN,
            "SIPGW_PUBLIC_URL": PUBLIC,
            "SIPGW_GREETING": "Hi there.",
            "SIPGW_CALL_RECORD_DIR": str(home / "calls"),
            "SIPGW_CALLBACK_DB": str(home / "callbacks.sqlite3"),
            "SIPGW_EARLY_TURN_END_MS": str(EARLY_END_MS),
            **env,
        },  # fmt: skip
        program=program,
        lifetime=None,
        start_timeout=90,
    )


@contextlib.asynccontextmanager
async def gateways(
    services: FakeServices, workdir: Path, configs: Sequence[str]
) -> AsyncIterator[dict[str, str]]:
    """One gateway per configuration: its admin URL."""
    admins: dict[str, str] = {}
    with contextlib.ExitStack() as stack:
        for config in configs:
            home = workdir / f"sipgw-{config.replace('+', '-')}"
            gw = stack.enter_context(assistant_gateway(services, home, CONFIGS[config]))
            admins[f"sipgw-{config}"] = gw.wait_log(r"admin listening on (\S+)", 30).group(1)
        yield admins


def reply_shares(workdir: Path, config: str) -> list[float]:
    """The gateway's own time from each STT final to the reply's first frame out, less its
    waits on the LLM's first token and the TTS's first byte (its ``turn_metrics`` records)."""
    shares = []
    for path in sorted((workdir / f"sipgw-{config.replace('+', '-')}" / "calls").glob("*.jsonl")):
        for line in path.read_text().splitlines():
            record = json.loads(line)
            if record.get("type") != "turn_metrics":
                continue
            parts = [record.get(k) for k in ("first_rtp_after_turn_ms", "llm_first_token_ms",
                                               "tts_first_byte_ms")]  # fmt: skip
            if all(isinstance(v, int | float) for v in parts):
                shares.append(parts[0] - parts[1] - parts[2])
    return shares


async def run(
    rounds: int, turns: int, configs: Sequence[str], workdir: Path,
    stt_ends: Sequence[int] = STT_END_MS, kept_tune: bool = False,
) -> list[Turn]:  # fmt: skip
    speech = [
        sentence_of(a, b, workdir, f"s{n}", kept_tune=kept_tune)
        for n, (a, b) in enumerate(SENTENCES)
    ]
    results: list[Turn] = []
    with fakes() as services:
        async with (
            gateways(services, workdir, configs) as admins,
            running_bot(services, workdir / "pipecat.log", turns="pipecat") as bot,
        ):
            systems = ["pipecat", *admins]
            for r in range(rounds):
                for stt_end in stt_ends:
                    # the service's end of turn for the calls that start from now on
                    services.stt.min_turn_silence_ms = stt_end
                    services.stt.max_turn_silence_ms = max(MAX_TURN_SILENCE_MS, stt_end)
                    order = systems[r % len(systems) :] + systems[: r % len(systems)]
                    for system in order:
                        log(f"round {r + 1}/{rounds}, STT end {stt_end} ms: {system}")
                        if system == "pipecat":
                            stream = await pipecat_stream(bot.webhook_url, bot.stream_url)
                        else:
                            stream = await sipgw_stream(admins[system])
                        results += await converse(
                            stream, services.stt, speech, system, r, turns, stt_end
                        )
                        await asyncio.sleep(0.5)  # the call's end reaches the far side
    return results


# --------------------------------------------------------------------------- the model offline


class _Quiet:
    """The agent's side for :func:`probe`: it never speaks."""

    audible = False
    pending = False

    def active_reply_started_at(self) -> float | None:
        return None


def probe(workdir: Path, stt_end_ms: int, kept_tune: bool = False) -> list[dict[str, Any]]:
    """``SIPGW_EARLY_TURN_END=model`` on the bench's own sentences, offline: each one through
    the turn-taking machine (its energy detector, the early end at :data:`EARLY_END_MS`) as
    the caller says it (:data:`PAUSES_MS`' pauses), with the fake STT's partials where and
    as the bench scripts them at ``stt_end_ms`` (:func:`partial_events`); per decision (a
    pause's, or a later partial's), the model's probability, the wait it sets and whether
    the turn was forced there (a cut-off when the sentence goes on)."""
    from sipgw.agent.services.stt.base import SttPartialTranscript
    from sipgw.agent.turns.early_end import EarlyEndMode, EarlyTurnEnd
    from sipgw.agent.turns.machine import ForceTurnEnd, TurnTaker

    rows = []
    for n, (a, b) in enumerate(SENTENCES):
        sentence = sentence_of(a, b, workdir, f"p{n}", kept_tune=kept_tune)
        for pause_ms in PAUSES_MS:
            early = EarlyTurnEnd(EarlyEndMode.MODEL, EARLY_END_MS)
            machine = TurnTaker(_Quiet(), early_end=early)
            lead = 20  # frames of silence before the turn
            said = said_ms(sentence, pause_ms)
            events = {
                lead + at // FRAME_MS: text
                for at, _, text in partial_events(sentence, (a, b), pause_ms, stt_end_ms, said)
                if text
            }
            audio = b"\xff" * 160 * lead + turn_audio(sentence, pause_ms)
            mid = lead + sentence.first.ms // FRAME_MS if pause_ms else None
            end = len(audio) // 160
            audio += b"\xff" * 160 * 60
            for k in range(len(audio) // 160):
                actions = machine.receive_audio(audio[k * 160 : (k + 1) * 160], k * 0.02)
                if k in events:
                    partial = SttPartialTranscript(events[k], 0, k * 0.02)
                    actions += machine.receive_stt(partial, k * 0.02)
                if early.last_probability is not None:
                    at = ("end" if k >= end else "mid" if mid is not None and mid <= k
                          < mid + pause_ms // 20 else "inside")  # fmt: skip
                    rows.append({"sentence": n, "pause_ms": pause_ms, "at": at,
                                 "words": events.get(k, ""),
                                 "probability": round(early.last_probability, 3),
                                 "wait_ms": early.last_wait_ms, "forced": False})  # fmt: skip
                    early.last_probability = None
                if rows and any(isinstance(x, ForceTurnEnd) for x in actions):
                    rows[-1]["forced"] = True
    return rows


# --------------------------------------------------------------------------- figures


def figures(turns: Sequence[Turn], shares: dict[str, list[float]]) -> dict[str, Any]:
    """Per system and STT speed (``<system>@<E>``)."""
    by: dict[str, list[Turn]] = {}
    for t in sorted(turns, key=lambda t: t.stt_end_ms):
        by.setdefault(f"{t.system}@{t.stt_end_ms}", []).append(t)
    out = {}
    for key, group in by.items():
        system = group[0].system
        latency = [t.first_audio_ms for t in group if t.first_audio_ms is not None]
        overhead = [t.overhead_ms for t in group if t.overhead_ms is not None]
        lag = [t.force_lag_ms for t in group if t.force_lag_ms is not None]
        reply = shares.get(system, [])
        out[key] = {
            "system": system,
            "stt_end_ms": group[0].stt_end_ms,
            "turns": len(group),
            "finished_straight": sum(t.pause_ms == 0 for t in group),
            "errors": sum(t.error is not None for t in group),
            "cut_offs": sum(t.cut_off for t in group),
            "cut_offs_open_clause": sum(t.cut_off for t in group if t.open_clause),
            "first_audio_ms": {"count": len(latency), "p50": _p(latency, 50),
                               "p95": _p(latency, 95), "max": _p(latency, 100)},
            "forced": None if group[0].forced is None else sum(bool(t.forced) for t in group),
            "end_of_turn_overhead_ms": {"count": len(overhead), "p50": _p(overhead, 50),
                                        "p95": _p(overhead, 95)},
            "gateway_share_ms": {
                "force_lag_p50": _p(lag, 50), "force_lag_p95": _p(lag, 95),
                "reply_path_p50": _p(reply, 50), "reply_path_p95": _p(reply, 95),
                "total_p50": _total(_p(lag, 50), _p(reply, 50)),
            } if system.startswith("sipgw-") else None,
        }  # fmt: skip
    return out


def _total(lag: float | None, reply: float | None) -> float | None:
    """The gateway's share of a forced end of turn: its ForceEndpoint's lag and its reply
    path (the reply path alone without forced turns)."""
    return None if reply is None else round((lag or 0.0) + reply, 1)


def _p(values: Sequence[float], q: float) -> float | None:
    value = percentile(values, q)
    return None if value is None else round(value, 1)


def table(data: dict[str, Any]) -> str:
    rows = []
    for f in data.values():
        base = data.get(f"pipecat@{f['stt_end_ms']}", {}).get("first_audio_ms", {}).get("p50")
        p50 = f["first_audio_ms"]["p50"]
        ratio = None if base is None or p50 is None else round(p50 / base, 3)
        rows.append([
            f["system"], str(f["stt_end_ms"]), str(f["turns"]), fmt(p50, ".0f"),
            fmt(f["first_audio_ms"]["p95"], ".0f"),
            fmt(ratio, ".3f"), f"{f['cut_offs']}/{f['turns']}", str(f["cut_offs_open_clause"]),
            fmt(f["forced"]), fmt(f["end_of_turn_overhead_ms"]["p50"], ".1f"),
            fmt(f["end_of_turn_overhead_ms"]["p95"], ".1f"),
            fmt((f["gateway_share_ms"] or {}).get("total_p50"), ".1f"), str(f["errors"]),
        ])  # fmt: skip
    headers = ["system", "STT end", "turns", "first audio p50", "p95", "vs pipecat", "cut-offs",
               "of them open", "forced", "overhead p50", "p95", "gateway share p50",
               "errors"]  # fmt: skip
    return format_table(headers, rows)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=2,
                        help="calls per system and STT speed (default 2)")  # fmt: skip
    parser.add_argument("--stt-end-ms", default=",".join(map(str, STT_END_MS)),
                        help="the STT's end-of-turn silences, one sweep each (default "
                        f"{','.join(map(str, STT_END_MS))})")  # fmt: skip
    parser.add_argument("--turns", type=int, default=len(SENTENCES), help="turns per call")
    parser.add_argument("--configs", default=",".join(DEFAULT_CONFIGS),
                        help=f"sipgw's configurations, of {', '.join(CONFIGS)}")  # fmt: skip
    parser.add_argument("--keep", default=None, help="keep the calls' records in this folder")
    parser.add_argument("--json", default=None, help="where to write the JSON ('-': stdout)")
    parser.add_argument("--kept-tune", action="store_true",
                        help="say each paused sentence as one, an SSML break at its pause "
                        "(the tune kept over it), instead of two sentences")  # fmt: skip
    parser.add_argument("--probe", action="store_true",
                        help="only the turn model on the sentences, offline (no calls): its "
                        "probability and wait at each pause")  # fmt: skip
    args = parser.parse_args(argv)
    for tool in ("espeak-ng", "sox"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} is needed to speak the caller's sentences")
    if args.probe:
        with tempfile.TemporaryDirectory(prefix="bench-turn-ends-") as tmp:
            stt_end = max(int(v) for v in args.stt_end_ms.split(",") if v)
            decided = probe(Path(tmp), stt_end, args.kept_tune)
        print(format_table(
            ["sentence", "pause ms", "at", "probability", "wait ms", "forced", "on a partial"],
            [[str(r["sentence"]), str(r["pause_ms"]), r["at"], f"{r['probability']:.3f}",
              fmt(r["wait_ms"]), "yes" if r["forced"] else "-", r["words"] or "-"]
             for r in decided],
        ))  # fmt: skip
        return
    configs = [c for c in args.configs.split(",") if c]
    for config in configs:
        if config not in CONFIGS:
            raise SystemExit(f"--configs: no configuration {config!r} (of {', '.join(CONFIGS)})")
    started = time.time()
    with tempfile.TemporaryDirectory(prefix="bench-turn-ends-") as tmp:
        workdir = Path(args.keep or tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        stt_ends = [int(v) for v in args.stt_end_ms.split(",") if v]
        turns = asyncio.run(
            run(args.rounds, args.turns, configs, workdir, stt_ends, args.kept_tune)
        )
        shares = {f"sipgw-{c}": reply_shares(workdir, c) for c in configs}
    data: dict[str, Any] = {
        "benchmark": "turn_ends",
        "machine": machine_info(),
        "params": {
            "rounds": args.rounds,
            "turns_per_call": args.turns,
            "pauses_ms": PAUSES_MS,
            "sentences": "kept tune (SSML break)" if args.kept_tune else "two sentences",
            "stt_end_ms": stt_ends,
            "stt_max_turn_silence_ms": MAX_TURN_SILENCE_MS,
            "stt_final_latency_ms": 120,
            "llm_first_token_ms": 250,
            "tts_first_byte_ms": 150,
            "early_end_ms": EARLY_END_MS,
            "configs": {f"sipgw-{c}": CONFIGS[c] for c in configs},
        },  # fmt: skip
        "seconds": round(time.time() - started, 1),
        "systems": figures(turns, shares),
        "turns": [asdict(t) for t in turns],
    }
    print(table(data["systems"]))
    print(f"JSON: {write_json(data, args.json, 'turn_ends')}")


if __name__ == "__main__":
    main()
