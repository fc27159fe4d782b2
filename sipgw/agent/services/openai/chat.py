"""OpenAI Chat Completions, streamed, with tool calls (any OpenAI-compatible server).

Theory of operation
-------------------
Implements :class:`sipgw.agent.services.llm.base.ChatLLM`. :meth:`OpenAIChatLLM.stream` sends
one streamed Chat Completions request (``POST /chat/completions`` with
``stream: true``, through ``aiohttp``: agent/services/openai/chat_wire.py and
http_client.py) and turns the chunks, parsed as plain JSON, into three kinds of event:

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

The request carries each parameter as the model accepts it
(agent/services/openai/models.py): the response cap as ``max_completion_tokens`` or
``max_tokens`` (with room for hidden reasoning on reasoning models),
``parallel_tool_calls`` only to turn parallel calls off and only where it is
accepted, ``temperature`` only where it is accepted, ``reasoning_effort`` only to
reasoning models.

Every failure becomes :class:`LlmError`: no first delta within
``first_token_timeout``, a response not complete within ``total_timeout``, an
HTTP or API error, a dropped connection or a malformed chunk. A failure before
anything was yielded is retried when :class:`sipgw.agent.services.llm.retry.LlmRetryPolicy`
says so (a reset connection, a 429 with a short ``Retry-After``, a 5xx), inside
the first-token timeout, which covers all attempts together. Cancelling the
consuming task (barge-in) closes the HTTP response at once and lets
``CancelledError`` through.

The request goes out as the ``openai`` SDK's client would send it, without importing the
SDK (about a second): the base URL (the settings', else OpenAI's), the SDK's default
headers and its connection limits are made here (:func:`sdk_headers`, copied from
``openai/_base_client.py`` and ``openai/_client.py``; ``tests/agent/services/openai/test_chat.py``
checks them against the installed SDK's). :meth:`OpenAIChatLLM.prepare` makes the
connection pool, imports ``aiohttp`` and makes the TLS context (loading the trust store:
tens of milliseconds), in a thread, once: the gateway's warm-up calls it at start
(:func:`sipgw.agent.services.llm.base.with_llm_ready`), and a first
request before that has done waits for it.
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import logging
import os
import platform
import secrets
from collections.abc import AsyncGenerator, Awaitable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx2

from sipgw.agent.services.llm.base import (
    ChatLLM,
    LlmError,
    LlmEvent,
    LlmFinished,
    LlmTextDelta,
    LlmToolCall,
)
from sipgw.agent.services.llm.retry import LlmRetryPolicy, LlmRetrySettings
from sipgw.agent.services.openai.chat_wire import chunk_batches, send_direct
from sipgw.agent.services.openai.http_client import HttpClient, Response, check_url, proxy_for
from sipgw.agent.services.openai.models import ModelCapabilities, capabilities_for
from sipgw.foundation.tracing import CURRENT_SPAN

__all__ = [
    "REASONING_EFFORTS",
    "OpenAIChatLLM",
    "OpenAISettings",
    "ToolCallAssembler",
    "sdk_headers",
]

log = logging.getLogger("sipgw.agent.llm")

_T = TypeVar("_T")

REASONING_EFFORTS = frozenset({"none", "minimal", "low", "medium", "high", "xhigh", "max"})
"""The ``reasoning_effort`` values the API knows (not every model takes every one)."""


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
    """Upper bound on one response's spoken part; None leaves the server's default."""
    reasoning_token_allowance: int | None = 4096
    """Tokens a reasoning model may spend thinking, added to ``max_completion_tokens``
    (its cap counts reasoning too); None sends reasoning models no cap at all."""
    reasoning_effort: str | None = "low"
    """``reasoning_effort`` for reasoning models (a phone reply wants little); None
    leaves the model's default. Never sent to models that refuse it."""
    first_token_timeout: float = 5.0
    """Seconds from the request until the first delta (text, tool call or finish),
    retries included."""
    total_timeout: float = 20.0
    """Seconds for the whole streamed response (time spent waiting on the server)."""
    parallel_tool_calls: bool = True
    """Let the model ask for several tool calls in one response (the API's default;
    ``parallel_tool_calls: false`` is sent only to turn it off, where accepted)."""
    retry: LlmRetrySettings = field(default_factory=LlmRetrySettings)
    """When a failed request is tried again (agent/services/llm/retry.py)."""
    capabilities: ModelCapabilities | None = None
    """What the model accepts; None looks it up by model family
    (agent/services/openai/models.py). Set it for servers and names the table cannot know."""

    def __post_init__(self) -> None:
        """Reject values the server would refuse on every request.

        Raises:
            ValueError: An unknown ``reasoning_effort``, or a cap below 1.
        """
        if self.reasoning_effort is not None and self.reasoning_effort not in REASONING_EFFORTS:
            known = ", ".join(sorted(REASONING_EFFORTS))
            raise ValueError(f"reasoning_effort {self.reasoning_effort!r} is not one of {known}")
        for name in ("max_completion_tokens", "reasoning_token_allowance"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"{name} must be at least 1 (or None), not {value}")

    def model_capabilities(self) -> ModelCapabilities:
        """:attr:`capabilities`, or the model family's."""
        return self.capabilities or capabilities_for(self.model, self.base_url)

    def token_cap(self) -> int | None:
        """The cap to send: the spoken part, plus the reasoning allowance for reasoning
        models; None for no cap."""
        caps = self.model_capabilities()
        if caps.token_limit is None or self.max_completion_tokens is None:
            return None
        if not caps.reasoning:
            return self.max_completion_tokens
        if self.reasoning_token_allowance is None:
            return None
        return self.max_completion_tokens + self.reasoning_token_allowance


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


