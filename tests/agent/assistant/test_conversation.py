"""Conversation: streamed sentences, the tool loop, failures, barge-in, DTMF, records."""

from __future__ import annotations

import asyncio
import json
import time
from contextlib import aclosing
from dataclasses import dataclass, field, replace
from typing import Any

import pytest

from sipgw.agent.assistant.conversation import (
    Conversation,
    ConversationSettings,
    ReplyDone,
    ReplySentence,
    ReplyToolCall,
    ReplyToolResult,
)
from sipgw.agent.base import Direction
from sipgw.agent.services.openai.chat import OpenAIChatLLM, OpenAISettings
from sipgw.agent.tools.builtin import builtin_tools
from sipgw.agent.tools.registry import Tool, ToolRegistry
from sipgw.agent.tools.settings import BuiltinToolSettings
from sipgw.app.evaluation.fakes.openai import FakeOpenAI, FakeResponse, FakeToolCall
from sipgw.sip.dialpolicy import DialPolicy
from tests.toolkit.canaries import OPENAI_KEY

KEY = OPENAI_KEY
PROMPT = "You are the phone agent of a small shop."
FALLBACK = ConversationSettings(system_prompt="x").fallback_phrase
ORDER_1234 = {
    "order_id": "1234",
    "status": "shipped",
    "items": ["blue winter jacket", "wool scarf"],
    "eta": "tomorrow by 8 pm",
    "carrier": "DHL",
}


@dataclass
class FakeCall:
    call_id: str = "conv-call@test"
    caller: str = "sip:+15551234567@trunk.example"
    direction: Direction = "inbound"
    verified_caller: str = "+15551234567"  # the trunk asserted it: sample order 1234's owner
    caller_number: str = "+15551234567"  # the gateway's reading of caller
    settings: Any = None  # no tool here reads the typed settings
    transfers: list[str] = field(default_factory=list)
    dtmf: list[str] = field(default_factory=list)
    hangups: int = 0

    async def transfer(self, target: str, summary: str = "") -> bool:
        self.transfers.append(target)
        return True

    def send_dtmf(self, digits: str) -> None:
        self.dtmf.append(digits)

    def hangup_after_reply(self) -> None:
        self.hangups += 1

    def transfer_after_reply(self, target: str, summary: str = "") -> None:
        self.transfers.append(target)

    def answered_by(self) -> dict[str, Any]:
        return {"mode": "off"}


class Probe:
    """Test tools that sleep or fail, and remember what happened to them."""

    def __init__(self) -> None:
        self.started: list[str] = []
        self.cancelled: list[str] = []

    def tools(self) -> list[Tool]:
        schema = {"type": "object", "properties": {"seconds": {"type": "number"}}}
        return [
            Tool("nap", "Sleeps.", schema, self.nap, timeout=5.0),
            Tool("slow", "Too slow.", schema, self.nap, timeout=0.1),
            Tool("broken", "Fails.", schema, self.broken),
        ]

    async def nap(self, ctx, args: dict[str, Any]) -> object:
        self.started.append("nap")
        try:
            await asyncio.sleep(args.get("seconds", 1.0))
        except asyncio.CancelledError:
            self.cancelled.append("nap")
            raise
        return {"slept": args.get("seconds", 1.0)}

    async def broken(self, ctx, args: dict[str, Any]) -> object:
        raise RuntimeError("the backend is down")


@pytest.fixture
async def fake():
    async with FakeOpenAI(api_key=KEY) as server:
        yield server


@pytest.fixture
async def llm(fake):
    client = OpenAIChatLLM(
        OpenAISettings(api_key=KEY, base_url=fake.base_url, first_token_timeout=0.5)
    )
    yield client
    await client.close()


@pytest.fixture
def probe():
    return Probe()


@pytest.fixture
def records():
    return []


@pytest.fixture
def conv(llm, probe, records, tmp_path):
    return make_conversation(llm, probe, records, tmp_path)


def make_conversation(llm, probe, records=None, tmp_path=None, **settings) -> Conversation:
    target = "sip:support@pbx.example.com"
    builtin = BuiltinToolSettings(
        transfer_target=target, dial_policy=DialPolicy(per_action={"transfer": (target,)})
    )
    if tmp_path is not None:
        builtin = replace(builtin, callback_db=tmp_path / "cb.sqlite3")
    registry = ToolRegistry([*builtin_tools(builtin), *probe.tools()])
    return Conversation(
        llm,
        registry,
        FakeCall(),
        ConversationSettings(system_prompt=PROMPT, **settings),
        on_record=records.append if records is not None else None,
    )


