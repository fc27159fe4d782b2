"""AI-service faults injected into the fakes, and what a real softphone hears through each.

Each :class:`Fault` is a scripted call from baresip to ``sipgw serve`` (a subprocess:
``--agent assistant``, ``voice-agent`` or ``realtime``), with the services' fakes in
threads of the caller's process, and one fault injected into them, before the call or a
set time after it was answered: the TTS refusing connections or dropping one mid-reply or
reporting an error about a stale context; the STT closing with one of AssemblyAI's
documented codes (and coming back, or not); the LLM stalling, resetting connections,
answering 429 with and without ``Retry-After``, 5xx, or refusing a parameter as a
reasoning model does; a speech-to-speech model stalling, never answering, or failing a
reply with a Voice Agent ``session.error``.

:class:`FaultBench` runs them one after the other on the same processes: one gateway
per distinct agent and settings (:attr:`Fault.group`), started when a fault first needs
it and kept, one baresip for every call (its source file rewritten before each call, so
the caller's script starts with the call as it always did), the fakes reset between
calls; the fallback lines are synthesized once, kept on disk for the other gateways.
Every fault still goes through a real softphone call.

The fakes speak each text as a tone (:data:`TONES`), the fallback lines included (each
gateway synthesizes them through its fake at start), so the caller's recording says what
was heard when. :meth:`FaultBench.run` returns it with the waits: for each thing the caller
said, how long after its end the caller heard the agent again (the silence they were left
in); and the pauses: each silence inside the agent's own speech that a fault made, from
the last of its ordinary words to the line that explains (the apology, the goodbye, the
transfer notice), the caller saying nothing between (a reply cut short, then the apology);
and the failure policy's decisions twice: from the call record and from ``/metrics``
(``sipgw_failure_decisions_total``, scraped before and after the call).
``tests/interop/test_fault_peers.py`` asserts on all of it; ``bench/fault_silence.py``
prints the table of docs/assistant.md (:data:`TABLE_HEADERS`, :func:`table_row`).
"""

from __future__ import annotations

import contextlib
import json
import re
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, TypeVar

from sipgw.app.evaluation.audio import (
    AudioReport,
    analyse,
    first_audio_after,
    tone_spans,
    write_pattern,
)
from sipgw.app.evaluation.fakes.openai import FakeResponse
from sipgw.app.evaluation.gateway_process import GatewayProcess
from sipgw.app.evaluation.ports import free_port
from sipgw.app.evaluation.process import PeerError
from tests.toolkit.canaries import ASSEMBLYAI_KEY, OPENAI_KEY
from tests.toolkit.fakes.realtime import FakeRealtime
from tests.toolkit.fakes.threaded import ThreadedFakes, fakes_in_threads
from tests.toolkit.fakes.voice_agent import FakeVoiceAgent
from tests.toolkit.fakes.voice_base import FakeReply
from tests.toolkit.metrics import sample_value
from tests.toolkit.peers.baresip import Baresip

