"""OpenAIChatLLM against the loopback fake server, and ToolCallAssembler."""

from __future__ import annotations

import asyncio
import json
import time
from contextlib import aclosing
from dataclasses import replace
from typing import Any

import pytest
from openai import AsyncOpenAI

from sipgw.agent.services.llm.base import LlmError, LlmFinished, LlmTextDelta, LlmToolCall
from sipgw.agent.services.llm.retry import LlmRetrySettings
from sipgw.agent.services.openai.chat import OpenAIChatLLM, OpenAISettings, ToolCallAssembler
from sipgw.agent.services.openai.models import O_SERIES, ModelCapabilities
from sipgw.app.evaluation.fakes.openai import (
    REFUSALS,
    FakeOpenAI,
    FakeResponse,
    FakeToolCall,
    build_chunks,
)
from tests.toolkit.canaries import OPENAI_KEY

KEY = OPENAI_KEY
MESSAGES = [
    {"role": "system", "content": "You are a phone agent."},
    {"role": "user", "content": "Where is my order?"},
]
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_order_status",
            "description": "Look up an order.",
            "parameters": {
                "type": "object",
                "properties": {"order_id": {"type": "string"}},
                "required": ["order_id"],
            },
        },
    }
]
ORDER_CALL = FakeToolCall("get_order_status", {"order_id": "1234"}, id="call_a")
CALLBACK_CALL = FakeToolCall(
    "schedule_callback", {"time": "tomorrow at 3 pm", "reason": "refund"}, id="call_b"
)


@pytest.fixture
async def fake():
    async with FakeOpenAI(api_key=KEY) as server:
        yield server


def make_llm(fake: FakeOpenAI, **overrides) -> OpenAIChatLLM:
    options = {"first_token_timeout": 2.0, "total_timeout": 5.0, **overrides}
    return OpenAIChatLLM(OpenAISettings(api_key=KEY, base_url=fake.base_url, **options))


@pytest.fixture
async def llm(fake):
    client = make_llm(fake)
    yield client
    await client.close()


async def collect(llm: OpenAIChatLLM, tools=TOOLS, **kwargs) -> list[Any]:
    return [event async for event in llm.stream(MESSAGES, tools, **kwargs)]


async def answer(fake: FakeOpenAI, response: FakeResponse | None, **settings: Any) -> list[Any]:
    """The events of one request by a client made with ``settings`` (closed after)."""
    client = make_llm(fake, **settings)
    if response is not None:
        fake.script([response])
    try:
        return await collect(client)
    finally:
        await client.close()


# -- text streaming --------------------------------------------------------------


async def test_text_streams_as_deltas_then_finished_with_usage(fake, llm):
    fake.script([FakeResponse(text="Hello there. How can I help you today?")])
    events = await collect(llm)
    deltas = [e for e in events if isinstance(e, LlmTextDelta)]
    assert len(deltas) == 8
    assert "".join(d.text for d in deltas) == "Hello there. How can I help you today?"
    assert events[-1] == LlmFinished(
        finish_reason="stop",
        usage={"prompt_tokens": 42, "completion_tokens": 8, "total_tokens": 50},
    )


async def test_request_carries_model_params_tools_and_auth(fake, llm):
    fake.script([FakeResponse(text="Hi.")])
    await collect(llm)
    (request,) = fake.requests
    body = request.body
    assert request.headers["Authorization"] == f"Bearer {KEY}"
    assert body["model"] == "gpt-4.1-mini"
    assert body["messages"] == MESSAGES
    assert body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}
    assert body["tools"] == TOOLS
    assert "parallel_tool_calls" not in body  # true is the API's default
    assert body["max_completion_tokens"] == 300
    assert "reasoning_effort" not in body  # a chat model refuses it
    assert "temperature" not in body
    assert "tool_choice" not in body
    assert request.completed


async def test_no_tools_means_no_tool_params(fake, llm):
    fake.script([FakeResponse(text="Hi.")])
    await collect(llm, tools=[], tool_choice="none")
    body = fake.requests[0].body
    assert "tools" not in body
    assert "parallel_tool_calls" not in body
    assert "tool_choice" not in body


