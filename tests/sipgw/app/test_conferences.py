"""The gateway's room registry (app/conferences.py): one room per name while it lasts,
a new one (a new ConferenceSid) once it ended; the registry every plug-in gets."""

from __future__ import annotations

from sipgw.agent.multiparty.conferences import SeatRules
from sipgw.app.agentstart import gateway_services
from sipgw.app.conferences import PROCESS_ROOMS, GatewayRooms
from sipgw.media.codecs.base import ULAW_8K


def test_a_name_is_one_room_until_it_ends_then_a_new_one() -> None:
    rooms = GatewayRooms()
    room = rooms.room("r")
    assert rooms.room("r") is room and rooms.room("other") is not room
    assert room.sid.startswith("CF") and len(room.sid) == 34
    seat = room.join("a", ULAW_8K, SeatRules(), lambda e, r: None, 0.0)
    seat.leave("participant_hung_up", 1.0)
    assert room.over and "r" not in rooms.rooms
    again = rooms.room("r")
    assert again is not room and again.sid != room.sid


def test_every_plug_in_of_the_process_gets_its_rooms() -> None:
    from sipgw.foundation.settings import Sources
    from sipgw.sip.dialpolicy import DialPolicy

    services = gateway_services(Sources(environ={}), DialPolicy(()))
    assert services.conferences is PROCESS_ROOMS
