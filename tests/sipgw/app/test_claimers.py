"""Claim names and whether their process still runs (sipgw/app/claimers.py)."""

from __future__ import annotations

import dataclasses
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from sipgw.app.claimers import (
    UNSEEN,
    Instance,
    claim_owner,
    claimer_alive,
    process_start,
    this_instance,
)
from sipgw.app.webhooks.outbox import NewEvent, Outbox

BOOT = "4797abd8-0666-4b9a-aa4a-4229df595a0a"


def gone_pid() -> int:
    """The pid of a process of this host that has ended."""
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    return int(done.stdout)


def gone_owner() -> str:
    """A claim name of a process of this machine's boot and pid namespace that has ended."""
    here = this_instance()
    return dataclasses.replace(here, pid=gone_pid()).claim_owner()


def test_a_claim_name_says_host_process_start_boot_and_namespace_and_is_new_each_time() -> None:
    first, second = claim_owner(), claim_owner()
    host, pid, start, boot, pidns, token = first.split(":")
    here = this_instance()
    assert host == socket.gethostname() and int(pid) == os.getpid() and len(token) == 8
    assert int(start) == process_start(os.getpid()) == here.start > 0
    assert boot == Path("/proc/sys/kernel/random/boot_id").read_text().strip() == here.boot
    assert pidns == here.pidns and pidns.isdigit()
    assert first != second


def test_only_a_gone_process_of_this_boot_and_namespace_is_dead() -> None:
    here = this_instance()
    assert not claimer_alive(gone_owner())
    assert claimer_alive(claim_owner())  # this process
    with subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"]) as child:
        try:
            running = dataclasses.replace(here, pid=child.pid, start=process_start(child.pid) or 0)
            assert claimer_alive(running.claim_owner())
            reused = dataclasses.replace(running, start=running.start - 1)  # an older process
            assert not claimer_alive(reused.claim_owner())  # of that pid: gone, pid reused
        finally:
            child.kill()
    # dead, but not seen from here: their leases tell
    assert claimer_alive(
        dataclasses.replace(here, pid=gone_pid(), boot="another-boot").claim_owner()
    )
    assert claimer_alive(dataclasses.replace(here, pid=gone_pid(), pidns="1").claim_owner())
    assert claimer_alive(f"{here.host}:{gone_pid()}:abcd1234")  # an older gateway's form
    assert claimer_alive("worker-1")  # a name of another form


def test_two_gateways_of_one_host_name_and_pid_do_not_mistake_each_other() -> None:
    """Two containers of one machine: the same host name, both pid 1, one kernel (one boot
    id) but a pid namespace each. Each sees a pid 1 running, its own: neither may take the
    other's claims before their leases end."""
    starts = {1: 700}  # pid 1 as each container sees it: its own init, started at tick 700
    first = Instance(host="gw", boot=BOOT, pidns="4026532001", pid=1, start=700)
    second = Instance(host="gw", boot=BOOT, pidns="4026532002", pid=1, start=650)
    assert first.alive(second.claim_owner(), starts.get)
    assert second.alive(first.claim_owner(), starts.get)
    # even with the very same start time, another namespace is not ours to judge
    twin = dataclasses.replace(second, start=700)
    assert first.alive(twin.claim_owner(), lambda pid: None)
    # two machines of one host name (two boots): the lease tells
    elsewhere = dataclasses.replace(first, boot="0d1f0a6e-0000-4000-8000-000000000000")
    assert first.alive(elsewhere.claim_owner(), lambda pid: None)
    # within one namespace, the host name is not what decides
    renamed = dataclasses.replace(first, host="other-name", pid=42, start=9)
    assert not first.alive(renamed.claim_owner(), starts.get)
    # a process that runs out of our sight (another user's under hidepid) is left alone
    assert first.alive(renamed.claim_owner(), lambda pid: UNSEEN)


def test_an_unknown_identity_judges_no_claim_dead() -> None:
    blind = Instance(host="gw", boot="", pidns="", pid=5, start=0)
    assert blind.alive(dataclasses.replace(blind, pid=6).claim_owner(), lambda pid: None)


@pytest.mark.parametrize(
    ("line", "start"),
    [
        ("77 (sipgw) S 1 77 77 0 -1 4194560 " + "0 " * 12 + "150554 1 2", 150554),
        ("77 (a (b) c) R 1 77 77 0 -1 4194560 " + "0 " * 12 + "99 1 2", 99),
        ("77 (sipgw) Z 1 77 77 0 -1 4194560 " + "0 " * 12 + "150554 1 2", None),
        ("77 (sipgw) S 1", UNSEEN),
    ],
)
def test_the_start_time_is_field_22_whatever_the_command_name(
    tmp_path: Path, line: str, start: int | None
) -> None:
    (tmp_path / "77").mkdir()
    (tmp_path / "77" / "stat").write_text(line + "\n")
    assert process_start(77, tmp_path) == start


def test_the_identity_is_read_from_proc(tmp_path: Path) -> None:
    pid = os.getpid()
    (tmp_path / "sys" / "kernel" / "random").mkdir(parents=True)
    (tmp_path / "sys" / "kernel" / "random" / "boot_id").write_text(BOOT + "\n")
    (tmp_path / "self" / "ns").mkdir(parents=True)
    os.symlink("pid:[4026532001]", tmp_path / "self" / "ns" / "pid")
    (tmp_path / str(pid)).mkdir()
    (tmp_path / str(pid) / "stat").write_text(f"{pid} (python) R 1 " + "0 " * 17 + "4242 1\n")
    assert Instance.current(tmp_path) == Instance(
        socket.gethostname(), BOOT, "4026532001", pid, 4242
    )


def _event(call: str) -> NewEvent:
    return NewEvent(f"msg_{call}", "http://crm/hook", "", call, "call.answered", b"{}")


async def test_claims_in_a_store_left_to_the_lease_or_taken_at_once(tmp_path: Path) -> None:
    """The webhook outbox, as each claiming store does: a claim of another boot, or of another
    container with this host name and pid, waits for its lease; a gone process of this boot
    and namespace is taken over at once."""
    here = this_instance()
    path = tmp_path / "outbox.sqlite3"
    claimers = {
        "boot": dataclasses.replace(here, boot="another-boot").claim_owner(),
        "container": dataclasses.replace(here, pidns="4026532999").claim_owner(),
        "dead": gone_owner(),
    }
    for call, owner in claimers.items():
        box = Outbox(path, owner)
        await box.add([_event(call)], now=100.0)
        assert len(await box.claim_due(100.0, lease=60, limit=10)) == 1
    ours = Outbox(path, claim_owner())
    taken = await ours.claim_due(101.0, lease=60, limit=10)
    assert [e.call for e in taken] == ["dead"]  # at once
    await ours.delivered(taken[0].id)
    assert await ours.next_due(101.0) == 160.0  # the others when their leases end
    assert await ours.claim_due(159.0, lease=60, limit=10) == []
    taken = await ours.claim_due(160.0, lease=60, limit=10)
    assert sorted(e.call for e in taken) == ["boot", "container"]
