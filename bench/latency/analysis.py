"""Turning one configuration's traces into figures.

Inputs: the phone's packet logs (:class:`~bench.latency.caller.CallTrace`), what the
fakes recorded (STT chunks and their arrival times, LLM requests, TTS utterances) and
the gateway's JSONL call records. Every figure is in ms on one clock (the fakes run in
threads of the benchmark's process).
"""

from __future__ import annotations

import bisect
import contextlib
import itertools
import json
import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from operator import attrgetter
from pathlib import Path
from typing import Any

from bench._harness import percentile
from sipgw.app.evaluation.audio import dominant_tone
from sipgw.app.evaluation.fakes.assemblyai import FakeSession
from sipgw.app.evaluation.fakes.elevenlabs import Utterance
from sipgw.app.evaluation.fakes.openai import RecordedRequest
from sipgw.app.evaluation.phone import Phone

from .caller import (
    ALL_TONES,
    FRAME_BYTES,
    FRAME_S,
    GREETING,
    GREETING_HZ,
    LINE_HZ,
    REPLY_RE,
    BenchParams,
    CallTrace,
    read_marker,
    reply_tone,
    transcript_for,
    turn_of_request,
)

TARGETS: tuple[tuple[str, str, float], ...] = (
    ("reply_path_ms", "p50", 2.0),
    ("reply_path_ms", "p99", 20.0),
    ("end_of_turn_overhead_ms", "p50", 25.0),
    ("barge_in_ms", "p95", 100.0),
    ("greeting_overhead_ms", "p95", 20.0),
)
"""(figure, statistic, limit in ms) the lead asked for."""

FIGURES = (
    "reply_path_ms",
    "end_of_turn_raw_ms",
    "end_of_turn_overhead_ms",
    "end_of_turn_gateway_ms",
    "barge_in_ms",
    "greeting_raw_ms",
    "greeting_overhead_ms",
    "greeting_path_ms",
    "ingress_incl_fill_ms",
    "ingress_excl_fill_ms",
)
BREAKDOWN = (
    "caller_silence_ms",
    "gw_caller_to_stt_ms",
    "gw_chunk_fill_ms",
    "fake_stt_final_ms",
    "gw_stt_final_to_llm_request_ms",
    "fake_llm_first_token_ms",
    "gw_llm_token_to_tts_request_ms",
    "fake_tts_first_byte_ms",
    "gw_tts_byte_to_caller_ms",
    "fakes_excess_ms",
    "closure_error_ms",
)
GATEWAY_VIEW = (
    "stt_end_of_turn_ms",
    "llm_first_token_ms",
    "tts_first_byte_ms",
    "first_rtp_after_tts_ms",
    "first_rtp_after_turn_ms",
    "end_of_speech_to_first_rtp_ms",
    "barge_in_reaction_ms",
    "greeting_first_rtp_after_answer_ms",
    "greeting_tts_first_byte_ms",
    "wire_minus_gateway_end_of_turn_ms",
    "wire_minus_gateway_barge_in_ms",
)


