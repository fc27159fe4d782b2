"""Who holds a claim on shared work, and whether that process still runs.

Callbacks, campaign contacts, the webhook outbox and Twilio's status callbacks are claimed
by the process that works on them, under a lease (docs/operations.md, "Several machines").
A claim names the process that made it so that another process can tell, at once, that it
is gone (a crash, a SIGKILL) and take the work over instead of waiting out the lease. A host
name and a pid do not name a process: containers share a host name and not their pid
numbering (two gateways may both be pid 1), and a pid is reused. So a claim is named
``host:pid:start:boot:pidns:token`` (:meth:`Instance.claim_owner`):

* ``boot`` is the kernel's boot id (``/proc/sys/kernel/random/boot_id``): one per machine
  and boot, shared by the containers of one machine;
* ``pidns`` is the pid namespace (``/proc/self/ns/pid``): whom a pid means;
* ``start`` is the process's start time (field 22 of ``/proc/<pid>/stat``, clock ticks since
  boot): a reused pid has another.

:meth:`Instance.alive` judges a claim dead only when its boot id and pid namespace are this
process's and no process of that pid and start time runs; any other claim, another
machine's, another boot's, another container's, or a name of another form, is left to its
lease. The host name is there for people reading the rows.
"""

from __future__ import annotations

import os
import secrets
import socket
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "UNSEEN",
    "Instance",
    "claim_owner",
    "claimer_alive",
    "process_start",
    "this_instance",
]

PROC = Path("/proc")


UNSEEN = -1
""":func:`process_start` of a process that runs but whose start time cannot be read (another
user's, under ``hidepid``): its claims are left to their lease."""


def process_start(pid: int, proc: Path = PROC) -> int | None:
    """When process ``pid`` started (clock ticks after boot); None if no such process runs
    (or only a zombie's exit status is left); :data:`UNSEEN` if it runs out of our sight."""
    try:
        stat = (proc / str(pid) / "stat").read_text()
    except OSError:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except OSError:  # another user's: it runs
            pass
        return UNSEEN
    # "pid (comm) state ppid ...": comm may hold spaces and parentheses; the fields follow
    # the last ")"; starttime is field 22 of the line, the 20th after comm
    fields = stat.rpartition(")")[2].split()
    if fields[:1] == ["Z"]:
        return None
    if len(fields) < 20 or not fields[19].isdigit():
        return UNSEEN
    return int(fields[19])


def _read(path: Path) -> str:
    try:
        return path.read_text().strip()
    except OSError:
        return ""


def _pid_namespace(proc: Path) -> str:
    try:
        link = os.readlink(proc / "self" / "ns" / "pid")
    except OSError:
        return ""
    return "".join(char for char in link if char.isdigit())  # "pid:[4026531836]"


@dataclass(frozen=True, slots=True)
class Instance:
    """One running process, as claims name it (the module docstring).

    Attributes:
        host: the host name (for people; never decides).
        boot: the kernel's boot id; empty where unknown (no claim is then judged dead).
        pidns: the pid namespace's number; empty where unknown.
        pid: the process id, in ``pidns``.
        start: the process's start time in clock ticks after boot; 0 where unknown.
    """

    host: str
    boot: str
    pidns: str
    pid: int
    start: int

    @classmethod
    def current(cls, proc: Path = PROC) -> Instance:
        """This process, read from ``proc``."""
        pid = os.getpid()
        return cls(
            host=socket.gethostname(),
            boot=_read(proc / "sys" / "kernel" / "random" / "boot_id"),
            pidns=_pid_namespace(proc),
            pid=pid,
            start=process_start(pid, proc) or 0,
        )

    def claim_owner(self) -> str:
        """A new claim name for this process: ``host:pid:start:boot:pidns:token``."""
        token = secrets.token_hex(4)
        return f"{self.host}:{self.pid}:{self.start}:{self.boot}:{self.pidns}:{token}"

    def alive(self, owner: str, start_of: Callable[[int], int | None] = process_start) -> bool:
        """False only when ``owner`` names a process of this machine's boot and this pid
        namespace that is gone (no process of its pid, or one started at another time);
        True for this process, a running one, and any claim whose liveness cannot be seen
        from here: its lease tells."""
        parts = owner.rsplit(":", 5)
        if len(parts) != 6:
            return True  # a name of another form (or an older gateway's host:pid:token)
        _, pid_text, start_text, boot, pidns, _ = parts
        if not (self.boot and self.pidns and pid_text.isdigit() and start_text.isdigit()):
            return True
        if boot != self.boot or pidns != self.pidns:
            return True  # another machine, boot or container: not ours to see
        pid, start = int(pid_text), int(start_text)
        if pid == self.pid and start == self.start:
            return True  # this process
        running = start_of(pid)
        return running is not None and running in (start, UNSEEN)


_current: Instance | None = None


def this_instance() -> Instance:
    """This process (read once per process: a forked worker reads its own)."""
    global _current
    if _current is None or _current.pid != os.getpid():
        _current = Instance.current()
    return _current


def claim_owner() -> str:
    """A new claim name for this process (:meth:`Instance.claim_owner`)."""
    return this_instance().claim_owner()


def claimer_alive(owner: str) -> bool:
    """Whether the process ``owner`` names may still run, as seen from this process
    (:meth:`Instance.alive`): False means it is gone and its claims may be taken at once."""
    return this_instance().alive(owner)
