"""The failure policy: what the caller hears when a vendor fails (sans-IO).

Theory of operation
-------------------
:class:`FailurePolicy` takes what happens to one call's vendors and caller as
events, each with the time ``now`` (:meth:`FailurePolicy.receive`), plus its own
deadlines (:meth:`FailurePolicy.get_timer`, :meth:`FailurePolicy.handle_timer`),
and answers with :class:`Decision` s. Each decision has a ``name`` for the log, the
metrics and the call record, an :class:`Action` and, when something is said, the
:class:`sipgw.agent.resilience.lines.FallbackLine` to say. Every line plays from memory
(the line cache, else the shipped prompts): no vendor is needed to say it.

The rules (settings in :class:`FailurePolicySettings`):

* **The caller waits** from the end of their turn (:class:`CallerTurnEnded`), or from
  the moment they stop speaking while speech recognition is down
  (:class:`CallerStoppedSpeaking`), until a reply's first audio is ready to play
  (:class:`ReplyReady`) or audible (:class:`ReplyAudible`), they speak again
  (:class:`CallerStartedSpeaking`), or the reply is cut off by a barge-in
  (:class:`ReplyCut`: nothing is coming; their next turn starts a new wait). The wait
  is the vendors' part only: a reply that is ready but held back (paused while the
  caller or the room talks over it, queued behind audio still playing) leaves nobody
  waiting on a vendor, and a turn the agent does not answer (the room's speech, a
  backchannel, words held for the caller's next turn) is never reported as ended.
  The wait is counted from the
  caller's last speech (the events' ``since``: their last loud frame), not from the
  moment the turn detector said so: an end of turn that comes 1 s after the speech
  (u3-rt-pro's ``max_turn_silence``) has used 1 s of the wait. Speech that was
  recognized only after an outage (the backlog sent when speech recognition came
  back) counts from the moment it came back: that wait was the outage's, explained
  by its notice. Waiting ``hold_line_after``
  says "one moment" (``hold_line``; the speech-recognition notice instead while it
  is down: ``stt_down_notice``, then ``stt_down_hold``), and then every
  ``hold_reminder_every`` while the wait goes on (``hold_reminder``).
* **Speech recognition down** (:class:`SttLost`, until :class:`SttRestored`):
  ``stt_lost``; after ``stt_notice_after`` the notice (``stt_down_notice``) if it was
  not said yet, reminders as above; the caller's audio is kept by the STT client
  (bounded by its ``max_backlog_seconds``) and sent when it is back
  (``stt_recovered``). Down for ``stt_give_up_after``, or given up by the client
  (:class:`SttGaveUp`): the call moves on (``stt_down_*``, ``stt_failed_*``).
* **Text-to-speech down** (:class:`TtsFailed`): the apology from the cache
  (``tts_down_apology``); ``tts_max_failures`` failures in a row (no
  :class:`TtsSpoke` between them) and the call moves on (``tts_down_*``).
* **LLM errors** (:class:`LlmFailed`, after the client's own retries inside the
  turn's budget, agent/services/llm/retry.py): the apology (``llm_apology``);
  ``llm_max_failures`` in a row (no :class:`LlmAnswered` between) and the call moves
  on (``llm_down_*``).
* **The caller holds the call** (:class:`CallerHeld`, until :class:`CallerResumed`):
  the policy's clock stops. Nothing is said that they could not hear (a "one moment"
  while they listen to their own hold music would be queued and played stale on
  resume) and nothing is decided for them by a deadline; on resume every deadline
  moves by the time held, so a wait goes on where it was. Events still count (an STT
  client that gives up moves the call on).
* **Moving on** is a transfer to the human target when there is one
  (:attr:`Action.TRANSFER`, ``*_transfer``: say the transfer notice, then refer),
  else a polite goodbye (:attr:`Action.GOODBYE`, ``*_goodbye``: say the goodbye line,
  then hang up). After that the policy is over; a transfer that fails
  (:class:`TransferFailed`) ends with the goodbye (``transfer_failed_goodbye``).

**The silence bound.** No path leaves the caller more than :data:`MAX_SILENCE` (2 s)
in unexplained silence: every wait arms a deadline ``hold_line_after`` after the
caller's last speech (at most ``MAX_SILENCE - LINE_START``, checked by the settings;
a wait reported after that deadline is answered at once), and the
deadline's decision is a line played from memory at the next 20 ms tick; a vendor
failure is answered at once with a line; after a line, the wait is explained and
reminded every ``hold_reminder_every``. The policy clears a wait itself when it
says a line, so the bound holds even if the agent does not report the line as
audible. A wait ends without a line when the reply is ready or cut off: what the
caller hears then is the turn-taking's (a reply paused over speech plays when the
speech ends, ``sipgw.agent.turns.machine``), not a vendor's delay.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Final, TypeAlias

from sipgw.agent.resilience.lines import FallbackLine

__all__ = [
    "LINE_START",
    "MAX_SILENCE",
    "Action",
    "CallerHeld",
    "CallerResumed",
    "CallerStartedSpeaking",
    "CallerStoppedSpeaking",
    "CallerTurnEnded",
    "Decision",
    "FailureEvent",
    "FailurePolicy",
    "FailurePolicySettings",
    "LlmAnswered",
    "LlmFailed",
    "ReplyAudible",
    "ReplyCut",
    "ReplyReady",
    "SttGaveUp",
    "SttLost",
    "SttRestored",
    "TransferFailed",
    "TtsFailed",
    "TtsSpoke",
]

MAX_SILENCE: Final = 2.0
"""Seconds of unexplained silence the policy never exceeds."""
LINE_START: Final = 0.1
"""Seconds a decided line may take to be heard (the next tick, with room to spare)."""


@dataclass(frozen=True, slots=True)
class FailurePolicySettings:
    """When the policy speaks up and when the call moves on.

    Attributes:
        hold_line_after: Seconds the caller may wait for a reply before "one moment".
        hold_reminder_every: Seconds between reminders while a wait goes on.
        stt_notice_after: Seconds speech recognition may be down before the notice.
        stt_give_up_after: Seconds of speech recognition down before the call moves on.
        tts_max_failures: Text-to-speech failures in a row before the call moves on.
        llm_max_failures: LLM failures in a row before the call moves on.
    """

    hold_line_after: float = 1.5
    hold_reminder_every: float = 8.0
    stt_notice_after: float = 2.0
    stt_give_up_after: float = 20.0
    tts_max_failures: int = 2
    llm_max_failures: int = 3

    def __post_init__(self) -> None:
        """Refuse settings that break the silence bound or make no sense.

        Raises:
            ValueError: naming the setting.
        """
        longest = MAX_SILENCE - LINE_START
        if not 0 < self.hold_line_after <= longest:
            raise ValueError(
                f"hold_line_after must be in (0, {longest:g}] s (no caller is left "
                f"{MAX_SILENCE:g} s in silence), not {self.hold_line_after}"
            )
        if self.hold_reminder_every <= 0 or self.stt_notice_after <= 0:
            raise ValueError("hold_reminder_every and stt_notice_after must be positive")
        if self.stt_give_up_after < self.stt_notice_after:
            raise ValueError("stt_give_up_after must not be shorter than stt_notice_after")
        if self.tts_max_failures < 1 or self.llm_max_failures < 1:
            raise ValueError("tts_max_failures and llm_max_failures must be at least 1")


class Action(Enum):
    """What a decision asks the agent to do."""

    SAY = "say"
    """Say ``line`` (from memory)."""
    TRANSFER = "transfer"
    """Say ``line`` (the transfer notice), then transfer to the human target."""
    GOODBYE = "goodbye"
    """Say ``line`` (the goodbye), then hang up."""
    NOTE = "note"
    """Nothing to do; the decision is logged, counted and recorded."""


@dataclass(frozen=True, slots=True)
class Decision:
    """One decision of the policy.

    Attributes:
        name: Why, for logs, metrics and the call record (see the module docstring).
        action: What to do.
        line: The line to say, for every action but :attr:`Action.NOTE`.
    """

    name: str
    action: Action
    line: FallbackLine | None = None


# --------------------------------------------------------------------------- events


@dataclass(frozen=True, slots=True)
class SttLost:
    """Speech recognition stopped (the socket dropped; the client is reconnecting)."""


@dataclass(frozen=True, slots=True)
class SttRestored:
    """Speech recognition is back (the client reconnected)."""


@dataclass(frozen=True, slots=True)
class SttGaveUp:
    """The speech recognition client gave up for this call."""


@dataclass(frozen=True, slots=True)
class TtsFailed:
    """A reply (or a connection) of text-to-speech failed."""


@dataclass(frozen=True, slots=True)
class TtsSpoke:
    """Text-to-speech audio arrived for a reply."""


@dataclass(frozen=True, slots=True)
class LlmFailed:
    """The LLM gave no usable response, after the client's retries."""


