"""Blocking work as a coroutine (sipgw.agent.blocking.in_thread): the method runs whole in
another thread, its value and its errors come back, and the loop runs on meanwhile."""

from __future__ import annotations

import asyncio
import threading

import pytest

from sipgw.agent.blocking import in_thread


class File:
    def __init__(self) -> None:
        self.threads: list[int] = []
        self.release = threading.Event()

    @in_thread
    def read(self, name: str, *, times: int = 1) -> str:
        """Read ``name``."""
        self.threads.append(threading.get_ident())
        return name * times

    @in_thread
    def stuck(self) -> None:
        assert self.release.wait(10)

    @in_thread
    def broken(self) -> None:
        raise OSError("disk gone")


async def test_the_method_runs_in_another_thread_and_its_value_comes_back() -> None:
    file = File()
    assert await file.read("ab", times=2) == "abab"
    assert file.threads and file.threads[0] != threading.get_ident()
    assert File.read.__name__ == "read" and File.read.__doc__ == "Read ``name``."


async def test_its_error_comes_back() -> None:
    with pytest.raises(OSError, match="disk gone"):
        await File().broken()


async def test_the_loop_runs_while_the_method_blocks() -> None:
    file = File()
    stuck = asyncio.get_running_loop().create_task(file.stuck())
    for _ in range(3):  # the loop turns while the method waits in its thread
        await asyncio.sleep(0)
    assert not stuck.done()
    file.release.set()
    await asyncio.wait_for(stuck, 10)
