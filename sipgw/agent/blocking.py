"""Blocking work kept off the event loop: a method that blocks, awaited as a coroutine.

The stores' protocols are asynchronous (the shared database's stores await psycopg's
asyncio API). The SQLite stores, the default, keep their ``sqlite3`` code as it is and
present it through :func:`in_thread`: each decorated method runs whole, as one unit of
work, in the loop's default executor (``asyncio.to_thread``), so a slow disk never stalls
the loop. A method of the store that others of its methods call goes undecorated, under a
private name.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Coroutine
from typing import Any, Concatenate, ParamSpec, TypeVar

__all__ = ["in_thread"]

S = TypeVar("S")
P = ParamSpec("P")
R = TypeVar("R")


def in_thread(
    method: Callable[Concatenate[S, P], R],
) -> Callable[Concatenate[S, P], Coroutine[Any, Any, R]]:
    """``method`` as a coroutine method that runs it in a thread (``asyncio.to_thread``)."""

    @functools.wraps(method)
    async def run(self: S, /, *args: P.args, **kwargs: P.kwargs) -> R:
        return await asyncio.to_thread(method, self, *args, **kwargs)

    return run
