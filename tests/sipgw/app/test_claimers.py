"""Claim names and whether their process still runs (sipgw/app/claimers.py)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

from sipgw.app.claimers import claim_owner, claimer_alive


def gone_pid() -> int:
    """The pid of a process of this host that has ended."""
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    return int(done.stdout)


def test_a_claim_name_says_host_and_process_and_is_new_each_time() -> None:
    first, second = claim_owner(), claim_owner()
    host, pid, token = first.split(":")
    assert host == socket.gethostname() and int(pid) == os.getpid() and len(token) == 8
    assert first != second


def test_only_a_gone_process_of_this_host_is_dead() -> None:
    host = socket.gethostname()
    assert not claimer_alive(f"{host}:{gone_pid()}:abcd1234")
    assert claimer_alive(claim_owner())  # this process
    assert claimer_alive(f"{host}:1:abcd1234")  # running (init), another user's or not
    assert claimer_alive(f"elsewhere.invalid:{gone_pid()}:abcd1234")  # its lease tells
    assert claimer_alive("worker-1")  # a name of another form: its lease tells
