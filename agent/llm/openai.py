"""OpenAI Chat Completions, streamed, with tool calls (any OpenAI-compatible server).

Theory of operation
-------------------
Implements :class:`agent.llm.base.ChatLLM`. :meth:`OpenAIChatLLM.stream` sends
one streamed Chat Completions request (``POST /chat/completions`` with
``stream: true``; directly through ``httpx2``, or through the SDK's client when
retries are configured, see agent/llm/openai_wire.py) and turns the chunks,
parsed as plain JSON, into three kinds of event:

* :class:`LlmTextDelta` as soon as a content delta arrives (speech starts early);
* :class:`LlmToolCall`, complete and reassembled, once ``finish_reason`` arrives
  or the stream ends, whatever ``finish_reason`` says (``"stop"``, ``None``...);
* one :class:`LlmFinished` last, with the finish reason and the token usage.

Tool calls arrive as fragments that :class:`ToolCallAssembler` (sans-IO) puts
back together, following docs/cloud-apis.md, "OpenAI streamed tool calls":
key by ``index``; take ``id`` and ``name`` from the first delta; concatenate
``arguments``; leave JSON parsing to the caller. OpenAI-compatible servers
bend these rules (no ``index``, the ``id`` repeated on every chunk, all
arguments in one chunk, ``index`` 0 for every call), and the assembler
accepts all of them.

Every failure becomes :class:`LlmError`: no first delta within
``first_token_timeout``, a response not complete within ``total_timeout``, an
HTTP or API error, a dropped connection or a malformed chunk. Cancelling the
consuming task (barge-in) closes the HTTP response at once and lets
``CancelledError`` through.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import AsyncGenerator, Awaitable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx2
import openai
from openai import AsyncOpenAI
from openai._constants import DEFAULT_CONNECTION_LIMITS, RAW_RESPONSE_HEADER

from agent.llm.base import ChatLLM, LlmError, LlmEvent, LlmFinished, LlmTextDelta, LlmToolCall
from agent.llm.openai_wire import chunks, send_direct

__all__ = ["OpenAIChatLLM", "OpenAISettings", "ToolCallAssembler"]

log = logging.getLogger("sipgw.agent.llm")

_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class OpenAISettings:
    """How to reach the model, and how long to wait for it."""

    api_key: str = field(repr=False)
    """Sent as ``Authorization: Bearer <api_key>``."""
    model: str = "gpt-4.1-mini"
    """The model name, as the server knows it."""
    base_url: str | None = None
    """Any OpenAI-compatible server, e.g. ``http://127.0.0.1:11434/v1``; None for OpenAI."""
    temperature: float | None = None
    """Sampling temperature; None leaves the server's default."""
    max_completion_tokens: int | None = 300
    """Upper bound on one response; None leaves the server's default."""
    first_token_timeout: float = 5.0
    """Seconds from the request until the first delta (text, tool call or finish)."""
    total_timeout: float = 20.0
    """Seconds for the whole streamed response (time spent waiting on the server)."""
    parallel_tool_calls: bool = True
    """Let the model ask for several tool calls in one response."""
    max_retries: int = 0
    """SDK retries on connection errors, 429 and 5xx. 0 by default: on a phone
    call a quick fallback phrase beats a silent back-off."""


@dataclass(slots=True)
class _PartialCall:
    id: str | None
    name: str | None
    fragments: list[str] = field(default_factory=list)
    taken: bool = False


class ToolCallAssembler:
    """Reassembles streamed tool-call deltas, sans-IO (docs/cloud-apis.md, "OpenAI
    streamed tool calls").

    Feed it every ``delta.tool_calls`` entry with :meth:`feed`; :meth:`take`
    returns the calls complete so far. Rules, in order, for each delta:

    1. With an ``index``: the call at that index, unless it already has a
       different ``id`` (servers that send index 0 for every call), which
       starts a new call.
    2. Without an ``index``: the call with the same ``id`` when the id is known
       (the id repeated on every chunk); a new call when the id is new, or when
       a ``name`` arrives and the last call already has one; otherwise the last
       open call; a new call at the next list position when there is none.
    3. ``id`` and ``name`` come from the first delta that carries them;
       ``arguments`` fragments are concatenated.
    """

    def __init__(self) -> None:
        """An assembler for one response."""
        self._calls: list[_PartialCall] = []
        self._by_index: dict[int, _PartialCall] = {}
        self._by_id: dict[str, _PartialCall] = {}

    def feed(
        self,
        index: int | None,
        call_id: str | None,
        name: str | None,
        arguments: str | None,
    ) -> None:
        """Add one ``delta.tool_calls[]`` entry."""
        call = self._find(index, call_id or None, name or None)
        if call_id and not call.id:
            call.id = call_id
            self._by_id[call_id] = call
        if name and not call.name:
            call.name = name
        if arguments:
            if call.taken:
                log.warning("tool call %s: arguments after the call was dispatched", call.id)
            call.fragments.append(arguments)

    def _find(self, index: int | None, call_id: str | None, name: str | None) -> _PartialCall:
        if index is not None:
            call = self._by_index.get(index)
            if call is None or (call_id and call.id and call.id != call_id):
                call = self._new()
                self._by_index[index] = call
            return call
        if call_id:
            return self._by_id.get(call_id) or self._new()
        last = self._calls[-1] if self._calls else None
        if last is None or (name and last.name):
            return self._new()
        return last

    def _new(self) -> _PartialCall:
        call = _PartialCall(id=None, name=None)
        self._calls.append(call)
        return call

    @property
    def has_calls(self) -> bool:
        """True once any tool-call delta was fed."""
        return bool(self._calls)

    def take(self) -> list[LlmToolCall]:
        """The calls not taken before, in order; nameless fragments are dropped."""
        out: list[LlmToolCall] = []
        for call in self._calls:
            if call.taken:
                continue
            call.taken = True
            if not call.name:
                log.warning("dropping a tool call without a function name (id %s)", call.id)
                continue
            call_id = call.id or f"call_{secrets.token_hex(12)}"
            arguments = "".join(call.fragments).strip() or "{}"
            out.append(LlmToolCall(id=call_id, name=call.name, arguments=arguments))
        return out


