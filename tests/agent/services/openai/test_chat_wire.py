"""The wire helpers of the OpenAI client: error statuses, Retry-After, the event stream's
lines (openai_wire.py).

The streaming against a server runs against the fake in test_openai.py.
"""

from __future__ import annotations

import email.utils
import json
import math
import time
from typing import Any

import pytest

from sipgw.agent.services.llm.base import LlmError
from sipgw.agent.services.openai.chat_wire import (
    EventLines,
    chunk_batches,
    retry_after,
    status_error,
)
from sipgw.agent.services.openai.http_client import HttpReadError


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({}, None),
        ({"retry-after": "2"}, 2.0),
        ({"retry-after": "0.25"}, 0.25),
        ({"retry-after-ms": "150"}, 0.15),
        ({"retry-after-ms": "150", "retry-after": "9"}, 0.15),
        ({"retry-after-ms": "soon", "retry-after": "3"}, 3.0),
        ({"retry-after": "1e999"}, math.inf),
        ({"retry-after": "tomorrow"}, None),
    ],
)
def test_retry_after(headers: dict[str, str], expected: float | None) -> None:
    assert retry_after(headers) == expected


def test_retry_after_as_a_date() -> None:
    when = email.utils.formatdate(time.time() + 30, usegmt=True)
    seconds = retry_after({"retry-after": when})
    assert seconds is not None and 28 <= seconds <= 31


def test_a_status_error_carries_what_a_retry_needs() -> None:
    body = {"error": {"message": "You exceeded your current quota", "type": "insufficient_quota",
                      "param": None, "code": "insufficient_quota"}}  # fmt: skip
    headers = {"retry-after": "1", "x-should-retry": "false"}
    error = status_error(429, headers, json.dumps(body).encode())
    assert str(error) == "LLM HTTP 429: You exceeded your current quota"
    assert (error.kind, error.status, error.code) == ("http", 429, "insufficient_quota")
    assert error.retry_after == 1.0 and error.should_retry is False


def test_a_status_error_without_a_json_body() -> None:
    error = status_error(502, {}, b"<html>Bad gateway</html>")
    assert str(error) == "LLM HTTP 502: Error code: 502"
    assert error.code is None and error.retry_after is None and error.should_retry is None


class _Body:
    """A response whose body arrives in the given blocks (then the end, or ``error``)."""

    def __init__(self, blocks: list[bytes], error: Exception | None = None) -> None:
        self.blocks = list(blocks)
        self.error = error
        self.reads = 0

    async def read_chunk(self) -> bytes:
        self.reads += 1
        if self.blocks:
            return self.blocks.pop(0)
        if self.error is not None:
            raise self.error
        return b""


async def _batches(
    blocks: list[bytes], error: Exception | None = None
) -> list[list[dict[str, Any]]]:
    return [batch async for batch in chunk_batches(_Body(blocks, error))]  # type: ignore[arg-type]


async def _chunks(blocks: list[bytes], error: Exception | None = None) -> list[object]:
    return [chunk for batch in await _batches(blocks, error) for chunk in batch]


STREAM = b'data: {"a": 1}\n\n: a comment\nevent: x\ndata: {"b":\ndata: 2}\n\ndata: [DONE]\n\n'


@pytest.mark.parametrize("newline", [b"\n", b"\r\n", b"\r"])
async def test_the_event_stream_splits_on_any_line_end_in_any_blocks(newline: bytes) -> None:
    stream = STREAM.replace(b"\n", newline)
    expected = [{"a": 1}, {"b": 2}]
    assert await _chunks([stream]) == expected
    assert await _chunks([stream[i : i + 1] for i in range(len(stream))]) == expected
    assert await _chunks([stream[:7], stream[7:22], stream[22:]]) == expected


async def test_done_reads_the_body_to_its_end() -> None:
    body = _Body([b"data: [DONE]\n\n", b"ignored", b"\n"])
    assert [c async for c in chunk_batches(body)] == []  # type: ignore[arg-type]
    assert body.blocks == [] and body.reads == 4


async def test_an_event_not_ended_by_a_blank_line_is_dropped_at_the_end() -> None:
    assert await _chunks([b'data: {"a": 1}\n\ndata: {"b": 2}\n']) == [{"a": 1}]


async def test_an_error_event_and_a_broken_connection_are_llm_errors() -> None:
    with pytest.raises(LlmError, match="LLM API error in stream: overloaded") as api:
        await _chunks([b'data: {"error": {"message": "overloaded"}}\n\n'])
    assert api.value.kind == "api"
    with pytest.raises(LlmError, match="LLM connection error: HttpReadError: gone") as read:
        await _chunks([b'data: {"a": 1}\n\n'], HttpReadError("gone"))
    assert read.value.kind == "connection"


async def test_a_chunk_that_is_not_json_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        await _chunks([b'data: {"choices": [{"delta": \n\n'])


async def test_the_chunks_of_one_read_come_together() -> None:
    one = b'data: {"a": 1}\n\n'
    assert await _batches([one + one, one, b"data: [DONE]\n\n"]) == [[{"a": 1}] * 2, [{"a": 1}]]
    assert await _batches([one + one + b"data: [DONE]\n\n"]) == [[{"a": 1}] * 2]


async def test_the_chunks_before_a_bad_one_are_handed_out_first() -> None:
    body = _Body([b'data: {"a": 1}\n\ndata: {"error": {"message": "x"}}\n\n'])
    batches = chunk_batches(body)  # type: ignore[arg-type]
    assert await anext(batches) == [{"a": 1}]
    with pytest.raises(LlmError, match="LLM API error in stream: x"):
        await anext(batches)
    batches = chunk_batches(_Body([b'data: {"a": 1}\n\ndata: {not json\n\n']))  # type: ignore[arg-type]
    assert await anext(batches) == [{"a": 1}]
    with pytest.raises(ValueError):
        await anext(batches)


def test_event_lines_join_data_lines_and_skip_the_rest() -> None:
    lines = EventLines()
    assert lines.feed(b"event: x\nid: 1\nretry: 5\n: hi\ndata:a\ndata:  b") == []
    assert lines.feed(b"\n\r\n") == [b"a\n b"]
    assert lines.feed(b"\n\ndata: c\r") == []
    assert lines.feed(b"\n\r") == []  # a CR at the end may be half of a CRLF: wait and see
    assert lines.feed(b"data: d\n\n") == [b"c", b"d"]
