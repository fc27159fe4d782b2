"""Post-call summaries (sipgw/app/summary/runner.py) from a fake OpenAI-compatible server."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from sipgw.agent.record import CallRecord
from sipgw.agent.services.openai.chat import OpenAIChatLLM, OpenAISettings
from sipgw.app.agents import find_agent
from sipgw.app.calls.callfeed import CallFeed
from sipgw.app.evaluation.fakes.openai import FakeOpenAI, FakeResponse, FakeToolCall
from sipgw.app.lines.build import LineBase
from sipgw.app.lines.reload import Lines
from sipgw.app.summary.runner import PostCallSummaries, summaries_wanted, summary_llm
from sipgw.app.summary.settings import SummarySection
from sipgw.foundation.settings import ConfigError, Sources
from tests.sipgw.app.calls.test_callfeed import RecordingAgent, handle

pytestmark = pytest.mark.timeout(30)

KEY = "sk-test"
SCHEMA = {"type": "object", "properties": {"order": {"type": "string"}}, "required": ["order"]}


def lines(tmp_path: Path) -> Lines:
    (tmp_path / "schema.json").write_text(json.dumps(SCHEMA))
    path = tmp_path / "routes.toml"
    path.write_text(
        '[lines.orders]\nsummary = true\nextract_schema = "schema.json"\n'
        "[lines.quiet]\nsummary = false\n[lines.plain]\n"
        '[[routes]]\nline = "orders"\n'
    )
    sources = Sources({})
    return Lines(path, LineBase(sources, "echo", find_agent("echo").build(sources)))


def read_record(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def answered_call(feed: CallFeed, tmp_path: Path, line: str, n: int = 1) -> RecordingAgent:
    call = handle(n)
    call.line = line
    feed.call_started(call)
    agent = RecordingAgent(call)
    agent.record = CallRecord(tmp_path / "calls", call.call_id)
    feed.agent_built(call, agent)
    feed.call_answered(call)
    agent.record.write({"type": "assistant", "text": "Shop, hello."})
    agent.record.write({"type": "user", "text": "Where is order 12?"})
    call.end_reason = "remote-bye"
    feed.call_ended(call)
    agent.record.write({"type": "end", "reason": "remote-bye"})  # as the agent closes
    agent.record.close()
    return agent


async def test_a_line_with_a_schema_gets_summary_and_extraction(tmp_path: Path) -> None:
    async with FakeOpenAI(api_key=KEY) as fake:
        fake.script([
            FakeResponse(tool_calls=[FakeToolCall(
                "record_call_summary",
                {"summary": "The caller asked about order 12.", "extraction": {"order": "12"}},
            )]),
            FakeResponse(text="The caller asked where an order is."),
        ])  # fmt: skip
        llm = OpenAIChatLLM(OpenAISettings(api_key=KEY, base_url=fake.base_url))
        feed = CallFeed()
        summaries = PostCallSummaries(feed, llm, SummarySection(), lines(tmp_path))
        agent = answered_call(feed, tmp_path, "orders")
        entry = feed.find(agent.call.call_id)
        assert entry is not None
        result = await summaries.result(entry)
        assert result is not None and result["extraction"] == {"order": "12"}
        assert result["summary"] == "The caller asked about order 12."
        assert entry.extra["summary"] is result and entry.detail()["summary"] is result
        body = fake.requests[0].body
        assert body["tool_choice"] == "required"
        assert "Caller: Where is order 12?" in body["messages"][1]["content"]
        assert body["tools"][0]["function"]["parameters"]["properties"]["extraction"] == SCHEMA
        assert entry.record is not None
        record = read_record(entry.record)
        assert record[-1]["type"] == "summary" and record[-1]["extraction"] == {"order": "12"}
        # SIPGW_SUMMARY is off: a line without its own say has none, "quiet" never
        plain = answered_call(feed, tmp_path, "plain", 2)
        plain_entry = feed.find(plain.call.call_id)
        assert plain_entry is not None and await summaries.result(plain_entry) is None
        assert len(fake.requests) == 1
        await summaries.stop(1.0)


async def test_on_for_every_call_text_only_and_a_failure_leaves_none(tmp_path: Path) -> None:
    async with FakeOpenAI(api_key=KEY) as fake:
        fake.script([FakeResponse(text="The caller asked where an order is.")])
        llm = OpenAIChatLLM(OpenAISettings(api_key=KEY, base_url=fake.base_url))
        feed = CallFeed()
        # the default timeout: the failure below is a refused connection, not a slow model (a
        # 0.5 s bound here was the machine's: a loaded whole run's first request took longer)
        summaries = PostCallSummaries(feed, llm, SummarySection(summary=True), lines(tmp_path))
        agent = answered_call(feed, tmp_path, "")
        entry = feed.find(agent.call.call_id)
        assert entry is not None
        result = await summaries.result(entry)
        assert result is not None and result["summary"] == "The caller asked where an order is."
        assert "tools" not in fake.requests[0].body or not fake.requests[0].body["tools"]
        quiet = answered_call(feed, tmp_path, "quiet", 2)
        quiet_entry = feed.find(quiet.call.call_id)
        assert quiet_entry is not None and await summaries.result(quiet_entry) is None

        summaries.llm = OpenAIChatLLM(
            OpenAISettings(api_key=KEY, base_url="http://127.0.0.1:9/v1", first_token_timeout=5)
        )  # nobody listens there: the request fails, the call has no summary
        late = answered_call(feed, tmp_path, "", 3)
        late_entry = feed.find(late.call.call_id)
        assert late_entry is not None and await summaries.result(late_entry) is None
        assert summaries.failed == 1 and summaries.done == 1
        await summaries.stop(1.0)


def test_wanted_and_the_model_it_needs(tmp_path: Path) -> None:
    assert not summaries_wanted(SummarySection(), None)
    assert summaries_wanted(SummarySection(summary=True), None)
    assert summaries_wanted(SummarySection(), lines(tmp_path))  # the "orders" line
    with pytest.raises(ConfigError, match=r"the post-call summary .* needs OPENAI_API_KEY"):
        summary_llm(Sources({}))
    assert callable(summary_llm(Sources({"OPENAI_API_KEY": KEY})))


@pytest.mark.usefixtures("virtual_clock")
async def test_a_model_that_never_answers_is_given_up_on_in_time(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # accepts the request, never answers

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    llm = OpenAIChatLLM(OpenAISettings(api_key=KEY, base_url=f"http://127.0.0.1:{port}/v1"))
    feed = CallFeed()
    summaries = PostCallSummaries(feed, llm, SummarySection(summary=True, summary_timeout=0.5))
    agent = answered_call(feed, tmp_path, "")
    entry = feed.find(agent.call.call_id)
    assert entry is not None
    started = asyncio.get_running_loop().time()
    assert await summaries.result(entry) is None
    # given up at summary_timeout (0.5 s), on the virtual clock
    assert asyncio.get_running_loop().time() - started == pytest.approx(0.5, abs=0.001)
    assert summaries.failed == 1
    assert "no post-call summary: no answer within 0.5 s (SIPGW_SUMMARY_TIMEOUT)" in caplog.text
    await summaries.stop(1.0)
    server.close()