class _Budget:
    """Time left for the server: the first delta, and the whole response.

    Only time spent awaiting the server counts, so a slow consumer (the caller
    of :meth:`OpenAIChatLLM.stream` awaiting TTS between events) never makes a
    healthy stream time out.
    """

    def __init__(self, first: float, total: float) -> None:
        self._first = first
        self._total = total
        self._waited = 0.0
        self.got_first = False

    async def wait(self, awaitable: Awaitable[_T]) -> _T:
        loop = asyncio.get_running_loop()
        first = not self.got_first and self._first < self._total
        limit = self._first if first else self._total
        started = loop.time()
        try:
            async with asyncio.timeout_at(started + max(0.0, limit - self._waited)):
                return await awaitable
        except TimeoutError:
            # The message is built only here: wait() runs once per streamed chunk.
            if self.got_first:
                what = f"response not complete within {self._total:g} s"
            else:
                what = f"no first token within {limit:g} s"
            raise LlmError(f"LLM timeout: {what}", kind="timeout") from None
        finally:
            self._waited += loop.time() - started


class OpenAIChatLLM(ChatLLM):
    """Streams chat completions with tools from OpenAI or a compatible server.

    One instance holds one ``AsyncOpenAI`` client (and its connection pool); it
    can serve many calls at once. Close it with :meth:`close`.
    """

    def __init__(self, settings: OpenAISettings) -> None:
        """Create the client; no network traffic happens here."""
        self.settings = settings
        self._client = AsyncOpenAI(
            api_key=settings.api_key,
            base_url=settings.base_url,
            max_retries=settings.max_retries,
            # A backstop only: _Budget enforces the real deadlines.
            timeout=max(settings.first_token_timeout, settings.total_timeout) + 5.0,
        )
        # Parsed once: an absolute httpx2.URL is not parsed again per request.
        self._url = httpx2.URL(f"{str(self._client.base_url).rstrip('/')}/chat/completions")
        self._headers: dict[str, str] = {}
        self._direct: httpx2.AsyncClient | None = None
        if settings.max_retries == 0:
            # No retries to run: send directly (agent/llm/openai_wire.py), with
            # the headers the SDK sends and the same backstop timeout.
            self._headers = {
                key: value
                for key, value in self._client.default_headers.items()
                if isinstance(value, str) and key != "Authorization"
            }
            self._headers["Authorization"] = f"Bearer {settings.api_key}"
            self._direct = httpx2.AsyncClient(
                timeout=self._client.timeout,
                limits=DEFAULT_CONNECTION_LIMITS,
                follow_redirects=True,
            )

    async def close(self) -> None:
        """Close the HTTP connection pools."""
        if self._direct is not None:
            await self._direct.aclose()
        await self._client.close()

    async def stream(
        self,
        messages: Sequence[Mapping[str, object]],
        tools: Sequence[Mapping[str, object]],
        *,
        tool_choice: str | None = None,
    ) -> AsyncGenerator[LlmEvent, None]:
        """Stream one response.

        Use it with ``contextlib.aclosing`` so that leaving the loop early
        closes the HTTP response at once.

        Args:
            messages: the OpenAI message history (not modified).
            tools: the OpenAI ``tools`` parameter; empty for none.
            tool_choice: e.g. ``"none"`` to forbid tool calls this time; None
                leaves the server's default (``"auto"``).

        Yields:
            :class:`LlmTextDelta` events as they arrive, then each
            :class:`LlmToolCall`, then exactly one :class:`LlmFinished`.

        Raises:
            LlmError: timeout, HTTP or API error, or a broken stream.
        """
        budget = _Budget(self.settings.first_token_timeout, self.settings.total_timeout)
        assembler = ToolCallAssembler()
        finish_reason: str | None = None
        usage: dict[str, int] | None = None
        response: httpx2.Response | None = None
        try:
            response = await budget.wait(self._send(self._body(messages, tools, tool_choice)))
            stream = chunks(response)
            while True:
                try:
                    chunk = await budget.wait(anext(stream))
                except StopAsyncIteration:
                    break
                if chunk.get("usage") is not None:
                    usage = _usage(chunk["usage"])
                for choice in chunk.get("choices") or ():  # some servers send "choices": null
                    if choice.get("index") not in (0, None):
                        continue  # n=1: only the first choice
                    events, anything = _delta_events(choice.get("delta"), assembler)
                    budget.got_first = budget.got_first or anything
                    for event in events:
                        yield event
                    if choice.get("finish_reason") is not None:
                        budget.got_first = True
                        finish_reason = choice["finish_reason"]
                        for call in assembler.take():
                            yield call
        except openai.APIStatusError as exc:
            raise LlmError(
                f"LLM HTTP {exc.status_code}: {_api_message(exc)}",
                kind="http",
                status=exc.status_code,
            ) from exc
        except openai.APITimeoutError as exc:
            raise LlmError("LLM timeout: the HTTP request timed out", kind="timeout") from exc
        except openai.APIConnectionError as exc:
            raise LlmError(f"LLM connection error: {_cause(exc)}", kind="connection") from exc
        except openai.APIError as exc:
            raise LlmError(f"LLM API error in stream: {_api_message(exc)}", kind="api") from exc
        except (ValueError, TypeError, AttributeError) as exc:  # not JSON, or not the shape
            raise LlmError(f"LLM broken stream: {exc}", kind="stream") from exc
        finally:
            if response is not None:
                await _close_quietly(response)
        for call in assembler.take():
            yield call
        yield LlmFinished(finish_reason=finish_reason, usage=usage)

    def _body(
        self,
        messages: Sequence[Mapping[str, object]],
        tools: Sequence[Mapping[str, object]],
        tool_choice: str | None,
    ) -> dict[str, Any]:
        options: dict[str, Any] = {"stream_options": {"include_usage": True}}
        if tools:
            options["tools"] = [dict(tool) for tool in tools]
            options["parallel_tool_calls"] = self.settings.parallel_tool_calls
            if tool_choice is not None:
                options["tool_choice"] = tool_choice
        if self.settings.temperature is not None:
            options["temperature"] = self.settings.temperature
        if self.settings.max_completion_tokens is not None:
            options["max_completion_tokens"] = self.settings.max_completion_tokens
        return {
            "model": self.settings.model,
            "messages": [dict(message) for message in messages],
            "stream": True,
            **options,
        }

    async def _send(self, body: dict[str, Any]) -> httpx2.Response:
        """The streaming response, its status checked (see agent/llm/openai_wire.py)."""
        if self._direct is not None:
            return await send_direct(self._direct, self._url, self._headers, body)
        # The SDK's lower-level post() with its retries, asking for the raw
        # streaming response: no create()'s per-message re-validation (1.8 ms
        # at 4 messages, 16 ms at 100) and no pydantic model per chunk.
        response: httpx2.Response = await self._client.post(
            "/chat/completions",
            body=body,
            cast_to=httpx2.Response,
            stream=True,
            options={"headers": {RAW_RESPONSE_HEADER: "stream"}},
        )
        return response