async def test_settings_reach_the_request(fake):
    client = make_llm(fake, model="local-model", temperature=0.2, max_completion_tokens=None)
    fake.script([FakeResponse(text="Hi.")])
    try:
        await collect(client, tool_choice="none")
    finally:
        await client.close()
    body = fake.requests[0].body
    assert body["model"] == "local-model"
    assert body["temperature"] == 0.2
    assert body["tool_choice"] == "none"
    assert "max_completion_tokens" not in body


async def test_usage_numbers_come_from_the_usage_chunk(fake, llm):
    usage = {"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10}
    fake.script([FakeResponse(text="Hi.", usage=usage)])
    events = await collect(llm)
    assert events[-1].usage == usage


# -- tool-call reassembly ------------------------------------------------------------

QUIRKS = {
    "openai": {},
    "omit_index": {"omit_index": True},
    "stop_with_tools": {"finish_reason": "stop"},
    "no_finish_reason": {"finish_reason": None},
    "repeat_id": {"repeat_id": True},
    "whole_arguments": {"whole_arguments": True},
    "same_index": {"same_index": True},
    "omit_index_repeat_id": {"omit_index": True, "repeat_id": True},
    "omit_index_whole_arguments": {"omit_index": True, "whole_arguments": True},
    "one_char_fragments": {"argument_fragments": 1000},
}


@pytest.mark.parametrize("quirk", QUIRKS.values(), ids=QUIRKS.keys())
async def test_two_parallel_tool_calls_reassemble_under_every_quirk(fake, llm, quirk):
    fake.script([FakeResponse(tool_calls=[ORDER_CALL, CALLBACK_CALL], **quirk)])
    events = await collect(llm)
    calls = [e for e in events if isinstance(e, LlmToolCall)]
    assert calls == [
        LlmToolCall("call_a", "get_order_status", ORDER_CALL.arguments_json()),
        LlmToolCall("call_b", "schedule_callback", CALLBACK_CALL.arguments_json()),
    ]
    assert json.loads(calls[1].arguments) == {"time": "tomorrow at 3 pm", "reason": "refund"}
    spec = fake.requests[0].response
    assert events[-1].finish_reason == spec.resolved_finish_reason()
    assert isinstance(events[-1], LlmFinished)


@pytest.mark.parametrize("quirk", QUIRKS.values(), ids=QUIRKS.keys())
async def test_text_then_tool_call(fake, llm, quirk):
    fake.script([FakeResponse(text="Let me check that.", tool_calls=[ORDER_CALL], **quirk)])
    events = await collect(llm)
    kinds = [type(e).__name__ for e in events]
    assert kinds == ["LlmTextDelta"] * 4 + ["LlmToolCall", "LlmFinished"]
    assert events[4] == LlmToolCall("call_a", "get_order_status", '{"order_id":"1234"}')


async def test_tool_calls_are_yielded_when_finish_reason_arrives(fake, llm):
    # The usage chunk comes 0.3 s after the finish chunk: the call must not wait for it.
    fake.script([FakeResponse(tool_calls=[ORDER_CALL], chunk_delay=0.3, argument_fragments=1)])
    async with aclosing(llm.stream(MESSAGES, TOOLS)) as events:
        async for event in events:
            if isinstance(event, LlmToolCall):
                request = fake.requests[0]
                assert request.chunks_sent == request.chunks_total - 1  # usage not sent yet
                break


def test_assembler_ollama_style_whole_calls_without_index_or_id():
    assembler = ToolCallAssembler()
    assembler.feed(None, None, "get_order_status", '{"order_id": "1"}')
    assembler.feed(None, None, "end_call", '{"reason": "done"}')
    calls = assembler.take()
    assert [(c.name, c.arguments) for c in calls] == [
        ("get_order_status", '{"order_id": "1"}'),
        ("end_call", '{"reason": "done"}'),
    ]
    assert calls[0].id.startswith("call_") and calls[0].id != calls[1].id


def test_assembler_fills_in_missing_parts_and_drops_nameless_calls():
    assembler = ToolCallAssembler()
    assembler.feed(0, "call_x", "end_call", None)  # no arguments at all
    assembler.feed(1, None, None, '{"a": 1}')  # never gets a name
    assert assembler.take() == [LlmToolCall("call_x", "end_call", "{}")]
    assert assembler.take() == []  # taken once only


def test_assembler_late_id_and_name_are_kept_from_first_sight():
    assembler = ToolCallAssembler()
    assembler.feed(0, None, None, '{"x"')
    assembler.feed(0, "call_1", "f", ":1}")
    assembler.feed(0, "call_1", "g", None)  # a later name does not replace the first
    assert assembler.take() == [LlmToolCall("call_1", "f", '{"x":1}')]


# -- timeouts ---------------------------------------------------------------------------


async def test_first_token_timeout_when_the_server_sends_nothing(fake):
    client = make_llm(fake, first_token_timeout=0.3)
    fake.script([FakeResponse(hang_after=0)])
    started = time.monotonic()
    with pytest.raises(LlmError, match="no first token within 0.3 s") as info:
        await collect(client)
    assert time.monotonic() - started < 1.5
    assert info.value.kind == "timeout"
    await fake.wait_for_disconnect(2.0)  # the request was closed, not left hanging
    await client.close()


async def test_first_token_timeout_covers_slow_response_headers(fake):
    client = make_llm(fake, first_token_timeout=0.3)
    fake.script([FakeResponse(text="late", headers_delay=10)])
    started = time.monotonic()
    with pytest.raises(LlmError, match="first token"):
        await collect(client)
    assert time.monotonic() - started < 1.5
    await fake.wait_for_disconnect(2.0)
    await client.close()


async def test_total_timeout_when_the_stream_trickles(fake):
    client = make_llm(fake, first_token_timeout=0.5, total_timeout=0.6)
    fake.script([FakeResponse(text="one two three four five six seven eight", chunk_delay=0.2)])
    received: list[str] = []
    started = time.monotonic()
    with pytest.raises(LlmError, match="response not complete within 0.6 s"):
        async for event in client.stream(MESSAGES, TOOLS):
            if isinstance(event, LlmTextDelta):
                received.append(event.text)
    assert time.monotonic() - started < 1.5
    assert 1 <= len(received) < 8
    await fake.wait_for_disconnect(2.0)
    await client.close()


async def test_a_slow_consumer_does_not_count_against_the_server(fake):
    client = make_llm(fake, first_token_timeout=0.3, total_timeout=0.3)
    fake.script([FakeResponse(text="one two three four")])
    events = []
    async for event in client.stream(MESSAGES, TOOLS):
        events.append(event)
        await asyncio.sleep(0.15)  # e.g. awaiting TTS: 0.6 s in total
    assert isinstance(events[-1], LlmFinished)
    await client.close()


# -- cancellation -----------------------------------------------------------------------


async def test_cancel_mid_stream_closes_the_http_request(fake, llm):
    fake.script([FakeResponse(text="one two three four", hang_after=3)])
    first = asyncio.Event()

    async def consume() -> None:
        async with aclosing(llm.stream(MESSAGES, TOOLS)) as events:
            async for _ in events:
                first.set()

    task = asyncio.create_task(consume())
    await asyncio.wait_for(first.wait(), 2)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    request = await fake.wait_for_disconnect(2.0)
    assert not request.completed


async def test_cancel_while_waiting_for_headers_closes_the_request(fake, llm):
    fake.script([FakeResponse(text="late", headers_delay=30)])
    task = asyncio.create_task(collect(llm))
    await fake.wait_for_request()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await fake.wait_for_disconnect(2.0)


async def test_leaving_the_loop_early_closes_the_request(fake, llm):
    fake.script([FakeResponse(text="one two three four five", chunk_delay=0.05)])
    async with aclosing(llm.stream(MESSAGES, TOOLS)) as events:
        async for _ in events:
            break
    await fake.wait_for_disconnect(2.0)


# -- errors ----------------------------------------------------------------------------


@pytest.mark.parametrize("status", [429, 500, 503])
async def test_http_errors_carry_status_and_server_message(fake, status):
    fake.script([FakeResponse.http_error(status, "Rate limit reached for gpt-4.1-mini")])
    with pytest.raises(LlmError) as info:
        await answer(fake, None, retry=LlmRetrySettings(attempts=0))
    assert info.value.kind == "http"
    assert info.value.status == status
    assert f"HTTP {status}" in str(info.value)
    assert "Rate limit reached for gpt-4.1-mini" in str(info.value)
    assert info.value.gave_up == "attempts_spent"
    assert len(fake.requests) == 1  # attempts=0: no retry


# -- retries inside the turn's latency budget ------------------------------------------


RETRIED = {
    "reset pooled connection": (FakeResponse(reset=True), "connection"),
    "dropped before the first chunk": (FakeResponse(text="lost", drop_after=0), "connection"),
    "429 without Retry-After": (FakeResponse.rate_limited(), "rate_limited"),
    "429 with a short Retry-After": (FakeResponse.rate_limited(retry_after=0.3), "rate_limited"),
    "500": (FakeResponse.http_error(500, "The server had an error"), "server_error"),
    "503 with a short Retry-After": (
        FakeResponse.http_error(503, "Slow down", retry_after=0.2),
        "server_error",
    ),
}


@pytest.mark.parametrize(("failure", "name"), RETRIED.values(), ids=RETRIED.keys())
async def test_a_transient_failure_is_retried_and_the_caller_hears_the_answer(
    fake, llm, failure, name
):
    fake.script([failure, FakeResponse(text="Hi there.", tool_calls=[ORDER_CALL])])
    started = time.monotonic()
    events = await collect(llm)
    took = time.monotonic() - started
    assert len(fake.requests) == 2
    assert [e.text for e in events if isinstance(e, LlmTextDelta)] == ["Hi", " there."]
    assert [e for e in events if isinstance(e, LlmToolCall)] == [
        LlmToolCall("call_a", "get_order_status", '{"order_id":"1234"}')
    ]
    assert events[-1].retries == (name,)
    wanted = failure.error_headers.get("retry-after")
    assert took >= (float(wanted) if wanted else 0.1)  # waited as asked, or the backoff


async def test_a_reset_pooled_connection_is_retried_on_a_new_one(fake, llm):
    # The server drops the kept-alive connection the second request goes out on.
    fake.script([FakeResponse(text="One."), FakeResponse(reset=True), FakeResponse(text="Two.")])
    await collect(llm)
    events = await collect(llm)
    assert "".join(e.text for e in events if isinstance(e, LlmTextDelta)) == "Two."
    assert events[-1].retries == ("connection",)
    first, reset, retried = fake.requests
    assert reset.peer == first.peer and retried.peer != first.peer


NOT_RETRIED = {
    "429 with a long Retry-After": (
        FakeResponse.rate_limited(retry_after=30),
        "retry_after_too_long",
    ),
    "429 quota exhausted": (FakeResponse.quota_exceeded(), "quota_exhausted"),
    "400": (FakeResponse.http_error(400, "Bad messages", "invalid_request_error"), "client_error"),
    "401": (FakeResponse.http_error(401, "Bad key", "invalid_request_error"), "client_error"),
    "x-should-retry false": (
        FakeResponse(status=503, error_headers={"x-should-retry": "false"}),
        "server_said_no",
    ),
    "error chunk": (FakeResponse(text="x", error_after=0), "stream_error"),
}


@pytest.mark.parametrize(("failure", "name"), NOT_RETRIED.values(), ids=NOT_RETRIED.keys())
async def test_a_lasting_failure_is_not_retried(fake, llm, failure, name):
    fake.script([failure, FakeResponse(text="Never asked for.")])
    with pytest.raises(LlmError) as info:
        await collect(llm)
    assert info.value.gave_up == name and info.value.retries == ()
    assert len(fake.requests) == 1


async def test_retries_stop_after_the_attempts(fake):
    fake.script([FakeResponse.http_error(500, "down")] * 4)
    with pytest.raises(LlmError, match="HTTP 500: down") as info:
        await answer(fake, None, retry=LlmRetrySettings(attempts=2, first_delay=0.01))
    assert info.value.retries == ("server_error", "server_error")
    assert info.value.gave_up == "attempts_spent"
    assert len(fake.requests) == 3


async def test_retries_stop_at_the_budget(fake):
    fake.script([FakeResponse.rate_limited(retry_after=0.3)] * 3)
    with pytest.raises(LlmError) as info:
        await answer(fake, None, retry=LlmRetrySettings(attempts=5, budget=0.5, max_retry_after=1))
    assert info.value.retries == ("rate_limited",)  # a second wait would end past 0.5 s
    assert info.value.gave_up == "budget_spent"
    assert len(fake.requests) == 2


async def test_the_first_token_timeout_covers_every_attempt(fake):
    policy = LlmRetrySettings(attempts=5, budget=10, max_retry_after=5)
    fake.script([FakeResponse.rate_limited(retry_after=0.4)] * 3)
    started = time.monotonic()
    with pytest.raises(LlmError, match="no first token within 0.6 s") as info:
        await answer(fake, None, first_token_timeout=0.6, retry=policy)
    assert time.monotonic() - started < 1.5
    assert info.value.kind == "timeout"


async def test_a_stream_that_breaks_after_text_is_not_retried(fake, llm):
    fake.script([FakeResponse(text="one two three four", drop_after=3), FakeResponse(text="x")])
    events: list[Any] = []
    with pytest.raises(LlmError) as info:
        async for event in llm.stream(MESSAGES, TOOLS):
            events.append(event)
    assert events and info.value.kind == "connection"
    assert len(fake.requests) == 1  # the caller heard part of it: a retry would repeat it


# -- models and their parameters -------------------------------------------------------


@pytest.mark.parametrize("model", ["o1", "o3", "o3-mini", "o4-mini", "gpt-5", "gpt-5-mini"])
async def test_a_reasoning_model_answers_a_tool_turn(fake, model):
    # Every tool turn used to carry parallel_tool_calls (o-series: HTTP 400), and the
    # 300-token cap counted the model's reasoning: no word left to say.
    events = await answer(
        fake,
        FakeResponse(text="Your order has shipped.", reasoning_tokens=800),
        model=model,
        temperature=0.3,
    )
    assert "".join(e.text for e in events if isinstance(e, LlmTextDelta)) == (
        "Your order has shipped."
    )
    assert events[-1].finish_reason == "stop"
    body = fake.requests[0].body
    assert body["max_completion_tokens"] == 300 + 4096
    assert body["reasoning_effort"] == "low"
    assert "temperature" not in body and "max_tokens" not in body
    assert "parallel_tool_calls" not in body


async def test_turning_parallel_calls_off_is_sent_where_accepted(fake):
    for model, sent in (("gpt-4.1-mini", True), ("gpt-5-mini", True), ("o4-mini", False)):
        await answer(fake, FakeResponse(text="Hi."), model=model, parallel_tool_calls=False)
        body = fake.requests[-1].body
        assert ("parallel_tool_calls" in body) is sent, model
        assert body.get("parallel_tool_calls", False) is False


async def test_a_cap_without_room_for_reasoning_leaves_nothing_to_say(fake):
    # What the bare 300-token cap did to o4-mini: the fake spends 800 reasoning tokens
    # before the answer. Declaring the model a non-reasoning one sends that cap again.
    events = await answer(
        fake,
        FakeResponse(text="Shipped."),
        model="o4-mini",
        capabilities=replace(O_SERIES, reasoning=False),
    )
    assert fake.requests[0].body["max_completion_tokens"] == 300
    assert not any(isinstance(e, LlmTextDelta) for e in events)
    assert events[-1].finish_reason == "length"


async def test_without_an_allowance_a_reasoning_model_gets_no_cap(fake):
    events = await answer(
        fake, FakeResponse(text="Shipped."), model="o4-mini", reasoning_token_allowance=None
    )
    assert "max_completion_tokens" not in fake.requests[0].body
    assert events[-1].finish_reason == "stop"


async def test_another_server_gets_max_tokens(fake):
    await answer(fake, FakeResponse(text="Hi."), model="llama3.1:8b")
    body = fake.requests[0].body
    assert body["max_tokens"] == 300
    assert "max_completion_tokens" not in body and "reasoning_effort" not in body


async def test_capabilities_can_be_set_for_a_deployment_name(fake):
    caps = ModelCapabilities.parse("max_completion_tokens,reasoning_effort,reasoning")
    await answer(fake, FakeResponse(text="Hi."), model="my-azure-deployment", capabilities=caps)
    body = fake.requests[0].body
    assert body["max_completion_tokens"] == 300 + 4096
    assert body["reasoning_effort"] == "low"


@pytest.mark.parametrize("refusal", REFUSALS, ids=[r.parameter for r in REFUSALS])
async def test_the_fake_refuses_what_openai_refuses(fake, refusal):
    model = {"o-series": "o4-mini", "gpt-5": "gpt-5-mini", "chat": "gpt-4o"}[
        sorted(refusal.families)[0]
    ]
    value = 0.2 if refusal.parameter == "temperature" else False
    caps = ModelCapabilities(parallel_tool_calls=True, temperature=True, reasoning_effort=True)
    settings: dict[str, Any] = {"model": model, "capabilities": caps}
    if refusal.parameter == "max_tokens":
        settings["capabilities"] = ModelCapabilities(token_limit="max_tokens")
    elif refusal.parameter == "parallel_tool_calls":
        settings["parallel_tool_calls"] = value
    elif refusal.parameter == "temperature":
        settings["temperature"] = value
    with pytest.raises(LlmError) as info:
        await answer(fake, None, **settings)
    assert info.value.status == 400 and info.value.gave_up == "client_error"
    assert refusal.message in str(info.value)
    assert info.value.code == refusal.code
    assert fake.pending == 0 and len(fake.requests) == 1


def test_reasoning_effort_must_be_a_known_value():
    with pytest.raises(ValueError, match="reasoning_effort 'fast' is not one of"):
        OpenAISettings(api_key=KEY, reasoning_effort="fast")


async def test_the_direct_path_reuses_its_connection(fake, llm):
    fake.script([FakeResponse(text="One."), FakeResponse(text="Two.")])
    await collect(llm)
    await collect(llm)
    assert fake.requests[0].peer == fake.requests[1].peer


async def test_wrong_api_key_is_401(fake):
    client = OpenAIChatLLM(OpenAISettings(api_key="sk-wrong", base_url=fake.base_url))
    with pytest.raises(LlmError, match="HTTP 401: Incorrect API key provided"):
        await collect(client)
    await client.close()


async def test_error_chunk_mid_stream(fake, llm):
    fake.script([FakeResponse(text="one two three", error_after=3, error_message="overloaded")])
    events = []
    with pytest.raises(LlmError, match="overloaded") as info:
        async for event in llm.stream(MESSAGES, TOOLS):
            events.append(event)
    assert info.value.kind == "api"
    assert [e.text for e in events] == ["one", " two"]


async def test_connection_dropped_mid_stream(fake, llm):
    fake.script([FakeResponse(text="one two three", drop_after=2)])  # after "one"
    with pytest.raises(LlmError, match="connection") as info:
        await collect(llm)
    assert info.value.kind == "connection"
    assert len(fake.requests) == 1


async def test_malformed_chunk_is_a_broken_stream(fake, llm):
    fake.script([FakeResponse(text="one two", garbage_after=1)])
    with pytest.raises(LlmError, match="broken stream") as info:
        await collect(llm)
    assert info.value.kind == "stream"


async def test_lax_server_chunks_are_tolerated(fake, llm):
    # null choices, a finish chunk without delta, no index and no finish_reason
    base = {"id": "x", "object": "chat.completion.chunk", "created": 0, "model": "m"}
    call = {"id": "c9", "type": "function", "function": {"name": "end_call", "arguments": "{}"}}
    raw = [
        {**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": "Bye."}}]},
        {**base, "choices": [{"delta": {"tool_calls": [call]}}]},
        {**base, "choices": [{"index": 0, "delta": None, "finish_reason": None}]},
        {**base, "choices": None, "usage": {"prompt_tokens": 1, "total_tokens": 2}},
    ]
    fake.script([FakeResponse(raw_chunks=[json.dumps(chunk) for chunk in raw])])
    events = await collect(llm)
    assert events == [
        LlmTextDelta("Bye."),
        LlmToolCall("c9", "end_call", "{}"),
        LlmFinished(finish_reason=None, usage={"prompt_tokens": 1, "total_tokens": 2}),
    ]


async def test_connection_refused(fake):
    client = OpenAIChatLLM(
        OpenAISettings(api_key=KEY, base_url="http://127.0.0.1:9/v1", first_token_timeout=2)
    )
    with pytest.raises(LlmError, match="connection"):
        await collect(client)
    await client.close()


# -- the fake itself -------------------------------------------------------------------


async def test_fake_in_a_thread_serves_the_same_stream():
    server = FakeOpenAI(api_key=KEY)
    base_url = server.start_in_thread()
    try:
        server.script([FakeResponse(text="From a thread.")])
        client = OpenAIChatLLM(OpenAISettings(api_key=KEY, base_url=base_url))
        events = await collect(client)
        await client.close()
    finally:
        server.stop()
    assert "".join(e.text for e in events if isinstance(e, LlmTextDelta)) == "From a thread."
    assert server.requests[0].completed


async def test_fake_responder_answers_from_the_conversation(fake, llm):
    fake.responder = lambda body: FakeResponse(text=f"{len(body['messages'])} messages.")
    events = await collect(llm)
    assert events[0].text == "2"


async def test_fake_non_streaming_completion(fake):
    fake.script([FakeResponse(text="Plain.", tool_calls=[ORDER_CALL])])
    client = AsyncOpenAI(api_key=KEY, base_url=fake.base_url, max_retries=0)
    messages: Any = MESSAGES
    completion = await client.chat.completions.create(model="m", messages=messages)
    await client.close()
    message = completion.choices[0].message
    assert message.content == "Plain."
    assert message.tool_calls is not None
    assert message.tool_calls[0].function.arguments == '{"order_id":"1234"}'
    assert completion.choices[0].finish_reason == "tool_calls"


def test_fake_chunks_match_the_documented_shape():
    chunks = build_chunks(FakeResponse(tool_calls=[ORDER_CALL]), model="m", include_usage=True)
    first = chunks[0]["choices"][0]["delta"]
    assert first == {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "index": 0,
                "id": "call_a",
                "type": "function",
                "function": {"name": "get_order_status", "arguments": ""},
            }
        ],
    }
    assert chunks[-2]["choices"][0] == {
        "index": 0,
        "delta": {},
        "logprobs": None,
        "finish_reason": "tool_calls",
    }
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["total_tokens"] > 0