async def run(conv: Conversation, text: str | None) -> list[Any]:
    async with aclosing(conv.reply(text)) as events:
        return [event async for event in events]


def sentences(events) -> list[str]:
    return [e.text for e in events if isinstance(e, ReplySentence)]


def call(name: str, args: dict[str, Any], call_id: str) -> dict[str, Any]:
    return {
        "id": call_id,
        "type": "function",
        "function": {"name": name, "arguments": json.dumps(args, separators=(",", ":"))},
    }


def assert_valid_history(messages: list[dict[str, Any]]) -> None:
    """What the API requires: tool messages answer exactly the preceding tool_calls."""
    assert messages[0] == {"role": "system", "content": PROMPT}
    i = 1
    while i < len(messages):
        message = messages[i]
        assert message["role"] in ("user", "assistant"), messages
        i += 1
        if message["role"] == "assistant":
            assert message.get("content") or message.get("tool_calls"), message
            ids = [c["id"] for c in message.get("tool_calls", [])]
            answered = [m["tool_call_id"] for m in messages[i : i + len(ids)]]
            assert answered == ids, messages
            assert all(m["role"] == "tool" for m in messages[i : i + len(ids)])
            i += len(ids)


def mention_tool_result(body: dict[str, Any]) -> FakeResponse:
    """The fake model reads the last tool result and talks about it."""
    last = body["messages"][-1]
    if last["role"] != "tool":
        return FakeResponse(text="How can I help?")
    result = json.loads(last["content"])
    if "status" in result:
        return FakeResponse(text=f"Your order has {result['status']}. It arrives {result['eta']}.")
    return FakeResponse(text=f"Sorry, {result.get('error', 'that did not work')}.")


# -- streaming ------------------------------------------------------------------------


async def test_first_sentence_is_yielded_before_the_llm_finishes(fake, conv):
    text = "Hello, thanks for calling. Your order is on its way. Anything else I can do for you?"
    fake.script([FakeResponse(text=text, chunk_delay=0.04)])
    seen_at_first_sentence: tuple[int, int] | None = None
    events: list[Any] = []
    async with aclosing(conv.reply("Hi there")) as stream:
        async for event in stream:
            if isinstance(event, ReplySentence) and seen_at_first_sentence is None:
                request = fake.requests[0]
                seen_at_first_sentence = (request.chunks_sent, request.chunks_total)
            events.append(event)
    assert events[0] == ReplySentence("Hello, thanks for calling.")
    assert seen_at_first_sentence is not None
    sent, total = seen_at_first_sentence
    assert sent <= total // 2  # the stream had most of its chunks still to send
    done = events[-1]
    assert isinstance(done, ReplyDone) and not done.failed
    assert done.text == text
    assert sentences(events) == [
        "Hello, thanks for calling.",
        "Your order is on its way.",
        "Anything else I can do for you?",
    ]
    t = done.timings
    assert t.first_token_at is not None and t.first_sentence_at is not None
    assert t.started_at <= t.first_token_at <= t.first_sentence_at < t.finished_at
    latency = t.first_sentence_latency
    assert latency is not None and latency < (t.finished_at - t.started_at) / 2
    assert (t.llm_rounds, t.tool_calls) == (1, 0)
    assert done.usage is not None and done.usage["completion_tokens"] > 0
    assert conv.messages == [
        {"role": "system", "content": PROMPT},
        {"role": "user", "content": "Hi there"},
        {"role": "assistant", "content": text},
    ]


# -- the tool loop -------------------------------------------------------------------------


