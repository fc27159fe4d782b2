"""Python's cyclic garbage collector, set for a gateway that runs for months.

A call's objects are freed by reference counting the moment it ends (no call leaves a
cycle behind, nor does a vendor's failure: ``tests/refcycles.py`` checks every per-call
class, and every object of the gateway's code on the failure paths), so the collector has
next to nothing to find. Left at its defaults it still walks every young object each
700 allocations and, now and then, all objects the calls hold: with hundreds of calls
up, a full collection took tens of milliseconds on the event loop, which the 20 ms
ticker feels (docs/performance.md, "The native media path": one held assistant step
went from a worst wake-up of 95 ms to 10 ms). :func:`settle` is called once the gateway
has started.

While it starts the collector is off (:func:`hold`, from ``python -m sipgw`` before anything
is imported): start-up makes 100,000 objects (an echo gateway; 200,000 with the assistant's
SDKs) that nearly all live (modules, classes, the settings), and the collections their
allocations set off found next to nothing but took a fifth of the imports' time
(docs/performance.md, "Start-up"). :func:`settle` freezes them without a collection first:
one walked all of them to find 1,400 objects (2,700 with the assistant: the command line's
parser, import-time cycles; 0.25-0.55 MB), 40-140 ms before the gateway could say it was
ready; those few stay, once, for the process's life. A command that does not serve calls
gets the collector back with :func:`release`.
"""

from __future__ import annotations

import gc

__all__ = ["THRESHOLDS", "hold", "release", "settle"]

THRESHOLDS = (50_000, 20, 100)
"""``gc.set_threshold``: a young collection every 50,000 net allocations (not 700), and
the older generations correspondingly rarer."""


def hold() -> None:
    """No collections until :func:`settle` or :func:`release` (start-up's objects all live)."""
    gc.disable()


def release() -> None:
    """The collector back on, at Python's own thresholds (a command that serves no calls)."""
    gc.enable()


def settle() -> None:
    """Move everything start-up made out of the collector's reach (imported modules, SDKs:
    100-200k objects a full collection would walk each time; the little garbage among
    them too, see above), and collect rarely from now on (the collector back on if
    :func:`hold` had stopped it)."""
    gc.freeze()
    gc.set_threshold(*THRESHOLDS)
    gc.enable()