class SttStream:
    """The audio one fake STT session received, mapped back to the caller's packets."""

    def __init__(self, session: FakeSession) -> None:
        data = b"".join(session.chunks)
        self.chunk_ends = list(itertools.accumulate(len(c) for c in session.chunks))
        self.arrivals = list(session.chunk_arrived_at)
        self.frames = [
            read_marker(data[o : o + FRAME_BYTES])
            for o in range(0, len(data) - FRAME_BYTES + 1, FRAME_BYTES)
        ]
        tags = Counter(m[0] for m in self.frames if m is not None)
        self.tag = tags.most_common(1)[0][0] if tags else None
        self.frame_of_packet = {
            m[1]: number for number, m in enumerate(self.frames) if m and m[0] == self.tag
        }
        self.finals: dict[str, float] = {}
        for message, at in zip(session.sent, session.sent_at, strict=False):
            if message.get("type") == "Turn" and message.get("end_of_turn"):
                self.finals.setdefault(str(message.get("transcript")), at)

    def _chunk_of_byte(self, offset: int) -> int | None:
        j = bisect.bisect_right(self.chunk_ends, offset)
        return j if j < len(self.arrivals) else None

    def arrival(self, frame: int) -> float | None:
        """When the frame's last byte reached the fake STT."""
        j = self._chunk_of_byte(frame * FRAME_BYTES + FRAME_BYTES - 1)
        return None if j is None else self.arrivals[j]

    def fill_ms(self, frame: int) -> float | None:
        """Frames that had to follow this one before its chunk went out, in ms."""
        end = frame * FRAME_BYTES + FRAME_BYTES
        j = self._chunk_of_byte(end - 1)
        if j is None:
            return None
        return math.ceil((self.chunk_ends[j] - end) / FRAME_BYTES) * FRAME_S * 1000

    def completing_frames(self) -> Iterable[tuple[int, float]]:
        """``(frame, arrival)`` of the frame whose pop completed each chunk."""
        for end, arrival in zip(self.chunk_ends, self.arrivals, strict=False):
            yield (end - 1) // FRAME_BYTES, arrival


@dataclass
class Samples:
    """Every measurement of one configuration, in ms."""

    figures: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    breakdown: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    gateway: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    diagnostics: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    anomalies: Counter[str] = field(default_factory=Counter)


def _tone(phone: Phone, index: int) -> float | None:
    """The tone of a received packet (of :data:`ALL_TONES`)."""
    return dominant_tone(phone.heard[index].packet.payload, ALL_TONES)


def _loud(phone: Phone, index: int) -> bool:
    """Whether a received packet is loud audio (as :meth:`Phone.first_heard` takes it)."""
    item = phone.heard[index]
    return item.audio and item.loud


def _ms(later: float | None, earlier: float | None) -> float | None:
    return None if later is None or earlier is None else (later - earlier) * 1000


