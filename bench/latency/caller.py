"""The call script: what the phone says and hears, and how the fakes answer it.

Each call places a :class:`~sipgw.app.evaluation.phone.Phone` (kernel receive timestamps;
every packet stamped right after ``sendto``). While it is not speaking it sends
near-silent *marker* frames that name the call and the packet, so the analysis can
find each packet again in the audio the fake STT received. The fake STT's transcript
carries the turn number, the fake LLM answers turn ``n`` with reply ``n``, and the fake
TTS speaks each reply in a tone of its own, so every reply is recognised on the wire.
"""

from __future__ import annotations

import asyncio
import os
import random
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Final

from sipgw.app.evaluation.audio import tone_frame
from sipgw.app.evaluation.fakes.assemblyai import FakeAssemblyAI
from sipgw.app.evaluation.fakes.elevenlabs import FakeElevenLabs, synth_tone, tone_duration_ms
from sipgw.app.evaluation.fakes.openai import FakeOpenAI, FakeResponse
from sipgw.app.evaluation.fakes.services import KEYS, FakeServices
from sipgw.app.evaluation.phone import Phone

FRAME_S = 0.020
FRAME_BYTES = 160
SPEECH_HZ = 300.0
SPEECH_FRAME = tone_frame(SPEECH_HZ, -15.0)
"""One 20 ms frame of the caller's voice: 300 Hz is 6 whole cycles, so frames repeat."""
GREETING = "Hi there."
GREETING_HZ = 500.0
REPLY_TONES = (700.0, 900.0, 1100.0, 1300.0, 1500.0, 1700.0, 1900.0, 2100.0)
LINE_HZ = 2500.0
"""The tone of every other line the gateway has the TTS speak: its fallback lines, made at
its start (the failure policy's "one moment", its apology, ...)."""
ALL_TONES = (GREETING_HZ, *REPLY_TONES, LINE_HZ)
MARKER_MAGIC = bytes([0xF5, 0xFA, 0xF5, 0xFA])
TURN_RE = re.compile(r"Turn (\d+) please", re.IGNORECASE)  # partials are lower-case
REPLY_RE = re.compile(r"Reply (\d+) ")


def transcript_for(tid: int, sentence_end: bool = True) -> str:
    """What the fake STT says the caller said in turn ``tid``.

    Without the sentence end the fake STT (like u3-rt-pro) sends a partial at
    ``min_turn_silence`` and ends the turn only at ``max_turn_silence``.
    """
    return f"Turn {tid} please" + ("." if sentence_end else "")


def reply_for(tid: int) -> str:
    """The LLM's reply to turn ``tid``: one sentence, always the same length."""
    return f"Reply {tid:06d} is a longer sentence for the caller to talk over."


def reply_tone(tid: int) -> float:
    """The tone the fake TTS speaks reply ``tid`` in."""
    return REPLY_TONES[tid % len(REPLY_TONES)]


def tone_for_text(text: str) -> float:
    """The fake TTS's ``tone`` function: a reply's tone from its number, the greeting's, or
    :data:`LINE_HZ` for any other line (never one of the replies' tones)."""
    match = REPLY_RE.search(text)
    if match:
        return reply_tone(int(match.group(1)))
    if GREETING.rstrip(".") in text:
        return GREETING_HZ
    return LINE_HZ


def speech(seconds: float) -> list[bytes]:
    """The caller's voice for ``seconds`` (at least one frame)."""
    return [SPEECH_FRAME] * max(1, round(seconds / FRAME_S))


def marker_frame(tag: int, index: int) -> bytes:
    """A near-silent μ-law frame (-59 dBFS) that names call ``tag``'s packet ``index``."""
    value = (tag & 0xFFFF) << 24 | (index & 0xFFFFFF)
    head = MARKER_MAGIC + bytes(0xF0 | (value >> (4 * i)) & 0xF for i in range(10))
    return head + head + b"\xff" * (FRAME_BYTES - 2 * len(head))


