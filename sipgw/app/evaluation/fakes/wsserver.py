"""A fake service's WebSocket server: its life on a loop or a thread, and waiting on its records.

:class:`WebSocketServerFake` runs a real ``websockets`` server on 127.0.0.1, port
0, either on the test's own loop (``async with fake`` / :meth:`~WebSocketServerFake.start`)
or in a daemon thread with a loop of its own (:meth:`~WebSocketServerFake.start_in_thread`,
for a gateway in a subprocess). What a fake records is changed through
:meth:`~WebSocketServerFake._update`, under one lock, which wakes every
:meth:`~WebSocketServerFake.wait_for` (from any loop) and
:meth:`~WebSocketServerFake.wait_for_blocking` (from any thread). A subclass
answers the upgrade (``_process_request``) and serves each connection (``_handle``).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any, Self

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.http11 import Request, Response

__all__ = ["WebSocketServerFake"]


class WebSocketServerFake:
    """The server half every WebSocket fake shares; see the module docstring."""

    max_message: int | None = 1024 * 1024
    """The largest message the server accepts (None: any)."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._cond = threading.Condition(self._lock)
        self._waiters: set[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = set()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._server: Server | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: int | None = None
        self._port = 0
        self._thread: threading.Thread | None = None
        self._stop_event: asyncio.Event | None = None
        self._thread_error: BaseException | None = None

    # ----------------------------------------------------------------- for subclasses

    def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        """An HTTP answer refusing the upgrade, or None to accept it."""
        return None

    async def _handle(self, ws: ServerConnection) -> None:
        """Serve one accepted connection until it closes."""
        raise NotImplementedError

    # ----------------------------------------------------------------- lifecycle

    async def start(self) -> Self:
        """Listen on 127.0.0.1, port 0, on the running loop."""
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        self._server = await serve(
            self._handle,
            "127.0.0.1",
            0,
            process_request=self._process_request,
            compression=None,
            ping_interval=None,
            close_timeout=1.0,
            max_size=self.max_message,
        )
        self._port = self._server.sockets[0].getsockname()[1]
        return self

    async def aclose(self) -> None:
        """Close every connection (1001) and stop listening."""
        server, self._server = self._server, None
        if server is not None:
            server.close()
            await server.wait_closed()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.wait(self._tasks)

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    def start_in_thread(self, timeout: float = 5.0) -> Self:
        """Run the server in a daemon thread with its own loop; return ``self``."""
        ready = threading.Event()
        self._thread = threading.Thread(
            target=lambda: asyncio.run(self._thread_main(ready)),
            name=f"fake-{type(self).__name__}",
            daemon=True,
        )
        self._thread.start()
        if not ready.wait(timeout):
            raise TimeoutError(f"{type(self).__name__} did not start")
        if self._thread_error is not None:
            raise self._thread_error
        return self

    async def _thread_main(self, ready: threading.Event) -> None:
        try:
            await self.start()
            self._stop_event = asyncio.Event()
        except BaseException as exc:
            self._thread_error = exc
            raise
        finally:
            ready.set()
        try:
            await self._stop_event.wait()
        finally:
            await self.aclose()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop a server started with :meth:`start_in_thread` (blocking)."""
        thread, loop, stop_event = self._thread, self._loop, self._stop_event
        if thread is None or loop is None or stop_event is None:
            return
        loop.call_soon_threadsafe(stop_event.set)
        thread.join(timeout)
        self._thread = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # ----------------------------------------------------------------- waiting (thread-safe)

    async def wait_for(
        self,
        predicate: Callable[[], bool],
        timeout: float = 5.0,  # noqa: ASYNC109 - an explicit budget reads better in tests
    ) -> None:
        """Wait, from any loop, until ``predicate()`` holds; re-checked on every change.

        Raises:
            TimeoutError: It did not hold within ``timeout`` seconds.
        """
        event = asyncio.Event()
        waiter = (asyncio.get_running_loop(), event)
        with self._lock:
            self._waiters.add(waiter)
        try:
            async with asyncio.timeout(timeout):
                while True:
                    event.clear()
                    if predicate():
                        return
                    await event.wait()
        except TimeoutError:
            raise TimeoutError(f"condition not met within {timeout} s") from None
        finally:
            with self._lock:
                self._waiters.discard(waiter)

    def wait_for_blocking(self, predicate: Callable[[], bool], timeout: float = 5.0) -> None:
        """Like :meth:`wait_for`, for synchronous code in another thread."""
        with self._cond:
            if not self._cond.wait_for(predicate, timeout):
                raise TimeoutError(f"condition not met within {timeout} s")

    # ----------------------------------------------------------------- internals

    def _update(self, change: Callable[[], object] = lambda: None) -> None:
        """Apply ``change`` to the records under the lock and wake every waiter."""
        with self._lock:
            change()
            for loop, event in list(self._waiters):
                if loop is asyncio.get_running_loop():
                    event.set()
                else:
                    loop.call_soon_threadsafe(event.set)
            self._cond.notify_all()

    def _in_loop(self, action: Callable[[], None]) -> None:
        """Run ``action`` on the server's loop (at once when called from it)."""
        if self._loop is None:
            raise RuntimeError("the fake is not running")
        if threading.get_ident() == self._loop_thread:
            action()
        else:
            self._loop.call_soon_threadsafe(action)

    def _spawn(self, coro: Any) -> asyncio.Task[Any]:
        """A task on the server's loop, cancelled at :meth:`aclose`."""
        assert self._loop is not None
        task = self._loop.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task