async def test_tool_round_then_text_with_exact_history(fake, conv):
    fake.script(
        [FakeResponse(tool_calls=[FakeToolCall("get_order_status", {"order_id": "1 2 3 4"})])]
    )
    fake.responder = mention_tool_result
    events = await run(conv, "Where is order 1234?")
    assert [type(e) for e in events] == [
        ReplyToolCall,
        ReplyToolResult,
        ReplySentence,
        ReplySentence,
        ReplyDone,
    ]
    assert events[0] == ReplyToolCall("call_0", "get_order_status", '{"order_id":"1 2 3 4"}')
    assert events[1].ok and json.loads(events[1].content) == ORDER_1234
    final = "Your order has shipped. It arrives tomorrow by 8 pm."
    assert sentences(events) == ["Your order has shipped.", "It arrives tomorrow by 8 pm."]
    expected = [
        {"role": "system", "content": PROMPT},
        {"role": "user", "content": "Where is order 1234?"},
        {
            "role": "assistant",
            "tool_calls": [call("get_order_status", {"order_id": "1 2 3 4"}, "call_0")],
        },
        {"role": "tool", "tool_call_id": "call_0", "content": events[1].content},
    ]
    assert conv.messages == [*expected, {"role": "assistant", "content": final}]
    first, second = fake.requests
    assert first.body["messages"] == expected[:2]
    assert second.body["messages"] == expected  # §3.2 step 5, exactly
    assert second.body["tools"] == conv.tools.schemas()
    assert "tool_choice" not in second.body
    assert events[-1].timings.llm_rounds == 2 and events[-1].timings.tool_calls == 1


async def test_text_before_a_tool_call_is_spoken_and_kept(fake, conv):
    fake.script(
        [
            FakeResponse(
                text="Let me check that for you.",
                tool_calls=[FakeToolCall("get_order_status", {"order_id": "1234"}, id="c1")],
                finish_reason="stop",  # compatible-server quirk: still dispatched
                omit_index=True,
            )
        ]
    )
    fake.responder = mention_tool_result
    events = await run(conv, "Order 1234?")
    assert [type(e).__name__ for e in events[:3]] == [
        "ReplySentence",
        "ReplyToolCall",
        "ReplyToolResult",
    ]
    assert conv.messages[2] == {
        "role": "assistant",
        "content": "Let me check that for you.",
        "tool_calls": [call("get_order_status", {"order_id": "1234"}, "c1")],
    }
    assert events[-1].text == (
        "Let me check that for you. Your order has shipped. It arrives tomorrow by 8 pm."
    )
    assert_valid_history(conv.messages)


async def test_parallel_tool_calls_run_at_the_same_time(fake, conv, probe):
    fake.script(
        [
            FakeResponse(
                tool_calls=[
                    FakeToolCall("nap", {"seconds": 0.3}, id="a"),
                    FakeToolCall("nap", {"seconds": 0.3}, id="b"),
                    FakeToolCall("get_order_status", {"order_id": "1002"}, id="c"),
                ]
            ),
            FakeResponse(text="All done."),
        ]
    )
    started = time.monotonic()
    events = await run(conv, "Do three things")
    assert time.monotonic() - started < 0.55  # not 0.6 s: the naps overlapped
    assert [e.id for e in events if isinstance(e, ReplyToolCall)] == ["a", "b", "c"]
    results = [e for e in events if isinstance(e, ReplyToolResult)]
    assert results[0].id == "c"  # results arrive as they finish
    assert conv.messages[2]["tool_calls"] == [
        call("nap", {"seconds": 0.3}, "a"),
        call("nap", {"seconds": 0.3}, "b"),
        call("get_order_status", {"order_id": "1002"}, "c"),
    ]
    assert [m["tool_call_id"] for m in conv.messages[3:6]] == ["a", "b", "c"]  # call order
    assert conv.messages[-1] == {"role": "assistant", "content": "All done."}
    assert_valid_history(conv.messages)


async def test_tool_timeout_and_crash_become_errors_the_llm_sees(fake, conv, records):
    fake.script(
        [
            FakeResponse(
                tool_calls=[
                    FakeToolCall("slow", {"seconds": 5}, id="s"),
                    FakeToolCall("broken", {}, id="b"),
                ]
            ),
            FakeResponse(text="Sorry, our systems are slow today."),
        ]
    )
    events = await run(conv, "Check everything")
    results = {e.id: e for e in events if isinstance(e, ReplyToolResult)}
    assert not results["s"].ok and not results["b"].ok
    tool_messages = fake.requests[1].body["messages"][-2:]
    assert tool_messages == [
        {"role": "tool", "tool_call_id": "s", "content": '{"error": "slow timed out after 0.1 s"}'},
        {
            "role": "tool",
            "tool_call_id": "b",
            "content": '{"error": "broken failed: RuntimeError: the backend is down"}',
        },
    ]
    tool_records = [r for r in records if r["type"] == "tool_call"]
    assert [(r["name"], r["ok"]) for r in tool_records] == [("broken", False), ("slow", False)]
    assert sentences(events) == ["Sorry, our systems are slow today."]