def read_marker(frame: bytes) -> tuple[int, int] | None:
    """``(tag, index)`` of a marker frame, or None."""
    if len(frame) != FRAME_BYTES or frame[:4] != MARKER_MAGIC or frame[14:28] != frame[:14]:
        return None
    value = sum((frame[4 + i] & 0xF) << (4 * i) for i in range(10))
    return value >> 24, value & 0xFFFFFF


@dataclass(frozen=True)
class BenchParams:
    """What every configuration shares: the load and the fakes' delays."""

    calls: int = 13
    turns: int = 5
    greeting_calls: int = 40
    warmup_calls: int = 1
    min_turn_silence_ms: int = 100
    stt_final_latency_ms: float = 50.0
    llm_first_token_ms: float = 100.0
    tts_first_byte_ms: float = 75.0
    llm_next_token_ms: float = 0.0
    tts_speed: float = 8.0
    ms_per_char: int = 40
    first_speech_s: tuple[float, float] = (0.4, 0.7)
    barge_after_s: tuple[float, float] = (0.5, 0.9)
    barge_speech_s: tuple[float, float] = (0.75, 0.95)
    seed: int = 1
    max_turn_silence_ms: int | None = None
    """The fake STT's (and the gateway's) ``max_turn_silence``; None = the fake's 1000 ms."""
    sentence_end: bool = True
    """Transcripts end in "."; False: the turn ends at ``max_turn_silence``, after a partial."""
    partial_mismatch: float = 0.0
    """Share of turns whose silence partial misses a word (a preemptive request wasted)."""
    stt_partial_latency_ms: float = 0.0
    """The fake STT's latency for every partial (its model's)."""
    early_partial_ms: int | None = None
    """Speech (ms) into a turn at which the fake STT tries its early partial (tried again at
    twice, three times ... while it comes back empty); None = no early partials."""
    trailing_s: tuple[float, float] = (0.0, 0.0)
    """A sound without words (a breath, a drawn-out vowel) after each turn's words, drawn
    from this range: an early partial cut in it has all the words."""

    @property
    def stt_end_of_turn_ms(self) -> float:
        """The silence after which the fake STT ends a turn."""
        if self.sentence_end:
            return self.min_turn_silence_ms
        return self.max_turn_silence_ms if self.max_turn_silence_ms is not None else 1000

    @property
    def nominal_delays_ms(self) -> float:
        """The delays the fakes inject on the way from end of speech to the reply."""
        return (
            self.stt_end_of_turn_ms
            + self.stt_final_latency_ms
            + self.llm_first_token_ms
            + self.tts_first_byte_ms
        )


@dataclass(frozen=True)
class BenchConfig:
    """One gateway configuration (the knobs under comparison)."""

    name: str
    chunk_ms: int = 100
    jitter_min_ms: int = 40
    barge_in_start_ms: int = 60
    preemptive: bool = False
    """SIPGW_PREEMPTIVE on."""
    speculative: bool = False
    """SIPGW_SPECULATIVE_SPEECH on (with SIPGW_PREEMPTIVE)."""
    turn_silence: tuple[int, int] | None = None
    """The gateway's (and so the fake STT's) (min, max) turn silence; None = the params'."""
    max_waste_percent: int | None = None
    """SIPGW_SPECULATIVE_MAX_WASTE_PERCENT; None = the gateway's default."""
    speech_partials: bool = False
    """SIPGW_PREEMPTIVE_DURING_SPEECH on (with SIPGW_PREEMPTIVE)."""
    preemptive_pause_ms: int | None = None
    """SIPGW_PREEMPTIVE_PAUSE_MS; None = the gateway's default (100)."""


