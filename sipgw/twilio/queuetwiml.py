"""``<Enqueue>`` and ``<Leave>`` read into verbs, sans-IO (Twilio's "TwiML Voice: <Enqueue>",
"<Leave>" and "<Queue>" pages).

``<Enqueue>`` takes the queue's name as its text (at most :data:`MAX_QUEUE_NAME` characters)
and ``action``, ``method``, ``waitUrl``, ``waitUrlMethod``, ``workflowSid`` and sipgw's
reading of Twilio's queue size, ``maxQueueSize`` (on Twilio it is a property of the queue
set through the REST API; sipgw has no REST queue resource, so the document carries it;
default :data:`DEFAULT_MAX_QUEUE_SIZE`, the size of a new queue on Twilio).
``<Leave>`` takes nothing. Every failure is a ``ValueError`` whose message says why (the
document reader turns it into its own error).

:data:`WAIT_VERBS` and :data:`ANNOUNCE_VERBS` are the verbs Twilio allows in a ``waitUrl``'s
and a ``<Queue url>``'s TwiML.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from sipgw.twilio.attributes import post_or_get

__all__ = [
    "ANNOUNCE_VERBS",
    "DEFAULT_MAX_QUEUE_SIZE",
    "MAX_QUEUE_NAME",
    "WAIT_VERBS",
    "WORKFLOW_REFUSED",
    "Enqueue",
    "Leave",
    "read_enqueue",
]

MAX_QUEUE_NAME: Final = 64
"""Longest queue name (Twilio's limit)."""
DEFAULT_MAX_QUEUE_SIZE: Final = 1000
"""Callers a queue holds at most when ``maxQueueSize`` is not given (a new Twilio queue's:
"The default maximum length of the queue is 1000", Twilio's ``<Enqueue>`` page)."""
MAX_QUEUE_SIZE: Final = 5000
"""Highest ``maxQueueSize`` (Twilio's own ceiling)."""
WAIT_VERBS: Final = frozenset({"Play", "Say", "Pause", "Hangup", "Redirect", "Leave", "Gather"})
"""Verbs a ``waitUrl`` document may hold (Twilio's list)."""
ANNOUNCE_VERBS: Final = frozenset({"Play", "Say", "Pause", "Redirect"})
"""Verbs a ``<Queue url>`` document may hold (Twilio's list)."""
WORKFLOW_REFUSED: Final = "no TaskRouter: a queue's callers are taken by <Dial><Queue> only"
"""Why an ``<Enqueue workflowSid>`` is refused (the whole verb: the caller is not enqueued)."""


@dataclass(frozen=True, slots=True)
class Enqueue:
    """``<Enqueue>``: the caller waits in queue ``name``, hearing ``wait_url``'s TwiML in a
    loop, until another call's ``<Dial><Queue>`` takes them, a ``<Leave>``, or the hang-up;
    ``action`` then gets ``QueueResult`` (except when bridged: once the bridge is over)."""

    name: str
    action: str = ""
    method: str = "POST"
    wait_url: str = ""
    """"" : the caller hears ring tone (Twilio's default classical playlist is not fetched)."""
    wait_url_method: str = "POST"
    max_queue_size: int = DEFAULT_MAX_QUEUE_SIZE
    workflow_sid: str = ""
    """TaskRouter's workflow (refused: no TaskRouter)."""


@dataclass(frozen=True, slots=True)
class Leave:
    """``<Leave>`` (in a ``waitUrl`` document): the caller leaves the queue; the TwiML goes on
    after the ``<Enqueue>`` (or with its ``action``, ``QueueResult=leave``)."""


def read_enqueue(attrs: Mapping[str, str], text: str) -> Enqueue:
    """The ``<Enqueue attrs>text</Enqueue>`` verb.

    Raises:
        ValueError: no queue name, or one too long; a bad method or ``maxQueueSize``.
    """
    name = text.strip()
    if not name:
        raise ValueError("<Enqueue> without a queue name")
    if len(name) > MAX_QUEUE_NAME:
        raise ValueError(f"<Enqueue>: a queue name of {len(name)} characters (at most 64)")
    raw = attrs.get("maxQueueSize", "").strip()
    size = DEFAULT_MAX_QUEUE_SIZE
    if raw:
        if not raw.isdigit() or not 1 <= int(raw) <= MAX_QUEUE_SIZE:
            raise ValueError(f"<Enqueue maxQueueSize={raw[:20]!r}>: 1 to {MAX_QUEUE_SIZE}")
        size = int(raw)
    return Enqueue(
        name=name,
        action=attrs.get("action", "").strip(),
        method=post_or_get(attrs, "method", "Enqueue"),
        wait_url=attrs.get("waitUrl", "").strip(),
        wait_url_method=post_or_get(attrs, "waitUrlMethod", "Enqueue"),
        max_queue_size=size,
        workflow_sid=attrs.get("workflowSid", "").strip(),
    )
