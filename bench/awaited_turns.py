"""Numbers said in two pieces: is a reply to the first piece heard before the final of the rest?

Run from the repository root::

    .venv/bin/python -m bench.awaited_turns                 # one call per system, 18 turns
    .venv/bin/python -m bench.awaited_turns --rounds 2 --stt-end-ms 100,400 --json -

The race: a caller says a number in two pieces ("My order number is four five six |
seven."), the first of which reads as a finished sentence. sipgw's early end (``words``, the
default) forces the end of turn in the pause (AssemblyAI's ``ForceEndpoint`` after 200 ms of
the detector's silence), the final carries the first piece, and the reply to it starts; the
caller goes on before it is heard, which pauses it. At the end of the second piece the
detector's hangover (300 ms) ends the caller's speech, and the gateway's forced end's final of
the rest comes some 320 ms after the caller's last loud frame (200 ms and the service's
120 ms): resumed at the speech's end, the reply to half the number plays for the 20-odd ms
before that final replaces it. The rule of ``agent/turns/pause.py`` (``AWAITED_SPEECH_MS``:
after 200 ms or more of the caller's speech, such a reply awaits the transcript instead of
resuming) keeps it paused until the final.

Two gateways (``sipgw serve --agent assistant``, the Media Streams leg, every setting at its
default but the early end's 200 ms as in ``bench.turn_ends``), both the pure-Python build
(``SIPGW_PURE_PYTHON=1``): ``on``, the rule as shipped; ``off``, the same program with
``sipgw.agent.turns.pause.AWAITED_SPEECH_MS`` set past any speech before it serves (the pause
then resumes at the speech's end, as before the rule), a patch of this bench only. The fakes
are ``bench.turn_ends``': the STT (AssemblyAI fake) ends a turn after *E* ms of silence on a
sentence end (``max_turn_silence`` 1000 ms otherwise) whatever its client asks, and sends
each final 120 ms after the silence that ended it, or after the ``ForceEndpoint``; the LLM's
first token after 250 ms, the TTS's first byte after 150 ms. Each turn's sentence is one
script of the fake (``script_sentence``): a ``ForceEndpoint`` in the pause gets the first
piece's words (the service's words so far), the rest are the next turn's; a turn nothing
ends in the pause gets one final of the whole. Its partials are as in ``bench.turn_ends``.

The caller is the toolkit's Twilio fake; each turn it says one of :data:`SENTENCES`, its two
pieces (espeak-ng) with a pause of :data:`PAUSES_MS` between them, then listens until the
reply is over. Per turn, on the caller's clock (the STT fake's send times are on the same
monotonic clock):

- *wrong reply heard*: agent audio received after the first piece and before the reply to
  the whole could be there (the fake STT's final of the rest, plus the LLM's 250 ms): the
  reply to the first piece reached the caller's side; *over the caller* (before the caller's
  last loud chunk: a cut-off) or *after*, the race; ``wrong_ms`` received, ``wrong_played_ms``
  of it played (the Twilio fake's playback, cut short by a ``clear``);
- *race gap*: for a wrong reply heard after the caller's last word, how long before the
  final of the rest left the STT its first chunk reached the caller;
- *first audio*: the caller's last loud chunk sent -> the first agent audio of the right
  reply received;
- *caller stalls*: turns where the caller's own process fell more than 60 ms behind its
  20 ms pace (a loaded machine), which lengthens a pause the gateway hears: their figures
  are the stall's as much as the rule's;
- *gateway stalls*: turns where the gateway's audio to the STT fell more than 60 ms behind its
  own pace (the gateway's process kept from the CPU): their timings are the stall's too.

The gateways' call records add what they did: pauses resumed, cuts by cause.

``--gateway-stall-ms N`` stops each gateway's process for N ms, 0.6 s into each turn's first
piece, while the caller speaks on: the turn should end where the caller paused, not where
the gateway did.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Final

from bench._harness import fmt, format_table, log, machine_info, percentile, write_json
from bench.turn_ends import (
    AGENT_DBFS,
    EARLY_END_MS,
    LLM_FIRST_TOKEN_S,
    LOUD_DBFS,
    MAX_TURN_SILENCE_MS,
    QUIET_AFTER_S,
    STT_FINAL_S,
    TTS_FIRST_BYTE_S,
    Clause,
    Sentence,
    agent_audio,
    assistant_gateway,
    fakes,
    heard_partials,
    loud,
    quiet_for,
    sipgw_stream,
    speak,
)
from sipgw.app.evaluation.fakes.assemblyai import FakeAssemblyAI
from sipgw.app.evaluation.fakes.services import FakeServices
from tests.toolkit.fakes.twilio import FakeTwilioStream

__all__ = ["PAUSES_MS", "SENTENCES", "SYSTEMS", "Utterance", "main", "run", "summary"]

SENTENCES: Final = (
    ("My order number is four five six", "seven."),
    ("My account number is two nine", "one eight."),
    ("The code is seven three", "oh four."),
    ("My PIN is one two", "three four."),
    ("My phone number is five five five", "one two."),
    ("The booking reference is six one", "eight one."),
)
"""Each turn's two pieces. The first reads as finished (the text scorer calls each of them
so), and its final comes before the caller goes on; the second is 260-500 ms of espeak-ng's
loud frames: a word's worth or more (``AWAITED_SPEECH_MS``), less than the 600 ms that cut a
reply by their length (``SIPGW_BARGE_IN_COMMIT_MS``)."""
PAUSES_MS: Final = (400, 500, 600)
"""The pause between the pieces: the forced end's final (320 ms after the first piece's last
loud frame) comes before the caller goes on; the reply to it (some 720 ms after) does not."""
STT_END_MS: Final = (400,)
"""The STT's own end of turn after a sentence (*E*), its partial of a pause without one.
At 100 ms that partial comes in the pause before the gateway's early end (200 ms), which
then forces nothing (the service's verdict: the sentence goes on): no reply to the first
piece, one final of the whole, 220 ms after the caller's last word."""
ONSET_DBFS: Final = -50.0
"""A caller chunk this loud begins the second piece (a soft onset: the gateway's
``SOFT_ONSET_DBFS`` holds a reply not heard yet at it)."""
STT_SPEECH_DBFS: Final = -35.0
"""The fake STT's speech threshold (its ``TurnDetector``'s default)."""
_TERMINAL: Final = (".", "?", "!")
NEVER_MS: Final = 10**9
"""``AWAITED_SPEECH_MS`` for ``off``: no speech reaches it."""
OFF_PROGRAM: Final = (
    "import runpy, sys\n"
    "import sipgw.agent.turns.pause as pause\n"
    f"pause.AWAITED_SPEECH_MS = {NEVER_MS}\n"
    "print(f'bench: AWAITED_SPEECH_MS={pause.AWAITED_SPEECH_MS} in {pause.__file__}',"
    " file=sys.stderr, flush=True)\n"
    "runpy.run_module('sipgw', run_name='__main__', alter_sys=True)\n"
)
"""``python -c`` for the ``off`` gateway: ``sipgw serve`` with the rule's threshold out of
reach (pure Python only: a compiled module keeps its ``Final`` constants)."""
CALLER_STALL_MS: Final = 60.0
"""A gap between the caller's chunks over this (three chunks' time) is a stall of the
caller's process, not a pause it said: a calm run's longest is 23-28 ms."""
GATEWAY_STALL_MS: Final = 60.0
"""A spread of the STT's chunk transits over this is a stall of the gateway's process: a calm
run's is 21-23 ms; the gateway stopped 300 ms (SIGSTOP) mid-sentence gave 210-545 ms (and
split the turn's first piece in two, "My order" | "number is four five six", until
``sipgw.media.ingress`` told the gateway's own stall from the caller's silence)."""
STALL_AFTER_S: Final = 0.6
"""``--gateway-stall-ms``: how long into each turn's first piece the gateway is stopped."""
SYSTEMS: Final = ("on", "off")
"""``on``: the rule as shipped; ``off``: ``AWAITED_SPEECH_MS`` patched out of reach."""


# --------------------------------------------------------------------------- one turn


@dataclass
class Utterance:
    system: str
    round: int
    turn: int
    sentence: int
    pause_ms: int
    """The gap between the two pieces."""
    stt_end_ms: int
    half_final: str | None = None
    """The STT's final of the first piece (the words a reply to half the number answers);
    None when nothing ended the turn in the pause (one final of the whole)."""
    rest_final: str | None = None
    """The final that ends the sentence: the second piece's, or the whole's."""
    wrong_heard: bool = False
    """Agent audio of the reply to the first piece reached the caller's side."""
    wrong_over_caller: bool = False
    """... before the caller's last loud chunk (a cut-off)."""
    wrong_after_caller: bool = False
    """... after it (the race: the paused reply resumed before the final of the rest)."""
    wrong_ms: int = 0
    """Of that reply's audio received (20 ms chunks)."""
    wrong_played_ms: int = 0
    """Of it played to the caller (the Twilio fake's playback, cut short by a ``clear``)."""
    wrong_from_onset_ms: float | None = None
    """Its first chunk's arrival, ms after the caller's first chunk of the second piece over
    -50 dBFS was sent (negative: it came before the caller went on)."""
    race_gap_ms: float | None = None
    """The first chunk of it after the caller's last word: ms before the final of the rest
    left the STT (negative: after)."""
    rest_forced: bool | None = None
    """The final of the rest answered the gateway's ``ForceEndpoint`` (else the service
    ended the turn itself, ``min_turn_silence`` after a sentence end)."""
    rest_partials: list[str] | None = None
    """The partials the STT sent over the second piece and until the final of the rest."""
    final_after_ms: float | None = None
    """The final of the rest left the STT this long after the caller's last loud chunk."""
    first_audio_ms: float | None = None
    """The caller's last loud chunk -> the right reply's first audio."""
    cut_off: bool = False
    """Any agent audio before the caller's last loud chunk (the caller's sentence not over)."""
    finals: list[str] | None = None
    """Every final the STT sent from the caller's first chunk of the turn on."""
    caller_gap_ms: float | None = None
    """The longest gap between two of the caller's chunks sent over the turn (20 ms when it
    kept pace): a caller kept from the CPU longer pauses its speech on the gateway's side,
    and the race's figures are then not the rule's (:data:`CALLER_STALL_MS`)."""
    gateway_lag_ms: float | None = None
    """How far the gateway's audio to the STT fell behind its own pace over the turn: the
    spread of the chunks' transits (:func:`transit_spread_ms`, :data:`GATEWAY_STALL_MS`)."""
    half_heard: tuple[int, int, int] | None = None
    """The first piece as the STT counted it at its final, stream ms: its speech's start and
    end (the final's words) and the audio it had when the turn was forced or ended; the
    caller said :attr:`half_said_ms` of speech."""
    half_said_ms: int | None = None
    """The first piece's speech as the STT would count it (:func:`speech_span_ms`)."""
    error: str | None = None

    @property
    def caller_stalled(self) -> bool:
        """The caller fell behind its 20 ms pace by more than :data:`CALLER_STALL_MS`."""
        return self.caller_gap_ms is not None and self.caller_gap_ms > CALLER_STALL_MS

    @property
    def gateway_stalled(self) -> bool:
        """The gateway's audio to the STT fell behind by more than :data:`GATEWAY_STALL_MS`."""
        return self.gateway_lag_ms is not None and self.gateway_lag_ms > GATEWAY_STALL_MS

    @property
    def stalled(self) -> bool:
        """Either end stalled: the turn's figures are the stall's as much as the rule's."""
        return self.caller_stalled or self.gateway_stalled


@dataclass(frozen=True)
class GatewayStall:
    """Stops the gateway's process (SIGSTOP) for ``ms`` once each turn is :data:`STALL_AFTER_S`
    into its first piece, then lets it go on (SIGCONT): a box whose CPU another process took,
    while the caller speaks on. From a thread, so the caller keeps its pace."""

    pid: int
    ms: int

    def start(self) -> threading.Thread:
        def stop_then_resume() -> None:
            time.sleep(STALL_AFTER_S)
            os.kill(self.pid, signal.SIGSTOP)
            try:
                time.sleep(self.ms / 1000)
            finally:
                os.kill(self.pid, signal.SIGCONT)

        thread = threading.Thread(target=stop_then_resume, name="gateway-stall", daemon=True)
        thread.start()
        return thread


def turn_audio(sentence: Sentence, pause_ms: int) -> bytes:
    return sentence.first.audio + b"\xff" * (pause_ms * 8) + sentence.second.audio


def loud_chunks(audio: bytes, floor: float) -> list[int]:
    return [i for i in range(len(audio) // 160) if loud(audio[i * 160 : (i + 1) * 160], floor)]


def finals_after(stt: FakeAssemblyAI, after: float) -> list[tuple[float, str]]:
    """The final ``Turn`` messages the STT sent after ``after`` (monotonic), in order."""
    session = stt.sessions[-1]
    return [
        (at, str(m.get("transcript", "")))
        for at, m in zip(session.sent_at, session.sent, strict=True)
        if at > after and m.get("type") == "Turn" and m.get("end_of_turn")
    ]


def heard_at_final(stt: FakeAssemblyAI, after: float) -> tuple[int, int, int] | None:
    """The first final after ``after``: the stream ms of its speech's start and end (its
    words') and of the audio the STT had received when the client forced it or, unforced,
    when it was sent."""
    session = stt.sessions[-1]
    finals = [
        (at, m)
        for at, m in zip(session.sent_at, session.sent, strict=True)
        if at > after and m.get("type") == "Turn" and m.get("end_of_turn") and m.get("words")
    ]
    if not finals:
        return None
    at, final = finals[0]
    forced = [
        t for t, m in zip(session.message_at, session.messages, strict=True)
        if after < t <= at and m.get("type") == "ForceEndpoint"
    ]  # fmt: skip
    until = forced[0] if forced else at
    received = sum(
        size for t, size in zip(session.chunk_arrived_at, session.chunk_sizes, strict=True)
        if t <= until
    )  # fmt: skip
    words = final["words"]
    return int(words[0]["start"]), int(words[-1]["end"]), received // 8


def longest_gap_ms(times: Sequence[float]) -> float | None:
    """The longest gap between consecutive ``times`` (s), in ms; None for fewer than two."""
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    return round(max(gaps) * 1000, 1) if gaps else None


def transit_spread_ms(
    arrivals: Sequence[float], sizes: Sequence[int], after: float, until: float
) -> float | None:
    """The spread (ms) of the STT's audio chunks' transits between ``after`` and ``until``:
    each chunk's arrival less the audio sent up to its end (μ-law, 8 bytes a ms). A sender
    that keeps pace holds it near its chunking's jitter whatever the chunks' sizes; one that
    stops and catches up moves it by the stop. None for no chunk in the span."""
    sent = 0.0
    transits = []
    for at, size in zip(arrivals, sizes, strict=True):
        sent += size / 8000
        if after <= at <= until:
            transits.append(at - sent)
    return round((max(transits) - min(transits)) * 1000, 1) if transits else None


def client_messages(stt: FakeAssemblyAI, after: float, until: float) -> list[str]:
    """The types of the client's JSON messages the STT got between ``after`` and ``until``."""
    session = stt.sessions[-1]
    return [
        str(m.get("type"))
        for at, m in zip(session.message_at, session.messages, strict=True)
        if after < at <= until
    ]


def partials_sent(stt: FakeAssemblyAI, after: float, until: float) -> list[str]:
    """The partial transcripts the STT sent between ``after`` and ``until``."""
    session = stt.sessions[-1]
    return [
        str(m.get("transcript", ""))
        for at, m in zip(session.sent_at, session.sent, strict=True)
        if after < at <= until and m.get("type") == "Turn" and not m.get("end_of_turn")
    ]


def played_loud_ms(call: FakeTwilioStream, start: float, end: float) -> int:
    """ms of loud agent audio the caller heard (played, a chunk cut short by a ``clear``
    as far as it played) from chunks that began between ``start`` and ``end``."""
    total = 0
    for piece in call.heard:
        for k in range(0, len(piece.audio), 160):
            chunk = piece.audio[k : k + 160]
            if start < piece.start + k / 8000 <= end and loud(chunk, AGENT_DBFS):
                total += len(chunk)
    return total // 8


def received_loud(call: FakeTwilioStream, start: float, end: float) -> list[float]:
    """Arrival times of the agent's loud chunks between ``start`` and ``end``."""
    times = []
    for at, message in call.received:
        if start < at <= end and message.get("event") == "media":
            if loud(base64.b64decode(message["media"]["payload"]), AGENT_DBFS):
                times.append(at)
    return times


async def one_turn(
    call: FakeTwilioStream, stt: FakeAssemblyAI, sentence: Sentence, turn: Utterance,
    stall: GatewayStall | None = None,
) -> None:  # fmt: skip
    """Say the two pieces, listen to the reply, fill ``turn``."""
    audio = turn_audio(sentence, turn.pause_ms)
    start = call.say(audio)
    stopping = stall.start() if stall is not None else None
    first = loud_chunks(sentence.first.audio, LOUD_DBFS)
    gap = len(sentence.first.audio) // 160 + turn.pause_ms // 20
    second = [gap + i for i in loud_chunks(sentence.second.audio, LOUD_DBFS)]
    onset = start + gap + loud_chunks(sentence.second.audio, ONSET_DBFS)[0]
    last = start + second[-1]
    await call.wait_for(lambda: len(call.sent_at) > last, within=15)
    if stopping is not None:
        stopping.join()
    began, half_end, ended = (
        call.sent_at[start],
        call.sent_at[start + first[-1]],
        call.sent_at[last],
    )
    # whether either end stalled, known before the reply is awaited: a turn that gets none
    # still says whether a stall made it
    turn.caller_gap_ms = longest_gap_ms(call.sent_at[start : last + 1])
    session = stt.sessions[-1]
    turn.gateway_lag_ms = transit_spread_ms(
        session.chunk_arrived_at, session.chunk_sizes, began, ended
    )
    await call.wait_for(lambda: bool(agent_audio(call, ended)), within=12)
    await quiet_for(call, QUIET_AFTER_S, within=15)
    turn.finals = [text for _, text in finals_after(stt, began)]
    turn.half_heard = heard_at_final(stt, began)
    turn.half_said_ms = speech_span_ms(sentence.first.audio)
    finals = finals_after(stt, half_end)
    # The rest's final ends the sentence (the whole's, when nothing ended the turn between
    # the pieces); a final before it is the first piece's.
    ends = [k for k, (_, text) in enumerate(finals) if text.rstrip().endswith(_TERMINAL)]
    if not ends or ends[0] > 1:
        turn.error = f"finals after the first piece: {[text for _, text in finals]}"
        return
    rest_at, turn.rest_final = finals[ends[0]]
    turn.half_final = finals[0][1] if ends[0] else None
    turn.final_after_ms = round((rest_at - ended) * 1000, 1)
    # forced: the ForceEndpoint came before the turn's end that the final answers
    turn.rest_forced = "ForceEndpoint" in client_messages(stt, ended, rest_at - STT_FINAL_S + 0.01)
    turn.rest_partials = partials_sent(stt, call.sent_at[onset], rest_at)
    turn.cut_off = bool(received_loud(call, began, ended))
    # The reply to the whole cannot be heard before its final and the LLM's first token.
    right_from = rest_at + LLM_FIRST_TOKEN_S
    wrong = received_loud(call, half_end, right_from)
    turn.wrong_heard = bool(wrong)
    turn.wrong_over_caller = any(at <= ended for at in wrong)
    after = [at for at in wrong if at > ended]
    turn.wrong_after_caller = bool(after)
    turn.wrong_ms = 20 * len(wrong)
    turn.wrong_played_ms = played_loud_ms(call, half_end, right_from)
    if wrong:
        turn.wrong_from_onset_ms = round((wrong[0] - call.sent_at[onset]) * 1000, 1)
    if after:
        turn.race_gap_ms = round((rest_at - after[0]) * 1000, 1)
    right = received_loud(call, right_from, float("inf"))
    if right:
        turn.first_audio_ms = round((right[0] - ended) * 1000, 1)


def speech_span_ms(audio: bytes) -> int:
    """The fake STT's speech in ``audio``: its first loud frame to its last, at the fake's
    threshold (-35 dBFS)."""
    frames = loud_chunks(audio, STT_SPEECH_DBFS)
    return (frames[-1] - frames[0] + 1) * 20 if frames else 0


def sentence_speech_ms(n: int, sentence: Sentence) -> int:
    """The speech after which the fake STT calls sentence ``n`` said
    (:meth:`FakeAssemblyAI.script_sentence`): the fake gives a turn forced before it the
    share of the words its speech is of this, so at the pause that share is the first
    piece's words (digits are short: an even share of the time would not be). Its pause
    ends no sentence (this is longer than the first piece) and the second piece's end does
    (shorter than both pieces and the pause)."""
    a, b = SENTENCES[n]
    words, first = len(f"{a} {b}".split()), len(a.split())
    return speech_span_ms(sentence.first.audio) * words // first + 10


def turn_plan(
    turns: int | None = None, sentences: Sequence[int] | None = None
) -> list[tuple[int, int]]:
    """A call's turns: (sentence, pause), every sentence (of ``sentences``: their indices)
    at each pause in turn (the first ``turns``)."""
    chosen = range(len(SENTENCES)) if sentences is None else sentences
    return [(n, p) for p in PAUSES_MS for n in chosen][:turns]


def said(n: int, workdir: Path) -> Sentence:
    """The pieces of sentence ``n``, each said as a sentence of its own (espeak-ng)."""
    a, b = SENTENCES[n]
    first, second = speak(a, workdir, f"s{n}a"), speak(b, workdir, f"s{n}b")
    return Sentence(first, second, Clause(first.audio + second.audio))  # never said whole


async def converse(
    stream: FakeTwilioStream, stt: FakeAssemblyAI, speech: dict[int, Sentence],
    system: str, round_: int, stt_end_ms: int, plan: Sequence[tuple[int, int]],
    stall: GatewayStall | None = None,
) -> list[Utterance]:  # fmt: skip
    """One call: the greeting heard out, then each (sentence, pause) of ``plan``."""
    results = []
    async with stream as call:
        try:
            await call.wait_for(lambda: bool(agent_audio(call, 0.0)), within=20)
        except TimeoutError:
            return [Utterance(system, round_, k, n, p, stt_end_ms, error="no greeting")
                    for k, (n, p) in enumerate(plan)]  # fmt: skip
        await quiet_for(call, QUIET_AFTER_S, within=15)
        for k, (n, pause_ms) in enumerate(plan):
            a, b = SENTENCES[n]
            sentence = speech[n]
            turn = Utterance(system, round_, k, n, pause_ms, stt_end_ms)
            stt.reset()
            # One sentence: a forced end in the pause gets the first piece's words, the
            # rest are the next turn's (the fake shares a sentence's words by its speech).
            whole_ms = sentence_speech_ms(n, sentence)
            stt.script_sentence(f"{a} {b}", speech_ms=whole_ms)
            speech_texts, silence_texts = heard_partials(
                sentence, (a, b), pause_ms, stt_end_ms, whole_ms
            )
            stt.script_speech_partials(speech_texts, replace=True)
            stt.script_partials(silence_texts)
            try:
                await one_turn(call, stt, sentence, turn, stall)
            except TimeoutError as exc:
                turn.error = f"timeout: {exc}"
            results.append(turn)
        await call.stop()
    return results


# --------------------------------------------------------------------------- the gateways


@contextlib.asynccontextmanager
async def gateways(
    services: FakeServices, workdir: Path, systems: Sequence[str]
) -> AsyncIterator[dict[str, tuple[str, int]]]:
    """One gateway per system, pure Python: its admin URL and its process's pid."""
    admins: dict[str, tuple[str, int]] = {}
    with contextlib.ExitStack() as stack:
        for system in systems:
            home = workdir / f"sipgw-{system}"
            env = {"SIPGW_EARLY_TURN_END": "words", "SIPGW_PURE_PYTHON": "1"}
            program = [sys.executable, "-c", OFF_PROGRAM] if system == "off" else None
            gw = stack.enter_context(assistant_gateway(services, home, env, program))
            if system == "off":
                patched = gw.wait_log(r"bench: AWAITED_SPEECH_MS=(\d+) in (\S+)", 30)
                if int(patched.group(1)) != NEVER_MS or not patched.group(2).endswith(".py"):
                    raise SystemExit(f"the off gateway's patch did not take: {patched.group(0)}")
            admins[system] = (gw.wait_log(r"admin listening on (\S+)", 30).group(1), gw.pid)
        yield admins


def records(workdir: Path, system: str) -> dict[str, Any]:
    """What the gateway did, from its call records: pauses resumed, cuts by cause (and
    how many of them had been heard)."""
    resumed, heard = 0, 0
    cuts: dict[str, int] = {}
    for path in sorted((workdir / f"sipgw-{system}" / "calls").glob("*.jsonl")):
        for line in path.read_text().splitlines():
            record = json.loads(line)
            kind = record.get("type")
            if kind == "barge_in_resumed":
                resumed += 1
            elif kind == "barge_in":
                cause = str(record.get("cause"))
                cuts[cause] = cuts.get(cause, 0) + 1
                heard += bool(record.get("heard"))
    return {"resumed": resumed, "cuts": cuts, "cuts_heard": heard}


async def run(
    rounds: int, workdir: Path, stt_ends: Sequence[int] = STT_END_MS,
    systems: Sequence[str] = SYSTEMS, turns: int | None = None,
    sentences: Sequence[int] | None = None, gateway_stall_ms: int = 0,
) -> list[Utterance]:  # fmt: skip
    plan = turn_plan(turns, sentences)
    speech = {n: said(n, workdir) for n in sorted({n for n, _ in plan})}
    results: list[Utterance] = []
    with fakes() as services:
        async with gateways(services, workdir, systems) as admins:
            for r in range(rounds):
                for stt_end in stt_ends:
                    services.stt.min_turn_silence_ms = stt_end
                    services.stt.max_turn_silence_ms = max(MAX_TURN_SILENCE_MS, stt_end)
                    order = list(systems[r % len(systems) :]) + list(systems[: r % len(systems)])
                    for system in order:
                        log(f"round {r + 1}/{rounds}, STT end {stt_end} ms: {system}")
                        admin, pid = admins[system]
                        stall = GatewayStall(pid, gateway_stall_ms) if gateway_stall_ms else None
                        stream = await sipgw_stream(admin)
                        results += await converse(
                            stream, services.stt, speech, system, r, stt_end, plan, stall
                        )
                        await asyncio.sleep(0.5)  # the call's end reaches the gateway
    return results


# --------------------------------------------------------------------------- figures


def summary(turns: Sequence[Utterance]) -> dict[str, Any]:
    """Per system and STT speed (``<system>@<E>``)."""
    by: dict[str, list[Utterance]] = {}
    for t in sorted(turns, key=lambda t: (t.stt_end_ms, SYSTEMS.index(t.system))):
        by.setdefault(f"{t.system}@{t.stt_end_ms}", []).append(t)
    out = {}
    for key, group in by.items():
        ok = [t for t in group if t.error is None]
        heard = [t for t in ok if t.wrong_heard]
        audio = [t.first_audio_ms for t in ok if t.first_audio_ms is not None]
        gaps = [t.race_gap_ms for t in ok if t.race_gap_ms is not None]
        out[key] = {
            "system": group[0].system,
            "stt_end_ms": group[0].stt_end_ms,
            "utterances": len(group),
            "errors": len(group) - len(ok),
            "caller_stalled": sum(t.caller_stalled for t in group),
            "gateway_stalled": sum(t.gateway_stalled for t in group),
            "half_finals": sum(t.half_final == SENTENCES[t.sentence][0] for t in ok),
            "wrong_heard": len(heard),
            "wrong_after_caller": sum(t.wrong_after_caller for t in ok),
            "wrong_over_caller": sum(t.wrong_over_caller for t in ok),
            "cut_offs": sum(t.cut_off for t in ok),
            "wrong_ms": {"total": sum(t.wrong_ms for t in ok),
                         "max": max((t.wrong_ms for t in ok), default=0)},
            "wrong_played_ms": {"total": sum(t.wrong_played_ms for t in ok),
                                "max": max((t.wrong_played_ms for t in ok), default=0)},
            "race_gap_ms": {"count": len(gaps), "p50": _p(gaps, 50), "max": _p(gaps, 100)},
            "first_audio_ms": {"count": len(audio), "p50": _p(audio, 50),
                               "p95": _p(audio, 95), "max": _p(audio, 100)},
        }  # fmt: skip
    return out


def _p(values: Sequence[float], q: float) -> float | None:
    value = percentile(values, q)
    return None if value is None else round(value, 1)


def table(systems: dict[str, Any]) -> str:
    rows = [
        [f["system"], str(f["stt_end_ms"]), str(f["utterances"]),
         f"{f['wrong_heard']}/{f['utterances'] - f['errors']}", str(f["wrong_after_caller"]),
         str(f["wrong_over_caller"]), str(f["wrong_ms"]["total"]),
         str(f["wrong_played_ms"]["total"]), fmt(f["race_gap_ms"]["p50"], ".0f"),
         f"{f['cut_offs']}", fmt(f["first_audio_ms"]["p50"], ".0f"),
         fmt(f["first_audio_ms"]["p95"], ".0f"), str(f["errors"]), str(f["caller_stalled"]),
         str(f.get("gateway_stalled", "-")),
         str(f.get("records", {}).get("resumed", "-")),
         " ".join(f"{k} {v}" for k, v in sorted(f.get("records", {}).get("cuts", {}).items()))
         or "-"]
        for f in systems.values()
    ]  # fmt: skip
    headers = ["rule", "STT end", "turns", "wrong heard", "after last word", "over caller",
               "wrong ms", "played ms", "race gap p50", "cut-offs", "first audio p50", "p95",
               "errors", "caller stalls", "gateway stalls", "resumed", "cuts by cause"]  # fmt: skip
    return format_table(headers, rows)


def turn_table(turns: Sequence[Utterance]) -> str:
    """One row per sentence, pause and speed: each system's wrong audio and first audio."""
    cells: dict[tuple[int, int, int, int], dict[str, Utterance]] = {}
    for t in turns:
        cells.setdefault((t.stt_end_ms, t.round, t.sentence, t.pause_ms), {})[t.system] = t
    systems = [s for s in SYSTEMS if any(t.system == s for t in turns)]
    rows = []
    for (stt_end, round_, n, pause), by in sorted(cells.items()):
        row = [str(stt_end), str(round_ + 1), SENTENCES[n][0][:24] + " | " + SENTENCES[n][1],
               str(pause)]  # fmt: skip
        for system in systems:
            one = by.get(system)
            if one is None or one.error is not None:
                row += ["error" if one else "-", "-", "-"]
                continue
            row += [f"{one.wrong_ms}" + (" over" if one.wrong_over_caller else ""),
                    fmt(one.race_gap_ms, ".0f"), fmt(one.first_audio_ms, ".0f")]  # fmt: skip
        rows.append(row)
    headers = ["STT end", "round", "sentence", "gap ms"]
    for system in systems:
        headers += [f"{system}: wrong ms", "race gap", "first audio"]
    return format_table(headers, rows)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=1,
                        help="calls per system and STT speed (default 1)")  # fmt: skip
    parser.add_argument("--stt-end-ms", default=",".join(map(str, STT_END_MS)),
                        help="the STT's end-of-turn silences, one sweep each (default "
                        f"{','.join(map(str, STT_END_MS))})")  # fmt: skip
    parser.add_argument("--systems", default=",".join(SYSTEMS),
                        help=f"the rule's states, of {', '.join(SYSTEMS)}")  # fmt: skip
    parser.add_argument("--sentences", default=None,
                        help="only these of the sentences (their indices from 0, "
                        "comma-separated; default all)")  # fmt: skip
    parser.add_argument("--turns", type=int, default=None,
                        help="only the first N turns of a call (default: every sentence at "
                        "every pause)")  # fmt: skip
    parser.add_argument("--gateway-stall-ms", type=int, default=0,
                        help="stop the gateway's process this long in each turn's first "
                        f"piece ({STALL_AFTER_S} s into it; default 0: never)")  # fmt: skip
    parser.add_argument("--keep", default=None, help="keep the calls' records in this folder")
    parser.add_argument("--json", default=None, help="where to write the JSON ('-': stdout)")
    args = parser.parse_args(argv)
    for tool in ("espeak-ng", "sox"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} is needed to speak the caller's sentences")
    systems = [s for s in args.systems.split(",") if s]
    for system in systems:
        if system not in SYSTEMS:
            raise SystemExit(f"--systems: no {system!r} (of {', '.join(SYSTEMS)})")
    chosen = None if args.sentences is None else [int(v) for v in args.sentences.split(",")]
    if chosen is not None and not all(0 <= n < len(SENTENCES) for n in chosen):
        raise SystemExit(f"--sentences: indices from 0 to {len(SENTENCES) - 1}")
    started = time.time()
    machine = machine_info()
    with tempfile.TemporaryDirectory(prefix="bench-awaited-turns-") as tmp:
        workdir = Path(args.keep or tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        stt_ends = [int(v) for v in args.stt_end_ms.split(",") if v]
        turns = asyncio.run(run(args.rounds, workdir, stt_ends, systems, args.turns, chosen,
                                args.gateway_stall_ms))  # fmt: skip
        did = {system: records(workdir, system) for system in systems}
    machine["loadavg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    figures = summary(turns)
    for f in figures.values():
        f["records"] = did[f["system"]]  # the gateway's whole run (every speed)
    data: dict[str, Any] = {
        "benchmark": "awaited_turns",
        "machine": machine,
        "params": {
            "rounds": args.rounds,
            "turns_per_call": len(turn_plan(args.turns, chosen)),
            "sentences": [" | ".join(SENTENCES[n]) for n in chosen or range(len(SENTENCES))],
            "pauses_ms": PAUSES_MS,
            "stt_end_ms": stt_ends,
            "stt_max_turn_silence_ms": MAX_TURN_SILENCE_MS,
            "stt_final_latency_ms": round(STT_FINAL_S * 1000),
            "llm_first_token_ms": round(LLM_FIRST_TOKEN_S * 1000),
            "tts_first_byte_ms": round(TTS_FIRST_BYTE_S * 1000),
            "early_end_ms": EARLY_END_MS,
            "gateway_stall_ms": args.gateway_stall_ms,
            "systems": {
                "on": "AWAITED_SPEECH_MS as shipped",
                "off": f"AWAITED_SPEECH_MS={NEVER_MS} (patched)",
            },
            "media_path": "pure Python (SIPGW_PURE_PYTHON=1)",
        },  # fmt: skip
        "seconds": round(time.time() - started, 1),
        "systems": figures,
        "turns": [asdict(t) for t in turns],
    }
    load = f"{machine['loadavg_at_start']} at the start, {machine['loadavg_at_end']} at the end"
    print(f"{machine['cpu_model']}, {machine['cores']} cores, load average {load}")
    print(turn_table(turns))
    print(table(figures))
    print(f"JSON: {write_json(data, args.json, 'awaited_turns')}")


if __name__ == "__main__":
    main()
