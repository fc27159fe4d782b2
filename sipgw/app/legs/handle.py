"""One call on a leg that is not SIP: the agent's call control and the ticker's participant.

A :class:`LegHandle` is a :class:`~sipgw.app.calls.callhandle.CallHandle` whose media is a
:class:`LegMedia` (a Twilio Media Stream, a browser's peer connection) instead of an RTP
session, so the call path, the dashboard, the API, the metrics and the drain see it as any
call: its :class:`~sipgw.sip.call.CallInfo` is the read-only view a SIP call has (key
``(call id, leg)``), never touched by the SIP core. What differs is here:

- **the tick**: the caller's frame from the leg's jitter buffer to the agent, the agent's
  frame (or the in-band DTMF tones that replace it, :mod:`sipgw.media.tones.dtmf_tones`) to the leg;
  before the agent is ready the caller's audio is drained and nothing but silence goes out;
- **hanging up**: :meth:`LegHandle.end` settles :attr:`LegHandle.ending` with why; the
  runner (:mod:`sipgw.app.legs.calls`) waits for the agent's last words to be heard, then
  closes the leg and releases the call;
- **barge-in**: :meth:`LegHandle.clear_audio` drops what the leg still holds (Twilio's
  ``clear``) and reports the frames sent that were not heard;
- **transfers**: a leg has no REFER; the dial gate still judges the target (a refused one
  raises as on SIP), then the transfer fails and the agent goes on.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Protocol

from sipgw.agent.base import NO_DETAILS, CallDetails
from sipgw.aio.endpoint import SipEndpoint
from sipgw.app.calls.callhandle import CallHandle, CallLog
from sipgw.app.calls.dialing import DialGate
from sipgw.app.operations.counters import CallCounters
from sipgw.media.quality import CallQuality
from sipgw.media.tones.dtmf_tones import InbandDtmf
from sipgw.sip.call import CallInfo

__all__ = ["LegHandle", "LegMedia"]

log = logging.getLogger("sipgw")


class LegMedia(Protocol):
    """What a leg's media gives its call (adapters in :mod:`sipgw.app.twilio.leg` and
    :mod:`sipgw.app.legs.browser`); every method but the last two returns at once."""

    @property
    def name(self) -> str:
        """The leg's name: ``twilio`` or ``browser``."""
        ...

    def listen(self, on_audio: Callable[[bytes], None] | None) -> None:
        """Where the caller's audio goes at arrival, in order (the agent's listeners' tap)."""
        ...

    def poll_ingress(self, now: float) -> None:
        """Per tick: release gaps and silence to the listeners' tap."""
        ...

    def caller_frame(self, now: float) -> bytes | None:
        """The caller's next 20 ms of μ-law from our jitter buffer, or None."""
        ...

    def send_frame(self, frame: bytes | None) -> None:
        """This tick's agent frame (None: silence)."""
        ...

    def skip(self, ticks: int) -> None:
        """Ticks the ticker dropped after a stall."""
        ...

    def idle_for(self, now: float) -> float:
        """Seconds since the caller's last audio."""
        ...

    def clear(self) -> int:
        """Barge-in: drop what the leg holds unplayed; the frames sent but not heard."""
        ...

    def quality(self) -> CallQuality | None:
        """The caller's audio's loss, jitter and MOS, where the leg can know them."""
        ...

    def describe(self) -> dict[str, object]:
        """The leg's media and counters, for the API and the end-of-call log line."""
        ...

    async def played_out(self, within: float) -> bool:
        """Wait (at most ``within`` seconds) until the caller heard all agent audio sent."""
        ...

    async def close(self) -> None:
        """End the leg's transport (the socket, the peer connection)."""
        ...


