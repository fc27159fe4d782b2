"""The wire side of streamed Chat Completions: the request, the SSE stream, the chunks as dicts.

:class:`sipgw.agent.llm.openai.OpenAIChatLLM` sends its request with :func:`send_direct`:
one ``POST`` through agent/llm/http1_client.py (an HTTP/1.1 keep-alive pool on asyncio's
own transports), with the headers the SDK would send. A general client's machinery
(``httpx2`` over ``anyio``, the SDK's own) cost about 1 ms of event-loop CPU per request,
which hundreds of calls on one core feel (docs/performance.md, "What would move it");
retries are the client's own, agent/llm/retry.py.

The body is read by :func:`chunks`, which splits the server-sent events into lines and
parses each event's data as JSON into plain dicts (no pydantic models per chunk), as the
SDK does: ``[DONE]`` ends the stream, an event whose JSON carries ``error`` is an API
error. Errors are raised as :class:`LlmError` with the messages the SDK's exceptions
give, and what a retry needs to know: the error code, ``Retry-After``
(``retry-after-ms`` first, then ``retry-after`` in seconds or as a date, as the SDK
reads them) and ``x-should-retry``. A redirect is an error too (``LLM HTTP 307: ...``):
the API never sends one, and a ``POST`` cannot follow it.
"""

from __future__ import annotations

import email.utils
import json
import math
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

from sipgw.agent.llm.base import LlmError
from sipgw.agent.llm.http1_client import HttpClient, HttpError, Response, Url

__all__ = ["chunks", "retry_after", "send_direct", "status_error"]


async def send_direct(
    client: HttpClient, url: Url, headers: Sequence[tuple[str, str]], body: dict[str, Any]
) -> Response:
    """POST ``body`` as JSON and return the streaming response once its headers are in.

    Raises:
        LlmError: an HTTP error status or a redirect (``kind="http"``), or a connection
            failure (``kind="connection"``).
    """
    content = json.dumps(body, separators=(",", ":")).encode()
    try:
        response = await client.post(url, headers, content)
    except HttpError as exc:
        raise LlmError(
            f"LLM connection error: {type(exc).__name__}: {exc}", kind="connection"
        ) from exc
    if response.status >= 300:
        try:
            text = await response.aread()
        except HttpError:
            text = b""  # the status is the error; the body only adds the message
        finally:
            response.close()
        raise status_error(response.status, response.headers, text)
    return response


def status_error(status: int, headers: Mapping[str, str], content: bytes) -> LlmError:
    """The :class:`LlmError` of an HTTP error status: the server's message when it gave one.

    ``headers`` by lower-cased name.
    """
    text = content.decode("utf-8", "replace").strip()
    try:
        body = json.loads(text)
    except ValueError:
        body = text
    error = body.get("error", body) if isinstance(body, Mapping) else None
    found = error.get("message") if isinstance(error, Mapping) else None
    message = found if isinstance(found, str) and found else f"Error code: {status}"
    code = error.get("code") if isinstance(error, Mapping) else None
    should = headers.get("x-should-retry")
    return LlmError(
        f"LLM HTTP {status}: {message}",
        kind="http",
        status=status,
        code=code if isinstance(code, str) else None,
        retry_after=retry_after(headers),
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


async def chunks(response: Response) -> AsyncIterator[dict[str, Any]]:
    """The JSON chunks of a Chat Completions event stream, until ``[DONE]`` or the end.

    Lines end at LF, CRLF or CR (the event-stream format's three); ``data:`` lines are
    joined with LF into the event's data, a blank line ends the event.

    Raises:
        LlmError: an error chunk (``kind="api"``) or a dropped connection.
        ValueError: a chunk that is not JSON (the caller's "broken stream").
    """
    data: list[bytes] = []
    pending = b""
    try:
        while True:
            block = await response.read_chunk()
            if block:
                text = pending + block if pending else block
                if b"\r" in text:
                    held = text.endswith(b"\r")  # its LF may come with the next block
                    text = text.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
                    if held:
                        text = text[:-1] + b"\r"
                *lines, pending = text.split(b"\n")
            else:
                return  # the end: an event not ended by its blank line is dropped
            for line in lines:
                if line:
                    if line.startswith(b"data:"):
                        value = line[5:]
                        data.append(value[1:] if value.startswith(b" ") else value)
                    continue  # "event:", "id:", "retry:", comments: not used by this API
                if not data:
                    continue
                payload = data[0] if len(data) == 1 else b"\n".join(data)
                data.clear()
                if payload.startswith(b"[DONE]"):
                    while await response.read_chunk():
                        pass  # read to the end so the connection goes back to the pool
                    return
                chunk = json.loads(payload)
                if isinstance(chunk, Mapping) and chunk.get("error"):
                    raise _api_error(chunk["error"])
                yield chunk
    except HttpError as exc:
        raise LlmError(
            f"LLM connection error: {type(exc).__name__}: {exc}", kind="connection"
        ) from exc


def _api_error(error: object) -> LlmError:
    message = error.get("message") if isinstance(error, Mapping) else None
    if not message or not isinstance(message, str):
        message = "An error occurred during streaming"
    return LlmError(f"LLM API error in stream: {message}", kind="api")