@dataclass(frozen=True, slots=True)
class LlmAnswered:
    """The LLM answered."""


@dataclass(frozen=True, slots=True)
class CallerTurnEnded:
    """The caller finished a turn: they wait for the reply.

    Attributes:
        since: When they stopped speaking (their last loud frame; the loop's clock), if
            known: the wait counts from then. None: from the event.
    """

    since: float | None = None


@dataclass(frozen=True, slots=True)
class CallerStartedSpeaking:
    """The caller started speaking (the voice-activity detector)."""


@dataclass(frozen=True, slots=True)
class CallerStoppedSpeaking:
    """The caller stopped speaking (the voice-activity detector).

    Attributes:
        since: Their last loud frame, if known (the detector says so a hangover later).
    """

    since: float | None = None


@dataclass(frozen=True, slots=True)
class ReplyReady:
    """A reply's first audio is ready to play (its vendors answered), whether or not it
    can play yet: it may be paused over the caller's or the room's speech."""


@dataclass(frozen=True, slots=True)
class ReplyCut:
    """The caller (or the room) cut the agent's reply off, a barge-in: no reply is coming
    for the turn it answered, so nobody waits for one; the caller's next turn waits anew."""


@dataclass(frozen=True, slots=True)
class ReplyAudible:
    """A reply's audio (not a fallback line) is going out to the caller."""


