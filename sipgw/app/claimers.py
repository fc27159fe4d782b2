"""Who holds a claim on shared work, and whether that process still runs.

Callbacks, campaign contacts, the webhook outbox and Twilio's status callbacks are claimed
by the process that works on them, under a lease (docs/operations.md, "Several machines").
A claim is named ``host:pid:token`` (:func:`claim_owner`), so that a process can tell a
claim left by a process of its own host that is gone (a crash, a SIGKILL) and take the
work over at once, instead of waiting out the lease; a claim made on another host is only
known dead by its lease running out.
"""

from __future__ import annotations

import os
import secrets
import socket

__all__ = ["claim_owner", "claimer_alive"]


def claim_owner() -> str:
    """A new claim name for this process: ``host:pid:token``."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


def claimer_alive(owner: str) -> bool:
    """False only when ``owner`` names a process of this host that is gone; True for this
    process, a running one, another host's, or a name of another form (its lease tells)."""
    host, _, rest = owner.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit():
        return True
    pid = int(pid_text)
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: it runs
        pass
    return True
