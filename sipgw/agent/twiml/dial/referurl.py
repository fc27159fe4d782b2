"""``<Dial referUrl>``: a SIP REFER from the bridged called party, handed to the app.

Written from Twilio's "Inbound SIP REFER to Twilio" page
(https://www.twilio.com/docs/voice/api/refer-to-twilio) and the ``referUrl`` and
``referMethod`` attributes of its ``<Dial>`` page. The called party of a bridged
``<Dial>`` (an agent's phone or PBX pressing "transfer") sends a REFER; the gateway has
already judged its ``Refer-To`` by the dial allow-list (``sipgw.app.calls.referral``: one
it refuses is declined with 403). Then, for one ``<Dial>``:

- without ``referUrl`` the REFER is declined (603): Twilio's error 13802 ("a REFER was
  received on a ``<Dial>`` call without a referUrl attribute present"), after which the two
  stay connected, as Twilio's table says;
- with it the REFER is accepted (202, then NOTIFY ``100 Trying``) and ``referUrl`` is
  fetched (``referMethod``, signed as every webhook) with the call's parameters and
  ``ReferTransferTarget``, the ``Refer-To`` header as received (an app reads the
  target and any headers embedded in the URI from it). Once fetched, the final NOTIFY
  (``200 OK``) goes to the called party, the called party is hung up, and the document
  fetched runs for the caller in place of the rest (the ``<Dial>``'s ``action`` is not
  requested); usually a ``<Dial>`` to the target. A fetch that fails is reported in the
  final NOTIFY (503) and is the call's failure (its fallback), as Twilio disconnects the
  caller then; with ``answerOnBridge="true"`` the two stay connected instead (Twilio's
  "initial call can be re-established").
- with ``answerOnBridge="true"`` (Twilio's second example and its table), when the document
  fetched begins with a ``<Dial>`` that bridges, the caller stays with the called party
  while that ``<Dial>``'s targets ring (a :class:`StagedDial`): once one answers, the final
  NOTIFY (``200 OK``) goes out, the called party is hung up and the caller is bridged with
  the new one, the rest of the document following that ``<Dial>``; if none answers, the
  final NOTIFY says why (486 busy, 480 no answer, 487 cancelled, else 503), the document is
  dropped and the two go on talking. A document beginning otherwise runs as without
  ``answerOnBridge``.

One REFER is followed at a time; another while one is fetched is declined (403). A
transferring party that hangs up once its REFER is accepted (before the fetch is over)
does not keep the caller from the app's TwiML: the ``<Dial>`` waits for the fetch.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from sipgw.agent.base import Referral
from sipgw.agent.twiml.dial.bridge import BridgedDial, Note, RelayedDial
from sipgw.agent.twiml.dial.rules import DialResult
from sipgw.twilio.document import Dial

__all__ = ["FAILED_FETCH_STATUS", "DialRefer", "ReferFetchFailed", "Stage", "StagedDial"]

log = logging.getLogger("sipgw.agent")

FAILED_FETCH_STATUS = 503
"""The final NOTIFY's status when ``referUrl`` could not be fetched or parsed."""

Fetch = Callable[[str, str, tuple[tuple[str, str], ...]], Awaitable[tuple[Any, str]]]
"""Fetches a document: ``(url, method, extra fields) -> (its verbs, its URL)``; raises
:class:`ReferFetchFailed`."""


UNANSWERED_STATUS: dict[str, int] = {"busy": 486, "no-answer": 480, "canceled": 487}
"""The final NOTIFY's status when the staged ``<Dial>`` connected no one (else 503)."""


class ReferFetchFailed(Exception):
    """``referUrl`` could not be fetched, or what came back is not TwiML (the reason)."""


@dataclass(eq=False)
class StagedDial:
    """``answerOnBridge``: the ``<Dial>`` that begins ``referUrl``'s document, ringing while the
    caller still talks with the transferring party (see the module docstring).

    Attributes:
        verb: that ``<Dial>``.
        rest: the verbs after it.
        url: the document's URL.
        dialing: the ``<Dial>`` running.
        refer: what takes a REFER from its own called party.
        task: its run.
    """

    verb: Dial
    rest: tuple[Any, ...]
    url: str
    dialing: BridgedDial
    refer: DialRefer
    task: asyncio.Task[DialResult] = field(repr=False)


Stage = Callable[[Dial, Callable[[], None]], tuple[BridgedDial, "DialRefer", "asyncio.Task[Any]"]]
"""Starts a ``<Dial>`` of referUrl's document in the background (``on_bridged`` called when a
target is bridged): the dial, its own REFER handler, its run."""


