"""Caller-context hooks for the tests, named as ``tests.agent.context_hooks:NAME``.

Each records what it was given in :data:`CALLS` (and when, on the loop clock).
"""

from __future__ import annotations

import asyncio

CALLS: list[tuple[str, str, str, float]] = []
"""(hook, caller, called, loop time) of every invocation."""

SLOW_SECONDS = 30.0


def _note(hook: str, caller: str, called: str) -> None:
    CALLS.append((hook, caller, called, asyncio.get_running_loop().time()))


async def crm(caller: str, called: str) -> dict[str, object]:
    """Answers at once with a customer record."""
    _note("crm", caller, called)
    return {"Name": "Ada Lovelace", "Open orders": ["1234 (shipped)", "5678 (packing)"]}


async def known(caller: str, called: str) -> dict[str, object] | None:
    """A CRM lookup by the caller's number: a record only for a number it knows."""
    _note("known", caller, called)
    return {"Name": "Ada Lovelace"} if caller == "+15551234567" else None


async def slow(caller: str, called: str) -> str:
    """Never answers in time."""
    _note("slow", caller, called)
    await asyncio.sleep(SLOW_SECONDS)
    return "too late"


async def broken(caller: str, called: str) -> str:
    """Raises with the caller's number in its message (which must not reach the log)."""
    _note("broken", caller, called)
    raise RuntimeError(f"CRM down while looking up {caller}")


def not_async(caller: str, called: str) -> str:
    """A plain function: refused at start-up."""
    return "sync"


NOT_CALLABLE = "just a string"


DETAILS: list[object] = []
"""The CallDetails :func:`with_details` was given."""


async def with_details(caller: str, called: str, details: object) -> str:
    """Takes the call's details too: answers with its ticket header and first variable."""
    _note("with_details", caller, called)
    DETAILS.append(details)
    headers = getattr(details, "headers", {})
    variables = getattr(details, "variables", {})
    return f"ticket {headers.get('X-Ticket-Id')}, name {variables.get('first_name')}"
