"""Agent assist (sipgw.agent.srs.assist): a chat model reads the transcript after each
utterance and suggests; one request at a time, the utterances that came meanwhile read by
the next; ``-`` suggests nothing; a failure is logged and the next utterance tries again."""

from __future__ import annotations

from sipgw.agent.srs.assist import NOTHING, AssistAdvisor, Heard
from tests.agent.parts import ScriptedLlm, Turn, wait_for

ALICE = Heard("96", "Alice (sip:alice@a.example)", "My card was charged twice.")
BOB = Heard("97", "stream 97", "Let me check that.")


async def test_each_utterance_asks_for_a_suggestion_over_the_transcript() -> None:
    llm = ScriptedLlm([Turn(text="Offer a refund.")])
    said: list[tuple[str, int]] = []
    advisor = AssistAdvisor(llm, "You help the agent.", lambda t, n: said.append((t, n)))
    advisor.heard(ALICE)
    await wait_for(lambda: said)
    assert said == [("Offer a refund.", 1)]
    (request,) = llm.requests
    assert request[0] == {"role": "system", "content": "You help the agent."}
    assert request[1]["role"] == "user"
    assert "Alice (sip:alice@a.example) [96]: My card was charged twice." in request[1]["content"]


async def test_utterances_during_a_request_are_read_by_the_next_one() -> None:
    llm = ScriptedLlm([Turn(text="First.", delay=0.2), Turn(text=NOTHING), Turn(text="Third.")])
    said: list[tuple[str, int]] = []
    advisor = AssistAdvisor(llm, "p", lambda t, n: said.append((t, n)))
    advisor.heard(ALICE)
    await wait_for(lambda: llm.requests)  # the first request runs (0.2 s)
    advisor.heard(BOB)
    advisor.heard(ALICE)
    await wait_for(lambda: llm.finished == 2)
    await advisor.close()
    assert said == [("First.", 1)]  # the second request read 3 utterances and said "-"
    assert len(llm.requests) == 2 and llm.requests[1][1]["content"].count("\n") == 3


async def test_a_failed_request_suggests_nothing_and_the_next_utterance_tries_again() -> None:
    llm = ScriptedLlm([Turn(error="timed out"), Turn(text="Ask for the order number.")])
    said: list[tuple[str, int]] = []
    advisor = AssistAdvisor(llm, "p", lambda t, n: said.append((t, n)))
    advisor.heard(ALICE)
    await wait_for(lambda: advisor.failures == 1)
    advisor.heard(BOB)
    await wait_for(lambda: said)
    assert said == [("Ask for the order number.", 2)]
