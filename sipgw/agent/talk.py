"""What the caller lived through: who talked when, and what that made of the call.

Per call, from the caller's speech (the turn-taking machine's voice detector: its onsets
and last loud frames) and the agent's (the playout: the ticks that sent a reply's
frames), both on the event loop's clock as the gateway hears and sends them:

- **talk-over**: seconds both spoke at once;
- **agent interrupted**: the caller began while the agent spoke (Twilio's ConversationRelay
  Insights counts these as "interruptions by customer"), a backchannel included;
- **caller cut off**: a reply's first frame went out while the caller spoke
  ("interruptions by agent"), or, the caller having spoken since the reply before, they went
  on within :data:`WENT_ON_WITHIN` of it: they had not finished (nobody answers a reply that
  fast), the reply came at a pause inside their sentence. Counted once, as this, not also
  as the agent interrupted. A reply that plays on (ducked) or again (resumed) after the
  caller's speech began is no new reply;
- **dead air**: silences on both sides longer than :data:`DEAD_AIR` that began when the
  caller stopped (the agent's turn to speak), a silence the call's end cut short
  included; their number and seconds;
- **first word**: seconds from the answer to the first reply's first frame (the greeting's,
  on a call the agent opens).

:class:`TalkTally` collects the spans as they happen (sans-IO: every time is given);
:func:`talk_figures` is the arithmetic over them.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, TypeAlias

__all__ = ["DEAD_AIR", "SPANS_KEPT", "WENT_ON_WITHIN", "TalkFigures", "TalkTally", "talk_figures"]

DEAD_AIR: Final = 2.0
"""Seconds of silence after the caller's words that count as dead air."""
WENT_ON_WITHIN: Final = 0.5
"""A caller who speaks again within this many seconds of a reply's first word had not
finished: the reply cut them off."""
SPANS_KEPT: Final = 20_000
"""Spans kept per party (an hour of speech in half-second bursts); later ones are not counted."""

Span: TypeAlias = tuple[float, float]


@dataclass(frozen=True, slots=True)
class TalkFigures:
    """One call's figures (see the module docstring); seconds rounded to 10 ms."""

    caller_talk_s: float
    agent_talk_s: float
    talk_over_s: float
    agent_interrupted: int
    caller_cut_off: int
    dead_air: int
    dead_air_s: float
    first_word_s: float | None

    def record(self) -> dict[str, float | int | None]:
        """The figures as the call record's ``talk`` line and the ``call.ended`` webhook
        carry them."""
        return {
            "caller_talk_s": self.caller_talk_s,
            "agent_talk_s": self.agent_talk_s,
            "talk_over_s": self.talk_over_s,
            "agent_interrupted": self.agent_interrupted,
            "caller_cut_off": self.caller_cut_off,
            "dead_air": self.dead_air,
            "dead_air_s": self.dead_air_s,
            "first_word_s": self.first_word_s,
        }


def _merged(spans: Sequence[Span], start: float, end: float) -> list[Span]:
    """The spans within [start, end], sorted, touching ones joined."""
    out: list[Span] = []
    for a, b in sorted(spans):
        a, b = max(a, start), min(b, end)
        if b <= a:
            continue
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


def _speaking_at(spans: Sequence[Span], starts: Sequence[float], at: float) -> bool:
    """Whether ``at`` is inside one of the merged ``spans`` (``starts``: their starts)."""
    i = bisect_right(starts, at) - 1
    return i >= 0 and at < spans[i][1]


def _overlap(one: Sequence[Span], other: Sequence[Span]) -> float:
    total, i, j = 0.0, 0, 0
    while i < len(one) and j < len(other):
        a = max(one[i][0], other[j][0])
        b = min(one[i][1], other[j][1])
        if b > a:
            total += b - a
        if one[i][1] < other[j][1]:
            i += 1
        else:
            j += 1
    return total


def _silences(caller: Sequence[Span], agent: Sequence[Span], end: float) -> list[float]:
    """The silences on both sides that began when the caller stopped, in seconds."""
    spoken = sorted([(a, b, True) for a, b in caller] + [(a, b, False) for a, b in agent])
    gaps: list[float] = []
    reach, last_caller = None, False  # how far speech reaches so far; whose words end it
    for a, b, is_caller in spoken:
        if reach is not None and a > reach and last_caller:
            gaps.append(a - reach)
        if reach is None or b > reach:
            reach, last_caller = b, is_caller
        elif b == reach:
            last_caller = last_caller and is_caller  # both stopped at once: the agent's last
    if reach is not None and end > reach and last_caller:
        gaps.append(end - reach)  # the caller waited until the call ended
    return gaps


