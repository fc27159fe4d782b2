"""A headless Firefox driven over Marionette, its own remote protocol (tests of the call page).

::

    async with Firefox(tmp_workdir, prefs=FAKE_MEDIA_PREFS) as firefox:
        await firefox.navigate("http://127.0.0.1:8080/dashboard/phone")
        await firefox.wait_for("window.sipgwPhone.state === 'connected'", 20)

Firefox (Debian ``firefox-esr``) runs as a :class:`~sipgw.app.evaluation.process.ManagedProcess`
with ``--headless --marionette`` and a profile of its own whose ``user.js`` sets
``marionette.port`` to 0: Firefox picks a free port and writes it to the profile's
``MarionetteActivePort``. Debian has no geckodriver, so this speaks Marionette directly
(Firefox's remote protocol, the one geckodriver translates WebDriver to): each message is
``LENGTH:JSON`` on a TCP socket; the server greets with ``{"marionetteProtocol": 3, ...}``;
a command is ``[0, id, "WebDriver:Name", params]``, its answer ``[1, id, error, result]``.
Scripts run as WebDriver's "Execute Script" does: a function body in the page, a promise it
returns awaited. The same face as :class:`~tests.toolkit.browser.Browser` where the tests need
it: navigate, evaluate, wait for a condition, screenshot.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

from sipgw.app.evaluation.process import ManagedProcess, PeerError, child_env
from tests.toolkit.browser import poll_page, write_file

__all__ = ["FAKE_MEDIA_PREFS", "Firefox", "FirefoxError", "firefox_binary"]

LIFETIME = 300.0
"""Seconds Firefox may run at most (timeout(1) ends it after)."""
COMMAND_TIMEOUT = 15.0
"""Seconds one Marionette command may take."""

QUIET_PREFS: dict[str, object] = {
    "marionette.port": 0,
    "browser.shell.checkDefaultBrowser": False,
    "browser.startup.homepage_override.mstone": "ignore",
    "datareporting.policy.dataSubmissionEnabled": False,
    "toolkit.telemetry.reportingpolicy.firstRun": False,
    "app.update.disabledForTesting": True,
    "network.captive-portal-service.enabled": False,
    "network.connectivity-service.enabled": False,
    "browser.safebrowsing.malware.enabled": False,
    "browser.safebrowsing.phishing.enabled": False,
    "extensions.update.enabled": False,
    "services.settings.server": "http://127.0.0.1:9/",
}
"""A profile that talks to nobody but the test (no updates, telemetry, remote settings)."""

FAKE_MEDIA_PREFS: dict[str, object] = {
    "media.navigator.streams.fake": True,
    "media.navigator.permission.disabled": True,
    "media.autoplay.default": 0,
    "media.autoplay.block-webaudio": False,
    "media.peerconnection.ice.loopback": True,
    "media.peerconnection.ice.obfuscate_host_addresses": False,
    "network.manage-offline-status": False,
    "media.cubeb.force_mock_context": True,
}
"""A call from the page: Firefox's fake microphone (a steady 1 kHz tone), no permission
prompt, audio that plays without a click, an audio output that runs without a sound card (a
mock one: else WebAudio stays ``suspended`` headless), ICE with no mDNS names, on loopback
addresses too, and the network taken as online (a test's private namespace has no uplink;
:func:`~tests.toolkit.netns.webrtc_interface` gives Firefox an interface)."""


class FirefoxError(PeerError):
    """Firefox did not start, or a command or a page's script failed."""


def firefox_binary() -> str:
    """The Firefox program's name (Debian's ``firefox-esr``)."""
    return "firefox-esr"


def _user_js(prefs: Mapping[str, object]) -> str:
    return "".join(f"user_pref({json.dumps(k)}, {json.dumps(v)});\n" for k, v in prefs.items())