DEFAULT_BASE_URL = "https://api.openai.com/v1"
"""The SDK's base URL when the settings give none."""
MAX_CONNECTIONS = 1000
"""The SDK's ``DEFAULT_CONNECTION_LIMITS`` (``openai/_constants.py``): connections in all."""
_PRELUDE = (("Accept-Encoding", "gzip, deflate"), ("Connection", "keep-alive"))
"""What ``httpx`` put after ``Host`` and before the SDK's headers."""


@dataclass(frozen=True, slots=True)
class _Wire:
    """What every request goes out with, as the SDK's client would send it."""

    url: str
    """``<base URL>/chat/completions``."""
    headers: tuple[tuple[str, str], ...]
    client: HttpClient
    """The connection pool."""


def base_url(settings_url: str | None) -> str:
    """``<base URL>/chat/completions`` as the SDK builds it: the settings', else OpenAI's;
    normalised as ``httpx`` normalises URLs. (The SDK also read ``OPENAI_BASE_URL``; the
    gateway's settings read it, agent/services/openai/settings.py, and pass it here.)"""
    base = settings_url or DEFAULT_BASE_URL
    return f"{str(httpx2.URL(base)).rstrip('/')}/chat/completions"


def sdk_headers(api_key: str, environ: Mapping[str, str]) -> list[tuple[str, str]]:
    """The headers the SDK's ``AsyncOpenAI`` sends with every request, in its order
    (``default_headers``, ``platform_headers``, ``get_platform``, ``get_architecture`` in
    ``openai/_base_client.py``; the organisation, project and ``OPENAI_CUSTOM_HEADERS``
    from the environment as ``openai/lib/_client_auth.py`` reads them), then
    ``Authorization``.

    ``X-Stainless-Async`` is ``async:false``: what the SDK's client, made in a thread
    where no event loop runs, sent through this client before.
    """
    version = importlib.metadata.version("openai")
    custom: dict[str, str | None] = {}
    for line in (environ.get("OPENAI_CUSTOM_HEADERS") or "").split("\n"):
        name, colon, value = line.partition(":")
        if colon:
            custom[name.strip()] = value.strip()
    base: dict[str, str | None] = {
        "Accept": "application/json",
        "Content-Type": "application/json",
        "User-Agent": f"AsyncOpenAI/Python {version}",
        "X-Stainless-Lang": "python",
        "X-Stainless-Package-Version": version,
        "X-Stainless-OS": _sdk_platform(),
        "X-Stainless-Arch": _sdk_architecture(),
        "X-Stainless-Runtime": platform.python_implementation(),
        "X-Stainless-Runtime-Version": platform.python_version(),
        **custom,
    }
    headers = {
        **base,
        "X-Stainless-Async": "async:false",
        "OpenAI-Organization": environ.get("OPENAI_ORG_ID"),
        "OpenAI-Project": environ.get("OPENAI_PROJECT_ID"),
        **custom,
    }
    out = [
        (key, value)
        for key, value in headers.items()
        if value is not None and key.lower() != "authorization"
    ]
    return [*out, ("Authorization", f"Bearer {api_key}")]


