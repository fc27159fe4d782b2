"""The conference rooms of one gateway process: a name makes a room, the room's end forgets it.

:class:`GatewayRooms` is the registry the gateway hands to its agents
(:class:`~sipgw.agent.capabilities.GatewayServices` ``conferences``): a TwiML
``<Dial><Conference>name</Conference>`` on any call this process took joins the room of
that name (:class:`~sipgw.agent.multiparty.conferences.ConferenceRoom`, made on the first join);
once the room ends (its last participant left, or one with ``endConferenceOnExit``) the name is
free, and the next join makes a new room with a new ``ConferenceSid``.

A room lives in one process: its mix runs on this process's ticker, fed by its calls'
jitter buffers. Calls another gateway of a cluster took (or another worker process of
this one: ``SIPGW_WORKERS``) cannot join it; their own process has a room of the same name
that this one does not hear. Joining across gateways would need the audio sent between
them (RTP between the gateways, one more jitter buffer per hop) and a shared owner for
each name. The REST subset's Conference and Participant resources
(:mod:`sipgw.app.twilio.api.conferences`) read and change this process's rooms, and the
last :data:`RECENT_ENDED` ended ones (:attr:`GatewayRooms.ended`).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from typing import Final

from sipgw.agent.multiparty.conferences import ConferenceRoom
from sipgw.twilio.sids import new_sid

__all__ = ["PROCESS_ROOMS", "RECENT_ENDED", "GatewayRooms"]

RECENT_ENDED: Final = 100
"""Ended rooms kept readable (the REST subset's ``completed`` conferences)."""


class GatewayRooms:
    """The rooms of one gateway process, by name (see the module docstring)."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.rooms: dict[str, ConferenceRoom] = {}
        self.ended: deque[ConferenceRoom] = deque(maxlen=RECENT_ENDED)
        """The last rooms that ended, oldest first."""
        self.clock = clock

    def room(self, name: str) -> ConferenceRoom:
        """The room called ``name``, made if there is none."""
        room = self.rooms.get(name)
        if room is None or room.over:
            room = self.rooms[name] = ConferenceRoom(name, new_sid("CF"), self._over,
                                                      self.clock())  # fmt: skip
        return room

    def _over(self, room: ConferenceRoom) -> None:
        self.ended.append(room)
        if self.rooms.get(room.name) is room:
            del self.rooms[room.name]


PROCESS_ROOMS: Final = GatewayRooms()
"""This process's rooms: every plug-in built in it gets these (one registry per process,
however many times the routes file is reloaded)."""
