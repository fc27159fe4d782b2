"""The wire helpers of the OpenAI client: error statuses and Retry-After (openai_wire.py).

The streaming itself runs against the fake in test_openai.py.
"""

from __future__ import annotations

import email.utils
import json
import math
import time

import httpx2
import pytest

from sipgw.agent.llm.openai_wire import retry_after, status_error


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
    assert retry_after(httpx2.Headers(headers)) == expected


def test_retry_after_as_a_date() -> None:
    when = email.utils.formatdate(time.time() + 30, usegmt=True)
    seconds = retry_after(httpx2.Headers({"retry-after": when}))
    assert seconds is not None and 28 <= seconds <= 31


def test_a_status_error_carries_what_a_retry_needs() -> None:
    body = {"error": {"message": "You exceeded your current quota", "type": "insufficient_quota",
                      "param": None, "code": "insufficient_quota"}}  # fmt: skip
    response = httpx2.Response(
        429, headers={"retry-after": "1", "x-should-retry": "false"}, content=json.dumps(body)
    )
    error = status_error(response)
    assert str(error) == "LLM HTTP 429: You exceeded your current quota"
    assert (error.kind, error.status, error.code) == ("http", 429, "insufficient_quota")
    assert error.retry_after == 1.0 and error.should_retry is False


def test_a_status_error_without_a_json_body() -> None:
    error = status_error(httpx2.Response(502, content=b"<html>Bad gateway</html>"))
    assert str(error) == "LLM HTTP 502: Error code: 502"
    assert error.code is None and error.retry_after is None and error.should_retry is None