def _sdk_platform() -> str:
    """``openai._base_client.get_platform``, as the SDK names the OS."""
    try:
        system = platform.system().lower()
        name = platform.platform().lower()
    except Exception:
        return "Unknown"
    if "iphone" in name or "ipad" in name:
        return "iOS"
    named = {"darwin": "MacOS", "windows": "Windows", "freebsd": "FreeBSD", "openbsd": "OpenBSD"}
    if system in named:
        return named[system]
    if "android" in name:
        return "Android"
    if system == "linux":
        try:
            distro = platform.freedesktop_os_release().get("ID", "").lower()
        except OSError:
            distro = ""
        return {"freebsd": "FreeBSD", "openbsd": "OpenBSD"}.get(distro, "Linux")
    return f"other:{name}" if name else "Unknown"


def _sdk_architecture() -> str:
    """``openai._base_client.get_architecture``."""
    try:
        machine = platform.machine().lower()
    except Exception:
        return "unknown"
    if machine in ("arm64", "aarch64"):
        return "arm64"
    if machine == "arm":
        return "arm"
    if machine == "x86_64":
        return "x64"
    import sys

    if sys.maxsize <= 2**32:
        return "x32"
    return f"other:{machine}" if machine else "unknown"


def _make_wire(settings: OpenAISettings) -> _Wire:
    """The URL, the headers and the pool (``aiohttp`` imported, the TLS context made: loading
    them takes a few hundred milliseconds, so run it in a thread).

    Raises:
        ValueError: no API key, a base URL that is not ``http`` or ``https``, or a proxy
            that is not ``http://``.
    """
    if not settings.api_key:
        raise ValueError("Missing credentials: no API key")
    url = check_url(base_url(settings.base_url))
    client = HttpClient(max_connections=MAX_CONNECTIONS, proxy=proxy_for(url))
    client.prepare()
    return _Wire(url, (*_PRELUDE, *sdk_headers(settings.api_key, os.environ)), client)