class Analysis:
    """Turns the wire logs, the fakes' records and the gateway's records into samples."""

    def __init__(
        self,
        params: BenchParams,
        sessions: Sequence[FakeSession],
        requests: Sequence[RecordedRequest],
        utterances: Sequence[Utterance],
        records: dict[str, list[dict[str, Any]]],
    ) -> None:
        self.params = params
        self.streams: dict[int, SttStream] = {}
        self.samples = Samples()
        for session in sessions:
            stream = SttStream(session)
            if stream.tag is None:
                continue
            if stream.tag in self.streams:
                self.samples.anomalies["stt_sessions_after_the_first"] += 1
                continue
            self.streams[stream.tag] = stream
        self.requests: dict[int, RecordedRequest] = {}
        for request in requests:
            tid = turn_of_request(request.body)
            if tid is not None:
                self.requests.setdefault(tid, request)
        self.utterances: dict[int, Utterance] = {}
        self.greetings: list[Utterance] = []
        for utterance in utterances:
            match = REPLY_RE.search(utterance.text)
            if match:
                self.utterances.setdefault(int(match.group(1)), utterance)
            elif GREETING.rstrip(".") in utterance.text:
                self.greetings.append(utterance)
        self.records = records
        self.calls: list[dict[str, Any]] = []
        self._call: dict[str, Any] = {}

    def add(self, trace: CallTrace) -> None:
        """Measure one call."""
        s = self.samples
        self._call = {"call_id": trace.call_id, "kind": trace.kind, "error": trace.error}
        if trace.tids:
            self._call["turns"] = []
        self.calls.append(self._call)
        if trace.error:
            s.anomalies[f"call error: {trace.error}"] += 1
        phone = trace.phone
        times = phone.sent_at
        s.diagnostics["caller_send_interval_error_ms"].extend(
            abs((times[i] - times[i - 1] - FRAME_S) * 1000) for i in range(1, len(times))
        )
        s.diagnostics["caller_rx_wakeup_ms"].extend((h.read_at - h.at) * 1000 for h in phone.heard)
        records = self.records.get(trace.call_id, [])
        if trace.call_id not in self.records:
            s.anomalies["no gateway call record"] += 1
        self._greeting(trace, records)
        self._ingress(trace)
        for k, tid in enumerate(trace.tids):
            self._turn(trace, records, k, tid)

    def _greeting(self, trace: CallTrace, records: list[dict[str, Any]]) -> None:
        s, phone, p = self.samples, trace.phone, self.params
        if trace.ok_at is None:
            return
        first = phone.first_heard(trace.ok_at, loud=True)
        if first is None:
            s.anomalies["greeting not heard"] += 1
            return
        if dominant_tone(phone.heard[first].packet.payload, ALL_TONES) != GREETING_HZ:
            s.anomalies["greeting: first audio is not the greeting tone"] += 1
            return
        heard = phone.heard[first].at
        raw = (heard - trace.ok_at) * 1000
        self._call["greeting_raw_ms"] = round(raw, 2)
        s.figures["greeting_raw_ms"].append(raw)
        s.figures["greeting_overhead_ms"].append(raw - p.tts_first_byte_ms)
        candidates = [
            u
            for u in self.greetings
            if u.requested_at is not None and trace.invite_at <= u.requested_at <= heard
        ]
        if candidates:
            utterance = max(candidates, key=lambda u: u.requested_at or 0.0)
            path = _ms(heard, utterance.first_audio_at)
            if path is not None:
                s.figures["greeting_path_ms"].append(path)
        for record in records:
            if record.get("type") == "greeting_metrics":
                self._gateway("greeting_first_rtp_after_answer_ms",
                              record.get("first_rtp_after_answer_ms"))  # fmt: skip
                self._gateway("greeting_tts_first_byte_ms", record.get("tts_first_byte_ms"))

    def _ingress(self, trace: CallTrace) -> None:
        stream = self.streams.get(trace.tag)
        if stream is None:
            if trace.ok_at is not None and trace.kind != "greeting":  # those stay silent
                self.samples.anomalies["no STT audio found for a call"] += 1
            return
        sent = trace.phone.sent_at
        incl = self.samples.figures["ingress_incl_fill_ms"]
        for packet, frame in stream.frame_of_packet.items():
            arrival = stream.arrival(frame)
            if arrival is not None and packet < len(sent):
                incl.append((arrival - sent[packet]) * 1000)
        excl: list[float] = []
        for frame, arrival in stream.completing_frames():
            marker = stream.frames[frame] if frame < len(stream.frames) else None
            if marker is not None and marker[0] == trace.tag and marker[1] < len(sent):
                excl.append((arrival - sent[marker[1]]) * 1000)
        self.samples.figures["ingress_excl_fill_ms"].extend(excl)
        per_call = percentile(excl, 50)
        if per_call is not None:  # the jitter-buffer delay this call got, tick phase included
            self.samples.diagnostics["caller_to_stt_no_fill_per_call_ms"].append(per_call)
            self._call["caller_to_stt_no_fill_ms"] = round(per_call, 2)

    def _gateway(self, name: str, value: object) -> None:
        if isinstance(value, int | float):
            self.samples.gateway[name].append(float(value))

    def _turn(self, trace: CallTrace, records: list[dict[str, Any]], k: int, tid: int) -> None:
        s, phone, p = self.samples, trace.phone, self.params
        spoken = [i for i, tag in enumerate(phone.sent_tags) if tag == tid]
        if not spoken:
            return
        last = spoken[-1]
        said = phone.sent_at[last]
        turn: dict[str, Any] = {"tid": tid}
        self._call["turns"].append(turn)
        reply = phone.first_heard(said, loud=True)
        # A reply that comes about when the failure policy's "one moment" is due (1.5 s
        # after the speech: the realistic delays' sum and the gateway's part) may follow a
        # frame or two of it, cut as the reply arrives: the reply's first audio is after it.
        lines = 0
        while reply is not None and _tone(phone, reply) == LINE_HZ:
            lines += 1
            reply = next((i for i in range(reply + 1, len(phone.heard)) if _loud(phone, i)), None)
        if lines:
            turn["line_frames_before_reply"] = lines
        if reply is None:
            s.anomalies["turn without a reply"] += 1
            return
        expected = reply_tone(tid)
        if dominant_tone(phone.heard[reply].packet.payload, ALL_TONES) != expected:
            s.anomalies["reply: first audio after the turn is not its tone"] += 1
            return
        heard = phone.heard[reply].at
        raw = (heard - said) * 1000
        turn["end_of_turn_raw_ms"] = round(raw, 2)
        s.figures["end_of_turn_raw_ms"].append(raw)
        s.figures["end_of_turn_overhead_ms"].append(raw - p.nominal_delays_ms)
        utterance = self.utterances.get(tid)
        reply_path = _ms(heard, utterance.first_audio_at if utterance else None)
        if reply_path is not None:
            s.figures["reply_path_ms"].append(reply_path)
        else:
            s.anomalies["reply without a TTS record"] += 1
        self._hops(trace, tid, last, raw, reply_path, utterance, turn)
        gw_turn = next(
            (r for r in records if r.get("type") == "turn_metrics" and r.get("turn") == k + 1),
            None,
        )
        if gw_turn is not None:
            for name in GATEWAY_VIEW[:6]:
                self._gateway(name, gw_turn.get(name))
            turn["gateway_turn_metrics"] = {k: v for k, v in gw_turn.items() if k.endswith("_ms")}
            gw_eot = gw_turn.get("end_of_speech_to_first_rtp_ms")
            if isinstance(gw_eot, int | float):
                s.gateway["wire_minus_gateway_end_of_turn_ms"].append(raw - gw_eot)
        else:
            s.anomalies["turn without gateway turn_metrics"] += 1
        if k + 1 < len(trace.tids):
            self._barge_in(trace, records, k, expected, turn)

    def _hops(
        self,
        trace: CallTrace,
        tid: int,
        last: int,
        raw: float,
        reply_path: float | None,
        utterance: Utterance | None,
        turn: dict[str, Any],
    ) -> None:
        """Split the end of turn hop by hop, from the fakes' own timestamps."""
        s, phone, p = self.samples, trace.phone, self.params
        stream = self.streams.get(trace.tag)
        request = self.requests.get(tid)
        ending = last + math.ceil(p.stt_end_of_turn_ms / (FRAME_S * 1000))
        frame = stream.frame_of_packet.get(ending) if stream else None
        if stream is None or frame is None or request is None or utterance is None:
            s.anomalies["end of turn: a hop could not be timed"] += 1
            return
        chunk_at = stream.arrival(frame)
        final_at = stream.finals.get(transcript_for(tid, p.sentence_end))
        token_at = request.chunk_times[1] if len(request.chunk_times) > 1 else None
        hops = {
            "caller_silence_ms": _ms(phone.sent_at[ending], phone.sent_at[last]),
            "gw_caller_to_stt_ms": _ms(chunk_at, phone.sent_at[ending]),
            "gw_chunk_fill_ms": stream.fill_ms(frame),
            "fake_stt_final_ms": _ms(final_at, chunk_at),
            "gw_stt_final_to_llm_request_ms": _ms(request.received_at, final_at),
            "fake_llm_first_token_ms": _ms(token_at, request.received_at),
            "gw_llm_token_to_tts_request_ms": _ms(utterance.requested_at, token_at),
            "fake_tts_first_byte_ms": _ms(utterance.first_audio_at, utterance.requested_at),
            "gw_tts_byte_to_caller_ms": reply_path,
        }
        if any(v is None for v in hops.values()):
            s.anomalies["end of turn: a hop could not be timed"] += 1
            return
        v: dict[str, float] = {name: value for name, value in hops.items() if value is not None}
        for name, value in v.items():
            s.breakdown[name].append(value)
            turn[name] = round(value, 2)
        excess = (
            v["fake_stt_final_ms"] - p.stt_final_latency_ms
            + v["fake_llm_first_token_ms"] - p.llm_first_token_ms
            + v["fake_tts_first_byte_ms"] - p.tts_first_byte_ms
        )  # fmt: skip
        s.breakdown["fakes_excess_ms"].append(excess)
        gateway = (
            v["gw_caller_to_stt_ms"] + v["gw_stt_final_to_llm_request_ms"]
            + v["gw_llm_token_to_tts_request_ms"] + v["gw_tts_byte_to_caller_ms"]
        )  # fmt: skip
        s.figures["end_of_turn_gateway_ms"].append(gateway)
        total = sum(value for name, value in v.items() if name != "gw_chunk_fill_ms")
        s.breakdown["closure_error_ms"].append(raw - total)

    def _barge_in(
        self,
        trace: CallTrace,
        records: list[dict[str, Any]],
        k: int,
        tone: float,
        turn: dict[str, Any],
    ) -> None:
        s, phone = self.samples, trace.phone
        next_tid = trace.tids[k + 1]
        onset_index = next((i for i, t in enumerate(phone.sent_tags) if t == next_tid), None)
        if onset_index is None:
            return
        onset = phone.sent_at[onset_index]
        before = bisect.bisect_left(phone.heard, onset, key=attrgetter("at")) - 1
        if before < 0 or not phone.heard[before].loud:
            s.anomalies["barge-in: the agent was not speaking at the onset"] += 1
            return
        if dominant_tone(phone.heard[before].packet.payload, ALL_TONES) != tone:
            s.anomalies["barge-in: the agent was speaking another reply"] += 1
            return
        stop = phone.first_heard(onset, loud=False)
        if stop is None:
            s.anomalies["barge-in: the agent never stopped"] += 1
            return
        wire = (phone.heard[stop].at - onset) * 1000
        turn["barge_in_ms"] = round(wire, 2)
        s.figures["barge_in_ms"].append(wire)
        barge = next(
            (r for r in records if r.get("type") == "barge_in" and r.get("turn") == k + 1), None
        )
        if barge is None:
            s.anomalies["barge-in without a gateway barge_in record"] += 1
            return
        reaction = barge.get("reaction_ms")
        turn["gateway_barge_in_reaction_ms"] = reaction
        self._gateway("barge_in_reaction_ms", reaction)
        if isinstance(reaction, int | float):
            s.gateway["wire_minus_gateway_barge_in_ms"].append(wire - reaction)


