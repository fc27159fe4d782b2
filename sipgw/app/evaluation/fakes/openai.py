"""A scripted, OpenAI-compatible Chat Completions server on a real loopback socket.

Tests point the production client at ``fake.base_url`` (``http://127.0.0.1:<port>/v1``)
and script what it answers::

    async with FakeOpenAI(api_key="sk-test") as fake:
        fake.script([
            FakeResponse(tool_calls=[FakeToolCall("get_order_status", {"order_id": "1234"})]),
            FakeResponse(text="Your order has shipped."),
        ])
        ...
        assert fake.requests[1].body["messages"][-1]["role"] == "tool"

Each request takes the next scripted :class:`FakeResponse`; when the queue is
empty, ``fake.responder(request_body)`` decides (by default a short text).
Chunks are shaped like OpenAI's (docs/cloud-apis.md, "OpenAI streamed tool calls"),
including the final usage chunk with empty ``choices`` when
``stream_options.include_usage`` is set.
:class:`FakeResponse` also has switches for the quirks of compatible servers,
latency knobs and failure injection (error statuses with ``Retry-After`` and
OpenAI's error codes, a connection reset before the response).

Like OpenAI, the fake refuses the parameters a model family refuses (HTTP 400,
:data:`REFUSALS`), and a reasoning model spends hidden reasoning tokens out of
``max_completion_tokens``: when the cap is smaller than its reasoning plus the
answer, the answer is empty with ``finish_reason`` "length".

The server runs in the test's loop (``async with``) or in a thread with its own
loop (:meth:`FakeOpenAI.start_in_thread` / :meth:`FakeOpenAI.stop`) for a
gateway running in a subprocess; all control methods are thread-safe.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Literal

from aiohttp import web

__all__ = [
    "REFUSALS",
    "FakeOpenAI",
    "FakeResponse",
    "FakeToolCall",
    "RecordedRequest",
    "build_chunks",
]

Responder = Callable[[dict[str, Any]], "FakeResponse"]


@dataclass(frozen=True)
class FakeToolCall:
    """One tool call the fake model makes."""

    name: str
    arguments: str | Mapping[str, object] = "{}"
    """A JSON string (sent as is, even if invalid) or a mapping (JSON-encoded)."""
    id: str | None = None
    """The call id; generated (``call_<n>``) when None."""

    def arguments_json(self) -> str:
        """The arguments as the wire carries them."""
        if isinstance(self.arguments, str):
            return self.arguments
        return json.dumps(self.arguments, separators=(",", ":"))


@dataclass(frozen=True)
class FakeResponse:
    """What the fake answers to one request.

    Content: ``text`` (split into word deltas, or ``text_deltas`` verbatim), then
    ``tool_calls`` (each one's arguments split into ``argument_fragments`` pieces).
    """

    text: str = ""
    tool_calls: Sequence[FakeToolCall] = ()
    text_deltas: Sequence[str] | None = None
    argument_fragments: int = 3

    # Quirks of OpenAI-compatible servers (docs/cloud-apis.md, "OpenAI streamed tool calls").
    omit_index: bool = False
    """Leave ``index`` out of every tool-call delta."""
    repeat_id: bool = False
    """Repeat the call ``id`` (and name) on every tool-call delta."""
    whole_arguments: bool = False
    """Send each call's arguments whole, in its first delta."""
    same_index: bool = False
    """Send ``index`` 0 for every call (each call still has its own id)."""
    finish_reason: str | None | Literal["auto"] = "auto"
    """``"auto"``: ``"tool_calls"`` with tool calls, else ``"stop"``; None sends none."""
    usage: Mapping[str, int] | None = None
    """The usage chunk's counts; made up when None."""

    # Latency.
    headers_delay: float = 0.0
    """Seconds before the HTTP response headers."""
    first_chunk_delay: float = 0.0
    """Seconds between the headers and the first chunk."""
    chunk_delay: float = 0.0
    """Seconds between chunks."""

    reasoning_tokens: int | None = None
    """Hidden reasoning tokens a reasoning model spends before answering; None: the
    fake's ``reasoning_tokens`` (0 for chat models)."""

    # Failures.
    status: int = 200
    """Answer with this HTTP status and an OpenAI-style JSON error instead."""
    error_message: str = "The fake server had an error"
    error_type: str = "server_error"
    error_code: str | None = None
    """The error body's ``code`` (e.g. ``"rate_limit_exceeded"``, ``"insufficient_quota"``)."""
    error_headers: Mapping[str, str] = field(default_factory=dict)
    """Headers of the error response (e.g. ``{"retry-after": "0.2"}``)."""
    reset: bool = False
    """Abort the TCP connection once the request is read, before any response (what a
    client sees when the server dropped a pooled keep-alive connection)."""
    error_after: int | None = None
    """Send an ``{"error": {...}}`` chunk after this many chunks, then end the stream."""
    hang_after: int | None = None
    """Send this many chunks, then nothing more (the connection stays open)."""
    drop_after: int | None = None
    """Send this many chunks, then abort the TCP connection."""
    garbage_after: int | None = None
    """Send this many chunks, then a ``data:`` line that is not JSON, then end the stream."""
    raw_chunks: Sequence[str] | None = None
    """Send these ``data:`` payloads verbatim instead of chunks built from the fields above."""

    @classmethod
    def http_error(
        cls,
        status: int,
        message: str,
        error_type: str = "server_error",
        *,
        code: str | None = None,
        retry_after: float | None = None,
    ) -> FakeResponse:
        """An HTTP error response (e.g. 429 or 500) with an OpenAI-style JSON body.

        ``retry_after`` (seconds) is sent as the ``retry-after`` header.
        """
        headers = {"retry-after": f"{retry_after:g}"} if retry_after is not None else {}
        return cls(
            status=status,
            error_message=message,
            error_type=error_type,
            error_code=code,
            error_headers=headers,
        )

    @classmethod
    def rate_limited(cls, retry_after: float | None = None) -> FakeResponse:
        """OpenAI's 429 for a rate limit (docs: error codes, "Rate limit reached for requests")."""
        return cls.http_error(
            429,
            "Rate limit reached for requests",
            "requests",
            code="rate_limit_exceeded",
            retry_after=retry_after,
        )

    @classmethod
    def quota_exceeded(cls) -> FakeResponse:
        """OpenAI's 429 for an exhausted quota (docs: error codes, "You exceeded your
        current quota"): waiting does not help."""
        return cls.http_error(
            429,
            "You exceeded your current quota, please check your plan and billing details.",
            "insufficient_quota",
            code="insufficient_quota",
        )

    def resolved_finish_reason(self) -> str | None:
        """The finish reason that goes on the wire."""
        if self.finish_reason == "auto":
            return "tool_calls" if self.tool_calls else "stop"
        return self.finish_reason


@dataclass
class RecordedRequest:
    """One request the fake received, and how answering it went."""

    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    response: FakeResponse | None = None
    chunks_total: int = 0
    chunks_sent: int = 0
    finished: bool = False
    """The handler is done (whatever the outcome)."""
    completed: bool = False
    """The whole scripted response was sent."""
    disconnected: bool = False
    """The client went away before the response was complete."""
    received_at: float = 0.0
    """``time.monotonic()`` when the request arrived."""
    chunk_times: list[float] = field(default_factory=list)
    """``time.monotonic()`` when each chunk was handed to the connection."""
    peer: object = None
    """The client's address and port: the same for requests on one kept-alive connection."""

    @property
    def messages(self) -> list[dict[str, Any]]:
        """The request's ``messages``."""
        return list(self.body.get("messages", []))


def _split_text(text: str) -> list[str]:
    """Word-sized deltas with the leading space, like a tokenizer's output."""
    if not text:
        return []
    parts = re.findall(r"\s*\S+", text)
    tail = text[len("".join(parts)) :]
    if tail:
        if parts:
            parts[-1] += tail
        else:
            parts.append(tail)
    return parts


def _split_arguments(arguments: str, pieces: int) -> list[str]:
    if not arguments:
        return []
    pieces = max(1, min(pieces, len(arguments)))
    size = -(-len(arguments) // pieces)
    return [arguments[i : i + size] for i in range(0, len(arguments), size)]


def _choice(delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
    return {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}


def _tool_call_deltas(spec: FakeResponse, call_ids: Sequence[str]) -> list[dict[str, Any]]:
    """One ``delta`` per tool-call fragment, quirks applied."""
    deltas: list[dict[str, Any]] = []
    for number, (call, call_id) in enumerate(zip(spec.tool_calls, call_ids, strict=True)):
        index = 0 if spec.same_index else number
        arguments = call.arguments_json()
        fragments = (
            [] if spec.whole_arguments else _split_arguments(arguments, spec.argument_fragments)
        )
        head: dict[str, Any] = {
            "index": index,
            "id": call_id,
            "type": "function",
            "function": {"name": call.name, "arguments": arguments if spec.whole_arguments else ""},
        }
        entries = [head]
        for fragment in fragments:
            entry: dict[str, Any] = {"index": index, "function": {"arguments": fragment}}
            if spec.repeat_id:
                entry = {**entry, "id": call_id, "type": "function"}
                entry["function"] = {"name": call.name, "arguments": fragment}
            entries.append(entry)
        for entry in entries:
            if spec.omit_index:
                del entry["index"]
            deltas.append({"tool_calls": [entry]})
    return deltas


def build_chunks(
    spec: FakeResponse, *, model: str, include_usage: bool, completion_id: str = "chatcmpl-fake"
) -> list[dict[str, Any]]:
    """The streamed chunks for ``spec``, in order (without ``[DONE]``)."""
    call_ids = [call.id or f"call_{n}" for n, call in enumerate(spec.tool_calls)]
    texts = list(spec.text_deltas) if spec.text_deltas is not None else _split_text(spec.text)
    deltas: list[dict[str, Any]] = [{"content": text} for text in texts]
    deltas.extend(_tool_call_deltas(spec, call_ids))
    tokens = len(deltas)
    if deltas and not texts:
        # Like OpenAI: a tool-call response carries the role on its first tool delta...
        deltas[0] = {"role": "assistant", "content": None, **deltas[0]}
    else:
        # ...and a text response starts with a role-only chunk.
        deltas.insert(0, {"role": "assistant", "content": "", "refusal": None})
    base = {"id": completion_id, "object": "chat.completion.chunk", "created": int(time.time())}
    base["model"] = model
    extra = {"usage": None} if include_usage else {}
    chunks = [{**base, "choices": [_choice(delta)], **extra} for delta in deltas]
    finish = spec.resolved_finish_reason()
    if finish is not None:
        chunks.append({**base, "choices": [_choice({}, finish)], **extra})
    if include_usage:
        usage = dict(spec.usage) if spec.usage is not None else _made_up_usage(tokens)
        chunks.append({**base, "choices": [], "usage": usage})
    return chunks


def _made_up_usage(completion_tokens: int) -> dict[str, int]:
    return {
        "prompt_tokens": 42,
        "completion_tokens": completion_tokens,
        "total_tokens": 42 + completion_tokens,
    }


def _completion(spec: FakeResponse, *, model: str, completion_id: str) -> dict[str, Any]:
    """The non-streaming ``chat.completion`` body for ``spec``."""
    message: dict[str, Any] = {"role": "assistant", "content": spec.text or None, "refusal": None}
    if spec.tool_calls:
        message["tool_calls"] = [
            {
                "id": call.id or f"call_{n}",
                "type": "function",
                "function": {"name": call.name, "arguments": call.arguments_json()},
            }
            for n, call in enumerate(spec.tool_calls)
        ]
    return {
        "id": completion_id,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": message,
                "logprobs": None,
                "finish_reason": spec.resolved_finish_reason(),
            }
        ],
        "usage": dict(spec.usage) if spec.usage is not None else _made_up_usage(5),
    }


def _error_body(message: str, error_type: str, code: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": error_type, "param": None, "code": code}}


ModelFamily = Literal["o-series", "gpt-5", "chat", "other"]


def model_family(model: str) -> ModelFamily:
    """The family OpenAI's refusals depend on (from the model name, as OpenAI names them).

    ``o-series``: o1, o3, o3-mini, o4-mini ...; ``gpt-5``: GPT-5 and later, except the
    ``-chat`` variants; ``chat``: the other ``gpt-`` models; ``other``: a model of
    another server (the fake then accepts every parameter, as lax servers do).
    """
    name = model.rsplit("/", 1)[-1].lower()
    if re.match(r"o\d+\b", name):
        return "o-series"
    if re.match(r"gpt-([5-9]|\d{2,})\b", name) and "-chat" not in name:
        return "gpt-5"
    if name.startswith(("gpt-", "chatgpt-")) and not name.startswith("gpt-oss"):
        return "chat"
    return "other"


@dataclass(frozen=True)
class Refusal:
    """A parameter a model family refuses, and OpenAI's HTTP 400 answer to it."""

    families: frozenset[ModelFamily]
    parameter: str
    message: str
    code: str | None
    source: str
    """Where OpenAI's answer is documented or quoted."""
    allowed: object = None
    """A value the family does accept (``temperature`` 1), or None."""

    def refuses(self, family: ModelFamily, body: Mapping[str, Any]) -> bool:
        """Whether a request of a ``family`` model with ``body`` gets this refusal."""
        if family not in self.families or self.parameter not in body:
            return False
        return self.allowed is None or body[self.parameter] != self.allowed


_REASONING: frozenset[ModelFamily] = frozenset({"o-series", "gpt-5"})
REFUSALS: tuple[Refusal, ...] = (
    Refusal(
        _REASONING,
        "max_tokens",
        "Unsupported parameter: 'max_tokens' is not supported with this model. "
        "Use 'max_completion_tokens' instead.",
        "unsupported_parameter",
        "openai-python types/chat/completion_create_params.py: max_tokens 'is not "
        "compatible with o-series models'; the answer as quoted for o1, o3-mini "
        "(teilomillet/gollm#33) and gpt-5 (griptape-ai/ComfyUI-Griptape#312)",
    ),
    Refusal(
        frozenset({"o-series"}),
        "parallel_tool_calls",
        "Unsupported parameter: 'parallel_tool_calls' is not supported with this model.",
        "unsupported_parameter",
        "OpenAI's answer as quoted for o1 (langchain-ai/langchain#29416), o3-mini "
        "(langchain-ai/langgraph-supervisor-py#52) and o4-mini (evalstate/fast-agent#279)",
    ),
    Refusal(
        _REASONING,
        "temperature",
        "Unsupported parameter: 'temperature' is not supported with this model.",
        "unsupported_parameter",
        "OpenAI's answer as quoted for o3-mini (openai/openai-python#2104); reasoning "
        "models take only the default, 1",
        allowed=1,
    ),
    Refusal(
        frozenset({"chat"}),
        "reasoning_effort",
        "Unrecognized request argument supplied: reasoning_effort",
        None,
        "openai-python: reasoning_effort 'constrains effort on reasoning for reasoning "
        "models'; the answer as quoted for gpt-4o (AAswordman/Operit#1048) and "
        "gpt-4o-mini (yaroslavyaroslav/OpenAI-sublime-text#146)",
    ),
)
"""What OpenAI refuses, by model family (each row says where its answer is quoted)."""


def refusal_for(body: Mapping[str, Any]) -> Refusal | None:
    """The refusal a request gets, if any (the first that applies)."""
    family = model_family(str(body.get("model", "")))
    return next((r for r in REFUSALS if r.refuses(family, body)), None)


def default_responder(body: dict[str, Any]) -> FakeResponse:
    """The answer when nothing is scripted: a short text."""
    return FakeResponse(text="This is the fake assistant.")


class FakeOpenAI:
    """The fake server; see the module docstring."""

    def __init__(
        self, api_key: str = "sk-fake", *, host: str = "127.0.0.1", reasoning_tokens: int = 800
    ) -> None:
        """Configure (not start) a server that accepts ``Bearer <api_key>``.

        ``reasoning_tokens``: what a reasoning model spends thinking on each response
        (out of its ``max_completion_tokens``), unless the response says otherwise.
        """
        self.api_key = api_key
        self.host = host
        self.reasoning_tokens = reasoning_tokens
        self.port = 0
        self._lock = threading.Lock()
        self._queue: deque[FakeResponse] = deque()
        self._responder: Responder = default_responder
        self._requests: list[RecordedRequest] = []
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None
        self._thread_loop: asyncio.AbstractEventLoop | None = None
        self._count = 0

    # -- control (thread-safe) ---------------------------------------------

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>/v1``; valid once started."""
        return f"http://{self.host}:{self.port}/v1"

    def script(self, responses: Iterable[FakeResponse]) -> None:
        """Queue responses; each request takes the next one."""
        with self._lock:
            self._queue.extend(responses)

    def reset(self) -> None:
        """Forget the responses still scripted (one server, call after call)."""
        with self._lock:
            self._queue.clear()

    @property
    def responder(self) -> Responder:
        """Decides the response when the script queue is empty."""
        with self._lock:
            return self._responder

    @responder.setter
    def responder(self, responder: Responder) -> None:
        with self._lock:
            self._responder = responder

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received so far (a snapshot list)."""
        with self._lock:
            return list(self._requests)

    @property
    def pending(self) -> int:
        """Scripted responses not used yet."""
        with self._lock:
            return len(self._queue)

    def forget_finished(self) -> int:
        """Drop the records of requests that are finished (for long runs); returns how many."""
        with self._lock:
            kept = [r for r in self._requests if not r.finished]
            dropped = len(self._requests) - len(kept)
            self._requests[:] = kept
            return dropped

    async def wait_for(self, predicate: Callable[[], bool], within: float = 5.0) -> None:
        """Poll ``predicate`` (in the caller's loop) until it is true.

        Raises:
            TimeoutError: still false after ``within`` seconds.
        """
        async with asyncio.timeout(within):
            # Polling, not an Event: the server may run in another thread's loop.
            while not predicate():  # noqa: ASYNC110 - see above
                await asyncio.sleep(0.005)

    async def wait_for_request(self, count: int = 1, within: float = 5.0) -> RecordedRequest:
        """Wait until ``count`` requests have arrived; return the last one."""
        await self.wait_for(lambda: len(self.requests) >= count, within)
        return self.requests[count - 1]

    async def wait_for_disconnect(self, within: float = 5.0) -> RecordedRequest:
        """Wait until some request saw its client go away; return it."""
        await self.wait_for(lambda: any(r.disconnected for r in self.requests), within)
        return next(r for r in self.requests if r.disconnected)

    # -- lifecycle ------------------------------------------------------------

    async def start(self) -> None:
        """Listen on ``host``, port 0 (in the running loop)."""
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._handle)
        runner = web.AppRunner(
            app, handler_cancellation=True, access_log=None, shutdown_timeout=0.1
        )
        await runner.setup()
        site = web.TCPSite(runner, self.host, 0)
        await site.start()
        self.port = runner.addresses[0][1]  # works on any loop (asyncio or uvloop)
        self._runner = runner

    async def aclose(self) -> None:
        """Stop listening and drop open connections."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeOpenAI:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def start_in_thread(self) -> str:
        """Run the server in a daemon thread with its own loop; return ``base_url``."""
        loop = asyncio.new_event_loop()
        started = threading.Event()

        def run() -> None:
            asyncio.set_event_loop(loop)
            loop.run_until_complete(self.start())
            started.set()
            loop.run_forever()
            loop.run_until_complete(self.aclose())
            loop.close()

        self._thread_loop = loop
        self._thread = threading.Thread(target=run, name="fake-openai", daemon=True)
        self._thread.start()
        if not started.wait(10):
            raise RuntimeError("the fake OpenAI server did not start")
        return self.base_url

    def stop(self) -> None:
        """Stop a server started with :meth:`start_in_thread`."""
        if self._thread is None or self._thread_loop is None:
            return
        self._thread_loop.call_soon_threadsafe(self._thread_loop.stop)
        self._thread.join(10)
        self._thread = None
        self._thread_loop = None

    # -- serving --------------------------------------------------------------

    def _next_response(self, body: dict[str, Any]) -> FakeResponse:
        with self._lock:
            if self._queue:
                return self._queue.popleft()
            responder = self._responder
        return responder(body)

    def _update(self, record: RecordedRequest, **changes: Any) -> None:
        with self._lock:
            for name, value in changes.items():
                setattr(record, name, value)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        headers = dict(request.headers)
        if request.headers.get("Authorization") != f"Bearer {self.api_key}":
            return web.json_response(
                _error_body(
                    "Incorrect API key provided", "invalid_request_error", "invalid_api_key"
                ),
                status=401,
            )
        try:
            body = await request.json()
        except ValueError:
            return web.json_response(
                _error_body("Invalid JSON body", "invalid_request_error"), status=400
            )
        transport = request.transport
        peer = transport.get_extra_info("peername") if transport is not None else None
        record = RecordedRequest(
            path=request.path, headers=headers, body=body, peer=peer, received_at=time.monotonic()
        )
        with self._lock:
            self._requests.append(record)
            self._count += 1
            completion_id = f"chatcmpl-fake-{self._count}"
        refusal = refusal_for(body)
        if refusal is not None:  # refused before any answer is taken from the script
            self._update(record, finished=True)
            error = _error_body(refusal.message, "invalid_request_error", refusal.code)
            error["error"]["param"] = refusal.parameter if refusal.code else None
            return web.json_response(error, status=400)
        try:
            spec = self._next_response(body)
            self._update(record, response=spec)
            if spec.reset:
                if transport is not None:
                    transport.abort()
                self._update(record, disconnected=True)
                return web.Response(status=500)  # never sent: the connection is gone
            if spec.headers_delay:
                await asyncio.sleep(spec.headers_delay)
            if spec.status != 200:
                return web.json_response(
                    _error_body(spec.error_message, spec.error_type, spec.error_code),
                    status=spec.status,
                    headers=dict(spec.error_headers),
                )
            model = str(body.get("model", "fake-model"))
            spec = self._spend_reasoning(spec, body, model)
            if not body.get("stream"):
                return web.json_response(
                    _completion(spec, model=model, completion_id=completion_id)
                )
            return await self._stream(request, record, spec, body, model, completion_id)
        except asyncio.CancelledError:
            self._update(record, disconnected=True)
            raise
        finally:
            self._update(record, finished=True)

    def _spend_reasoning(
        self, spec: FakeResponse, body: Mapping[str, Any], model: str
    ) -> FakeResponse:
        """A reasoning model's answer under its cap: ``max_completion_tokens`` counts
        "visible output tokens and reasoning tokens" (openai-python,
        completion_create_params.py), so a cap below both leaves no answer at all."""
        if model_family(model) not in _REASONING:
            return spec
        reasoning = (
            self.reasoning_tokens if spec.reasoning_tokens is None else spec.reasoning_tokens
        )
        cap = body.get("max_completion_tokens")
        answer = len(_split_text(spec.text)) + sum(
            1 + spec.argument_fragments for _ in spec.tool_calls
        )
        spent = reasoning + answer
        if isinstance(cap, int) and spent > cap:
            spec = FakeResponse(finish_reason="length", usage={"completion_tokens": cap})
            spent = cap
        usage = {"prompt_tokens": 42, "completion_tokens": spent, "total_tokens": 42 + spent}
        return dataclasses.replace(spec, usage={**usage, **(spec.usage or {})})

    async def _stream(
        self,
        request: web.Request,
        record: RecordedRequest,
        spec: FakeResponse,
        body: dict[str, Any],
        model: str,
        completion_id: str,
    ) -> web.StreamResponse:
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        chunks: list[Any] = build_chunks(
            spec, model=model, include_usage=include_usage, completion_id=completion_id
        )
        if spec.raw_chunks is not None:
            chunks = list(spec.raw_chunks)
        self._update(record, chunks_total=len(chunks))
        response = web.StreamResponse(
            headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache",
                     "x-request-id": f"req_{completion_id}"}  # as OpenAI names its requests
        )  # fmt: skip
        await response.prepare(request)
        if spec.first_chunk_delay:
            await asyncio.sleep(spec.first_chunk_delay)
        try:
            for number, chunk in enumerate(chunks):
                if await self._interrupt(request, record, response, spec, number):
                    return response
                if number and spec.chunk_delay:
                    await asyncio.sleep(spec.chunk_delay)
                payload = chunk if isinstance(chunk, str) else json.dumps(chunk)
                # Recorded before the write that lets the client act on it.
                with self._lock:
                    record.chunks_sent += 1
                    record.chunk_times.append(time.monotonic())
                await response.write(f"data: {payload}\n\n".encode())
            if await self._interrupt(request, record, response, spec, len(chunks)):
                return response
            self._update(record, completed=True)
            await response.write(b"data: [DONE]\n\n")
            await response.write_eof()
        except (ConnectionError, RuntimeError):  # the client went away mid-write
            self._update(record, completed=False, disconnected=True)
        return response

    async def _interrupt(
        self,
        request: web.Request,
        record: RecordedRequest,
        response: web.StreamResponse,
        spec: FakeResponse,
        sent: int,
    ) -> bool:
        """Apply the failure injected after ``sent`` chunks; True when the stream ends here."""
        if spec.error_after == sent:
            error = _error_body(spec.error_message, spec.error_type)
            await response.write(f"data: {json.dumps(error)}\n\n".encode())
            await response.write_eof()
            return True
        if spec.garbage_after == sent:
            await response.write(b'data: {"choices": [{"delta": \n\n')
            await response.write_eof()
            return True
        if spec.hang_after == sent:
            await asyncio.Event().wait()  # until the client disconnects (handler cancelled)
        if spec.drop_after == sent:
            transport = request.transport
            if transport is not None:
                transport.abort()
            return True
        return False