class LegHandle(CallHandle):
    """A call on a leg that is not SIP; see the module docstring.

    Args:
        call: the call's read-only view (key ``(call id, leg name)``).
        media: the leg's media.
        sip: the gateway's SIP endpoint (the handle's base needs one; a leg never uses it).
        gate: the dial gate (DTMF and transfer targets are judged as on SIP).
        counted: the gateway's counters.
        details: what the call carries for its agent (its variables: a Twilio stream's
            custom parameters, the browser page's values).

    Attributes:
        ending: settled with the end reason once the call should end (the runner awaits it).
        tones: in-band DTMF the agent keyed, played in place of its audio.
    """

    def __init__(
        self,
        call: CallInfo,
        media: LegMedia,
        sip: SipEndpoint,
        gate: DialGate,
        counted: CallCounters,
        details: CallDetails = NO_DETAILS,
    ) -> None:
        super().__init__(call, CallLog.for_call(log, call), sip, gate, counted, details=details)
        self.media = media
        self.sent_ahead = False
        self.early_frame: bytes | None = None
        """The agent frame :meth:`audio_ready` sent ahead of this tick (for the recording)."""
        self.tones = InbandDtmf()
        self.ending: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self.idle_timer: asyncio.TimerHandle | None = None

    @property
    def leg(self) -> str:
        """The leg's name (``twilio``, ``browser``)."""
        return self.media.name

    @property
    def state(self) -> str:
        """``connecting`` (the agent prepares), ``answered``, ``ending`` or ``ended``."""
        if self.ended:
            return "ended"
        if self.ending.done():
            return "ending"
        return "answered" if self.answered else "connecting"

    def end(self, reason: str) -> None:
        """Ask for the call's end (the first reason given is kept)."""
        if not self.ending.done():
            self.ending.set_result(reason)

    # -- CallControl

    def hangup(self, status: int = 480, by: str = "agent") -> None:
        """End the call from our side, once the agent's last words were heard; ``by``: who
        asked (``agent``, ``gateway`` or ``operator``), for the call's record."""
        if not self.ending.done():
            self.hung_up_by = self.hung_up_by or by
        self.end("local-hangup")

    def send_dtmf(self, digits: str) -> None:
        """Play keypad digits as tones in the agent's audio, if the dial allow-list has them
        with everything the call keyed before (as on SIP: :meth:`CallHandle.send_dtmf`).

        Raises:
            DialRefused: the digits are not allowed (nothing is played).
        """
        keyed = self.gate.admit_keyed(self.dtmf_sent, digits, self.log)
        self.tones.send(keyed.digits)
        self.dtmf_sent += keyed.digits

    def audio_ready(self, continuing: bool = False) -> None:
        """Talkspurt fast path: send the next tick's frame now (it takes that tick's place;
        within a talkspurt too, ``continuing`` or not: a leg has no talkspurt state)."""
        agent = self.agent
        if self.sent_ahead or agent is None or self.ended or self.tones.pending:
            return
        frame = agent.next_frame()
        if frame is not None:
            self.media.send_frame(frame)
            self.sent_ahead = True
            self.early_frame = frame
            self.counted.early_send()

    def clear_audio(self) -> int:
        """Barge-in: the leg drops what it holds; returns the frames sent and not heard."""
        unheard = self.media.clear()
        if unheard:
            self.log.info("barge-in: %d frame(s) sent were not heard (cleared)", unheard)
        return unheard

    async def transfer(self, target: str, summary: str = "") -> bool:
        """No transfer on this leg: False once the dial gate has judged ``target``
        (``summary`` has nowhere to go).

        Raises:
            DialRefused: ``target`` is not allowed.
        """
        self.gate.admit("transfer", target, self.log)
        self.log.warning("transfer to %s failed: a %s call cannot be transferred", target,
                         self.leg)  # fmt: skip
        return False

    # -- TickParticipant

    def tick(self, now: float) -> None:
        """One 20 ms step: caller frame to the agent, the agent's (or a tone) to the leg."""
        media, agent = self.media, self.agent
        media.poll_ingress(now)
        caller_frame = media.caller_frame(now)
        if agent is None:  # the agent prepares: the caller's audio is drained meanwhile
            media.send_frame(None)
            return
        agent.on_caller_frame(caller_frame)
        if self.sent_ahead:
            self.sent_ahead = False  # this tick's frame already went out early
            agent_frame, self.early_frame = self.early_frame, None
        else:
            agent_frame = agent.next_frame()
            tone = self.tones.next_frame()
            if tone is not None:
                agent_frame = tone  # keyed digits replace the agent's audio, as on SIP
            media.send_frame(agent_frame)
        if self.recorder is not None:
            self.recorder.tick(caller_frame, agent_frame)

    def skip(self, ticks: int) -> None:
        """Ticks the ticker dropped after a stall."""
        self.media.skip(ticks)

    # -- timers

    def watch_media(self, timeout: float) -> None:
        """End the call once no audio came from the caller for ``timeout`` seconds."""
        if self.ended:
            return
        loop = asyncio.get_running_loop()
        due = timeout - self.media.idle_for(loop.time())
        self.idle_timer = loop.call_later(max(0.0, due), self._media_deadline, timeout)

    def _media_deadline(self, timeout: float) -> None:
        self.idle_timer = None
        if self.ended:
            return
        if self.media.idle_for(asyncio.get_running_loop().time()) < timeout:
            self.watch_media(timeout)  # audio came meanwhile
            return
        self.log.warning("no audio from the caller for %g s: hanging up", timeout)
        self.end("no-media")

    def cancel_timers(self) -> None:
        """Stop the call's timers: it is being released (by its runner, or from outside, as
        the gateway's stop does: then :attr:`ending` is settled too, so the leg closes)."""
        super().cancel_timers()
        if self.idle_timer is not None:
            self.idle_timer.cancel()
            self.idle_timer = None
        self.end(self.end_reason or "ended")
