"""The wire side of streamed Chat Completions: the request, the SSE stream, the chunks as dicts.

:class:`sipgw.agent.services.openai.chat.OpenAIChatLLM` sends its request with :func:`send_direct`:
one ``POST`` through agent/services/openai/http_client.py (``aiohttp``'s keep-alive pool), with
the headers the SDK would send; the SDK's own client (``httpx2`` over ``anyio``) cost about
1 ms of event-loop CPU more per request, which hundreds of calls on one core feel
(docs/performance.md); retries are the client's own, agent/services/llm/retry.py.

The body is read by :func:`chunk_batches`, which splits the server-sent events into
lines (:class:`EventLines`) and parses each event's data as JSON into plain dicts (no
pydantic models per chunk), as the SDK does: ``[DONE]`` ends the stream, an event whose
JSON carries ``error`` is an API error. Errors are raised as :class:`LlmError` with the
messages the SDK's exceptions give, and what a retry needs to know: the error code,
``Retry-After`` (``retry-after-ms`` first, then ``retry-after`` in seconds or as a date,
as the SDK reads them) and ``x-should-retry``. A redirect is an error too (``LLM HTTP 307: ...``):
the API never sends one, and a ``POST`` cannot follow it.
"""

from __future__ import annotations

import email.utils
import json
import math
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

from sipgw.agent.services.llm.base import LlmError
from sipgw.agent.services.openai.http_client import HttpClient, HttpError, Response

__all__ = ["EventLines", "chunk_batches", "retry_after", "send_direct", "status_error"]


async def send_direct(
    client: HttpClient, url: str, headers: Sequence[tuple[str, str]], body: dict[str, Any]
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


class EventLines:
    """Splits an event stream's bytes into its events' data (sans-IO).

    Lines end at LF, CRLF or CR (the event-stream format's three); ``data:`` lines are
    joined with LF into the event's data, a blank line ends the event; ``event:``,
    ``id:``, ``retry:`` and comments are not used by this API. An event not ended by its
    blank line when the stream ends is dropped.
    """

    def __init__(self) -> None:
        """Nothing read yet."""
        self._data: list[bytes] = []
        self._pending = b""

    def feed(self, block: bytes) -> list[bytes]:
        """The data of the events that ``block``, the next bytes, completes."""
        text = self._pending + block if self._pending else block
        if b"\r" in text:
            held = text.endswith(b"\r")  # its LF may come with the next block
            text = text.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
            if held:
                text = text[:-1] + b"\r"
        *lines, self._pending = text.split(b"\n")
        out: list[bytes] = []
        data = self._data
        for line in lines:
            if line:
                if line.startswith(b"data:"):
                    value = line[5:]
                    data.append(value[1:] if value.startswith(b" ") else value)
            elif data:
                out.append(data[0] if len(data) == 1 else b"\n".join(data))
                data.clear()
        return out


async def chunk_batches(response: Response) -> AsyncIterator[list[dict[str, Any]]]:
    """The JSON chunks of a Chat Completions event stream, until ``[DONE]`` or the end,
    as they arrive: the chunks of each read together (one wait for the caller's
    deadline per read, not per chunk).

    Raises:
        LlmError: an error chunk (``kind="api"``) or a dropped connection, after the
            chunks before it.
        ValueError: a chunk that is not JSON (the caller's "broken stream"), after the
            chunks before it.
    """
    events = EventLines()
    try:
        while block := await response.read_chunk():
            batch: list[dict[str, Any]] = []
            for payload in events.feed(block):
                if payload.startswith(b"[DONE]"):
                    if batch:
                        yield batch
                    while await response.read_chunk():
                        pass  # read to the end so the connection goes back to the pool
                    return
                try:
                    chunk = json.loads(payload)
                    # json.loads makes a dict of every object: the plain check, not the ABC's
                    # (1.1 us less a chunk here)
                    if isinstance(chunk, dict) and chunk.get("error"):
                        raise _api_error(chunk["error"])
                except (ValueError, LlmError):
                    if batch:
                        yield batch
                    raise
                batch.append(chunk)
            if batch:
                yield batch
    except HttpError as exc:
        raise LlmError(
            f"LLM connection error: {type(exc).__name__}: {exc}", kind="connection"
        ) from exc


def _api_error(error: object) -> LlmError:
    message = error.get("message") if isinstance(error, Mapping) else None
    if not message or not isinstance(message, str):
        message = "An error occurred during streaming"
    return LlmError(f"LLM API error in stream: {message}", kind="api")
