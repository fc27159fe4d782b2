"""Check that a call's objects are freed by reference counting alone.

Objects in reference cycles wait for the garbage collector; with many calls
ending, its full collections pause the event loop (and every call's audio) for
tens of milliseconds, and the gateway runs its older generations rarely
(sipgw/app/operations/collector.py), so what a cycle holds stays for up to an hour.
Tests wrap a call in :func:`cycles_left_by_our_code` and assert that none of the
call's own objects was left to the collector; a failure's path (a vendor that drops
or refuses its connection) in :func:`garbage_of_ours`, which names every object of
the gateway's code left so (its exceptions, frames, tasks and WebSocket clients).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import types
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from websockets.asyncio.client import ClientConnection
from websockets.client import ClientProtocol

import sipgw
from sipgw.agent.base import Agent
from sipgw.app.calls.callhandle import CallHandle
from sipgw.media.aio.rtp_endpoint import RtpEndpoint
from sipgw.media.session import MediaSession
from sipgw.sip.call import CallInfo
from sipgw.sip.usages.session import CallSession

PER_CALL = (CallHandle, CallInfo, CallSession, MediaSession, RtpEndpoint, Agent)
"""What a gateway creates per call. (Values such as parsed messages or packets
may sit in a test helper's own cycles; those are not the gateway's.)"""

_SOURCE = Path(sipgw.__file__).resolve().parent
_FAKES = _SOURCE / "app" / "evaluation"
"""The vendors' fakes run in the tests' process but are not the gateway (in a soak
they are a process of their own)."""

_WEBSOCKET_CLIENT = (ClientConnection, ClientProtocol)


def _per_call(thing: object) -> str | None:
    kind = type(thing)
    return kind.__qualname__ if issubclass(kind, PER_CALL) else None


def _class_name(thing: object) -> str:
    return type(thing).__qualname__


def _watch(describe: Callable[[object], str | None]) -> list[tuple[weakref.ref[object], str]]:
    """Weak references to the tracked objects ``describe`` names, with their names."""
    watched = []
    for thing in gc.get_objects():
        name = describe(thing)
        if name is not None:
            with contextlib.suppress(TypeError):  # not every type can be weakly referenced
                watched.append((weakref.ref(thing), name))
    return watched


@contextmanager
def _left_to_the_collector(describe: Callable[[object], str | None]) -> Iterator[list[str]]:
    """Collector off inside; afterwards the list names (sorted, each once) what
    ``describe`` names among the objects a collection then found unreachable or freed.

    Both: an unreachable cycle through a suspended generator or coroutine is broken by
    its finalizer (which closes it) as the collector reaches it, and its objects are
    freed by reference counting then, so ``gc.DEBUG_SAVEALL`` does not list them; a weak
    reference taken before the collection sees them go.
    """
    gc.collect()
    gc.disable()
    leftovers: list[str] = []
    try:
        yield leftovers
    finally:
        try:
            watched = _watch(describe)
            gc.set_debug(gc.DEBUG_SAVEALL)
            gc.collect()
            found = {describe(o) for o in gc.garbage}
            found |= {name for ref, name in watched if ref() is None}
            leftovers.extend(sorted(n for n in found if n is not None))
        finally:
            gc.set_debug(0)
            gc.garbage.clear()
            gc.enable()


@contextmanager
def cycles_left_by_our_code() -> Iterator[list[str]]:
    """Collector off inside; afterwards the list names per-call objects found in cyclic garbage."""
    with _left_to_the_collector(_per_call) as leftovers:
        yield leftovers


class _AsText(logging.Filter):
    """Turn a log record's arguments and exception into text as it is handled (as
    ``logging.handlers.QueueHandler`` does): pytest keeps every record of a test, and
    one that keeps a failure (``exc_info``, or the exception as an argument) keeps it
    reachable, which would hide the cycles it is part of. The gateway keeps no record."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = record.getMessage()
        record.args = None
        if record.exc_info:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
            record.exc_info = None
        return True


@contextmanager
def _records_as_text() -> Iterator[None]:
    as_text = _AsText()
    handlers = list(logging.getLogger().handlers)
    for handler in handlers:
        handler.addFilter(as_text)
    try:
        yield
    finally:
        for handler in handlers:
            handler.removeFilter(as_text)


@contextmanager
def garbage_of_ours() -> Iterator[list[str]]:
    """Collector off inside; afterwards the list names (sorted, each once) every object
    of the gateway's code found in cyclic garbage: instances of its classes (its
    exceptions too), its frames, coroutines and tasks, and WebSocket clients."""
    with _records_as_text(), _left_to_the_collector(_ours) as leftovers:
        yield leftovers


@contextmanager
def garbage_types(*names: str) -> Iterator[list[str]]:
    """Collector off inside; afterwards the list names (sorted, each once) those of the
    types ``names`` (class names) whose objects were found in cyclic garbage, whoever's
    (for tests of a cycle's mechanism). Only those are watched: a weak reference to every
    object of a worker late in the suite (millions) took over 20 s on a busy machine."""
    wanted = frozenset(names)

    def named(thing: object) -> str | None:
        name = _class_name(thing)
        return name if name in wanted else None

    with _left_to_the_collector(named) as leftovers:
        yield leftovers


def _ours(thing: object) -> str | None:
    """What ``thing`` is, if it is the gateway's."""
    kind = type(thing)
    module = kind.__module__
    if not isinstance(module, str) or module == "weakref":
        return None  # a proxy (touching it may raise), or some metaclass's odd object
    if issubclass(kind, asyncio.Task):
        coro = thing.get_coro()  # type: ignore[attr-defined]
        inner = _ours(coro) if coro is not None else None
        return None if inner is None else f"task of {inner}"
    code = None
    if kind is types.FrameType:
        code = thing.f_code  # type: ignore[attr-defined]
    elif kind is types.CoroutineType:
        code = thing.cr_code  # type: ignore[attr-defined]
    elif kind is types.GeneratorType:
        code = thing.gi_code  # type: ignore[attr-defined]
    if code is not None:
        path = Path(code.co_filename)
        if path.is_relative_to(_SOURCE) and not path.is_relative_to(_FAKES):
            return f"{kind.__name__} {code.co_qualname}"
        return None
    if issubclass(kind, _WEBSOCKET_CLIENT):
        return kind.__qualname__
    if module.startswith("sipgw.") and not module.startswith("sipgw.app.evaluation"):
        return f"{module}.{kind.__qualname__}"
    return None
