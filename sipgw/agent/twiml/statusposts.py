"""The stream status callbacks posted, one after another, for one call (asyncio adapter).

:class:`StatusPoster` takes the forms :class:`~sipgw.twilio.streamstatus.StreamStatus`
builds and requests them in order (one worker: an app reads ``stream-started`` before
``stream-stopped``), signed as every request of the account (:func:`~sipgw.agent.twiml.
webhook.fetch`), each within the webhook's time limit. A callback that fails is logged and
dropped: the call never waits on it (as on Twilio, a status callback does not steer the
call). At the call's end what is queued is posted within one time limit, then dropped.
``<Gather partialResultCallback>``'s forms go the same way (:class:`Callback`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from typing import Final, Protocol

import aiohttp

from sipgw.agent.twiml.program import absolute_url
from sipgw.agent.twiml.webhook import FetchFailed, TwilioIdentity, fetch

__all__ = ["MAX_QUEUED", "Callback", "CallbackTarget", "StatusPoster", "callback_url"]

log = logging.getLogger("sipgw.agent")

MAX_QUEUED: Final = 64
"""Most callbacks waiting per call (past it, one is dropped and logged)."""
_MAX_ANSWER: Final = 65536


class CallbackTarget(Protocol):
    """Where a callback goes (a :class:`StreamStatus`, a :class:`Callback`)."""

    @property
    def url(self) -> str: ...

    @property
    def method(self) -> str: ...


def callback_url(base: str, url: str, log_id: str, what: str) -> str | None:
    """A callback's ``url`` resolved against ``base`` (the document's URL); None when it is
    no http(s) URL then, logged as ``[log_id] what: why`` (``<Gather
    partialResultCallback>``): the callback is not posted, the call goes on."""
    try:
        return absolute_url(base, url)
    except ValueError as exc:
        log.warning("[%s] %s: %s", log_id, what, exc)
        return None


@dataclass(frozen=True, slots=True)
class Callback:
    """Any other callback's URL (absolute) and method."""

    url: str
    method: str = "POST"


class StatusPoster:
    """Posts one call's stream status callbacks in order (see the module docstring)."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        identity: TwilioIdentity,
        timeout: float,
        log_id: str,
    ) -> None:
        self.session = session
        self.identity = identity
        self.timeout = timeout
        self.log_id = log_id
        self._queue: asyncio.Queue[tuple[CallbackTarget, dict[str, str]] | None] = asyncio.Queue()
        self._worker: asyncio.Task[None] | None = None
        self.posted = 0
        self.failed = 0

    def post(self, status: CallbackTarget, form: dict[str, str] | None) -> None:
        """Queue ``form`` for ``status``'s URL (None: nothing is due); never waits."""
        if form is None:
            return
        if self._queue.qsize() >= MAX_QUEUED:
            log.warning("[%s] <Stream statusCallback> %s dropped: %d waiting", self.log_id,
                        _what(form), MAX_QUEUED)  # fmt: skip
            return
        self._queue.put_nowait((status, form))
        if self._worker is None:
            self._worker = asyncio.get_running_loop().create_task(self._work())

    async def _work(self) -> None:
        while (item := await self._queue.get()) is not None:
            status, form = item
            try:
                await fetch(
                    self.session, status.url, method=status.method, params=form,
                    identity=self.identity, timeout=self.timeout, max_bytes=_MAX_ANSWER,
                )  # fmt: skip
                self.posted += 1
            except FetchFailed as exc:
                self.failed += 1
                log.warning("[%s] <Stream statusCallback> %s failed: %s", self.log_id,
                            _what(form), exc)  # fmt: skip

    async def close(self) -> None:
        """Post what is queued (within one time limit), then stop."""
        worker = self._worker
        if worker is None:
            return
        self._queue.put_nowait(None)
        with contextlib.suppress(Exception):
            async with asyncio.timeout(self.timeout):
                await asyncio.shield(worker)
        worker.cancel()
        with contextlib.suppress(BaseException):
            await worker


def _what(form: dict[str, str]) -> str:
    """How a log line names the callback."""
    if form.get("CallbackSource") == "call-progress-events":  # a <Dial> leg's progress
        return f"leg {form.get('CallSid', '')} {form.get('CallStatus', '')}"
    return (form.get("StreamEvent") or form.get("StatusCallbackEvent")
            or form.get("RecordingStatus") or "partialResultCallback")  # fmt: skip
