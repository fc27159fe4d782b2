"""The wire side of streamed Chat Completions: the request, the SSE stream, the chunks as dicts.

:class:`sipgw.agent.llm.openai.OpenAIChatLLM` sends its request with :func:`send_direct`:
one ``POST`` through an ``httpx2`` client, with the headers the SDK would send (the
SDK's request machinery costs about 1 ms of event-loop CPU per request, which
hundreds of calls on one core feel; retries are the client's own,
agent/llm/retry.py).

The body is read by :func:`chunks`, which parses the server-sent events into plain
dicts (no pydantic models per chunk), as the SDK does: ``[DONE]`` ends the stream,
an event whose JSON carries ``error`` is an API error. Errors are raised as
:class:`LlmError` with the messages the SDK's exceptions give, and what a retry
needs to know: the error code, ``Retry-After`` (``retry-after-ms`` first, then
``retry-after`` in seconds or as a date, as the SDK reads them) and
``x-should-retry``.
"""

from __future__ import annotations

import email.utils
import json
import math
import time
from collections.abc import AsyncIterator, Mapping
from typing import Any

import httpx2

from sipgw.agent.llm.base import LlmError

__all__ = ["chunks", "retry_after", "send_direct", "status_error"]


async def send_direct(
    client: httpx2.AsyncClient, url: httpx2.URL, headers: Mapping[str, str], body: dict[str, Any]
) -> httpx2.Response:
    """POST ``body`` as JSON and return the streaming response once its headers are in.

    Raises:
        LlmError: an HTTP error status (``kind="http"``), a timeout or a
            connection failure.
    """
    request = client.build_request(
        "POST", url, headers=headers, content=json.dumps(body, separators=(",", ":"))
    )
    try:
        response = await client.send(request, stream=True)
    except httpx2.TimeoutException as exc:
        raise LlmError("LLM timeout: the HTTP request timed out", kind="timeout") from exc
    except httpx2.RequestError as exc:
        raise LlmError(
            f"LLM connection error: {type(exc).__name__}: {exc}", kind="connection"
        ) from exc
    if response.status_code >= 400:
        try:
            await response.aread()
        except httpx2.HTTPError:
            pass  # the status is the error; the body only adds the message
        finally:
            await response.aclose()
        raise status_error(response)
    return response


def status_error(response: httpx2.Response) -> LlmError:
    """The :class:`LlmError` of an HTTP error status: the server's message when it gave one."""
    status = response.status_code
    try:
        text = response.text.strip()
    except httpx2.ResponseNotRead:
        text = ""
    try:
        body = json.loads(text)
    except ValueError:
        body = text
    error = body.get("error", body) if isinstance(body, Mapping) else None
    found = error.get("message") if isinstance(error, Mapping) else None
    message = found if isinstance(found, str) and found else f"Error code: {status}"
    code = error.get("code") if isinstance(error, Mapping) else None
    should = response.headers.get("x-should-retry")
    return LlmError(
        f"LLM HTTP {status}: {message}",
        kind="http",
        status=status,
        code=code if isinstance(code, str) else None,
        retry_after=retry_after(response.headers),
        should_retry={"true": True, "false": False}.get(should or ""),
    )


def retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds the server asks to wait: ``retry-after-ms``, else ``retry-after``
    (seconds, or an HTTP date), as the SDK reads them; None when absent or unreadable."""
    for header, divisor in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        value = headers.get(header)
        if value is None:
            continue
        try:
            seconds = float(value) / divisor
        except ValueError:
            continue
        return seconds if math.isfinite(seconds) else math.inf
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        when = email.utils.parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError, IndexError):
        return None
    return max(0.0, when - time.time())


async def chunks(response: httpx2.Response) -> AsyncIterator[dict[str, Any]]:
    """The JSON chunks of a Chat Completions event stream, until ``[DONE]`` or the end.

    Raises:
        LlmError: an error chunk (``kind="api"``), a dropped connection or a
            timeout while reading.
        ValueError: a chunk that is not JSON (the caller's "broken stream").
    """
    data: list[str] = []
    lines = response.aiter_lines()
    try:
        async for line in lines:
            if line:
                if line.startswith("data:"):
                    value = line[5:]
                    data.append(value[1:] if value.startswith(" ") else value)
                continue  # "event:", "id:", "retry:", comments: not used by this API
            if not data:
                continue
            payload = "\n".join(data)
            data.clear()
            if payload.startswith("[DONE]"):
                if response.http_version == "HTTP/1.1":
                    async for _ in lines:
                        pass  # read to the end so the connection goes back to the pool
                return
            chunk = json.loads(payload)
            if isinstance(chunk, Mapping) and chunk.get("error"):
                raise _api_error(chunk["error"])
            yield chunk
    except httpx2.TimeoutException as exc:
        raise LlmError("LLM timeout: the HTTP request timed out", kind="timeout") from exc
    except httpx2.RequestError as exc:
        raise LlmError(
            f"LLM connection error: {type(exc).__name__}: {exc}", kind="connection"
        ) from exc


def _api_error(error: object) -> LlmError:
    message = error.get("message") if isinstance(error, Mapping) else None
    if not message or not isinstance(message, str):
        message = "An error occurred during streaming"
    return LlmError(f"LLM API error in stream: {message}", kind="api")
