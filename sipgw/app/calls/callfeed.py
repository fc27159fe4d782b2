"""The gateway's live call feed: what the dashboard shows, pushed as it happens.

:class:`CallFeed` keeps one :class:`CallEntry` per call from the moment the gateway
sees it until it falls out of the bounded list of recent calls, and hands every
subscriber a :class:`FeedEvent` when a call starts (an outbound call as soon as it
is placed, in state ``ringing``), when it is answered, when it ends, when its agent's
call record (:class:`sipgw.agent.record.CallRecord`) gets a transcript line and when a
turn's latencies are measured (the record's ``turn_metrics`` line). Nothing here
runs per packet: events come from call setup, call end and record lines only.

Subscribers are plain callables run on the gateway's loop; they must not block
(the admin server puts each event on a bounded queue per browser).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sipgw.app.calls.hints import Refused
from sipgw.app.operations.timeline import CallTimeline

if TYPE_CHECKING:
    from sipgw.agent.base import Agent
    from sipgw.app.calls.callhandle import CallHandle
    from sipgw.sip.call import CallInfo

__all__ = [
    "RECENT_CALLS",
    "FIRST_AUDIO_FIELDS",
    "RECORD_CLOSE_WAIT",
    "TRANSCRIPT_LIMIT",
    "TRANSCRIPT_TYPES",
    "TURN_FIELDS",
    "CallEntry",
    "CallFeed",
    "FeedEvent",
    "RecordEnds",
    "agent_name",
    "chart_feed",
    "hung_up_by",
]

log = logging.getLogger("sipgw.feed")

RECORD_CLOSE_WAIT = 6.0
"""Seconds to wait for an ended call's record to be complete (the agent closes within 5)."""
RECENT_CALLS = 50
"""Ended calls the feed keeps (oldest dropped first)."""
TRANSCRIPT_LIMIT = 2000
"""Transcript lines kept per call; later lines are counted, not kept."""
TRANSCRIPT_TYPES = frozenset(
    {"user", "assistant", "tool_call", "barge_in", "transfer", "dtmf", "failure", "speech",
     "suggestion"}
)  # fmt: skip
"""The call record's line types the transcript shows (already redacted by the record):
``failure`` is a decision of the failure policy (what the caller heard when a vendor failed);
``speech`` an utterance of a SIPREC recording session's participant, ``suggestion`` agent
assist's (agent/srs/transcriber.py)."""
TURN_FIELDS = {
    "stt_end_of_turn": "stt_end_of_turn_ms",
    "llm_first_token": "llm_first_token_ms",
    "tools": "tools_ms",
    "tts_first_byte": "tts_first_byte_ms",
    "gateway_reply_path": "first_rtp_after_tts_ms",
}
"""The waterfall's stages (sipgw.agent.observer.TURN_STAGES) and their turn_metrics fields (ms)."""
FIRST_AUDIO_FIELDS = ("first_rtp_after_turn_ms", "end_of_speech_to_first_rtp_ms")
"""Where a turn_metrics line says how long after the caller's turn ended the reply's first
audio went out: from the STT's end of turn (the assistant), else from the end of speech (a
speech-to-speech agent, which has no STT)."""


@dataclass(frozen=True, slots=True)
class FeedEvent:
    """One thing that happened to a call: ``kind`` is ``call_started``, ``call_ringing`` (a
    placed call's far end rings, once), ``call_updated``
    (it was answered, got its agent, or who answered it was decided: then with ``amd``,
    as in :meth:`CallEntry.detail`), ``call_answered``
    (once), ``call_ended``, ``call_refused`` (an incoming call the routes refused, never
    admitted), ``transcript``, ``turn``, ``amd`` (answering-machine detection's result on
    a placed call, once), ``ivr`` (how a placed call with a goal got through a phone menu:
    the record's ``ivr_result``, once) or ``record_closed`` (the agent's record wrote its
    last line, after the call ended: the transcript is complete); ``data`` is JSON-ready."""

    kind: str
    call: str
    data: dict[str, Any]