__all__ = [
    "FAULTS",
    "LIKE",
    "ONE_PER_BEHAVIOUR",
    "SPEECH_HZ",
    "TABLE_HEADERS",
    "TONES",
    "Fault",
    "FaultBench",
    "FaultRun",
    "table_row",
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
"""Each text the fakes speak that contains a key, as a tone of that frequency."""
ORDINARY = ("Hi there", "shipped", "story")
"""The agent's ordinary words."""
EXPLAINING = ("having trouble", "Goodbye", "colleague")
"""The lines that tell the caller a reply failed (the apology) or the call moves on."""
QUESTION = "Where is my order?"
"""What the caller is heard to say: a sentence end, so the STT ends the turn at once."""
UNFINISHED = "Where is my order"
"""No sentence end: u3-rt-pro (and its fake) end the turn only at max_turn_silence (1 s)."""
ANSWER = "Your order has shipped and arrives tomorrow."
LONG = "Let me tell you a long story about our shipping policy and all its details. " * 3
MEDIUM = "Let me tell you a long story about our shipping policy and all its details. " * 2

AgentKind = Literal["assistant", "voice-agent", "realtime"]
ModelT = TypeVar("ModelT", FakeVoiceAgent, FakeRealtime)


@dataclass(frozen=True)
class Fault:
    """One scripted call with one fault.

    Attributes:
        name: Its short name (a test id, a table row).
        what: What goes wrong, in words.
        inject: Breaks the fakes (called from a timer thread).
        at: Seconds after the answer that ``inject`` runs; None = before the call.
        agent: The gateway's agent.
        env: More gateway settings (faults with the same agent and ``env`` share a gateway).
        replies: What the LLM answers, in order (then its default).
        transcripts: What the STT hears the caller say, in order (then :data:`QUESTION`).
        model: What a speech-to-speech model replies, in order (then ``ANSWER``).
        turns: When the caller starts saying something (seconds after the answer).
        seconds: How long the caller stays on unless the agent hangs up.
        hears: Tones (:data:`TONES` values) the caller must hear after the fault (at
            ``at``, or at the first turn when the fault is in a script).
        heard_for: (tone, seconds): tones that must be heard at least that long in all.
        first_heard: The tone the caller must hear first after their first turn (within
            2 s of its end, as every wait).
        decisions: The failure-policy decisions the call record must have: exactly these.
        hangs_up: The gateway must end the call (a goodbye, or a transfer done).
    """

    name: str
    what: str
    inject: Callable[[FaultServices], None]
    at: float | None = None
    agent: AgentKind = "assistant"
    env: dict[str, str] = field(default_factory=dict)
    replies: tuple[FakeResponse, ...] = (FakeResponse(text=ANSWER),)
    transcripts: tuple[str, ...] = ()
    model: tuple[FakeReply, ...] = ()
    turns: tuple[float, ...] = (1.0,)
    seconds: float = 4.0
    hears: tuple[float, ...] = ()
    heard_for: tuple[tuple[float, float], ...] = ()
    first_heard: float | None = None
    decisions: tuple[str, ...] = ()
    hangs_up: bool = False

    @property
    def group(self) -> tuple[str, tuple[tuple[str, str], ...]]:
        """Which gateway runs it: its agent and settings."""
        return self.agent, tuple(sorted(self.env.items()))

    @property
    def starts_at(self) -> float:
        """When the fault begins (seconds after the answer): ``at``, else the first turn."""
        return self.at if self.at is not None else self.turns[0]


@dataclass
class FaultServices:
    """What a fault can break: the pipeline's fakes, and a speech-to-speech model's."""

    pipeline: ThreadedFakes
    voice_agent: FakeVoiceAgent | None = None
    realtime: FakeRealtime | None = None


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
    metric_decisions: dict[str, int]
    """``sipgw_failure_decisions_total`` increments during the call, by decision."""
    seconds: float
    """How long the call took, dial to hang-up."""
    _spans: dict[float, list[tuple[float, float]]] = field(default_factory=dict, repr=False)

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
        """When the caller heard ``hz`` (analysed once per tone)."""
        if hz not in self._spans:
            self._spans[hz] = tone_spans(self.report, hz)
        return self._spans[hz]

    def heard_after_fault(self, hz: float) -> bool:
        """Whether ``hz`` was heard once the fault began (a span ending after it)."""
        return any(end > self.fault.starts_at for _, end in self.heard(hz))

    def heard_seconds(self, hz: float) -> float:
        """How long ``hz`` was heard in all."""
        return sum(end - start for start, end in self.heard(hz))

    def first_after_turn(self) -> tuple[float | None, float | None]:
        """(tone, start) of the first thing heard after the first turn's end."""
        end = self.fault.turns[0] + SPEECH_SECONDS
        back = first_audio_after(self.report, end)
        if back is None:
            return None, None
        for hz in TONES.values():
            if any(abs(start - back) <= 0.15 for start, _ in self.heard(hz)):
                return hz, back
        return None, back

    def decisions(self) -> list[str]:
        """The failure policy's decisions, in order."""
        return [line["decision"] for line in self.record if line["type"] == "failure"]

    def summary(self) -> dict[str, Any]:
        """One row of the table: what was heard after the fault, decided, waited."""
        greeting = TONES["Hi there"]
        heard = [
            text for text, hz in TONES.items() if hz != greeting and self.heard_after_fault(hz)
        ]
        return {"fault": self.fault.name, "what": self.fault.what, "agent": self.fault.agent,
                "heard": heard, "decisions": self.decisions(),
                "longest_wait_s": round(self.longest_wait, 2),
                "longest_pause_s": round(self.longest_pause, 2),
                "agent_hung_up": self.agent_hung_up, "call_s": round(self.seconds, 1)}  # fmt: skip


TABLE_HEADERS = ("fault", "agent", "what the caller heard after it", "decisions",
                 "longest wait (s)", "longest pause (s)", "agent hung up")  # fmt: skip
"""The columns of docs/assistant.md's table (``bench/fault_silence.py`` prints them)."""


def table_row(summary: dict[str, Any]) -> list[str]:
    """A :meth:`FaultRun.summary` as the table's cells (Markdown)."""
    heard = ", ".join(f'"{text}"' for text in summary["heard"]) or "-"
    decisions = ", ".join(f"`{name}`" for name in summary["decisions"]) or "-"
    return [f"`{summary['fault']}`: {summary['what']}", summary["agent"], heard, decisions,
            f"{summary['longest_wait_s']:.2f}", f"{summary['longest_pause_s']:.2f}",
            "yes" if summary["agent_hung_up"] else "no"]  # fmt: skip


# --------------------------------------------------------------------------- the bench


class FaultBench:
    """Runs faults one after the other on shared processes (see the module docstring).

    Args:
        workdir: where the gateways, baresip and the recordings live.
    """

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self._stack = contextlib.ExitStack()
        self._services: FaultServices | None = None
        self._gateways: dict[tuple[str, tuple[tuple[str, str], ...]], _Gateway] = {}
        self._caller: Baresip | None = None
        self._human: Baresip | None = None
        self._source = workdir / "caller-script.wav"
        self._last_call = 0.0
        """Wall-clock time the caller's latest call started (at the latest)."""

    def __enter__(self) -> FaultBench:
        self.workdir.mkdir(parents=True, exist_ok=True)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Stop every process and fake."""
        for gateway in self._gateways.values():
            with contextlib.suppress(Exception):
                gateway.process.stop()
        self._gateways.clear()
        self._stack.close()

    # -- what a fault needs

    @property
    def services(self) -> FaultServices:
        """The fakes (the pipeline's started with the bench, the models' when first needed)."""
        if self._services is None:
            fakes = self._stack.enter_context(
                fakes_in_threads(self.workdir, TONES, tts_speed=1.0)  # a reply streams for seconds
            )
            fakes.stt.default_transcript = QUESTION
            self._services = FaultServices(fakes)
        return self._services

    @property
    def human(self) -> Baresip:
        """The transfer target: a softphone that answers at once."""
        if self._human is None:
            self._human = self._stack.enter_context(
                Baresip(self.workdir, "human", user="human", answermode="auto", lifetime=900)
            )
        return self._human

    @property
    def caller(self) -> Baresip:
        """The caller: one softphone for every call, its script rewritten before each."""
        if self._caller is None:
            write_pattern(self._source, [(None, 60.0)])
            self._caller = self._stack.enter_context(
                Baresip(
                    self.workdir, "caller", user="caller", source_wav=self._source, lifetime=900
                )  # fmt: skip
            )
        return self._caller

    def _model(self, kind: AgentKind) -> tuple[FakeVoiceAgent | FakeRealtime, dict[str, str]]:
        services = self.services
        if kind == "voice-agent":
            if services.voice_agent is None:
                services.voice_agent = self._start_model(FakeVoiceAgent(ASSEMBLYAI_KEY, speed=2.0))
            fake: FakeVoiceAgent | FakeRealtime = services.voice_agent
            return fake, {"ASSEMBLYAI_API_KEY": ASSEMBLYAI_KEY,
                          "ASSEMBLYAI_VOICE_AGENT_URL": services.voice_agent.url}  # fmt: skip
        if services.realtime is None:
            services.realtime = self._start_model(FakeRealtime(OPENAI_KEY, speed=2.0))
        base_url = services.realtime.base_url
        return services.realtime, {"OPENAI_API_KEY": OPENAI_KEY,
                                   "OPENAI_REALTIME_BASE_URL": base_url}  # fmt: skip

    def _start_model(self, fake: ModelT) -> ModelT:
        for text, hz in TONES.items():
            fake.map_text(text, hz)
        fake.start_in_thread()
        self._stack.callback(fake.stop)
        return fake

    def _gateway(self, fault: Fault) -> _Gateway:
        gateway = self._gateways.get(fault.group)
        if gateway is not None:
            return gateway
        services = self.services
        env = dict(services.pipeline.env)
        if fault.agent != "assistant":
            env.update(self._model(fault.agent)[1])
        name = f"gw{len(self._gateways) + 1}-{fault.agent}"
        env.update({
            "SIPGW_CALL_RECORD_DIR": str(self.workdir / name / "calls"),
            "SIPGW_FALLBACK_CACHE_DIR": str(self.workdir / "fallback-lines"),
            **{key: value.format(human=self.human.uri) for key, value in fault.env.items()},
        })  # fmt: skip
        port = free_port()
        process = GatewayProcess(
            self.workdir / name, agent=fault.agent, allow_from="127.0.0.0/8", extra_env=env,
            extra_args=["--admin-port", str(port)], lifetime=900,
        )  # fmt: skip
        with self._fast(services):
            process.start()
            try:
                process.wait_log(r"fallback lines of", 15)  # spoken by the fakes, or from disk
                process.wait_log(r"admin listening on", 5)
            except PeerError:
                process.stop()
                raise
        gateway = self._gateways[fault.group] = _Gateway(process, port, self.workdir / name)
        return gateway

    @staticmethod
    @contextlib.contextmanager
    def _fast(services: FaultServices) -> Iterator[None]:
        """The fakes speak as fast as they can while a gateway synthesizes its fallback
        lines at start; in calls, in real time (a reply streams for seconds)."""
        fakes = [f for f in (services.pipeline.tts, services.voice_agent, services.realtime) if f]
        speeds = [fake.speed for fake in fakes]
        for fake in fakes:
            fake.speed = None
        try:
            yield
        finally:
            for fake, speed in zip(fakes, speeds, strict=True):
                fake.speed = speed

    # -- one call

    def run(self, fault: Fault) -> FaultRun:
        """Call through ``fault`` (see the module docstring)."""
        services = self.services
        self._reset(services)
        services.pipeline.llm.script(fault.replies)
        services.pipeline.stt.script(fault.transcripts)
        if fault.agent != "assistant":
            model, _ = self._model(fault.agent)
            model.script(fault.model or (FakeReply(ANSWER),))
        gateway = self._gateway(fault)
        caller = self.caller
        segments: list[tuple[float | None, float]] = []
        now = 0.0
        for start in fault.turns:
            segments += [(None, start - now), (SPEECH_HZ, SPEECH_SECONDS)]
            now = start + SPEECH_SECONDS
        write_pattern(self._source, [*segments, (None, 30.0)], -12.0)
        if fault.at is None:
            fault.inject(services)
        before = gateway.decisions()
        records = set(gateway.records.glob("*.jsonl"))
        lines = len(gateway.process.log_lines())
        caller.forget_events()
        while int(time.time()) == int(self._last_call):
            time.sleep(0.02)  # baresip names recordings by the second: one call per second
        self._last_call = time.time()
        calls_before = len(caller.all_recordings())
        dialled = time.monotonic()
        caller.dial(gateway.process.uri("agent"))
        answered = caller.wait_event("CALL_ESTABLISHED", 5)["received_at"]
        timer = None
        if fault.at is not None:
            delay = max(0.0, fault.at - (time.monotonic() - answered))
            timer = threading.Timer(delay, fault.inject, (services,))
            timer.start()
        try:
            caller.wait_event("CALL_CLOSED", fault.seconds)  # the agent ended the call
        except PeerError:
            caller.hangup()  # the caller's time is up
        finally:
            if timer is not None:
                timer.cancel()
        ended = gateway.process.wait_log(r"call ended: (\S+)", 5, start=lines)
        seconds = time.monotonic() - dialled
        agent_hung_up = ended[1] != "remote-bye"
        if any("transfer succeeded" in line for line in gateway.process.log_lines()[lines:]):
            self._hang_up_transferred(caller)
        caller.recordings()  # the latest call's files are complete
        heard = caller.all_recordings()[calls_before][0]  # the call with the gateway
        after = gateway.decisions()
        (path,) = set(gateway.records.glob("*.jsonl")) - records
        record = [json.loads(line) for line in path.read_text().splitlines()]
        report = analyse(heard)
        waits = []
        for start in fault.turns:
            end = start + SPEECH_SECONDS
            if end >= report.duration:
                continue
            back = first_audio_after(report, end)
            waits.append((back if back is not None else report.duration) - end)
        deltas = {name: int(after.get(name, 0) - before.get(name, 0)) for name in after}
        run = FaultRun(fault, report, waits, [], record, agent_hung_up,
                       {k: v for k, v in deltas.items() if v}, seconds)  # fmt: skip
        run.pauses = agent_pauses(report, fault.turns, run.heard)
        return run

    def _transfers(self) -> int:
        """Calls the human answered so far."""
        human = self._human
        return (
            0
            if human is None
            else sum(1 for event in human.events if event.get("type") == "CALL_ESTABLISHED")
        )

    def _hang_up_transferred(self, caller: Baresip) -> None:
        """A transfer left the caller talking to the human: end that call too."""
        human = self.human
        human.wait_event("CALL_ESTABLISHED", 5)
        self._last_call = time.time()  # the transferred call started by now
        caller.hangup()
        human.wait_event("CALL_CLOSED", 5)
        human.forget_events()

    @staticmethod
    def _reset(services: FaultServices) -> None:
        pipeline = services.pipeline
        for fake in (pipeline.stt, pipeline.llm, pipeline.tts, services.voice_agent,
                     services.realtime):  # fmt: skip
            if fake is not None:
                fake.reset()


@dataclass
class _Gateway:
    """One gateway of the bench: its process, admin port and call records."""

    process: GatewayProcess
    admin_port: int
    workdir: Path

    @property
    def records(self) -> Path:
        path = self.workdir / "calls"
        path.mkdir(parents=True, exist_ok=True)
        return path

    def decisions(self) -> dict[str, float]:
        """``sipgw_failure_decisions_total`` now, by decision (``/metrics``)."""
        url = f"http://127.0.0.1:{self.admin_port}/metrics"
        with urllib.request.urlopen(url, timeout=5) as response:
            text: bytes = response.read()
        found = {}
        for name in re.findall(rb'sipgw_failure_decisions_total\{decision="([^"]+)"\}', text):
            decision = name.decode()
            value = sample_value(text, "sipgw_failure_decisions_total", decision=decision)
            found[decision] = value or 0.0
        return found


def agent_pauses(
    report: AudioReport,
    turns: tuple[float, ...],
    spans: Callable[[float], list[tuple[float, float]]] | None = None,
) -> list[float]:
    """Each silence from a stretch of the agent's ordinary words (:data:`ORDINARY`) to a
    line that explains (:data:`EXPLAINING`) when that is what it says next, the caller
    silent meanwhile (else the wait after the caller's words counts). ``spans``: where a
    tone was heard (default: analysed here)."""
    spans_of = spans or (lambda hz: tone_spans(report, hz))
    explaining = [start for text in EXPLAINING for start, _ in spans_of(TONES[text])]
    pauses = []
    for text in ORDINARY:
        for _, end in spans_of(TONES[text]):
            stopped = round(end, 2)  # the spans' 0.1 s steps, summed in floats
            back = first_audio_after(report, stopped)
            if back is None or not any(abs(start - back) <= 0.2 for start in explaining):
                continue  # the agent never spoke again, or went on with its words
            if any(start < back and start + SPEECH_SECONDS > stopped for start in turns):
                continue
            pauses.append(back - stopped)
    return pauses


# --------------------------------------------------------------------------- the faults


def _tts_refusing(services: FaultServices) -> None:
    services.pipeline.tts.fail_next(503, "Service unavailable", times=100)
    services.pipeline.tts.drop_connections()


def _tts_drop(services: FaultServices) -> None:
    services.pipeline.tts.drop_connections()


def _tts_stale_error(services: FaultServices) -> None:
    """While a long reply streams (its context live), an error about the greeting's context,
    which had its final long ago: the client must fail nothing but that context."""
    tts = services.pipeline.tts
    deadline = time.monotonic() + 5.0
    while not any("story" in c.text for c in tts.contexts) and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.5)  # well inside the reply: its audio streams in real time
    greeting = [c for c in tts.contexts if "Hi there" in c.text][-1]
    tts.fail_context(greeting.context_id)


def _stt_close(code: int, reason: str = "", error: str | None = None) -> Callable[..., None]:
    def close(services: FaultServices) -> None:
        services.pipeline.stt.drop_connections(code, reason, error)

    return close


def _stt_unreachable(services: FaultServices) -> None:
    services.pipeline.stt.reject_next(100, code=503)
    services.pipeline.stt.drop_connections()


def _nothing(services: FaultServices) -> None:
    """The fault is in a script (the LLM's or the model's)."""


RATE_LIMITED = FakeResponse.rate_limited
APOLOGY, ANSWER_HZ, GOODBYE = TONES["having trouble"], TONES["shipped"], TONES["Goodbye"]
STT_DOWN, LONG_HZ = TONES["can't hear you"], TONES["story"]
ONE_MOMENT, TRANSFER = TONES["One moment, please"], TONES["colleague"]
MOVING_ON = {"SIPGW_STT_GIVE_UP_AFTER_MS": "4000", "SIPGW_TRANSFER_TARGET": "{human}",
             "SIPGW_LLM_MAX_FAILURES": "1"}  # fmt: skip
"""A gateway that moves calls on early, to a human (a softphone that answers)."""
STT_BACK = ("stt_lost", "stt_recovered")
STT_SLOW = ("stt_lost", "stt_down_notice", "stt_recovered")

FAULTS: tuple[Fault, ...] = (
    Fault("none", "no fault: the baseline (end of turn, LLM, TTS, RTP)", _nothing,
          hears=(ANSWER_HZ,), first_heard=ANSWER_HZ, seconds=3.5),
    Fault("tts-refusing", "TTS drops its socket and refuses every new connection (503)",
          _tts_refusing, at=0.9, turns=(1.0, 3.5), seconds=8.0,
          hears=(APOLOGY, GOODBYE), decisions=("tts_down_apology", "tts_down_goodbye"),
          hangs_up=True),
    Fault("tts-drop-mid-reply", "TTS drops the socket while a long reply streams",
          _tts_drop, at=3.0, replies=(FakeResponse(text=LONG),), seconds=5.5,
          hears=(APOLOGY,), heard_for=((LONG_HZ, 0.7),), decisions=("tts_down_apology",)),
    Fault("tts-stale-context-error",
          "TTS reports an error about a context long finished while a reply streams",
          _tts_stale_error, at=1.0, replies=(FakeResponse(text=MEDIUM),), seconds=5.5,
          hears=(LONG_HZ,), heard_for=((LONG_HZ, len(MEDIUM) * 0.020 - 0.4),)),
    *(
        Fault(f"stt-close-{code}", f"STT closes the session with {code} and comes back",
              _stt_close(code, reason), at=1.2, hears=(ANSWER_HZ,), decisions=STT_BACK)
        for code, reason in ((1000, ""), (1011, "Internal error"), (1013, "Try again later"),
                             (3005, "Server error"), (3006, "Invalid message"),
                             (3007, "Input duration violation"), (3008, "Session expired"))
    ),
    Fault("stt-close-3009", "STT closes with 3009 (too many sessions): 5 s backoff",
          _stt_close(3009, "Too many concurrent sessions"), at=1.2, seconds=7.5,
          hears=(STT_DOWN, ANSWER_HZ), decisions=STT_SLOW),
    Fault("stt-close-1008-concurrency",
          "STT closes with 1008, the Error frame saying too many sessions: 5 s backoff",
          _stt_close(1008, "", "Too many concurrent sessions"), at=1.2, seconds=7.5,
          hears=(STT_DOWN, ANSWER_HZ), decisions=STT_SLOW),
    Fault("stt-close-1008-unauthorized", "STT closes with 1008 Unauthorized (final)",
          _stt_close(1008, "Unauthorized"), at=1.2, hears=(GOODBYE,),
          decisions=("stt_failed_goodbye",), hangs_up=True),
    Fault("stt-close-4002", "STT closes with 4002 insufficient account balance (final)",
          _stt_close(4002, "Insufficient account balance"), at=1.2, hears=(GOODBYE,),
          decisions=("stt_failed_goodbye",), hangs_up=True),
    Fault("stt-unreachable",
          "STT drops and refuses every reconnection (503): SIPGW_STT_GIVE_UP_AFTER_MS (4 s "
          "here), then the transfer", _stt_unreachable, at=1.2, env=MOVING_ON, seconds=9.0,
          hears=(STT_DOWN, TRANSFER), decisions=("stt_lost", "stt_down_notice",
                                                  "stt_down_transfer"), hangs_up=True),
    Fault("llm-stall",
          "LLM silent for 2.5 s after an end of turn 1 s late (u3-rt-pro's max_turn_silence)",
          _nothing, transcripts=(UNFINISHED,),
          replies=(FakeResponse(text=ANSWER, first_chunk_delay=2.5),), seconds=5.5,
          hears=(ONE_MOMENT, ANSWER_HZ), first_heard=ONE_MOMENT, decisions=("hold_line",)),
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
    Fault("llm-down-transfer",
          "LLM answers 500 to every attempt, SIPGW_LLM_MAX_FAILURES=1: the transfer",
          _nothing, env=MOVING_ON,
          replies=(FakeResponse.http_error(500, "The server had an error"),) * 3, seconds=6.0,
          hears=(TRANSFER,), decisions=("llm_down_transfer",), hangs_up=True),
    Fault("llm-reasoning-refusal",
          "o4-mini refuses max_tokens (400), as a capabilities override sends it", _nothing,
          env={"OPENAI_MODEL": "o4-mini", "OPENAI_CAPABILITIES": "max_tokens"},
          hears=(APOLOGY,), decisions=("llm_apology",)),
    Fault("voice-agent-stall", "the Voice Agent model answers 3 s late", _nothing,
          agent="voice-agent", model=(FakeReply(ANSWER, reply_delay=3.0),), seconds=6.0,
          hears=(ONE_MOMENT, ANSWER_HZ), first_heard=ONE_MOMENT, decisions=("hold_line",)),
    Fault("voice-agent-error",
          "the Voice Agent fails the reply: session.error after reply.started, then nothing",
          _nothing, agent="voice-agent",
          model=(FakeReply(error=("server_error", "The model is overloaded")),),
          hears=(APOLOGY,), first_heard=APOLOGY, decisions=("llm_apology",)),
    Fault("realtime-stall",
          "the Realtime model never answers: SIPGW_S2S_REPLY_TIMEOUT_MS (3 s here)", _nothing,
          agent="realtime", env={"SIPGW_S2S_REPLY_TIMEOUT_MS": "3000"},
          model=(FakeReply(ANSWER, reply_delay=60.0),), seconds=5.5,
          hears=(ONE_MOMENT, APOLOGY), first_heard=ONE_MOMENT,
          decisions=("hold_line", "llm_apology")),
)  # fmt: skip
"""Every fault a softphone call goes through."""

LIKE: dict[str, tuple[str, str]] = {
    **{
        f"stt-close-{code}": (
            "stt-close-1000",
            "tests/agent/services/assemblyai/test_stt.py::test_transient_closes_are_retried",
        )
        for code in (1011, 1013, 3005, 3006, 3007, 3008)
    },
    "stt-close-1008-concurrency": (
        "stt-close-3009",
        "tests/agent/services/assemblyai/test_stt.py::test_transient_closes_are_retried",
    ),
    "stt-close-4002": (
        "stt-close-1008-unauthorized",
        "tests/agent/services/assemblyai/test_stt_protocol.py::test_close_code_policy",
    ),
    **{
        name: (
            "llm-503",
            "tests/agent/services/openai/test_chat.py::"
            "test_a_transient_failure_is_retried_and_the_caller_hears_the_answer",
        )
        for name in ("llm-reset", "llm-429-retry-after", "llm-429-no-retry-after")
    },
    **{
        name: (
            "llm-500-persistent",
            "tests/agent/services/openai/test_chat.py::test_a_lasting_failure_is_not_retried",
        )
        for name in ("llm-429-long-retry-after", "llm-reasoning-refusal")
    },
}
"""Faults whose call is another's (``LIKE[name] = (that fault, the test of the rule that
makes them alike)``): a vendor's failure the client classes the same way (an AssemblyAI close
code, an LLM error retried or not) takes the same path through the gateway, so the caller
hears the same; the class is the client's own rule, tested without a call. The real-peer
calls (tests/interop/test_fault_peers.py) are the other faults, one per behaviour; the
benchmark (bench/fault_silence.py) still calls every fault."""
ONE_PER_BEHAVIOUR: tuple[Fault, ...] = tuple(fault for fault in FAULTS if fault.name not in LIKE)
"""The faults a softphone calls through in the suite: one per behaviour (see :data:`LIKE`)."""
