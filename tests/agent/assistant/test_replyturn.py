"""One reply's state: a new round clears the last one's, usage sums over rounds, the
timings and their latencies."""

from __future__ import annotations

from sipgw.agent.assistant.replyturn import ReplyTimings, ReplyTurn
from sipgw.agent.services.llm.base import LlmToolCall


def test_rounds_usage_and_timings() -> None:
    turn = ReplyTurn(started_at=10.0)
    turn.begin_round()
    turn.round_text.append("Hi")
    turn.calls.append(LlmToolCall("a", "nap", "{}"))
    turn.add_usage({"prompt_tokens": 5, "completion_tokens": 2})
    turn.begin_round()
    turn.add_usage({"prompt_tokens": 7})
    turn.add_usage(None)
    assert not turn.round_text and not turn.calls and turn.llm_rounds == 2
    assert turn.usage == {"prompt_tokens": 12, "completion_tokens": 2}
    turn.first_token_at, turn.first_sentence_at = 10.25, 10.5
    timings = turn.timings(11.0)
    assert timings == ReplyTimings(10.0, 10.25, 10.5, 11.0, 2, 0)
    assert timings.first_token_latency == 0.25 and timings.first_sentence_latency == 0.5
    assert ReplyTimings(1.0, None, None, 2.0, 1, 0).first_sentence_latency is None