def agent_name(agent: object) -> str | None:
    """An agent's short name: its class name without ``Agent``, lower case (``assistant``)."""
    if agent is None:
        return None
    name = type(agent).__name__
    return name.removesuffix("Agent").lower() or name


@dataclass(eq=False)
class CallEntry:
    """What the feed knows of one call (live, then ended)."""

    id: str
    call_id: str
    caller: str
    caller_name: str | None
    called: str
    direction: str
    started: float
    """Wall-clock start (Unix seconds)."""
    leg: str = "sip"
    """How the caller reached us: ``sip``, ``twilio`` or ``browser``."""
    agent: str | None = None
    state: str = "active"
    """``ringing`` (an outbound call not answered yet), ``active`` or ``ended``."""
    ended: float | None = None
    outcome: str | None = None
    refused: Refused | None = None
    """How the far end refused a placed call (status, reason phrase, Reason and Warning,
    hint); None: it did not."""
    transcript: list[dict[str, Any]] = field(default_factory=list)
    dropped_lines: int = 0
    turns: list[dict[str, Any]] = field(default_factory=list)
    quality: dict[str, Any] | None = None
    recording: Path | None = None
    line: str = ""
    """The routes file's line it is on ("" without one): the last one after hand-offs."""
    lines: list[dict[str, Any]] = field(default_factory=list)
    """Each line it was on, with when it took the call (``{"line", "started"}``, Unix
    seconds), when a hand-off moved it (:mod:`sipgw.app.calls.lineswitch`); else empty."""
    codec: str = ""
    """The audio codec offer/answer agreed on (``PCMU``, ``G722``), once answered; "" on
    the other legs."""
    answered: float | None = None
    """Wall-clock answer time (Unix seconds), once answered."""
    rang: bool = False
    """A placed call's far end said it rings (180, or 183 with early media)."""
    status: int | None = None
    """The final SIP status of its INVITE (200 once answered), when one applies."""
    hung_up_by: str | None = None
    """Who ended it: ``remote`` (the other party), ``agent``, ``gateway`` or ``operator``."""
    transferred_to: str | None = None
    """Where a transfer that succeeded took the caller."""
    record: Path | None = None
    """The agent's call record file (JSONL), if it writes one."""
    variables: dict[str, str] = field(default_factory=dict)
    """The call's variables (a placed call's, a line's, a Twilio stream's, the call page's)."""
    record_closed: bool = False
    """The agent's call record wrote its last line (``end``): the transcript is complete."""
    extra: dict[str, Any] = field(default_factory=dict)
    """What other parts add to the ended call (the post-call summary), kept for the API."""
    trace: str = ""
    """The W3C ``traceparent`` of the call's span, when it is traced (its webhooks carry it)."""
    amd: dict[str, Any] | None = None
    """Who answered a placed call (answering-machine detection's latest decision, then
    its result: the record's ``amd`` and ``amd_result`` lines)."""
    talk: dict[str, Any] | None = None
    """What the caller lived through: talk-over, interruptions both ways, dead air, the
    first word (the record's ``talk`` line, :mod:`sipgw.agent.talk`)."""
    ivr: dict[str, Any] | None = None
    """How a placed call with a goal got through a phone menu (the record's ``ivr_result``:
    ``goal``, ``outcome``, ``reason``, ``digits``, ``steps``, ``elapsed_ms``; docs/ivr.md)."""

    def summary(self) -> dict[str, Any]:
        """Ids, parties, line, agent, start, end and outcome (no transcript)."""
        return {
            "id": self.id,
            "call_id": self.call_id,
            "caller": self.caller,
            "caller_name": self.caller_name,
            "called": self.called,
            "direction": self.direction,
            "leg": self.leg,
            "state": self.state,
            "line": self.line,
            "codec": self.codec,
            "agent": self.agent,
            "started": self.started,
            "ended": self.ended,
            "duration_s": None if self.ended is None else round(self.ended - self.started, 1),
            "outcome": self.outcome,
            "refusal": self.refused.describe() if self.refused is not None else "",
            "recording": self.recording is not None,
            "answered_by": self.amd.get("kind") if self.amd is not None else None,
            "ivr_outcome": self.ivr.get("outcome") if self.ivr is not None else None,
        }

    def detail(self) -> dict[str, Any]:
        """:meth:`summary` plus transcript (tool calls included), turn timings and quality."""
        return {
            **self.summary(),
            "transcript": list(self.transcript),
            "dropped_lines": self.dropped_lines,
            "turns": list(self.turns),
            "quality": self.quality,
            "talk": self.talk,
            "answered": self.answered,
            "status": self.status,
            "hung_up_by": self.hung_up_by,
            "transferred_to": self.transferred_to,
            "variables": dict(self.variables),
            "refused": self.refused.fields() if self.refused is not None else None,
            "lines": list(self.lines),
            **self.extra,
            "amd": self.amd,
            "ivr": self.ivr,
        }