def read_call_records(directory: Path) -> dict[str, list[dict[str, Any]]]:
    """The gateway's JSONL call records, by SIP Call-ID."""
    calls: dict[str, list[dict[str, Any]]] = {}
    for path in sorted(directory.glob("*.jsonl")):
        lines = []
        for line in path.read_text(encoding="utf-8").splitlines():
            with contextlib.suppress(ValueError):
                lines.append(json.loads(line))
        call_id = next((r.get("call_id") for r in lines if r.get("type") == "call"), None)
        if isinstance(call_id, str):
            calls[call_id] = lines
    return calls


def stats(values: Sequence[float]) -> dict[str, Any]:
    """n, min, p50, p95, p99, max, mean (ms, rounded to 0.01)."""

    def r(x: float | None) -> float | None:
        return None if x is None else round(x, 2)

    return {
        "n": len(values),
        "min": r(min(values)) if values else None,
        "p50": r(percentile(values, 50)),
        "p95": r(percentile(values, 95)),
        "p99": r(percentile(values, 99)),
        "max": r(max(values)) if values else None,
        "mean": r(sum(values) / len(values)) if values else None,
    }


def check_targets(figures: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Each target with the measured value and whether it is met."""
    results = []
    for figure, statistic, limit in TARGETS:
        value = figures.get(figure, {}).get(statistic)
        results.append(
            {
                "figure": figure,
                "statistic": statistic,
                "limit_ms": limit,
                "value_ms": value,
                "met": None if value is None else value <= limit,
            }
        )
    return results
