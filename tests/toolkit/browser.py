"""A headless Chromium driven over the DevTools protocol (tests of the dashboard).

::

    async with Browser(tmp_workdir) as browser:
        await browser.navigate("http://127.0.0.1:8080/dashboard")
        await browser.wait_for("document.querySelector('.call') !== null", 10)
        title = await browser.evaluate("document.title")
        await browser.screenshot(path)

Chromium (Debian ``chromium``) runs as a :class:`~sipgw.app.evaluation.process.ManagedProcess`
with ``--headless=new --remote-debugging-port=0`` and its own profile directory;
the port it picked is read from the profile's ``DevToolsActivePort`` file and the
driver talks to the first page target over a WebSocket (aiohttp's client). Only
what the tests need: navigate, evaluate JavaScript, wait for a condition, and
capture a PNG screenshot.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import aiohttp

from sipgw.app.evaluation.process import ManagedProcess, PeerError, child_env

__all__ = [
    "Browser", "BrowserError", "chromium_binary", "fake_microphone", "poll_page", "write_file"
]  # fmt: skip

LIFETIME = 300.0
"""Seconds the browser may run at most (timeout(1) ends it after)."""
COMMAND_TIMEOUT = 15.0
"""Seconds one DevTools command may take."""


class BrowserError(PeerError):
    """Chromium did not start, or a page's script failed."""


def fake_microphone(wav: Path) -> tuple[str, ...]:
    """Switches for a call from the page: the microphone plays ``wav`` (looped), its
    permission is granted without a prompt, audio plays without a click, and WebRTC may
    use loopback addresses with no mDNS names (a test's private network has only ``lo``)."""
    return (
        "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-audio-capture={wav}", "--autoplay-policy=no-user-gesture-required",
        "--allow-loopback-in-peer-connection",
        "--disable-features=WebRtcHideLocalIpsWithMdns",
    )  # fmt: skip


def chromium_binary() -> str:
    """The Chromium program's name (Debian's ``chromium``)."""
    return "chromium"