_REMOTE_ENDS = frozenset(
    {"remote-bye", "remote-hangup", "cancelled", "busy", "declined", "no-answer"}
)
"""End reasons where the other party ended the call (or never took it); ``remote-hangup``
is a browser's or Twilio's caller (docs/legs.md)."""


def hung_up_by(handle: CallHandle) -> str | None:
    """Who ended the call: ``remote``, ``agent``, ``gateway`` or ``operator`` (None when
    it never began, e.g. unreachable)."""
    reason = handle.end_reason
    if reason in _REMOTE_ENDS and not (reason == "cancelled" and handle.call.outbound):
        return "remote"
    if reason in ("local-bye", "local-hangup", "rejected", "cancelled"):
        return handle.hung_up_by or "gateway"
    if reason in ("unreachable", "failed", "transport-error"):
        return None
    return "gateway"  # no-ack, session-expired, media-failed


def _turn(line: dict[str, Any]) -> dict[str, Any]:
    stages = {
        stage: line[name]
        for stage, name in TURN_FIELDS.items()
        if isinstance(line.get(name), int | float)
    }
    first_audio = next(
        (line[name] for name in FIRST_AUDIO_FIELDS if isinstance(line.get(name), int | float)),
        None,
    )
    return {"turn": line.get("turn"), "t": line.get("t"), "stages_ms": stages,
            "first_audio_ms": first_audio}  # fmt: skip


