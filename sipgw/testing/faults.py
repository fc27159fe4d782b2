"""AI-service faults injected into the fakes, and what a real softphone hears through each.

Each :class:`Fault` is a scripted call to ``sipgw serve --agent assistant`` (a subprocess)
from baresip, with the three services' fakes in threads of the caller's process, and one
fault injected into them, before the call or a set time after it was answered: the TTS
refusing connections or dropping one mid-reply or reporting an error about a stale
context; the STT closing with one of AssemblyAI's documented codes (and coming back, or
not); the LLM resetting connections, answering 429 with and without ``Retry-After``, 5xx,
or refusing a parameter as a reasoning model does.

The fake TTS speaks each text as a tone (:data:`TONES`), the fallback lines included (the
gateway synthesizes them through it at its start), so the caller's recording says what
was heard when. :func:`run_fault` returns it with the waits: for each thing the caller
said, how long after its end the caller heard the agent again (the silence they were left
in); and the pauses: each silence inside the agent's own speech that a fault made, from
the last of its ordinary words to the line that explains (the apology, the goodbye, the
transfer notice), the caller saying nothing between (a reply cut short, then the apology).
``tests/interop/test_fault_peers.py`` asserts on both; ``bench/fault_silence.py`` prints
the table of docs/assistant.md.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .audio import AudioReport, analyse, first_audio_after, tone_spans, write_pattern
from .fakes.openai import FakeResponse
from .fakes.threaded import ThreadedFakes, fakes_in_threads
from .gateway_process import GatewayProcess
from .peers.baresip import Baresip
from .process import PeerError

__all__ = [
    "FAULTS",
    "SPEECH_HZ",
    "TONES",
    "Fault",
    "FaultRun",
    "run_fault",
]

SPEECH_HZ = 300
"""The caller "speaks" a 300 Hz tone."""
SPEECH_SECONDS = 0.8
TONES: dict[str, float] = {
    "Hi there": 500,  # the greeting
    "shipped": 700,  # the answer
    "story": 900,  # a long answer
    "Goodbye": 1100,  # the goodbye line
    "having trouble": 1300,  # the apology (SIPGW_FALLBACK_PHRASE)
    "One moment, please": 1500,  # the one-moment line
    "can't hear you": 1700,  # the STT-down line
    "colleague": 1900,  # the transfer notice
}
"""Each text the fake TTS speaks that contains a key, as a tone of that frequency."""
ORDINARY = ("Hi there", "shipped", "story")
"""The agent's ordinary words."""
EXPLAINING = ("having trouble", "Goodbye", "colleague")
"""The lines that tell the caller a reply failed (the apology) or the call moves on."""
ANSWER = "Your order has shipped and arrives tomorrow."
LONG = "Let me tell you a long story about our shipping policy and all its details. " * 3


@dataclass(frozen=True)
class Fault:
    """One scripted call with one fault.

    Attributes:
        name: Its short name (a test id, a table row).
        what: What goes wrong, in words.
        inject: Breaks the fakes (called from a timer thread).
        at: Seconds after the answer that ``inject`` runs; None = before the call.
        replies: What the LLM answers, in order (then its default).
        turns: When the caller starts saying something (seconds after the answer).
        seconds: How long the caller stays on unless the agent hangs up.
        env: More gateway settings.
        hears: Tones (:data:`TONES` values) the caller must hear after the fault.
        decisions: Failure-policy decisions the call record must have, in order.
        hangs_up: The agent must end the call.
    """

    name: str
    what: str
    inject: Callable[[ThreadedFakes], None]
    at: float | None = None
    replies: tuple[FakeResponse, ...] = (FakeResponse(text=ANSWER),)
    turns: tuple[float, ...] = (1.0,)
    seconds: float = 6.0
    env: dict[str, str] = field(default_factory=dict)
    hears: tuple[float, ...] = ()
    decisions: tuple[str, ...] = ()
    hangs_up: bool = False


@dataclass
class FaultRun:
    """What the caller heard through one fault."""

    fault: Fault
    report: AudioReport
    waits: list[float]
    """For each thing the caller said: seconds from its end until they heard the agent
    again (the rest of the call, if never)."""
    pauses: list[float]
    """Each silence from the agent's ordinary words (:data:`ORDINARY`) to a line that
    explains (:data:`EXPLAINING`), the caller silent meanwhile."""
    record: list[dict[str, Any]]
    agent_hung_up: bool

    @property
    def longest_wait(self) -> float:
        """The longest silence the caller was left in after speaking."""
        return max(self.waits, default=0.0)

    @property
    def longest_pause(self) -> float:
        """The longest unexplained silence inside the agent's speech."""
        return max(self.pauses, default=0.0)

    @property
    def longest_silence(self) -> float:
        """The longest unexplained silence of the call: a wait or a pause."""
        return max(self.longest_wait, self.longest_pause)

    def heard(self, hz: float) -> list[tuple[float, float]]:
        """When the caller heard ``hz``."""
        return tone_spans(self.report, hz)

    def decisions(self) -> list[str]:
        """The failure policy's decisions, in order."""
        return [line["decision"] for line in self.record if line["type"] == "failure"]

    def summary(self) -> dict[str, Any]:
        """One row of the table: what was heard after the greeting, decided, waited."""
        heard = [text for text, hz in TONES.items() if hz != TONES["Hi there"] and self.heard(hz)]
        return {"fault": self.fault.name, "what": self.fault.what, "heard": heard,
                "decisions": self.decisions(), "longest_wait_s": round(self.longest_wait, 2),
                "longest_pause_s": round(self.longest_pause, 2),
                "agent_hung_up": self.agent_hung_up}  # fmt: skip