async def test_bad_tool_arguments_reach_the_llm_as_an_error(fake, conv):
    fake.script(
        [
            FakeResponse(tool_calls=[FakeToolCall("get_order_status", '{"order_id": 12', id="x")]),
            FakeResponse(text="Could you repeat the number?"),
        ]
    )
    await run(conv, "Order 12")
    content = json.loads(conv.messages[3]["content"])
    assert content["error"].startswith("invalid arguments for get_order_status: not valid JSON")
    assert_valid_history(conv.messages)


async def test_tool_rounds_are_limited(fake, llm, probe):
    conv = make_conversation(llm, probe, max_tool_rounds=2)
    fake.responder = lambda body: FakeResponse(tool_calls=[FakeToolCall("nap", {"seconds": 0})])
    events = await run(conv, "Loop forever")
    assert len(fake.requests) == 3
    assert [r.body.get("tool_choice") for r in fake.requests] == [None, None, "none"]
    assert sentences(events) == [FALLBACK]
    done = events[-1]
    assert done.failed and done.error == "tool round limit reached"
    assert json.loads(conv.messages[-2]["content"]) == {
        "error": "not run: too many tool rounds in one reply"
    }
    assert conv.messages[-1] == {"role": "assistant", "content": FALLBACK}
    assert_valid_history(conv.messages)


async def test_end_call_then_goodbye(fake, conv):
    fake.script(
        [
            FakeResponse(tool_calls=[FakeToolCall("end_call", {"reason": "done"})]),
            FakeResponse(text="Thanks for calling. Goodbye!"),
        ]
    )
    events = await run(conv, "That's all, bye")
    assert conv.ctx.hangups == 1
    assert sentences(events) == ["Thanks for calling.", "Goodbye!"]


async def test_transfer_tool_reaches_the_call(fake, conv):
    fake.script(
        [
            FakeResponse(
                tool_calls=[
                    FakeToolCall(
                        "transfer_to_human", {"reason": "asked", "summary": "Asked for a person."}
                    )
                ]
            ),
            FakeResponse(text="Transferring you now."),
        ]
    )
    await run(conv, "A human please")
    assert conv.ctx.transfers == ["sip:support@pbx.example.com"]


# -- LLM failures ---------------------------------------------------------------------------


async def test_llm_timeout_speaks_the_fallback_and_keeps_history_valid(fake, conv, records):
    fake.script([FakeResponse(hang_after=0)])
    started = time.monotonic()
    events = await run(conv, "Hello?")
    assert time.monotonic() - started < 1.5
    assert sentences(events) == [FALLBACK]
    done = events[-1]
    assert done.failed and "no first token" in done.error
    assert conv.messages[1:] == [
        {"role": "user", "content": "Hello?"},
        {"role": "assistant", "content": FALLBACK},
    ]
    # The next turn works and sends the valid history.
    fake.script([FakeResponse(text="I'm back.")])
    events = await run(conv, "Hello again")
    assert sentences(events) == ["I'm back."]
    assert fake.requests[-1].body["messages"][1:3] == conv.messages[1:3]
    assert_valid_history(conv.messages)
    assert [r["failed"] for r in records if r["type"] == "assistant"] == [True, False]


async def test_llm_failure_after_a_tool_round(fake, conv):
    fake.script(
        [
            FakeResponse(tool_calls=[FakeToolCall("get_order_status", {"order_id": "1234"})]),
            *[FakeResponse.http_error(500, "upstream exploded")] * 3,  # and its two retries
        ]
    )
    events = await run(conv, "Order 1234")
    assert events[-1].failed and "HTTP 500: upstream exploded" in events[-1].error
    assert [m["role"] for m in conv.messages] == [
        "system",
        "user",
        "assistant",
        "tool",
        "assistant",
    ]
    assert conv.messages[-1]["content"] == FALLBACK
    assert_valid_history(conv.messages)