class CallFeed:
    """Live and recent calls, and the subscribers told about them."""

    def __init__(self, recent: int = RECENT_CALLS) -> None:
        self.live: dict[str, CallEntry] = {}
        self.recent: deque[CallEntry] = deque(maxlen=recent)
        self._subscribers: list[Callable[[FeedEvent], None]] = []

    def subscribe(self, subscriber: Callable[[FeedEvent], None]) -> Callable[[], None]:
        """Call ``subscriber`` with every event from now on; returns the unsubscribe."""
        self._subscribers.append(subscriber)

        def unsubscribe() -> None:
            if subscriber in self._subscribers:
                self._subscribers.remove(subscriber)

        return unsubscribe

    def find(self, wanted: str) -> CallEntry | None:
        """A live or recent call by log id or Call-ID."""
        for entry in [*self.live.values(), *reversed(self.recent)]:
            if wanted in (entry.id, entry.call_id):
                return entry
        return None

    def _publish(self, kind: str, entry: CallEntry, data: dict[str, Any]) -> None:
        event = FeedEvent(kind, entry.id, data)
        for subscriber in list(self._subscribers):
            try:
                subscriber(event)
            except Exception:
                log.exception("call feed subscriber failed")

    def call_started(self, handle: CallHandle, state: str = "active") -> None:
        """The gateway took a call, or placed one (``state="ringing"``); idempotent."""
        log_id = handle.call.log_id
        if log_id in self.live:
            return
        entry = CallEntry(
            id=log_id,
            call_id=handle.call.call_id,
            caller=handle.caller,
            caller_name=handle.call.caller.display_name,
            called=handle.called,
            direction=handle.direction,
            started=time.time() - (time.monotonic() - handle.started),
            leg=handle.leg,
            agent=agent_name(handle.agent),
            state=state,
            line=handle.line,
            variables=dict(handle.details.variables),
        )
        self.live[log_id] = entry
        self._publish("call_started", entry, entry.summary())

    def call_answered(self, handle: CallHandle) -> None:
        """The call was answered (once per call; a placed one is no longer ringing)."""
        entry = self.live.get(handle.call.log_id)
        if entry is None or entry.answered is not None:
            return
        entry.answered = time.time()
        media = handle.call.media
        entry.codec = handle.codec or (media.codec if media is not None else "")
        entry.variables = dict(handle.details.variables)  # a placed call's, set after it rang
        if entry.state == "ringing":
            entry.state = "active"
            self._publish("call_updated", entry, entry.summary())
        self._publish("call_answered", entry, entry.summary())

    def call_ringing(self, handle: CallHandle) -> None:
        """A placed call's far end rings (its first 180 or 183; once per call)."""
        entry = self.live.get(handle.call.log_id)
        if entry is None or entry.rang or entry.answered is not None:
            return
        entry.rang = True
        self._publish("call_ringing", entry, entry.summary())

    def call_refused(self, call: CallInfo, status: int, why: str, line: str = "") -> None:
        """An incoming call was refused before it was admitted (the routes: no route, a
        busy line); not kept, only told to subscribers."""
        entry = CallEntry(
            id=call.log_id,
            call_id=call.call_id,
            caller=str(call.caller.uri),
            caller_name=call.caller.display_name,
            called=str(call.called.uri),
            direction="inbound",
            started=time.time(),
            state="ended",
            ended=time.time(),
            outcome="rejected",
            line=line,
            status=status,
        )
        self._publish("call_refused", entry, {**entry.summary(), "status": status, "why": why})

    def agent_built(self, handle: CallHandle, agent: Agent) -> None:
        """The call got its agent: follow its call record's lines, if it keeps one."""
        self.call_started(handle)
        entry = self.live[handle.call.log_id]
        entry.agent = agent_name(agent)
        entry.state = "active"
        entry.trace = agent.span.traceparent() or ""
        self._publish("call_updated", entry, entry.summary())
        record = agent.record
        if record is not None:
            for line in record.lines:
                self._line(entry, line)
            record.on_line = lambda line: self._line(entry, line)
            entry.record = record.path
            if entry.line:
                record.write({"type": "line", "line": entry.line})

    def line_switched(self, handle: CallHandle, agent: Agent) -> None:
        """A hand-off moved the call to another line, whose agent it has now: the entry
        shows that line and agent (the record is the same one, followed already)."""
        entry = self.live.get(handle.call.log_id)
        if entry is None:
            return
        entry.line = handle.line
        entry.agent = agent_name(agent)
        entry.lines = [{"line": name, "started": round(at, 3)} for name, at in handle.lines]
        record = agent.record
        if record is not None and entry.record != record.path:  # a record of its own
            record.on_line = lambda line: self._line(entry, line)
            entry.record = record.path
        self._publish("call_updated", entry, entry.summary())

    def _line(self, entry: CallEntry, line: dict[str, Any]) -> None:
        kind = line.get("type")
        if kind == "turn_metrics":
            turn = _turn(line)
            entry.turns.append(turn)
            del entry.turns[:-TRANSCRIPT_LIMIT]
            self._publish("turn", entry, turn)
        elif kind in TRANSCRIPT_TYPES:
            if len(entry.transcript) >= TRANSCRIPT_LIMIT:
                entry.dropped_lines += 1
                return
            entry.transcript.append(line)
            self._publish("transcript", entry, line)
        elif kind == "quality" and entry.quality is None:
            entry.quality = {k: v for k, v in line.items() if k not in ("t", "type")}
        elif kind == "talk":
            entry.talk = {k: v for k, v in line.items() if k not in ("t", "type")}
        elif kind == "end":
            entry.record_closed = True
            self._publish("record_closed", entry, {})
        elif kind in ("amd", "amd_result"):
            self._answered_by(entry, line)
        elif kind == "ivr_result":
            fields = ("goal", "outcome", "reason", "digits", "steps", "elapsed_ms")
            entry.ivr = {k: line[k] for k in fields if k in line}
            self._publish("call_updated", entry, {**entry.summary(), "ivr": dict(entry.ivr)})
            self._publish("ivr", entry, dict(entry.ivr))

    def _answered_by(self, entry: CallEntry, line: dict[str, Any]) -> None:
        """A decision of answering-machine detection, or its result (``amd``: final)."""
        fields = ("kind", "reason", "elapsed_ms", "mode", "action", "revisions", "revision")
        amd = {**(entry.amd or {}), **{k: line[k] for k in fields if k in line}}
        final = line.get("type") == "amd_result"
        amd["final"] = final or bool(entry.amd and entry.amd["final"])
        entry.amd = amd
        # with the decision itself: the call's page shows it while the call runs
        self._publish("call_updated", entry, {**entry.summary(), "amd": dict(amd)})
        if final:
            self._publish("amd", entry, dict(amd))

    def call_ended(self, handle: CallHandle) -> None:
        """The call is over: keep it among the recent calls and say so."""
        entry = self.live.pop(handle.call.log_id, None)
        if entry is None:
            return
        entry.ended = time.time()
        entry.state = "ended"
        entry.outcome = handle.end_reason or "unknown"
        entry.status = handle.end_status or (200 if entry.answered is not None else None)
        entry.hung_up_by = hung_up_by(handle)
        entry.transferred_to = handle.transferred_to or None
        entry.refused = handle.refused
        entry.variables = dict(handle.details.variables)
        if handle.quality is not None:
            entry.quality = handle.quality.record()
        if handle.recorder is not None:
            entry.recording = handle.recorder.path
        self.recent.append(entry)
        self._publish("call_ended", entry, entry.summary())