@dataclass(frozen=True, slots=True)
class TransferFailed:
    """The transfer the policy asked for did not happen."""


@dataclass(frozen=True, slots=True)
class CallerHeld:
    """The caller put the call on hold (a re-INVITE with sendonly or inactive)."""


@dataclass(frozen=True, slots=True)
class CallerResumed:
    """The caller took the call off hold."""


FailureEvent: TypeAlias = (
    SttLost
    | SttRestored
    | SttGaveUp
    | TtsFailed
    | TtsSpoke
    | LlmFailed
    | LlmAnswered
    | CallerTurnEnded
    | CallerStartedSpeaking
    | CallerStoppedSpeaking
    | ReplyReady
    | ReplyCut
    | ReplyAudible
    | TransferFailed
    | CallerHeld
    | CallerResumed
)

_NOTHING: Final[tuple[Decision, ...]] = ()


class FailurePolicy:
    """One call's failure policy (see the module docstring)."""

    def __init__(self, settings: FailurePolicySettings, *, transfer_available: bool) -> None:
        """A policy for one call.

        Args:
            settings: The timings and counts.
            transfer_available: A human target is configured, so moving on is a transfer.
        """
        self.settings = settings
        self.transfer_available = transfer_available
        self.ended = False
        """The call is moving on (transfer or goodbye); nothing more is decided."""
        self._stt_down_since: float | None = None
        self._stt_restored_at: float | None = None
        self._stt_noticed = False
        self._waiting_since: float | None = None
        self._next_reminder: float | None = None
        self._tts_failures = 0
        self._llm_failures = 0
        self._transferring = False
        self._held_since: float | None = None  # the caller holds: the clock stops

    # ----------------------------------------------------------------- inputs

    def receive(self, event: FailureEvent, now: float) -> tuple[Decision, ...]:
        """Take one event; return the decisions, in order (usually none)."""
        if self.ended:
            if isinstance(event, TransferFailed) and self._transferring:
                self._transferring = False
                return (Decision("transfer_failed_goodbye", Action.GOODBYE, FallbackLine.GOODBYE),)
            return _NOTHING
        decisions = self.handle_timer(now)  # deadlines passed come first
        if self.ended:
            return decisions
        return decisions + self._on(event, now)

    def _on(self, event: FailureEvent, now: float) -> tuple[Decision, ...]:  # noqa: C901 - one branch per event
        if isinstance(event, CallerHeld):
            if self._held_since is None:
                self._held_since = now
        elif isinstance(event, CallerResumed):
            self._resume(now)
        elif isinstance(event, CallerTurnEnded):
            self._wait(event.since, now)
            return self.handle_timer(now)  # a turn reported late: its deadline may be past
        elif isinstance(event, CallerStoppedSpeaking):
            if self._stt_down_since is not None:
                self._wait(event.since, now)
                return self.handle_timer(now)
        elif isinstance(event, CallerStartedSpeaking | ReplyReady | ReplyCut | ReplyAudible):
            self._stop_waiting()
        elif isinstance(event, SttLost):
            if self._stt_down_since is None:
                self._stt_down_since = now
                self._stt_noticed = False
                return (Decision("stt_lost", Action.NOTE),)
        elif isinstance(event, SttRestored):
            if self._stt_down_since is not None:
                self._stt_down_since = None
                self._stt_restored_at = now
                if self._waiting_since is None:
                    self._next_reminder = None  # the notice's reminders: nobody waits now
                return (Decision("stt_recovered", Action.NOTE),)
        elif isinstance(event, SttGaveUp):
            return self._move_on("stt_failed")
        elif isinstance(event, TtsFailed):
            self._tts_failures += 1
            if self._tts_failures >= self.settings.tts_max_failures:
                return self._move_on("tts_down")
            return self._say("tts_down_apology", FallbackLine.APOLOGY)
        elif isinstance(event, TtsSpoke):
            self._tts_failures = 0
        elif isinstance(event, LlmFailed):
            self._llm_failures += 1
            if self._llm_failures >= self.settings.llm_max_failures:
                return self._move_on("llm_down")
            return self._say("llm_apology", FallbackLine.APOLOGY)
        elif isinstance(event, LlmAnswered):
            self._llm_failures = 0
        return _NOTHING

    # ----------------------------------------------------------------- time

    def get_timer(self) -> float | None:
        """When :meth:`handle_timer` must run next, or None."""
        if self.ended or self._held_since is not None:
            return None
        s = self.settings
        deadlines = [self._next_reminder]
        if self._waiting_since is not None:
            deadlines.append(self._waiting_since + s.hold_line_after)
        if self._stt_down_since is not None:
            deadlines.append(self._stt_down_since + s.stt_give_up_after)
            if not self._stt_noticed:
                deadlines.append(self._stt_down_since + s.stt_notice_after)
        return min((d for d in deadlines if d is not None), default=None)

    def handle_timer(self, now: float) -> tuple[Decision, ...]:
        """Act on every deadline that has passed by ``now`` (none while the caller holds)."""
        if self.ended or self._held_since is not None:
            return _NOTHING
        s = self.settings
        down = self._stt_down_since
        if down is not None and now >= down + s.stt_give_up_after:
            return self._move_on("stt_down")
        if self._waiting_since is not None and now >= self._waiting_since + s.hold_line_after:
            return self._hold_line(now)
        if down is not None and not self._stt_noticed and now >= down + s.stt_notice_after:
            return self._hold_line(now)
        if self._next_reminder is not None and now >= self._next_reminder:
            self._next_reminder = now + s.hold_reminder_every
            return (Decision("hold_reminder", Action.SAY, FallbackLine.ONE_MOMENT),)
        return _NOTHING

    # ----------------------------------------------------------------- helpers

    def _resume(self, now: float) -> None:
        """Off hold: every deadline moves by the time held."""
        since, self._held_since = self._held_since, None
        if since is None:
            return
        held = now - since
        if self._waiting_since is not None:
            self._waiting_since += held
        if self._next_reminder is not None:
            self._next_reminder += held
        if self._stt_down_since is not None:
            self._stt_down_since += held

    def _wait(self, since: float | None, now: float) -> None:
        if self._waiting_since is not None:
            return
        start = now if since is None else min(since, now)
        if self._stt_restored_at is not None:
            start = max(start, self._stt_restored_at)  # heard late: the outage's wait
        self._waiting_since = start

    def _stop_waiting(self) -> None:
        self._waiting_since = None
        self._next_reminder = None

    def _hold_line(self, now: float) -> tuple[Decision, ...]:
        """The caller is left waiting: "one moment", or the notice while STT is down."""
        self._waiting_since = None
        self._next_reminder = now + self.settings.hold_reminder_every
        if self._stt_down_since is None:
            return (Decision("hold_line", Action.SAY, FallbackLine.ONE_MOMENT),)
        name = "stt_down_hold" if self._stt_noticed else "stt_down_notice"
        self._stt_noticed = True
        return (Decision(name, Action.SAY, FallbackLine.STT_DOWN),)

    def _say(self, name: str, line: FallbackLine) -> tuple[Decision, ...]:
        self._stop_waiting()  # answered: the caller is asked to speak again
        return (Decision(name, Action.SAY, line),)

    def _move_on(self, why: str) -> tuple[Decision, ...]:
        self.ended = True
        self._stop_waiting()
        if self.transfer_available:
            self._transferring = True
            return (Decision(f"{why}_transfer", Action.TRANSFER, FallbackLine.TRANSFER),)
        return (Decision(f"{why}_goodbye", Action.GOODBYE, FallbackLine.GOODBYE),)