class Firefox:
    """One headless Firefox with one page, driven over Marionette."""

    def __init__(
        self, workdir: Path, prefs: Mapping[str, object] = FAKE_MEDIA_PREFS, width: int = 1280,
        height: int = 900,
    ) -> None:  # fmt: skip
        self.workdir = workdir
        self.profile = workdir / "firefox-profile"
        self.prefs = {**QUIET_PREFS, **prefs}
        self.env: dict[str, str] = {}
        """More environment for Firefox (``MOZ_LOG`` to debug it)."""
        self.width, self.height = width, height
        self.process: ManagedProcess | None = None
        self.protocol: dict[str, Any] = {}
        """The server's greeting (``marionetteProtocol``, ``applicationType``)."""
        self.capabilities: dict[str, Any] = {}
        """The session's capabilities (``browserVersion``...)."""
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._ids = itertools.count(1)
        self._lock = asyncio.Lock()

    async def __aenter__(self) -> Firefox:
        await self.start()
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def start(self, within: float = 40.0) -> None:
        """Start Firefox and open a Marionette session.

        Raises:
            FirefoxError: it offered no Marionette port within ``within`` seconds.
        """
        self.profile.mkdir(parents=True, exist_ok=True)
        (self.profile / "user.js").write_text(_user_js(self.prefs))
        port_file = self.profile / "MarionetteActivePort"
        port_file.unlink(missing_ok=True)
        argv = [
            firefox_binary(), "--headless", "--marionette", "--no-remote",
            "--profile", str(self.profile), "--width", str(self.width),
            "--height", str(self.height), "about:blank",
        ]  # fmt: skip
        env = child_env({"HOME": str(self.workdir), "MOZ_CRASHREPORTER_DISABLE": "1", **self.env})
        self.process = ManagedProcess(
            "firefox", argv, log_path=self.workdir / "firefox.log", lifetime=LIFETIME, env=env
        )
        self.process.start()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while not port_file.is_file() or not port_file.read_text().strip():
            if not self.process.alive or loop.time() > deadline:
                raise FirefoxError(f"firefox offered no Marionette port\n{self.process.log_tail()}")
            await asyncio.sleep(0.1)
        port = int(port_file.read_text().strip())
        self._reader, self._writer = await asyncio.open_connection("127.0.0.1", port)
        self.protocol = json.loads(await self._receive())
        if self.protocol.get("marionetteProtocol") != 3:
            raise FirefoxError(f"not Marionette protocol 3: {self.protocol}")
        session = await self.send("WebDriver:NewSession", capabilities={})
        self.capabilities = dict(session.get("capabilities", {}))

    async def _receive(self) -> bytes:
        assert self._reader is not None
        length = await self._reader.readuntil(b":")
        return await self._reader.readexactly(int(length[:-1]))

    async def send(self, command: str, **params: Any) -> Any:
        """Send one Marionette command; its result (``value`` unwrapped when that is all).

        Raises:
            FirefoxError: the command failed or took longer than :data:`COMMAND_TIMEOUT`.
        """
        assert self._writer is not None, "firefox not started"
        async with self._lock:  # one command at a time: answers come in order
            ident = next(self._ids)
            data = json.dumps([0, ident, command, params]).encode()
            self._writer.write(str(len(data)).encode() + b":" + data)
            try:
                while True:
                    async with asyncio.timeout(COMMAND_TIMEOUT):
                        answer = await self._receive()
                    kind, answered, error, result = json.loads(answer)
                    if kind == 1 and answered == ident:
                        break
            except TimeoutError:
                raise FirefoxError(f"{command}: no answer in {COMMAND_TIMEOUT:g} s") from None
        if error:
            message = error.get("message", "") if isinstance(error, dict) else error
            raise FirefoxError(f"{command}: {error.get('error', '')}: {message}")
        if isinstance(result, dict) and set(result) == {"value"}:
            return result["value"]
        return result

    async def navigate(self, url: str, within: float = 15.0) -> None:
        """Load ``url`` and wait until its document is complete."""
        await self.send("WebDriver:Navigate", url=url)
        await self.wait_for(
            "document.readyState === 'complete' && location.href !== 'about:blank'", within
        )

    async def evaluate(self, expression: str) -> Any:
        """The value of JavaScript in the page: an expression, or statements (the last one's
        value); a promise awaited.

        Raises:
            FirefoxError: the script threw.
        """
        # eval: its value is the last statement's, as DevTools' Runtime.evaluate gives
        return await self.send("WebDriver:ExecuteScript", script="return eval(arguments[0]);",
                               args=[expression])  # fmt: skip

    async def wait_for(self, expression: str, within: float = 10.0) -> Any:
        """Evaluate ``expression`` until it is truthy; its value.

        Raises:
            FirefoxError: still falsy after ``within`` seconds.
        """
        value = await poll_page(self.evaluate, expression, within, FirefoxError)
        if value is None:
            raise FirefoxError(f"not true within {within:g} s: {expression}")
        return value

    async def screenshot(self, path: Path) -> Path:
        """Save a PNG of the page's viewport to ``path``."""
        data = base64.b64decode(await self.send("WebDriver:TakeScreenshot", full=True))
        await asyncio.to_thread(write_file, path, data)
        return path

    async def close(self) -> None:
        """End the session and Firefox."""
        if self._writer is not None:
            try:
                async with asyncio.timeout(5):
                    await self.send("WebDriver:DeleteSession")
            except (FirefoxError, OSError, TimeoutError):
                pass
            self._writer.close()
            self._writer = None
        if self.process is not None:
            self.process.kill()