class RecordEnds:
    """Waits, for what reads a call after it ended, until its agent's record is complete.

    An agent writes its last lines (a reply cut by the hang-up, ``end``) as it closes,
    after the call ended; :meth:`wait` returns once the ``end`` line came, or after
    ``within`` seconds (an agent that writes no ``end``), or at once without a record.
    """

    def __init__(self, feed: CallFeed) -> None:
        self._ends: dict[str, asyncio.Event] = {}
        self._unsubscribe = feed.subscribe(self._on_feed)

    def _event(self, call: str) -> asyncio.Event:
        return self._ends.setdefault(call, asyncio.Event())

    def _on_feed(self, event: FeedEvent) -> None:
        # Only a waiter's event is set: a call nobody waits for (no summary, or its wait
        # already gave up) must leave nothing behind. A record closed before the wait
        # began is seen by the wait itself (``record_closed``).
        if event.kind == "record_closed" and (waiting := self._ends.get(event.call)):
            waiting.set()

    async def wait(self, entry: CallEntry, within: float = RECORD_CLOSE_WAIT) -> None:
        """Return once ``entry``'s record is complete (or ``within`` s passed)."""
        try:
            if entry.record is not None and not entry.record_closed:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(within):
                        await self._event(entry.id).wait()
        finally:
            self._ends.pop(entry.id, None)

    def close(self) -> None:
        """Stop following the feed."""
        self._unsubscribe()


def chart_feed(feed: CallFeed, timeline: CallTimeline) -> Callable[[], None]:
    """Count in ``timeline`` (the dashboard's charts) what ``feed`` sees: the calls up
    when one starts or ends, and each turn's first audio. Returns the unsubscribe."""

    def chart(event: FeedEvent) -> None:
        if event.kind in ("call_started", "call_ended"):
            timeline.calls_now(len(feed.live))
        elif event.kind == "turn":
            first_audio = event.data.get("first_audio_ms")
            if isinstance(first_audio, int | float):
                timeline.turn(float(first_audio))

    return feed.subscribe(chart)
