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
is imported): start-up makes some 80,000 objects that all live (modules, classes, the
settings), and the collections their allocations set off found nothing but took a fifth
of the imports' time (docs/performance.md, "Start-up"). :func:`settle` turns it back on;
a command that does not serve calls :func:`release`.
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
    """Collect what start-up left, move everything it made out of the collector's reach
    (imported modules, SDKs: ~100k objects a full collection would walk each time), and
    collect rarely from now on (the collector back on if :func:`hold` had stopped it)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*THRESHOLDS)
    gc.enable()