def write_file(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path``, its directory made if need be (a screenshot)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


async def poll_page(
    evaluate: Callable[[str], Awaitable[Any]],
    expression: str,
    within: float,
    failing: type[Exception],
) -> Any:
    """Evaluate ``expression`` every 0.1 s until it is truthy; its value, or None when it
    is still falsy after ``within`` seconds. A ``failing`` error counts as falsy (e.g. the
    page is navigating)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        try:
            value = await evaluate(expression)
        except failing:
            value = None
        if value or loop.time() > deadline:
            return value or None
        await asyncio.sleep(0.1)


class Browser:
    """One headless Chromium with one page, driven over DevTools."""

    def __init__(
        self,
        workdir: Path,
        width: int = 1280,
        height: int = 900,
        extra_args: Sequence[str] = (),
    ) -> None:
        self.workdir = workdir
        self.profile = workdir / "chromium-profile"
        self.width, self.height = width, height
        self.extra_args = tuple(extra_args)
        """More Chromium switches (:func:`fake_microphone` gives a call's)."""
        self.process: ManagedProcess | None = None
        self._http: aiohttp.ClientSession | None = None
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._reader: asyncio.Task[None] | None = None
        self.console: list[str] = []
        """Console messages and uncaught exceptions of the page, in order."""

    async def __aenter__(self) -> Browser:
        await self.start()
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def start(self, within: float = 20.0) -> None:
        """Start Chromium and attach to its page.

        Raises:
            BrowserError: it did not offer its DevTools port within ``within`` seconds.
        """
        self.profile.mkdir(parents=True, exist_ok=True)
        argv = [
            chromium_binary(), "--headless=new", "--no-sandbox", "--disable-gpu",
            "--disable-dev-shm-usage", "--no-first-run", "--no-default-browser-check",
            "--disable-extensions", "--disable-background-networking", "--mute-audio",
            "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0",
            f"--user-data-dir={self.profile}", f"--window-size={self.width},{self.height}",
            *self.extra_args, "about:blank",
        ]  # fmt: skip
        self.process = ManagedProcess(
            "chromium", argv, log_path=self.workdir / "chromium.log", lifetime=LIFETIME,
            env=child_env(),
        )  # fmt: skip
        self.process.start()
        port_file = self.profile / "DevToolsActivePort"
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while not port_file.is_file() or not port_file.read_text().strip():
            if not self.process.alive or loop.time() > deadline:
                raise BrowserError(f"chromium offered no DevTools port\n{self.process.log_tail()}")
            await asyncio.sleep(0.1)
        port = int(port_file.read_text().split()[0])
        self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10.0))
        target = await self._page_target(port, deadline)
        self._ws = await self._http.ws_connect(target, max_msg_size=0)
        self._reader = loop.create_task(self._read())
        await self.send("Page.enable")
        await self.send("Runtime.enable")

    async def _page_target(self, port: int, deadline: float) -> str:
        assert self._http is not None
        loop = asyncio.get_running_loop()
        while True:
            try:
                async with self._http.get(f"http://127.0.0.1:{port}/json/list") as response:
                    targets = await response.json()
                for target in targets:
                    if target.get("type") == "page":
                        return str(target["webSocketDebuggerUrl"])
            except aiohttp.ClientError:
                pass
            if loop.time() > deadline:
                raise BrowserError("chromium has no page target")
            await asyncio.sleep(0.1)

    async def _read(self) -> None:
        assert self._ws is not None
        async for message in self._ws:
            if message.type != aiohttp.WSMsgType.TEXT:
                continue
            data = json.loads(message.data)
            future = self._pending.pop(data.get("id", -1), None)
            if future is not None and not future.done():
                future.set_result(data)
            elif data.get("method") == "Runtime.consoleAPICalled":
                args = data["params"].get("args", [])
                self.console.append(" ".join(str(a.get("value", a.get("type"))) for a in args))
            elif data.get("method") == "Runtime.exceptionThrown":
                details = data["params"]["exceptionDetails"]
                self.console.append(
                    "exception: " + str(details.get("exception", {}).get("description", details))
                )
        for future in self._pending.values():
            if not future.done():
                future.set_exception(BrowserError("DevTools connection closed"))

    async def send(self, method: str, **params: Any) -> dict[str, Any]:
        """Send one DevTools command; its ``result``.

        Raises:
            BrowserError: the command failed or took longer than :data:`COMMAND_TIMEOUT`.
        """
        assert self._ws is not None, "browser not started"
        ident = next(self._ids)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[ident] = future
        await self._ws.send_str(json.dumps({"id": ident, "method": method, "params": params}))
        try:
            async with asyncio.timeout(COMMAND_TIMEOUT):
                reply = await future
        except TimeoutError:
            self._pending.pop(ident, None)
            raise BrowserError(f"{method}: no answer in {COMMAND_TIMEOUT:g} s") from None
        if "error" in reply:
            raise BrowserError(f"{method}: {reply['error']}")
        result: dict[str, Any] = reply.get("result", {})
        return result

    async def navigate(self, url: str, within: float = 15.0) -> None:
        """Load ``url`` and wait until its document is complete."""
        result = await self.send("Page.navigate", url=url)
        if result.get("errorText"):
            raise BrowserError(f"navigate to {url}: {result['errorText']}")
        await self.wait_for(
            "document.readyState === 'complete' && location.href !== 'about:blank'", within
        )

    async def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page (promises awaited).

        Raises:
            BrowserError: the script threw.
        """
        result = await self.send(
            "Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True
        )
        if "exceptionDetails" in result:
            details = result["exceptionDetails"]
            text = details.get("exception", {}).get("description") or details.get("text")
            raise BrowserError(f"script failed: {text}")
        return result.get("result", {}).get("value")

    async def wait_for(self, expression: str, within: float = 10.0) -> Any:
        """Evaluate ``expression`` until it is truthy; its value.

        Raises:
            BrowserError: still falsy after ``within`` seconds.
        """
        value = await poll_page(self.evaluate, expression, within, BrowserError)
        if value is None:
            raise BrowserError(
                f"not true within {within:g} s: {expression}\nconsole: {self.console[-10:]}"
            )
        return value

    async def screenshot(self, path: Path, selector: str = "") -> Path:
        """Save a PNG of the whole page to ``path``, or of the element ``selector`` finds
        (scrolled into view; with a margin of 8 px)."""
        options: dict[str, Any] = {"captureBeyondViewport": True}
        if selector:  # in the viewport as laid out: capturing beyond it would reflow the page
            box = await self.evaluate(
                f"(() => {{ const e = document.querySelector({json.dumps(selector)}); "
                "e.scrollIntoView(); const r = e.getBoundingClientRect(); "
                "return {x: Math.max(0, r.x - 8), y: Math.max(0, r.y - 8), "
                "width: r.width + 16, height: r.height + 16}; })()"
            )
            options = {"clip": {**box, "scale": 1}, "captureBeyondViewport": False}
        result = await self.send("Page.captureScreenshot", format="png", **options)
        data = base64.b64decode(result["data"])
        await asyncio.to_thread(write_file, path, data)
        return path

    async def close(self) -> None:
        """Close the connection and end Chromium."""
        if self._ws is not None:
            await self._ws.close()
        if self._reader is not None:
            self._reader.cancel()
            await asyncio.gather(self._reader, return_exceptions=True)
        if self._http is not None:
            await self._http.close()
        if self.process is not None:
            self.process.kill()