def talk_figures(
    caller: Sequence[Span],
    agent: Sequence[Span],
    answered: float,
    ended: float,
    replies: Sequence[float] | None = None,
) -> TalkFigures:
    """The figures of a call answered at ``answered`` and ended at ``ended`` whose caller
    spoke in ``caller`` and agent in ``agent`` (spans of the call's clock), its replies'
    first frames at ``replies`` (None: where each of the agent's spans begins)."""
    caller = _merged(caller, answered, ended)
    agent = _merged(agent, answered, ended)
    starts = (
        [a for a, _ in agent]
        if replies is None
        else sorted(at for at in replies if answered <= at < ended)
    )
    caller_starts = [a for a, _ in caller]
    agent_starts = [a for a, _ in agent]
    cut_off, went_on, previous = 0, set[float](), answered
    for start in starts:
        if _speaking_at(caller, caller_starts, start):
            cut_off += 1
        else:
            after = bisect_right(caller_starts, start)  # the caller's next start after it
            answering = after > 0 and caller[after - 1][1] > previous  # spoke since the last
            if answering and after < len(caller) and caller_starts[after] <= start + WENT_ON_WITHIN:
                cut_off += 1
                went_on.add(caller_starts[after])
        previous = start
    interrupted = sum(
        1
        for start in caller_starts
        if start not in went_on and _speaking_at(agent, agent_starts, start)
    )
    silences = [gap for gap in _silences(caller, agent, ended) if gap > DEAD_AIR]
    return TalkFigures(
        caller_talk_s=round(sum(b - a for a, b in caller), 2),
        agent_talk_s=round(sum(b - a for a, b in agent), 2),
        talk_over_s=round(_overlap(caller, agent), 2),
        agent_interrupted=interrupted,
        caller_cut_off=cut_off,
        dead_air=len(silences),
        dead_air_s=round(sum(silences), 2),
        first_word_s=round(starts[0] - answered, 2) if starts else None,
    )


class TalkTally:
    """Collects one call's speech spans; :meth:`figures` at its end.

    The caller's times come late and out of order (a speech start is known once the
    detector is sure, its end after the detector's hangover): spans are kept and the
    figures worked out at the end, never from the order the events came in.
    """

    __slots__ = ("_agent", "_agent_since", "_caller", "_caller_since", "_replies", "answered_at")

    def __init__(self) -> None:
        self.answered_at: float | None = None
        self._caller: list[Span] = []
        self._agent: list[Span] = []
        self._replies: list[float] = []
        self._caller_since: float | None = None
        self._agent_since: float | None = None

    def answered(self, at: float) -> None:
        """The call was answered (the figures count from here)."""
        if self.answered_at is None:
            self.answered_at = at

    def caller_started(self, onset: float) -> None:
        """The caller's speech began at ``onset``."""
        if self._caller_since is None:
            self._caller_since = onset

    def caller_stopped(self, last_loud: float) -> None:
        """The caller's speech ended; ``last_loud``: their last loud frame."""
        since, self._caller_since = self._caller_since, None
        if since is not None and len(self._caller) < SPANS_KEPT:
            self._caller.append((since, max(since, last_loud)))

    def agent_started(self, at: float) -> None:
        """The agent's audio began going out at ``at``."""
        if self._agent_since is None:
            self._agent_since = at

    def reply_started(self, at: float) -> None:
        """A reply's first frame went out at ``at`` (its audio also started, or goes on)."""
        if len(self._replies) < SPANS_KEPT:
            self._replies.append(at)

    def agent_stopped(self, at: float) -> None:
        """The agent's audio stopped going out at ``at`` (the first tick without it)."""
        since, self._agent_since = self._agent_since, None
        if since is not None and len(self._agent) < SPANS_KEPT:
            self._agent.append((since, at))

    def figures(self, ended: float, last_loud: float | None = None) -> TalkFigures | None:
        """The call's figures as it ended at ``ended``; the caller's speech the detector had
        not ended yet ends at their ``last_loud`` frame (if known, else at ``ended``), the
        agent's at ``ended``. None for a call never answered."""
        if self.answered_at is None:
            return None
        caller, agent = list(self._caller), list(self._agent)
        since = self._caller_since
        if since is not None:
            end = ended if last_loud is None or last_loud < since else min(last_loud, ended)
            caller.append((since, end))
        if self._agent_since is not None:
            agent.append((self._agent_since, ended))
        return talk_figures(caller, agent, self.answered_at, ended, self._replies)