PAUSES_MS: Final = (250, 400, 600, 800)
"""The caller's mid-sentence pauses in ``paused`` calls, one per turn in turn."""
FRAGMENT_PAUSES_MS: Final = (150, 300)
"""The pauses after a punctuated fragment ("Turn 7." ... "please"), in the turns that
follow those of :data:`PAUSES_MS`: Universal-3 Pro ends the turn at such a fragment once
``min_turn_silence`` has passed."""
PAUSED_TURNS: Final = (*((p, False) for p in PAUSES_MS), *((p, True) for p in FRAGMENT_PAUSES_MS))
"""A ``paused`` call's turns in turn: (pause in ms, after a punctuated fragment)."""
FIRST_SPEECH_S: Final = 0.6
"""What the caller says before the pause."""
SECOND_SPEECH_S: Final = 0.5
"""What the caller says after it."""
PAUSE_FRAME: Final = b"\xff" * FRAME_BYTES
"""Digital silence (μ-law 0xFF): the pause."""


@dataclass(frozen=True)
class PausedTurn:
    """One scripted turn with a mid-sentence pause, as the caller saw it.

    Attributes:
        pause_ms: the pause.
        first_end: send time of the last packet before the pause.
        second_end: send time of the turn's last packet.
        first_audio: receive time of the first loud agent packet after ``first_end``.
        fragment: the words before the pause end in "." (a punctuated fragment).
    """

    pause_ms: int
    first_end: float
    second_end: float
    first_audio: float | None
    fragment: bool = False

    @property
    def cut_off(self) -> bool:
        """Agent audio came before the caller finished the turn."""
        return self.first_audio is not None and self.first_audio <= self.second_end

    @property
    def latency_ms(self) -> float | None:
        """End of speech to the first agent audio, for a turn that was not cut off."""
        if self.first_audio is None or self.cut_off:
            return None
        return (self.first_audio - self.second_end) * 1000


class BenchFakes:
    """The three fakes, each in a thread of its own, with the benchmark's behaviour."""

    def __init__(self, params: BenchParams) -> None:
        self.params = params
        for hz in REPLY_TONES:  # synthesize up front: the fake TTS must not spend time on it
            synth_tone(hz, tone_duration_ms(reply_for(1), params.ms_per_char))
        synth_tone(GREETING_HZ, tone_duration_ms(GREETING, params.ms_per_char))
        self.stt = FakeAssemblyAI(
            api_key=KEYS["ASSEMBLYAI_API_KEY"],
            min_turn_silence_ms=params.min_turn_silence_ms,
            max_turn_silence_ms=params.max_turn_silence_ms or 1000,
            final_latency=params.stt_final_latency_ms / 1000,
            partial_latency=params.stt_partial_latency_ms / 1000,
            partial_after_ms=params.early_partial_ms,
            default_transcript=transcript_for(0, params.sentence_end),
            keep_audio=True,
            full_silence_partials=True,
        ).start_in_thread()
        self.llm = FakeOpenAI(api_key=KEYS["OPENAI_API_KEY"])
        self.llm.responder = self._respond
        self.llm.start_in_thread()
        self.tts = FakeElevenLabs(
            api_key=KEYS["ELEVENLABS_API_KEY"],
            first_byte_latency=params.tts_first_byte_ms / 1000,
            speed=params.tts_speed if params.tts_speed > 0 else None,
            ms_per_char=params.ms_per_char,
            tone=tone_for_text,
        )
        self.tts.start_in_thread()
        self.services = FakeServices(self.stt, self.llm, self.tts)

    def _respond(self, body: dict[str, Any]) -> FakeResponse:
        tid = turn_of_request(body)
        text = reply_for(tid) if tid is not None else "Sorry, could you say that again?"
        first = self.params.llm_first_token_ms / 1000
        gap = self.params.llm_next_token_ms / 1000
        if gap <= 0:
            return FakeResponse(text_deltas=[text], first_chunk_delay=first)
        # The sentence still arrives ``first`` after the request, the next token ``gap`` later.
        return FakeResponse(
            text_deltas=[text, " Anything", " else?"],
            first_chunk_delay=max(0.0, first - gap),
            chunk_delay=gap,
        )

    def env(self) -> dict[str, str]:
        """The gateway's settings that point at the fakes."""
        return {
            **self.services.gateway_env(),
            "ASSEMBLYAI_MIN_TURN_SILENCE": str(self.params.min_turn_silence_ms),
            **(
                {"ASSEMBLYAI_MAX_TURN_SILENCE": str(self.params.max_turn_silence_ms)}
                if self.params.max_turn_silence_ms is not None
                else {}
            ),
        }

    def stop(self) -> None:
        """Stop the three threads."""
        self.services.stop()


