"""Filler lines' rules (agent/conversation/fillers.py), sans-IO: when one is due, which comes
next."""

from __future__ import annotations

import pytest

from sipgw.agent.conversation.fillers import FillerLines, ToolRound

LINES = ("One moment.", "Just a second.")


def test_a_round_opens_with_its_first_call_and_ends_with_its_last_answer() -> None:
    round_ = ToolRound(filler_after=0.7)
    assert round_.tool_called(now=10.0) is True
    assert round_.due_at == pytest.approx(10.7)
    assert round_.tool_called(now=10.1) is False  # the same round: due time unchanged
    assert round_.due_at == pytest.approx(10.7)
    assert round_.tool_returned() is False  # one call still runs
    assert round_.tool_returned() is True  # the round is over: no filler due
    assert round_.due_at is None
    assert round_.tool_called(now=12.0) is True  # the next round has its own due time
    assert round_.due_at == pytest.approx(12.7)


def test_without_filler_after_no_round_has_a_filler() -> None:
    round_ = ToolRound(filler_after=None)
    assert round_.tool_called(now=1.0) is False and round_.due_at is None
    assert round_.tool_returned() is False


def test_lines_come_in_turn_across_the_call() -> None:
    fillers = FillerLines(LINES)
    picks = [fillers.pick(audio_queued=False, reply_waiting=True) for _ in range(3)]
    assert picks == ["One moment.", "Just a second.", "One moment."]
    assert fillers.said == 3


@pytest.mark.parametrize(
    ("lines_", "audio_queued", "reply_waiting"),
    [(LINES, True, True), (LINES, False, False), ((), False, True)],
)
def test_no_line_over_audio_for_a_reply_gone_or_without_lines(
    lines_, audio_queued, reply_waiting
) -> None:
    fillers = FillerLines(lines_)
    assert fillers.pick(audio_queued=audio_queued, reply_waiting=reply_waiting) is None
    assert fillers.said == 0  # the turn is not used up