class OpenAIChatLLM(ChatLLM):
    """Streams chat completions with tools from OpenAI or a compatible server.

    One instance holds one HTTP connection pool; it can serve many calls at once.
    Close it with :meth:`close`.
    """

    def __init__(self, settings: OpenAISettings) -> None:
        """Create the client; no network traffic happens here."""
        self.settings = settings
        self.capabilities = settings.model_capabilities()
        self._retry = LlmRetryPolicy(settings.retry)
        self._token_cap = settings.token_cap()
        if settings.temperature is not None and not self.capabilities.temperature:
            log.warning("temperature is not sent: %s accepts only its default", settings.model)
        if not settings.parallel_tool_calls and not self.capabilities.parallel_tool_calls:
            log.warning("parallel tool calls cannot be turned off for %s", settings.model)
        if settings.base_url is not None:  # a bad URL fails here, at start
            check_url(base_url(settings.base_url))
        self._wire: _Wire | None = None
        self._making: asyncio.Future[_Wire] | None = None

    async def prepare(self) -> None:
        """Make the connection pool (and the TLS context), in a thread, once (the first
        request does it otherwise). Never raises: a failure is logged, and the first
        request tries again."""
        try:
            await self._ready()
        except LlmError as exc:
            log.warning("%s", exc)

    async def _ready(self) -> _Wire:
        """What requests go out with, made once (in a thread: the trust store's load is slow).

        Raises:
            LlmError: it could not be made (``kind="connection"``).
        """
        if self._wire is not None:
            return self._wire
        if self._making is None:
            self._making = asyncio.ensure_future(asyncio.to_thread(_make_wire, self.settings))
        try:
            wire = await asyncio.shield(self._making)
        except Exception as exc:
            self._making = None  # the next request tries again
            raise LlmError(f"LLM client not ready: {exc!r}", kind="connection") from exc
        self._wire = wire
        return wire

    async def close(self) -> None:
        """Close the HTTP connection pool."""
        if self._making is not None and self._wire is None:
            try:
                self._wire = await asyncio.shield(self._making)
            except Exception:  # nothing was opened
                return
        if self._wire is not None:
            await self._wire.client.aclose()

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
            :class:`LlmToolCall`, then exactly one :class:`LlmFinished` (with the
            retries it took).

        Raises:
            LlmError: timeout, HTTP or API error, or a broken stream, after the
                retries the policy allowed (:attr:`LlmError.retries`,
                :attr:`LlmError.gave_up`).
        """
        wire = self._wire or await self._ready()  # local work: outside the vendor's budget
        budget = _Budget(self.settings.first_token_timeout, self.settings.total_timeout)
        body = self._body(messages, tools, tool_choice)
        loop = asyncio.get_running_loop()
        started = loop.time()
        retries: list[str] = []
        while True:
            yielded = False
            try:
                async for event in self._attempt(wire, body, budget):
                    if isinstance(event, LlmFinished):
                        event = LlmFinished(event.finish_reason, event.usage, tuple(retries))
                    yielded = True
                    yield event
                return
            except LlmError as exc:
                exc.retries = tuple(retries)
                if yielded:
                    raise  # the caller has heard part of it: a retry would repeat it
                decision = self._retry.decide(exc, len(retries), loop.time() - started)
                if not decision.retry:
                    exc.gave_up = decision.name
                    raise
                log.info("LLM request failed (%s); retry %d in %.2f s (%s)",
                         exc, len(retries) + 1, decision.delay, decision.name)  # fmt: skip
                retries.append(decision.name)
            await budget.wait(asyncio.sleep(decision.delay))

    async def _attempt(
        self, wire: _Wire, body: dict[str, Any], budget: _Budget
    ) -> AsyncGenerator[LlmEvent, None]:
        """One request's events (see :meth:`stream`); its failures as :class:`LlmError`."""
        assembler = ToolCallAssembler()
        finish_reason: str | None = None
        usage: dict[str, int] | None = None
        response: Response | None = None
        try:
            response = await budget.wait(send_direct(wire.client, wire.url, wire.headers, body))
            _trace_request(response)
            batches = chunk_batches(response)
            while True:
                try:
                    batch = await budget.wait(anext(batches))
                except StopAsyncIteration:
                    break
                for chunk in batch:
                    if chunk.get("usage") is not None:
                        usage = _usage(chunk["usage"])
                    for choice in chunk.get("choices") or ():  # "choices": null happens
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
        except (ValueError, TypeError, AttributeError) as exc:  # not JSON, or not the shape
            raise LlmError(f"LLM broken stream: {exc}", kind="stream") from exc
        finally:
            if response is not None:
                response.close()
        for call in assembler.take():
            yield call
        yield LlmFinished(finish_reason=finish_reason, usage=usage)

    def _body(
        self,
        messages: Sequence[Mapping[str, object]],
        tools: Sequence[Mapping[str, object]],
        tool_choice: str | None,
    ) -> dict[str, Any]:
        caps = self.capabilities
        options: dict[str, Any] = {"stream_options": {"include_usage": True}}
        if tools:
            options["tools"] = [dict(tool) for tool in tools]
            if not self.settings.parallel_tool_calls and caps.parallel_tool_calls:
                options["parallel_tool_calls"] = False  # true is the API's default
            if tool_choice is not None:
                options["tool_choice"] = tool_choice
        if self.settings.temperature is not None and caps.temperature:
            options["temperature"] = self.settings.temperature
        if self._token_cap is not None and caps.token_limit is not None:
            options[caps.token_limit] = self._token_cap
        if self.settings.reasoning_effort is not None and caps.reasoning_effort:
            options["reasoning_effort"] = self.settings.reasoning_effort
        return {
            "model": self.settings.model,
            "messages": [dict(message) for message in messages],
            "stream": True,
            **options,
        }


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


def _trace_request(response: Response) -> None:
    """The request's id (OpenAI's ``x-request-id``, what its support asks for) as an
    ``llm_request`` event of the turn's span, when the reply is traced."""
    span = CURRENT_SPAN.get()
    if span.recording:
        request_id = response.headers.get("x-request-id", "")
        span.add_event("llm_request", {"llm.request_id": request_id} if request_id else None)