def turn_of_request(body: dict[str, Any]) -> int | None:
    """The turn number in the last user message of an LLM request, if any."""
    for message in reversed(body.get("messages") or []):
        if message.get("role") == "user":
            match = TURN_RE.search(str(message.get("content") or ""))
            return int(match.group(1)) if match else None
    return None


@dataclass
class CallTrace:
    """Everything one call left on the wire (the phone keeps the packet logs)."""

    kind: str
    tag: int
    call_id: str
    phone: Phone
    invite_at: float = 0.0
    ok_at: float | None = None
    tids: list[int] = field(default_factory=list)
    error: str | None = None
    paused: list[PausedTurn] = field(default_factory=list)
    """The turns of a ``paused`` call."""


class CallRunner:
    """Places the calls of one configuration, one after another."""

    def __init__(
        self,
        gateway: tuple[str, int],
        fakes: BenchFakes,
        params: BenchParams,
        rng: random.Random,
        tags: Iterable[int],
        tids: Iterable[int],
    ) -> None:
        self.gateway = gateway
        self.fakes = fakes
        self.params = params
        self.rng = rng
        self._tags = iter(tags)
        self._tids = iter(tids)

    async def call(self, kind: str, turns: int) -> CallTrace:
        """One call: greeting, then ``turns`` turns (0: hang up after the greeting starts);
        ``paused``: turns with a pause mid-sentence (:meth:`_converse_paused`)."""
        tag = next(self._tags)
        phone = Phone(
            self.gateway,
            user="bench",
            call_id=f"latbench-{os.getpid()}-{tag}",
            answer_requests=True,
            idle=lambda index: marker_frame(tag, index),
            sequence=self.rng.randrange(65536),
            timestamp=self.rng.randrange(2**32),
            ssrc=self.rng.randrange(1, 2**32),
        )
        trace = CallTrace(kind, tag, phone.call_id, phone)
        try:
            ok = await phone.invite(within=15.0)
            assert phone.invite_sent_at is not None and phone.answered_at is not None
            trace.invite_at, trace.ok_at = phone.invite_sent_at, phone.answered_at
            if ok.status != 200:
                trace.error = f"INVITE answered {ok.status}"
                return trace
            phone.start_audio()
            await phone.wait_heard(trace.ok_at, loud=True, within=5.0)
            if turns:
                await phone.wait_until_quiet(0.2, within=10.0)
                if kind == "paused":
                    await self._converse_paused(trace, turns)
                else:
                    await self._converse(trace, turns)
            else:
                await asyncio.sleep(0.05)
        except (TimeoutError, ValueError) as exc:
            trace.error = f"{type(exc).__name__}: {exc}"
        finally:
            await phone.stop_audio()
            await phone.hang_up()
            phone.close()
        return trace

    async def _converse(self, trace: CallTrace, turns: int) -> None:
        phone, rng, params = trace.phone, self.rng, self.params
        trace.tids = [next(self._tids) for _ in range(turns)]
        self._next_turn(trace.tids[0])
        phone.say(self._words(trace.tids[0], rng.uniform(*params.first_speech_s)), trace.tids[0])
        for k, tid in enumerate(trace.tids):
            last = await phone.wait_said(tid, within=5.0)
            first_reply = await phone.wait_heard(phone.sent_at[last], loud=True, within=10.0)
            if k + 1 == len(trace.tids):
                await asyncio.sleep(0.6)  # the reply finishes: its turn_metrics get written
                return
            barge_at = phone.heard[first_reply].read_at + rng.uniform(*params.barge_after_s)
            await asyncio.sleep(max(0.0, barge_at - time.monotonic()))
            tid = trace.tids[k + 1]
            self._next_turn(tid)
            phone.say(self._words(tid, rng.uniform(*params.barge_speech_s)), tid)

    async def _converse_paused(self, trace: CallTrace, turns: int) -> None:
        """Each turn: speech, a pause from :data:`PAUSED_TURNS`, more speech; then the reply.

        In a plain turn the fake STT's partial at the pause has only the first words (no
        sentence end: the STT ends the turn there only at ``max_turn_silence``). In a
        fragment turn the words so far are "Turn N." (a sentence end): the STT ends the
        turn once ``min_turn_silence`` has passed in the pause, and the rest is a turn of
        its own. Between turns the line stays quiet until the agent has been silent for
        1.2 s.
        """
        phone = trace.phone
        for k in range(turns):
            tid = next(self._tids)
            trace.tids.append(tid)
            pause_ms, fragment = PAUSED_TURNS[k % len(PAUSED_TURNS)]
            if fragment:
                self.fakes.stt.default_transcript = f"Turn {tid}."  # ends a sentence
            else:
                self._next_turn(tid, partial=f"turn {tid}")
            phone.say(speech(FIRST_SPEECH_S), 2 * tid)
            phone.say([PAUSE_FRAME] * (pause_ms // 20), -1)
            phone.say(speech(SECOND_SPEECH_S), 2 * tid + 1)
            first_end = phone.sent_at[await phone.wait_said(2 * tid, within=5.0)]
            second_end = phone.sent_at[await phone.wait_said(2 * tid + 1, within=5.0)]
            try:
                await phone.wait_heard(second_end, loud=True, within=4.0)
            except TimeoutError:
                pass  # counted as unanswered
            index = phone.first_heard(first_end, loud=True)
            first_audio = phone.heard[index].at if index is not None else None
            turn = PausedTurn(pause_ms, first_end, second_end, first_audio, fragment)
            trace.paused.append(turn)
            await phone.wait_until_quiet(1.2, within=15.0)

    def _words(self, tid: int, seconds: float) -> list[bytes]:
        """The caller's turn ``tid``: its words for ``seconds``, then maybe a trailing sound;
        the fake STT's early partial attempts are scripted to match (:meth:`_early`)."""
        low, high = self.params.trailing_s
        trailing = self.rng.uniform(low, high) if high > 0 else 0.0
        self._early(tid, seconds, seconds + trailing)
        return speech(seconds + trailing)

    def _early(self, tid: int, words_s: float, speech_s: float) -> None:
        """Script the early partial's attempts for a turn whose three words ("turn N
        please", evenly spread) take ``words_s`` of ``speech_s`` of speech: an attempt
        cut at ``t`` has the words that ended by then ("" = none: tried again at 2t...)."""
        every = self.params.early_partial_ms
        if every is None:
            return
        words = ["turn", str(tid), "please"]
        texts: list[str] = []
        cut = every / 1000
        while cut < speech_s - FRAME_S:  # the attempt comes during the speech
            text = " ".join(words[: min(3, int(3 * cut / words_s + 1e-9))])
            texts.append(text)
            if text:
                break
            cut += every / 1000
        self.fakes.stt.script_speech_partials(texts, replace=True)

    def _next_turn(self, tid: int, partial: str | None = None) -> None:
        """Set the fake STT up for turn ``tid`` (its final, maybe a partial missing a word)."""
        stt, params = self.fakes.stt, self.params
        stt.default_transcript = transcript_for(tid, params.sentence_end)
        if partial is not None:
            stt.script_partials([partial])
        elif not params.sentence_end and self.rng.random() < params.partial_mismatch:
            stt.script_partials([f"turn {tid}"])
