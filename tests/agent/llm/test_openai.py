"""OpenAIChatLLM against the loopback fake server, and ToolCallAssembler."""

from __future__ import annotations

import asyncio
import json
import time
from contextlib import aclosing
from typing import Any

import pytest
from openai import AsyncOpenAI

from agent.llm.base import LlmError, LlmFinished, LlmTextDelta, LlmToolCall
from agent.llm.openai import OpenAIChatLLM, OpenAISettings, ToolCallAssembler
from sipgw.testing.canaries import OPENAI_KEY
from sipgw.testing.fakes.openai import FakeOpenAI, FakeResponse, FakeToolCall, build_chunks

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
    assert body["parallel_tool_calls"] is True
    assert body["max_completion_tokens"] == 300
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
async def test_http_errors_carry_status_and_server_message(fake, llm, status):
    fake.script([FakeResponse.http_error(status, "Rate limit reached for gpt-4.1-mini")])
    with pytest.raises(LlmError) as info:
        await collect(llm)
    assert info.value.kind == "http"
    assert info.value.status == status
    assert f"HTTP {status}" in str(info.value)
    assert "Rate limit reached for gpt-4.1-mini" in str(info.value)
    assert len(fake.requests) == 1  # max_retries=0: no silent back-off


async def test_with_retries_the_sdk_sends_and_retries_a_5xx(fake):
    # max_retries > 0 goes through the SDK's post() (its back-off), same events.
    client = make_llm(fake, max_retries=1)
    fake.script(
        [
            FakeResponse.http_error(503, "busy"),
            FakeResponse(text="Hi there.", tool_calls=[ORDER_CALL]),
        ]
    )
    try:
        events = await collect(client)
    finally:
        await client.close()
    assert len(fake.requests) == 2
    assert fake.requests[1].headers["Authorization"] == f"Bearer {KEY}"
    assert [e.text for e in events if isinstance(e, LlmTextDelta)] == ["Hi", " there."]
    assert [e for e in events if isinstance(e, LlmToolCall)] == [
        LlmToolCall("call_a", "get_order_status", '{"order_id":"1234"}')
    ]
    assert isinstance(events[-1], LlmFinished)


async def test_with_retries_an_http_error_still_carries_status_and_message(fake):
    client = make_llm(fake, max_retries=1)
    fake.script([FakeResponse.http_error(400, "Bad messages")] * 2)
    try:
        with pytest.raises(LlmError, match="HTTP 400: Bad messages") as info:
            await collect(client)
    finally:
        await client.close()
    assert info.value.status == 400
    assert len(fake.requests) == 1  # 400 is not retried


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
    fake.script([FakeResponse(text="one two three", drop_after=1)])
    with pytest.raises(LlmError, match="connection") as info:
        await collect(llm)
    assert info.value.kind == "connection"


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
