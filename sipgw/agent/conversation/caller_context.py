"""Caller context: a user hook that looks the caller up while the phone rings.

The operator names an async function (``SIPGW_CALLER_CONTEXT=module:function``;
the module is a dotted name or a ``.py`` path, as for the tools module). For
every call it is started the moment the agent is prepared (the INVITE is being
offered, the phone rings), with the caller's and the called number::

    async def lookup(caller: str, called: str) -> str | dict[str, object] | None:
        ...  # e.g. ask the CRM for the customer's name and open orders

``caller`` is the number only as far as it is proven
(:attr:`sipgw.agent.base.CallControl.verified_caller`): the P-Asserted-Identity of a
trusted trunk, or the number a call the gateway placed reached; "" otherwise. The
From is never passed: anyone can write anyone's number there, and a lookup by it
would read one customer's record to whoever claims their number.

A hook with a third parameter (or one named ``details``) also gets the call's
:class:`~sipgw.agent.base.CallDetails`: its variables, the number the caller's network
asserts (only when a trusted trunk did), how the call was forwarded, the ``X-``
headers the operator lets through (a ticket or campaign id a PBX passes)::

    async def lookup(caller: str, called: str, details: CallDetails) -> str | None:
        ticket = details.headers.get("X-Ticket-Id")

It returns text, or a dict rendered as ``key: value`` lines, or None (nothing
known). :class:`CallerContextLookup` runs it as a task beside whatever the
gateway does before answering, so the 200 OK is never delayed by it. The first
LLM request of the call awaits the result, but only until ``timeout`` seconds
after the lookup started; a hook that is later, raises or returns something
else is logged in one line (its exception's type only: the message may hold
the caller's data) and the call goes on without context.
:class:`CallerContextPrompt` puts the answer into the call's system prompt,
once, before the first LLM request.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from sipgw.agent.base import NO_DETAILS, CallDetails
from sipgw.foundation.user_modules import UserModuleError, import_user_module

__all__ = [
    "CallerContextError",
    "CallerContextHook",
    "CallerContextLookup",
    "CallerContextPrompt",
    "CallerContextSettings",
    "load_caller_context_hook",
    "render_context",
    "takes_details",
    "with_context",
]

log = logging.getLogger("sipgw.agent")

CallerContextHook = Callable[..., Awaitable[object]]
"""``async def hook(caller, called[, details]) -> str | dict | None``."""

PROMPT_HEADING = "What is known about the caller (from the operator's records):"
"""The line that introduces the context in the system prompt."""

MAX_CONTEXT_CHARS = 4000
"""Longer context is cut (a runaway CRM answer must not eat the model's window)."""


class CallerContextError(Exception):
    """The hook named in the settings cannot be loaded or is not an async function."""


@dataclass(frozen=True, slots=True)
class CallerContextSettings:
    """The loaded hook and how long a call waits for it.

    Attributes:
        hook: the operator's async function.
        timeout: seconds after the lookup starts (the INVITE) that the first
            LLM request waits for it at most.
    """

    hook: CallerContextHook
    timeout: float = 1.5


def load_caller_context_hook(spec: str) -> CallerContextHook:
    """The async function ``spec`` (``module:function``) names.

    Raises:
        CallerContextError: bad spec, module not found or failing to import,
            no such attribute, or not an ``async def`` function.
    """
    module_name, sep, function_name = spec.rpartition(":")
    if not sep or not module_name or not function_name:
        raise CallerContextError(f"{spec!r} is not module:function (e.g. crm_lookup:context)")
    module = _import(module_name)
    hook = getattr(module, function_name, None)
    if hook is None:
        raise CallerContextError(f"module {module_name!r} has no {function_name!r}")
    if not callable(hook):
        raise CallerContextError(f"{spec!r} is not callable")
    if not inspect.iscoroutinefunction(hook):
        raise CallerContextError(f"{spec!r} is not an async function (use async def)")
    result: CallerContextHook = hook
    return result


def _import(module_name: str) -> ModuleType:
    try:
        return import_user_module(module_name, what="module", file_prefix="sipgw_caller_context_")
    except UserModuleError as exc:
        raise CallerContextError(str(exc)) from None


def render_context(value: object) -> str:
    """The hook's answer as prompt text ("" for None); TypeError unless str, dict or None."""
    if value is None:
        return ""
    if isinstance(value, str):
        text = value.strip()
    elif isinstance(value, Mapping):
        text = "\n".join(f"{key}: {_render_value(item)}" for key, item in value.items())
    else:
        raise TypeError(f"returned a {type(value).__name__}, not str, dict or None")
    if len(text) > MAX_CONTEXT_CHARS:
        text = text[:MAX_CONTEXT_CHARS] + " [...]"
    return text


def _render_value(value: object) -> str:
    if isinstance(value, list | tuple):
        return "; ".join(str(item) for item in value)
    return str(value)


class CallerContextLookup:
    """One call's lookup: started at once, its result awaited (bounded) by the first reply."""

    def __init__(
        self,
        settings: CallerContextSettings,
        caller: str,
        called: str,
        label: str,
        details: CallDetails = NO_DETAILS,
    ) -> None:
        """Start the hook now (call it while the phone rings).

        Args:
            settings: the hook and its timeout.
            caller: the caller's number (or URI).
            called: the called number (or URI).
            label: what log lines name the call by (its Call-ID).
            details: the call's details, for a hook that takes them.
        """
        self._label = label
        self._timeout = settings.timeout
        loop = asyncio.get_running_loop()
        self._deadline = loop.time() + settings.timeout
        self._task: asyncio.Task[Any] = loop.create_task(
            _call(settings.hook, caller, called, details), name="caller-context"
        )
        self._text: str | None = None

    async def text(self) -> str:
        """The context text; "" after a timeout, failure or a hook with nothing to say.

        Waits at most until ``timeout`` after the lookup started; later calls
        return at once with the same answer.
        """
        if self._text is not None:
            return self._text
        remaining = self._deadline - asyncio.get_running_loop().time()
        done, _ = await asyncio.wait({self._task}, timeout=max(0.0, remaining))
        self._text = self._settle(bool(done))
        return self._text

    def ready(self) -> str | None:
        """The context text if the answer is known now (the hook finished, or its timeout
        passed: as :meth:`text`), else None; never waits."""
        if self._text is None:
            if self._task.done():
                self._text = self._settle(True)
            elif asyncio.get_running_loop().time() >= self._deadline:
                self._text = self._settle(False)
        return self._text

    def _settle(self, done: bool) -> str:
        if not done:
            self._task.cancel()
            log.warning(
                "[%s] caller context: the hook took longer than %g s; going on without it",
                self._label, self._timeout,
            )  # fmt: skip
            return ""
        exc = self._task.exception()
        if exc is not None:
            log.warning(
                "[%s] caller context: the hook raised %s; going on without it",
                self._label, type(exc).__name__,
            )  # fmt: skip
            return ""
        try:
            return render_context(self._task.result())
        except TypeError as err:
            log.warning("[%s] caller context: the hook %s; going on without it", self._label, err)
            return ""

    def cancel(self) -> None:
        """Stop the hook if it still runs (the call ended)."""
        if not self._task.done():
            self._task.cancel()
        elif not self._task.cancelled():
            self._task.exception()  # retrieved: no "never retrieved" warning


def takes_details(hook: CallerContextHook) -> bool:
    """Whether ``hook`` has a third parameter (or one named ``details``)."""
    try:
        parameters = list(inspect.signature(hook).parameters.values())
    except (TypeError, ValueError):
        return False
    kind = inspect.Parameter
    if any(p.name == "details" or p.kind is kind.VAR_POSITIONAL for p in parameters):
        return True
    positional = (kind.POSITIONAL_ONLY, kind.POSITIONAL_OR_KEYWORD)
    return len([p for p in parameters if p.kind in positional]) >= 3


async def _call(hook: CallerContextHook, caller: str, called: str, details: CallDetails) -> object:
    if takes_details(hook):
        return await hook(caller, called, details)
    return await hook(caller, called)


def with_context(system_prompt: str, context: str) -> str:
    """``system_prompt`` with the caller context appended (unchanged when there is none)."""
    if not context:
        return system_prompt
    return f"{system_prompt}\n\n{PROMPT_HEADING}\n{context}"


class CallerContextPrompt:
    """One call's caller context in its system prompt: looked up while the phone rings,
    added once, before the first LLM request (no lookup when no hook is configured).

    Args:
        settings: the operator's hook and its timeout; None = no hook.
        messages: the conversation's history; its first message is the system prompt.
        record: writes a line to the call record (whether context was found).
    """

    def __init__(
        self,
        settings: CallerContextSettings | None,
        messages: Sequence[MutableMapping[str, Any]],
        record: Callable[[dict[str, Any]], None],
    ) -> None:
        self._settings = settings
        self._messages = messages
        self._record = record
        self._lookup: CallerContextLookup | None = None
        self._added = False

    def start(
        self, caller: str, called: str, label: str, details: CallDetails = NO_DETAILS
    ) -> None:
        """Start the lookup (once; beside the ringing, never delaying it).

        Args:
            caller: the caller's proven number, "" when none is proven
                (:attr:`~sipgw.agent.base.CallControl.verified_caller`).
            called: the called number (:attr:`~sipgw.agent.base.CallDetails.called_number`,
                read by the gateway).
            label: what log lines name the call by.
            details: the call's details, for a hook that takes them.
        """
        if self._settings is None or self._lookup is not None:
            return
        self._lookup = CallerContextLookup(self._settings, caller, called, label, details)

    async def add(self) -> None:
        """Put the context into the system prompt, waiting for the lookup at most until
        its timeout (counted from the INVITE); at once when it is there already."""
        lookup = self._lookup
        if lookup is None or self._added:
            return
        context = await lookup.text()  # the same answer for every reply that asks
        self._apply(context)

    def add_if_ready(self) -> bool:
        """Put the context in if its answer is known now; False while the lookup runs
        (a request that must carry it, such as a preemptive one, waits)."""
        lookup = self._lookup
        if lookup is not None and not self._added:
            context = lookup.ready()
            if context is None:
                return False
            self._apply(context)
        return True

    def cancel(self) -> None:
        """The call ended: stop the lookup if it still runs."""
        if self._lookup is not None:
            self._lookup.cancel()

    def _apply(self, context: str) -> None:
        if self._added:
            return
        self._added = True
        self._record({"type": "caller_context", "found": bool(context)})
        if context:
            system = self._messages[0]
            system["content"] = with_context(system["content"], context)