class DialRefer:
    """What one bridged ``<Dial>`` does with the called party's REFERs (see the module
    docstring); set as the dial's ``on_refer``.

    Args:
        verb: the ``<Dial>``.
        url: ``referUrl`` made absolute ("": none given, or it could not be).
        dialing: the ``<Dial>`` running (its relay is stopped once the REFER is followed).
        fetch: fetches the app's document.
        spawn: runs a coroutine as a task of the call's agent.
        note: writes the call record.
        call_id: for the log.
        stage: starts a ``<Dial>`` in the background (``answerOnBridge``); None: never.

    Attributes:
        outcome: once a REFER was followed: the document fetched (verbs, URL), its first
            ``<Dial>`` ringing (:class:`StagedDial`), or why it failed (a string); None
            meanwhile.
    """

    def __init__(
        self,
        verb: Dial,
        url: str,
        dialing: RelayedDial,
        fetch: Fetch,
        spawn: Callable[[Coroutine[Any, Any, None]], asyncio.Task[Any]],
        note: Note,
        call_id: str,
        stage: Stage | None = None,
    ) -> None:
        self.verb = verb
        self.url = url
        self.dialing = dialing
        self.fetch = fetch
        self.spawn = spawn
        self.note = note
        self.call_id = call_id
        self.stage = stage
        self.outcome: tuple[Any, str] | StagedDial | str | None = None
        self._reported = False
        self._following: asyncio.Task[Any] | None = None

    def __call__(self, referral: Referral) -> None:
        """The called party's REFER (while bridged)."""
        if not self.url:
            log.warning("[%s] TwiML <Dial>: REFER to %s declined: the <Dial> has no referUrl "
                        "(Twilio's 13802)", self.call_id, referral.target)  # fmt: skip
            self.note("dial_refer_refused", target=referral.target, why="no referUrl (13802)")
            referral.refuse(603)
            return
        if self._following is not None or self.outcome is not None:
            self.note("dial_refer_refused", target=referral.target, why="one in progress")
            referral.refuse(403)
            return
        referral.accept()
        self.note("dial_refer", target=referral.target, url=self.url)
        self._reported = False  # a REFER after one whose target did not answer
        self._following = self.spawn(self._follow(referral))

    async def settled(self) -> tuple[Any, str] | StagedDial | str | None:
        """:attr:`outcome`, once the REFER being followed (if any) is: a transferring party
        that hangs up as soon as its REFER is accepted (many phones do, on a blind
        transfer) ends the bridge before ``referUrl`` has answered, and the caller must
        still get the app's TwiML."""
        following = self._following
        if following is not None and not following.done():
            await asyncio.wait({following})
        return self.outcome

    async def _follow(self, referral: Referral) -> None:
        fields = (("ReferTransferTarget", referral.refer_to),)
        try:
            fetched = await self.fetch(self.url, self.verb.refer_method, fields)
        except ReferFetchFailed as exc:
            self._following = None
            log.warning("[%s] TwiML <Dial referUrl>: %s", self.call_id, exc)
            referral.report(FAILED_FETCH_STATUS)
            self.note("dial_refer_failed", reason=str(exc), stays=self.verb.answer_on_bridge)
            if not self.verb.answer_on_bridge:
                self.outcome = f"<Dial referUrl>: {exc}"
                self._stop()
            return
        verbs, url = fetched
        first = verbs[0] if verbs else None
        if (self.verb.answer_on_bridge and self.stage is not None and isinstance(first, Dial)
                and first.targets[0].kind != "queue"):  # fmt: skip
            dialing, refer, task = self.stage(first, partial(self._connected, referral, url))
            self.outcome = StagedDial(first, tuple(verbs[1:]), url, dialing, refer, task)
            task.add_done_callback(partial(self._staged_over, referral))
            self.note("dial_refer_ringing", target=referral.target, url=url)
            return
        self.outcome = fetched
        self._connected(referral, url)

    def _connected(self, referral: Referral, url: str) -> None:
        """The transfer is done (the document fetched, or its staged ``<Dial>`` answered):
        the final NOTIFY, and the called party hung up."""
        if self._reported:
            return
        self._reported = True
        referral.report(200, "OK")
        self.note("dial_referred", target=referral.target, url=url)
        self._stop()

    def _staged_over(self, referral: Referral, task: asyncio.Task[Any]) -> None:
        """The staged ``<Dial>`` is over; unanswered, the caller stays with the called party."""
        if self._reported:
            return
        self._reported = True
        result = None if task.cancelled() or task.exception() else task.result()
        status = UNANSWERED_STATUS.get(result.status, 503) if result is not None else 503
        referral.report(status)
        self.note("dial_refer_failed", reason=f"the target: {status}", stays=True)
        self.outcome = None  # the two go on talking (a <Dial> already over takes it anyway)
        self._following = None

    def _stop(self) -> None:
        relay = self.dialing.relay
        if relay is not None:
            relay.stop("refer")
