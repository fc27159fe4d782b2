"""Check that a call's objects are freed by reference counting alone.

Objects in reference cycles wait for the garbage collector; with many calls
ending, its full collections pause the event loop (and every call's audio) for
tens of milliseconds. Tests wrap a call in :func:`cycles_left_by_our_code` and
assert that none of the call's own objects was left to the collector.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

from sipgw.agent.base import Agent
from sipgw.app.calls.callhandle import CallHandle
from sipgw.media.aio.rtp_endpoint import RtpEndpoint
from sipgw.media.session import MediaSession
from sipgw.sip.call import CallInfo
from sipgw.sip.usages.session import CallSession

PER_CALL = (CallHandle, CallInfo, CallSession, MediaSession, RtpEndpoint, Agent)
"""What a gateway creates per call. (Values such as parsed messages or packets
may sit in a test helper's own cycles; those are not the gateway's.)"""


@contextmanager
def cycles_left_by_our_code() -> Iterator[list[str]]:
    """Collector off inside; afterwards the list names per-call objects found in cyclic garbage."""
    gc.collect()
    gc.disable()
    leftovers: list[str] = []
    try:
        yield leftovers
    finally:
        gc.set_debug(gc.DEBUG_SAVEALL)
        try:
            gc.collect()
            found = {type(o).__qualname__ for o in gc.garbage if isinstance(o, PER_CALL)}
            leftovers.extend(sorted(found))
        finally:
            gc.set_debug(0)
            gc.garbage.clear()
            gc.enable()
