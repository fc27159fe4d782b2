"""The audio format a bridged ``<Dial>`` carries, and the switch to it and back.

The caller's agent (the TwiML agent) and the called party's (:class:`DialedLeg
<sipgw.agent.twiml.dial.bridge.DialedLeg>`) take and give 8 kHz μ-law, as everything a TwiML
document plays does. Once the two are bridged, both agents take the format
:func:`~sipgw.media.bridge.bridge_format` decides from the two calls' codecs (16 kHz linear
when both are wideband: two G.722 phones keep what they say above 4 kHz), and each call's
media converts to it at its edge (and its recording follows); when the bridge ends, both go
back to what they had, before the TwiML after the ``<Dial>`` plays. A ``<Dial>`` whose
frames also go elsewhere in μ-law (its ``record``, a ``<Start><Stream>`` fork, an
answering-machine detector still listening) stays narrowband, as does a call whose media
cannot follow its agent's format (a Media Streams or browser leg: not a
:class:`FollowsAgentFormat`).

A conference participant (``<Dial><Conference>``) switches alone, the same way: its agent
takes :func:`~sipgw.media.bridge.seat_format` of its codec (:func:`seat_audio`) while the
room mixes it, and goes back when it leaves (a :class:`WidenedBridge` of one call).
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from sipgw.agent.base import Agent, CallControl
from sipgw.media.bridge import bridge_format, seat_format
from sipgw.media.codecs import ULAW_8K, AudioFormat, codec_named

__all__ = ["FollowsAgentFormat", "WidenedBridge", "seat_audio", "widen"]


@runtime_checkable
class FollowsAgentFormat(Protocol):
    """A call whose media takes its agent's format anew when told (the gateway's SIP calls)."""

    @property
    def codec(self) -> str:
        """The audio codec offer/answer agreed on; "" before media."""
        ...

    @property
    def agent(self) -> Agent | None:
        """The call's agent."""
        ...

    def follow_agent_format(self) -> None:
        """The agent's formats changed: the media and the recorder follow from the next frame."""
        ...


class WidenedBridge:
    """Calls' agents (a bridge's two, or a conference participant's one) switched to a
    wideband format, until :meth:`restore`.

    One agent may be in two bridges a moment (``<Dial referUrl answerOnBridge>``: the caller
    bridged with the transferor while referUrl's ``<Dial>`` answers and bridges it anew): the
    latest bridge to switch an agent owns it, and takes over the format the agent had before
    the first; an earlier bridge ending leaves that agent alone, the owner's end restores it.
    """

    def __init__(self, calls: tuple[FollowsAgentFormat, ...], audio: AudioFormat) -> None:
        self.audio = audio
        self._before: list[tuple[FollowsAgentFormat, Agent, _Formats]] = []
        for call in calls:
            agent = call.agent
            if agent is None:
                continue
            owner = _OWNERS.get(id(agent))
            before = owner.formats_of(agent) if owner is not None else None
            if before is None:
                before = (agent.audio_format, agent.caller_format)
            _OWNERS[id(agent)] = self
            self._before.append((call, agent, before))
            agent.audio_format, agent.caller_format = audio, None
            call.follow_agent_format()

    def formats_of(self, agent: Agent) -> _Formats | None:
        """The formats ``agent`` had before it was first switched (None: not one of ours)."""
        return next((before for _, a, before in self._before if a is agent), None)

    def restore(self) -> None:
        """Both agents back to the formats they had (once), unless a later bridge owns one."""
        before, self._before = self._before, []
        for call, agent, (audio, heard) in before:
            if _OWNERS.get(id(agent)) is not self:
                continue
            del _OWNERS[id(agent)]
            agent.audio_format, agent.caller_format = audio, heard
            if call.agent is agent:
                call.follow_agent_format()


_Formats = tuple[AudioFormat, AudioFormat | None]
_OWNERS: dict[int, WidenedBridge] = {}
"""Each switched agent's (by ``id``) latest bridge, until that bridge restores it."""


def widen(caller: CallControl, leg: CallControl) -> WidenedBridge | None:
    """The two calls switched to the bridge's format when it is wideband; None: they stay
    in 8 kHz μ-law (a narrowband codec on either side, or a call that cannot follow)."""
    if not isinstance(caller, FollowsAgentFormat) or not isinstance(leg, FollowsAgentFormat):
        return None
    if not caller.codec or not leg.codec:
        return None
    audio = bridge_format(codec_named(caller.codec), codec_named(leg.codec))
    if audio == ULAW_8K:
        return None
    return WidenedBridge((caller, leg), audio)


def seat_audio(call: CallControl) -> AudioFormat:
    """The format a conference participant on ``call`` takes and gives while mixed: its
    codec's :func:`~sipgw.media.bridge.seat_format` (16 kHz linear on a wideband codec),
    8 kHz μ-law when its media cannot follow its agent's format."""
    if not isinstance(call, FollowsAgentFormat) or not call.codec:
        return ULAW_8K
    return seat_format(codec_named(call.codec))