async def test_stream_broken_mid_sentence_keeps_what_was_spoken(fake, conv):
    fake.script([FakeResponse(text="Your order shipped. It will arr", drop_after=5)])
    events = await run(conv, "Status?")
    assert sentences(events) == ["Your order shipped.", FALLBACK]
    assert conv.messages[-1] == {"role": "assistant", "content": f"Your order shipped. {FALLBACK}"}


# -- barge-in ---------------------------------------------------------------------------------

LONG = (
    "Your order has shipped. It left our warehouse this morning. "
    "The carrier is DHL. It should arrive tomorrow by 8 pm."
)


async def start_reply(conv, text: str, until) -> tuple[asyncio.Task[None], list[Any]]:
    """Consume a reply in a task until ``until(events)`` holds."""
    events: list[Any] = []
    reached = asyncio.Event()

    async def consume() -> None:
        async with aclosing(conv.reply(text)) as stream:
            async for event in stream:
                events.append(event)
                if until(events):
                    reached.set()

    task = asyncio.create_task(consume())
    await asyncio.wait_for(reached.wait(), 3)
    return task, events


async def test_barge_in_cancels_the_stream_and_keeps_what_was_said(fake, conv, records):
    fake.script([FakeResponse(text=LONG, chunk_delay=0.05)])
    task, events = await start_reply(conv, "Where is it?", lambda ev: len(ev) == 2)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await fake.wait_for_disconnect(2.0)
    assert sentences(events) == ["Your order has shipped.", "It left our warehouse this morning."]
    assert conv.messages[-1] == {
        "role": "assistant",
        "content": "Your order has shipped. It left our warehouse this morning.",
    }
    assert records[-1]["type"] == "assistant" and records[-1]["interrupted"] is True
    # The caller heard only part of the second sentence.
    conv.record_heard("Your order has shipped. It left our")
    assert conv.messages[-1] == {
        "role": "assistant",
        "content": "Your order has shipped. It left our…",
    }
    assert records[-1] == {
        **records[-1],
        "type": "heard",
        "text": "Your order has shipped. It left our",
    }


async def test_record_heard_nothing_drops_the_reply(fake, conv):
    fake.script([FakeResponse(text="Hello there. How can I help?")])
    await run(conv, "Hi")
    conv.record_heard("")
    assert conv.messages == [
        {"role": "system", "content": PROMPT},
        {"role": "user", "content": "Hi"},
    ]


async def test_record_heard_everything_changes_nothing(fake, conv):
    fake.script([FakeResponse(text="Hello there. How can I help?")])
    await run(conv, "Hi")
    before = [dict(m) for m in conv.messages]
    conv.record_heard("Hello there.   How can I help?")
    assert conv.messages == before


async def test_record_heard_across_tool_rounds_keeps_tool_structure(fake, conv):
    fake.script(
        [
            FakeResponse(
                text="Let me check.",
                tool_calls=[FakeToolCall("get_order_status", {"order_id": "1234"})],
            )
        ]
    )
    fake.responder = mention_tool_result
    await run(conv, "Order 1234?")
    conv.record_heard("Let me check. Your order has shipped.")
    assert conv.messages[2]["content"] == "Let me check."
    assert conv.messages[-1]["content"] == "Your order has shipped.…"
    conv.record_heard("Let")
    assert conv.messages[2]["content"] == "Let…"
    assert [m["role"] for m in conv.messages] == ["system", "user", "assistant", "tool"]
    conv.record_heard("")
    assert "content" not in conv.messages[2] and conv.messages[2]["tool_calls"]
    assert_valid_history(conv.messages)


async def test_barge_in_while_a_tool_runs(fake, conv, probe):
    fake.script([FakeResponse(tool_calls=[FakeToolCall("nap", {"seconds": 10}, id="n")])])
    task, events = await start_reply(
        conv, "Take a nap", lambda ev: isinstance(ev[-1], ReplyToolCall)
    )
    await asyncio.sleep(0.05)
    assert probe.started == ["nap"]
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert probe.cancelled == ["nap"]  # the tool did not outlive the reply
    assert conv.messages[2:] == [
        {"role": "assistant", "tool_calls": [call("nap", {"seconds": 10}, "n")]},
        {
            "role": "tool",
            "tool_call_id": "n",
            "content": '{"error": "not finished: the caller interrupted"}',
        },
    ]
    assert_valid_history(conv.messages)