# -- the SDK's request, without the SDK ------------------------------------------------


def test_the_sdk_is_never_imported():
    """Neither building the client (at start) nor preparing it imports ``openai``."""
    import subprocess
    import sys

    script = (
        "import asyncio, sys\n"
        "from sipgw.agent.services.openai.chat import OpenAIChatLLM, OpenAISettings\n"
        "client = OpenAIChatLLM(OpenAISettings(api_key='k', base_url='https://127.0.0.1:9/v1'))\n"
        "assert 'openai' not in sys.modules and 'aiohttp' not in sys.modules, 'imported'\n"
        "asyncio.run(client.prepare())\n"
        "assert client._wire is not None and client._wire.client._ssl is not None\n"
        "assert 'openai' not in sys.modules, 'imported by prepare'\n"
        "asyncio.run(client.close())\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]


SDK_ENVIRONMENTS = [
    {},
    {"OPENAI_ORG_ID": "org-1", "OPENAI_PROJECT_ID": "proj-2"},
    {"OPENAI_CUSTOM_HEADERS": "X-Team: voice\nauthorization: Bearer other\nbroken line"},
]


@pytest.mark.parametrize("environ", SDK_ENVIRONMENTS)
async def test_the_headers_are_the_sdks(monkeypatch, environ):
    """The SDK's default headers, in its order, from the installed SDK: only
    ``X-Stainless-Async`` differs (the SDK's client was made in a thread, where it said
    ``async:false``; here it is in the loop)."""
    from sipgw.agent.services.openai.chat import sdk_headers

    for name in ("OPENAI_ORG_ID", "OPENAI_PROJECT_ID", "OPENAI_CUSTOM_HEADERS"):
        monkeypatch.delenv(name, raising=False)
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    sdk = AsyncOpenAI(api_key=KEY, base_url="http://127.0.0.1:9/v1")
    expected = [
        (key, value)
        for key, value in sdk.default_headers.items()
        if isinstance(value, str) and key.lower() != "authorization"
    ]
    expected = [(k, "async:false" if k == "X-Stainless-Async" else v) for k, v in expected]
    assert sdk_headers(KEY, environ) == [*expected, ("Authorization", f"Bearer {KEY}")]


@pytest.mark.parametrize(
    "settings_url",
    [None, "http://LOCALHOST:8080/v1/", "https://example.com:443/openai", "http://[::1]:8/v1"],
)
def test_the_url_is_the_sdks(settings_url, monkeypatch):
    from sipgw.agent.services.openai.chat import base_url

    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    sdk = AsyncOpenAI(api_key=KEY, base_url=settings_url)
    assert base_url(settings_url) == f"{str(sdk.base_url).rstrip('/')}/chat/completions"


async def test_the_request_goes_out_as_before(monkeypatch):
    """The request's bytes, as the ``httpx2`` client sent them (captured from it): its
    three headers first, then the SDK's, ``Authorization``, ``Content-Length``, the body."""
    from sipgw.agent.services.openai.chat import sdk_headers

    for name in ("OPENAI_ORG_ID", "OPENAI_PROJECT_ID", "OPENAI_CUSTOM_HEADERS"):
        monkeypatch.delenv(name, raising=False)
    got: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = int(head.split(b"Content-Length: ")[1].split(b"\r\n")[0])
        got.set_result(head + await reader.readexactly(length))
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 14\r\n\r\ndata: [DONE]\n\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    client = OpenAIChatLLM(OpenAISettings(api_key="sk-x", base_url=f"http://127.0.0.1:{port}/v1"))
    try:
        events = [e async for e in client.stream([{"role": "user", "content": "hi"}], [])]
    finally:
        await client.close()
        server.close()
    assert events == [LlmFinished(finish_reason=None, usage=None)]
    body = (b'{"model":"gpt-4.1-mini","messages":[{"role":"user","content":"hi"}],"stream":true,'
            b'"stream_options":{"include_usage":true},"max_completion_tokens":300}')  # fmt: skip
    fields = [("Host", f"127.0.0.1:{port}"), ("Accept-Encoding", "gzip, deflate"),
              ("Connection", "keep-alive"), *sdk_headers("sk-x", {}),
              ("Content-Length", str(len(body)))]  # fmt: skip
    head = "".join(f"{k}: {v}\r\n" for k, v in fields)
    assert got.result() == f"POST /v1/chat/completions HTTP/1.1\r\n{head}\r\n".encode() + body


async def test_first_requests_at_once_prepare_the_client_once(fake, monkeypatch):
    from sipgw.agent.services.openai import chat as module

    made: list[str] = []
    real = module._make_wire

    def counted(*args: Any) -> Any:
        made.append("wire")
        time.sleep(0.2)  # slow: both requests come meanwhile
        return real(*args)

    monkeypatch.setattr(module, "_make_wire", counted)
    client = make_llm(fake)
    fake.script([FakeResponse(text="One."), FakeResponse(text="Two.")])
    try:
        first, second = await asyncio.gather(collect(client), collect(client))
    finally:
        await client.close()
    assert made == ["wire"]
    assert isinstance(first[-1], LlmFinished) and isinstance(second[-1], LlmFinished)


async def test_a_client_that_cannot_be_prepared_fails_its_request_and_tries_again(
    fake, monkeypatch, caplog
):
    from sipgw.agent.services.openai import chat as module

    real = module._make_wire
    failures = [RuntimeError("no pool")]

    def flaky(*args: Any) -> Any:
        if failures:
            raise failures.pop()
        return real(*args)

    monkeypatch.setattr(module, "_make_wire", flaky)
    client = make_llm(fake)
    try:
        await client.prepare()  # never raises: logged
        assert "LLM client not ready" in caplog.text
        fake.script([FakeResponse(text="Hi.")])
        events = await collect(client)  # the first request prepares it again
    finally:
        await client.close()
    assert isinstance(events[-1], LlmFinished)