def run_fault(workdir: Path, fault: Fault) -> FaultRun:
    """Call the assistant through ``fault`` (see the module docstring)."""
    workdir.mkdir(parents=True, exist_ok=True)
    segments: list[tuple[float | None, float]] = []
    now = 0.0
    for start in fault.turns:
        segments += [(None, start - now), (SPEECH_HZ, SPEECH_SECONDS)]
        now = start + SPEECH_SECONDS
    source = write_pattern(workdir / f"{fault.name}.wav", [*segments, (None, 30.0)], -12.0)
    # The TTS speaks in real time, so a reply still streams seconds after it began (a
    # fault can hit it mid-way).
    with fakes_in_threads(workdir, TONES, tts_speed=1.0) as services:
        services.llm.script(fault.replies)
        if fault.at is None:
            fault.inject(services)
        gw = GatewayProcess(
            workdir,
            agent="assistant",
            allow_from="127.0.0.0/8",
            extra_env={**services.env, **fault.env},
        )
        caller = Baresip(workdir, "caller", user="caller", source_wav=source)
        with gw, caller:
            gw.wait_log(r"fallback lines of", 10)
            caller.dial(gw.uri("agent"))
            answered = caller.wait_event("CALL_ESTABLISHED", 5)["received_at"]
            timer = None
            if fault.at is not None:
                delay = max(0.0, fault.at - (time.monotonic() - answered))
                timer = threading.Timer(delay, fault.inject, (services,))
                timer.start()
            try:
                closed = caller.wait_event("CALL_CLOSED", fault.seconds)
                agent_hung_up = closed["param"] == "Connection reset by peer"  # our BYE
            except PeerError:
                agent_hung_up = False
                caller.hangup()
                caller.wait_event("CALL_CLOSED", 5)
            if timer is not None:
                timer.cancel()
            gw.wait_log(r"call ended:", 5)
            heard, _ = caller.recordings()
            gw.stop()
    report = analyse(heard)
    waits = []
    for start in fault.turns:
        end = start + SPEECH_SECONDS
        if end >= report.duration:
            continue
        back = first_audio_after(report, end)
        waits.append((back if back is not None else report.duration) - end)
    (path,) = (workdir / "calls").glob("*.jsonl")
    record = [json.loads(line) for line in path.read_text().splitlines()]
    pauses = agent_pauses(report, fault.turns)
    return FaultRun(fault, report, waits, pauses, record, agent_hung_up)


def agent_pauses(report: AudioReport, turns: tuple[float, ...]) -> list[float]:
    """Each silence from a stretch of the agent's ordinary words (:data:`ORDINARY`) to a
    line that explains (:data:`EXPLAINING`) when that is what it says next, the caller
    silent meanwhile (else the wait after the caller's words counts)."""
    explaining = [start for text in EXPLAINING for start, _ in tone_spans(report, TONES[text])]
    pauses = []
    for text in ORDINARY:
        for _, end in tone_spans(report, TONES[text]):
            stopped = round(end, 2)  # the spans' 0.1 s steps, summed in floats
            back = first_audio_after(report, stopped)
            if back is None or not any(abs(start - back) <= 0.2 for start in explaining):
                continue  # the agent never spoke again, or went on with its words
            if any(start < back and start + SPEECH_SECONDS > stopped for start in turns):
                continue
            pauses.append(back - stopped)
    return pauses


# --------------------------------------------------------------------------- the faults


def _tts_refusing(services: ThreadedFakes) -> None:
    services.tts.fail_next(503, "Service unavailable", times=100)
    services.tts.drop_connections()


def _tts_drop(services: ThreadedFakes) -> None:
    services.tts.drop_connections()


def _tts_stale_error(services: ThreadedFakes) -> None:
    greeting = [c for c in services.tts.contexts if "Hi there" in c.text][-1]
    services.tts.fail_context(greeting.context_id)  # it had its final long ago


def _stt_close(code: int, reason: str = "", error: str | None = None) -> Callable[..., None]:
    def close(services: ThreadedFakes) -> None:
        services.stt.drop_connections(code, reason, error)

    return close


def _stt_unreachable(services: ThreadedFakes) -> None:
    services.stt.reject_next(100, code=503)
    services.stt.drop_connections()


def _nothing(services: ThreadedFakes) -> None:
    """The fault is in the LLM's script."""