async def test_an_abandoned_reply_is_closed_by_the_next_one(fake, conv):
    fake.script([FakeResponse(text=LONG, chunk_delay=0.02), FakeResponse(text="Sure.")])
    stream = conv.reply("First")
    first = await anext(stream)  # then the consumer walks away without closing it
    assert first == ReplySentence("Your order has shipped.")
    events = await run(conv, "Second")
    assert sentences(events) == ["Sure."]
    assert [m.get("content") for m in conv.messages[1:]] == [
        "First",
        "Your order has shipped.",
        "Second",
        "Sure.",
    ]
    await stream.aclose()  # closing it late changes nothing
    assert len(conv.messages) == 5
    assert_valid_history(conv.messages)


async def test_an_abandoned_reply_resumed_after_a_newer_one_changes_nothing(fake, conv, probe):
    fake.script(
        [
            FakeResponse(tool_calls=[FakeToolCall("nap", {"seconds": 10}, id="n")]),
            FakeResponse(text="Newer."),
        ]
    )
    old = conv.reply("First")
    assert isinstance(await anext(old), ReplyToolCall)
    await run(conv, "Second")
    assert conv.messages[3]["content"] == '{"error": "not finished: the caller interrupted"}'
    history = [dict(m) for m in conv.messages]
    rest = [event async for event in old]  # the stale consumer comes back
    assert [type(e) for e in rest] == [ReplyDone]
    assert conv.messages == history
    assert [m["role"] for m in history] == [
        "system",
        "user",
        "assistant",
        "tool",
        "user",
        "assistant",
    ]
    assert_valid_history(conv.messages)


# -- DTMF, isolation, records ---------------------------------------------------------------


async def test_dtmf_reaches_the_llm_as_text(fake, conv, records):
    conv.add_dtmf("123#")
    assert conv.messages[-1] == {
        "role": "user",
        "content": "[The caller pressed keypad keys: 1 2 3 #]",
    }
    fake.script([FakeResponse(text="You entered 123.")])
    events = await run(conv, None)
    assert sentences(events) == ["You entered 123."]
    assert fake.requests[0].body["messages"][-1]["content"].startswith("[The caller pressed")
    assert records[0]["type"] == "dtmf" and records[0]["digits"] == "123#"
    conv.add_dtmf("   ")
    assert len(conv.messages) == 3


async def test_two_conversations_never_share_history(fake, llm, probe):
    one = make_conversation(llm, probe)
    two = make_conversation(llm, probe)
    fake.responder = lambda body: FakeResponse(
        text=f"You said {body['messages'][-1]['content']}.", chunk_delay=0.01
    )
    await asyncio.gather(run(one, "apples"), run(two, "pears"))
    assert one.messages is not two.messages
    assert one.messages[1:] == [
        {"role": "user", "content": "apples"},
        {"role": "assistant", "content": "You said apples."},
    ]
    assert two.messages[1:] == [
        {"role": "user", "content": "pears"},
        {"role": "assistant", "content": "You said pears."},
    ]
    for request in fake.requests:
        contents = [m["content"] for m in request.body["messages"]]
        assert not ("apples" in contents and "pears" in contents)


async def test_records_are_json_lines(fake, conv, records):
    fake.script(
        [
            FakeResponse(tool_calls=[FakeToolCall("get_order_status", {"order_id": "1234"})]),
            FakeResponse(text="It shipped."),
        ]
    )
    await run(conv, "Order 1234")
    assert [r["type"] for r in records] == ["user", "tool_call", "assistant"]
    tool = records[1]
    assert tool["name"] == "get_order_status" and tool["ok"] is True
    assert json.loads(tool["result"]) == ORDER_1234
    assert records[2]["text"] == "It shipped." and records[2]["interrupted"] is False
    assert records[2]["timings"]["llm_rounds"] == 2
    assert all(r["call_id"] == "conv-call@test" and r["ts"] > 0 for r in records)
    for record in records:
        json.loads(json.dumps(record))


async def test_a_failing_record_hook_does_not_break_the_call(fake, llm, probe):
    def explode(record):
        raise RuntimeError("disk full")

    conv = make_conversation(llm, probe)
    conv.on_record = explode
    fake.script([FakeResponse(text="Still here.")])
    assert sentences(await run(conv, "Hi")) == ["Still here."]