def _delta_events(
    delta: Mapping[str, Any] | None, assembler: ToolCallAssembler
) -> tuple[list[LlmEvent], bool]:
    """The text events of one delta (a chunk's JSON), and whether it carried anything at all.

    Tool-call fragments go to the assembler; "anything" feeds the first-token
    deadline.
    """
    events: list[LlmEvent] = []
    if delta is None:  # a finish-only chunk from a lax server
        return events, False
    for text in (delta.get("content"), delta.get("refusal")):
        if text:
            events.append(LlmTextDelta(text))
    tool_calls = delta.get("tool_calls")
    for tool_call in tool_calls or ():
        function = tool_call.get("function")
        # Compatible servers may omit index.
        assembler.feed(
            tool_call.get("index"),
            tool_call.get("id"),
            function.get("name") if function is not None else None,
            function.get("arguments") if function is not None else None,
        )
    return events, bool(events or tool_calls)


def _usage(usage: object) -> dict[str, int] | None:
    if not isinstance(usage, Mapping):
        return None
    return {
        key: value
        for key, value in usage.items()
        if isinstance(value, int) and not isinstance(value, bool)
    }


def _api_message(exc: openai.APIError) -> str:
    body = exc.body
    if isinstance(body, Mapping):
        message = body.get("message")
        if isinstance(message, str) and message:
            return message
    return exc.message


def _cause(exc: BaseException) -> str:
    cause = exc.__cause__ or exc.__context__
    return f"{type(cause).__name__}: {cause}" if cause is not None else str(exc)


async def _close_quietly(response: httpx2.Response) -> None:
    try:
        await response.aclose()
    except Exception as exc:  # closing a broken connection may fail; nothing to do
        log.debug("closing the LLM response failed: %r", exc)