RATE_LIMITED = FakeResponse.rate_limited
APOLOGY, ANSWER_HZ, GOODBYE = TONES["having trouble"], TONES["shipped"], TONES["Goodbye"]
STT_DOWN, LONG_HZ = TONES["can't hear you"], TONES["story"]

FAULTS: tuple[Fault, ...] = (
    Fault("none", "no fault: the baseline (end of turn, LLM, TTS, RTP)", _nothing,
          hears=(ANSWER_HZ,)),
    Fault("tts-refusing", "TTS drops its socket and refuses every new connection (503)",
          _tts_refusing, at=0.9, turns=(1.0, 5.0), seconds=12.0,
          hears=(APOLOGY, GOODBYE), decisions=("tts_down_apology", "tts_down_goodbye"),
          hangs_up=True),
    Fault("tts-drop-mid-reply", "TTS drops the socket while a long reply streams",
          _tts_drop, at=3.0, replies=(FakeResponse(text=LONG),), seconds=9.0,
          hears=(LONG_HZ, APOLOGY), decisions=("tts_down_apology",)),
    Fault("tts-stale-context-error", "TTS reports an error about a context long finished",
          _tts_stale_error, at=0.9, hears=(ANSWER_HZ,)),
    *(
        Fault(f"stt-close-{code}", f"STT closes the session with {code} and comes back",
              _stt_close(code, reason), at=1.2, hears=(ANSWER_HZ,),
              decisions=("stt_lost", "stt_recovered"))
        for code, reason in ((1000, ""), (1011, "Internal error"), (3005, "Server error"),
                             (3006, "Invalid message"), (3007, "Input duration violation"),
                             (3008, "Session expired"))
    ),
    Fault("stt-close-3009", "STT closes with 3009 (too many sessions): 5 s backoff",
          _stt_close(3009, "Too many concurrent sessions"), at=1.2, seconds=10.0,
          hears=(STT_DOWN, ANSWER_HZ), decisions=("stt_lost", "stt_down_notice", "stt_recovered")),
    Fault("stt-close-1008-concurrency",
          "STT closes with 1008, the Error frame saying too many sessions: 5 s backoff",
          _stt_close(1008, "", "Too many concurrent sessions"), at=1.2, seconds=10.0,
          hears=(STT_DOWN, ANSWER_HZ), decisions=("stt_lost", "stt_down_notice", "stt_recovered")),
    Fault("stt-close-1008-unauthorized", "STT closes with 1008 Unauthorized (final)",
          _stt_close(1008, "Unauthorized"), at=1.2, hears=(GOODBYE,),
          decisions=("stt_failed_goodbye",), hangs_up=True),
    Fault("stt-close-4002", "STT closes with 4002 insufficient account balance (final)",
          _stt_close(4002, "Insufficient account balance"), at=1.2, hears=(GOODBYE,),
          decisions=("stt_failed_goodbye",), hangs_up=True),
    Fault("stt-unreachable", "STT drops and refuses every reconnection (503): it gives up",
          _stt_unreachable, at=1.2, seconds=14.0, hears=(STT_DOWN, GOODBYE),
          decisions=("stt_lost", "stt_down_notice", "stt_failed_goodbye"), hangs_up=True),
    Fault("llm-reset", "LLM resets the connection once: retried", _nothing,
          replies=(FakeResponse(reset=True), FakeResponse(text=ANSWER)), hears=(ANSWER_HZ,)),
    Fault("llm-429-retry-after", "LLM answers 429 with Retry-After 0.3 s: retried", _nothing,
          replies=(RATE_LIMITED(0.3), FakeResponse(text=ANSWER)), hears=(ANSWER_HZ,)),
    Fault("llm-429-no-retry-after", "LLM answers 429 without Retry-After: retried", _nothing,
          replies=(RATE_LIMITED(), FakeResponse(text=ANSWER)), hears=(ANSWER_HZ,)),
    Fault("llm-429-long-retry-after", "LLM answers 429 with Retry-After 30 s: not waited for",
          _nothing, replies=(RATE_LIMITED(30.0),), hears=(APOLOGY,),
          decisions=("llm_apology",)),
    Fault("llm-503", "LLM answers 503 once: retried", _nothing,
          replies=(FakeResponse.http_error(503, "Overloaded"), FakeResponse(text=ANSWER)),
          hears=(ANSWER_HZ,)),
    Fault("llm-500-persistent", "LLM answers 500 to every attempt", _nothing,
          replies=(FakeResponse.http_error(500, "The server had an error"),) * 3,
          hears=(APOLOGY,), decisions=("llm_apology",)),
    Fault("llm-reasoning-refusal",
          "o4-mini refuses max_tokens (400), as a capabilities override sends it", _nothing,
          env={"OPENAI_MODEL": "o4-mini", "OPENAI_CAPABILITIES": "max_tokens"},
          hears=(APOLOGY,), decisions=("llm_apology",)),
)  # fmt: skip
"""Every fault a softphone call goes through."""
