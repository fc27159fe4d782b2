"""The Conference and Participant resources (sipgw/app/twilio/api/conferences.py) through
the official ``twilio`` SDK pointed at a gateway: rooms of a registry the test fills (seats
taken directly, each with a listener that keeps the room's events), listed, fetched,
filtered, a participant muted, held, removed, a room ended; unknown sids are Twilio's 404."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.rest import Client

from sipgw.agent.multiparty.conferences import Announcement, ConferenceRoom, RoomEvent, SeatRules
from sipgw.agent.twiml.webhook import call_sid_of
from sipgw.app.admin.server import AdminServer
from sipgw.app.admin.settings import AdminSettings
from sipgw.app.calls.outbound import PlacedCall
from sipgw.app.conferences import GatewayRooms
from sipgw.app.evaluation.ports import free_port
from sipgw.app.gateway import Gateway
from sipgw.app.twilio.api.conferences import participant_twiml
from sipgw.app.twilio.api.seam import call_sid
from sipgw.app.twilio.api.settings import TwilioApiSection
from sipgw.media.codecs.base import ULAW_8K
from sipgw.twilio.document import DialConference, Hangup, parse_twiml
from tests.agent.multiparty.test_conferences import Player
from tests.sipgw.app.twilio.api.test_endpoints import ACCOUNT, TOKEN, echo_placer, sdk
from tests.sipgw.app.twilio.api.test_endpoints import api as endpoints_api
from tests.toolkit.gateway_in_process import running_gateway

pytestmark = pytest.mark.timeout(60)


@asynccontextmanager
async def api(tmp_path: Path, rooms: GatewayRooms) -> AsyncIterator[Client]:
    async with running_gateway() as (gateway, _):
        settings = TwilioApiSection(twilio_api_account_sid=ACCOUNT, twilio_api_auth_token=TOKEN)
        server = AdminServer(gateway, AdminSettings(port=free_port(), token="admin-token-" * 2),
                             twilio_api=settings, status_db=tmp_path / "hooks.sqlite3")  # fmt: skip
        server.twilio_api.conferences.rooms = rooms
        await server.start()
        client = Client(ACCOUNT, TOKEN)
        client.api.base_url = server.url
        try:
            yield client
        finally:
            await server.stop()


def seated(rooms: GatewayRooms, name: str, *who: str, **rules: object) -> tuple[
    ConferenceRoom, list[RoomEvent]
]:  # fmt: skip
    """``who`` join room ``name`` (the first with ``rules``); the events they heard."""
    heard: list[RoomEvent] = []
    room = rooms.room(name)
    for i, caller in enumerate(who):
        seat_rules = SeatRules(**rules) if i == 0 else SeatRules()  # type: ignore[arg-type]
        room.join(caller, ULAW_8K, seat_rules, lambda e, _: heard.append(e), 1.0e9)
    return room, heard


async def test_rooms_and_participants_are_listed_and_fetched(tmp_path: Path) -> None:
    rooms = GatewayRooms(clock=lambda: 1.7e9)
    sales, _ = seated(rooms, "sales", "a@x", "b@x", label="agent", end_on_exit=True)
    lobby, _ = seated(rooms, "lobby", "c@x")  # alone: not started
    async with api(tmp_path, rooms) as client:
        listed = await sdk(lambda: client.conferences.list())
        assert {c.sid for c in listed} == {sales.sid, lobby.sid}
        assert all(c.sid.startswith("CF") and len(c.sid) == 34 for c in listed)
        (one,) = await sdk(lambda: client.conferences.list(friendly_name="sales"))
        assert one.sid == sales.sid and one.status == "in-progress"
        (waiting,) = await sdk(lambda: client.conferences.list(status="init"))
        assert waiting.friendly_name == "lobby" and waiting.account_sid == ACCOUNT
        fetched = await sdk(lambda: client.conferences(sales.sid).fetch())
        assert fetched.friendly_name == "sales" and fetched.date_created is not None
        assert fetched.reason_conference_ended is None
        people = await sdk(lambda: client.conferences(sales.sid).participants.list())
        assert [p.call_sid for p in people] == [call_sid_of("a@x"), call_sid_of("b@x")]
        first = people[0]
        assert first.label == "agent" and first.end_conference_on_exit is True
        assert first.conference_sid == sales.sid and first.status == "connected"
        assert first.muted is False and first.hold is False and first.coaching is False
        by_label = await sdk(lambda: client.conferences(sales.sid).participants("agent").fetch())
        assert by_label.call_sid == call_sid_of("a@x")
        for lookup in (
            lambda: client.conferences("CF" + "0" * 32).fetch(),
            lambda: client.conferences(sales.sid).participants("CA" + "0" * 32).fetch(),
        ):
            with pytest.raises(TwilioRestException) as caught:
                await sdk(lookup)
            assert caught.value.status == 404 and caught.value.code == 20404
        with pytest.raises(TwilioException, match="20404"):  # a list's page: the SDK's own
            await sdk(lambda: client.conferences("CF" + "0" * 32).participants.list())


async def test_a_participant_is_muted_held_and_removed(tmp_path: Path) -> None:
    rooms = GatewayRooms()
    room, heard = seated(rooms, "sales", "a@x", "b@x", "c@x")
    a, b = call_sid_of("a@x"), call_sid_of("b@x")
    async with api(tmp_path, rooms) as client:
        part = client.conferences(room.sid).participants
        muted = await sdk(lambda: part(a).update(muted=True))
        assert muted.muted is True and room.mixer.muted("a@x")
        held = await sdk(lambda: part(b).update(hold=True))
        assert held.hold is True and room.mixer.muted("b@x")
        only_held = await sdk(lambda: part.list(hold=True))
        assert [p.call_sid for p in only_held] == [b]
        await sdk(lambda: part(b).update(hold=False))
        assert not room.mixer.muted("b@x")
        coach = await sdk(lambda: part(a).update(coaching=True, call_sid_to_coach=b))
        assert coach.coaching is True and coach.call_sid_to_coach == b
        assert [p.call_sid for p in await sdk(lambda: part.list(coaching=True))] == [a]
        await sdk(lambda: part(a).update(coaching=False))
        assert room.seats[0].rules.coaching == ""
        for bad in ({"muted": "maybe"}, {"wait_url": "http://music.example/"}, {},
                    {"coaching": True, "call_sid_to_coach": "CA" + "9" * 32}):  # fmt: skip
            with pytest.raises(TwilioRestException) as caught:
                await sdk(lambda bad=bad: part(a).update(**bad))  # type: ignore[misc]
            assert caught.value.status in (400, 422), bad
        assert await sdk(lambda: part(a).delete()) is True
        assert [s.who for s in room.seats] == ["b@x", "c@x"] and not room.over
    once = {e.sequence: e for e in heard}.values()  # every listener hears each event
    kinds = [(e.kind, e.who, e.reason) for e in once if e.kind != "participant-join"]
    assert kinds == [
        ("conference-start", "", ""),
        ("participant-mute", "a@x", ""),
        ("participant-hold", "b@x", ""),
        ("participant-unhold", "b@x", ""),
        ("participant-modify", "a@x", ""),
        ("participant-modify", "a@x", ""),
        ("participant-leave", "a@x", "participant_updated_via_api"),
    ]


async def test_a_room_ended_through_the_api_is_completed(tmp_path: Path) -> None:
    rooms = GatewayRooms()
    room, heard = seated(rooms, "sales", "a@x", "b@x")
    async with api(tmp_path, rooms) as client:
        with pytest.raises(TwilioRestException) as caught:
            await sdk(lambda: client.conferences(room.sid).update(status="in-progress"))
        assert caught.value.status == 400 and not room.over
        ended = await sdk(lambda: client.conferences(room.sid).update(status="completed"))
        assert ended.status == "completed"
        assert ended.reason_conference_ended == "conference-ended-via-api"
        assert heard[-1].kind == "conference-end" and "sales" not in rooms.rooms
        (done,) = await sdk(lambda: client.conferences.list(status="completed"))
        assert done.sid == room.sid
        fetched = await sdk(lambda: client.conferences(room.sid).fetch())
        assert fetched.status == "completed"


def test_a_created_participants_twiml_joins_the_room_with_its_attributes() -> None:
    form = {
        "Label": ["coach & co"], "Muted": ["true"], "Beep": ["false"],
        "EndConferenceOnExit": ["true"], "StartConferenceOnEnter": ["false"],
        "ConferenceStatusCallback": ["https://app.example/conf?a=1&b=2"],
        "ConferenceStatusCallbackEvent": ["join", "leave"], "CallSidToCoach": ["CA" + "7" * 32],
    }  # fmt: skip
    dial, hangup = parse_twiml(participant_twiml("sales <1>", form))
    assert isinstance(dial, DialConference) and isinstance(hangup, Hangup)
    conf = dial.conference
    assert conf.name == "sales <1>" and conf.participant_label == "coach & co"
    assert conf.muted and conf.end_on_exit and not conf.start_on_enter
    assert not conf.beep_on_enter and not conf.beep_on_exit
    assert conf.status_callback == "https://app.example/conf?a=1&b=2"
    assert conf.status_callback_events == frozenset({"join", "leave"})
    assert conf.coach == "CA" + "7" * 32
    plain = {"ConferenceStatusCallback": ["https://app.example/conf"]}
    (dial, _) = parse_twiml(participant_twiml("sales", plain))
    assert isinstance(dial, DialConference)  # no events named: the create's default
    assert dial.conference.status_callback_events == frozenset({"start", "end"})
    (dial, _) = parse_twiml(participant_twiml("sales", {}))
    assert isinstance(dial, DialConference) and not dial.conference.status_callback_events


async def test_a_participant_is_dialed_into_a_room(tmp_path: Path) -> None:
    """The created call is placed by the Calls create's placer (here the echo stand-in,
    which checks the body); its TwiML is the room's ``<Dial><Conference>``."""
    rooms = GatewayRooms()
    room, _ = seated(rooms, "sales", "a@x")
    bodies: list[dict[str, Any]] = []

    async def placer(gateway: Gateway, body: dict[str, Any]) -> PlacedCall:
        bodies.append(body)
        return await echo_placer(gateway, body)

    async with endpoints_api(tmp_path) as (server, client, callee):
        server.twilio_api.conferences.rooms = rooms
        server.twilio_api.place = placer
        part = await sdk(lambda: client.conferences(room.sid).participants.create(
            from_="+15551230001", to=callee, label="customer", end_conference_on_exit=True,
        ))  # fmt: skip
        assert part.status == "queued" and part.label == "customer"
        assert part.conference_sid == room.sid and part.end_conference_on_exit is True
        (handle,) = server.gateway.handles.values()
        assert part.call_sid == call_sid(handle.call.call_id)
        assert (await sdk(lambda: client.calls(part.call_sid).fetch())).to == callee
        (body,) = bodies
        (dial, _) = parse_twiml(body["twiml"])
        assert isinstance(dial, DialConference) and dial.conference.name == "sales"
        assert dial.conference.participant_label == "customer"
        by_name = await sdk(lambda: client.conferences("support").participants.create(
            from_="+15551230001", to=callee,
        ))  # fmt: skip
        assert by_name.conference_sid is None  # the room is made when it joins
        coach = await sdk(lambda: client.conferences(room.sid).participants.create(
            from_="+15551230001", to=callee, coaching=True, call_sid_to_coach=call_sid_of("a@x"),
        ))  # fmt: skip
        assert coach.coaching is True and coach.call_sid_to_coach == call_sid_of("a@x")
        assert f'coach="{call_sid_of("a@x")}"' in bodies[2]["twiml"]
        assert "<Conference>support</Conference>" in bodies[1]["twiml"]
        recorded = await sdk(lambda: client.conferences(room.sid).participants.create(
            from_="+15551230001", to=callee, early_media=True, conference_record="true",
            conference_trim="do-not-trim", time_limit=90,
            conference_recording_status_callback="https://app.example/rec",
            conference_recording_status_callback_event=["in-progress", "completed"],
        ))  # fmt: skip
        assert recorded.status == "queued"
        (dial, _) = parse_twiml(bodies[3]["twiml"])
        assert isinstance(dial, DialConference) and dial.dial.time_limit == 90
        conf = dial.conference
        assert conf.record and not conf.trim
        assert conf.recording_status_callback == "https://app.example/rec"
        assert conf.recording_status_callback_events == frozenset({"in-progress", "completed"})

        def create(**kw: Any) -> Any:
            return client.conferences(room.sid).participants.create(
                from_="+15551230001", to=callee, **kw
            )

        bads: list[dict[str, Any]] = [{"early_media": "maybe"}, {"conference_record": "sometimes"},
                                      {"conference_trim": "trim"}, {"time_limit": 0}]  # fmt: skip
        for bad in bads:
            with pytest.raises(TwilioRestException) as caught:
                await sdk(partial(create, **bad))
            assert caught.value.status == 400, bad
        with pytest.raises(TwilioRestException) as caught:
            await sdk(lambda: client.conferences(room.sid).participants.create(
                from_="+15551230001", to=callee, region="ie1",
            ))  # fmt: skip
        assert caught.value.status == 422 and "Region" in caught.value.msg
        with pytest.raises(TwilioRestException) as caught:
            await sdk(lambda: client.conferences("CF" + "1" * 32).participants.create(
                from_="+15551230001", to=callee,
            ))  # fmt: skip
        assert caught.value.status == 404
        for handle in list(server.gateway.handles.values()):
            handle.hangup(by="operator")


def players(room: ConferenceRoom) -> dict[str, Player]:
    """Each seat's player (the agent is one), by who."""
    made = {}
    for seat in room.seats:
        seat.player = made[seat.who] = Player()
    return made


async def test_announcements_and_hold_music_are_asked_of_the_participants_players(
    tmp_path: Path,
) -> None:
    rooms = GatewayRooms()
    room, heard = seated(rooms, "sales", "a@x", "b@x")
    lobby, _ = seated(rooms, "lobby", "c@x")  # alone: not started
    by = players(room)
    players(lobby)
    a, b = call_sid_of("a@x"), call_sid_of("b@x")
    async with api(tmp_path, rooms) as client:
        conference = client.conferences(room.sid)
        said = await sdk(lambda: conference.update(announce_url="https://app.example/say",
                                                   announce_method="GET"))  # fmt: skip
        assert said.status == "in-progress" and not room.over
        assert by["a@x"].announcements == [Announcement("https://app.example/say", "GET")]
        part = conference.participants
        await sdk(lambda: part(b).update(announce_url="https://app.example/b"))
        assert by["b@x"].announcements == [Announcement("https://app.example/b", "POST", "b@x")]
        held = await sdk(lambda: part(a).update(hold=True, hold_url="https://app.example/m",
                                                hold_method="GET"))  # fmt: skip
        assert held.hold is True and room.mixer.muted("a@x")
        assert by["a@x"].music == [("https://app.example/m", "GET")]
        await sdk(lambda: part(a).update(hold_url="https://app.example/other"))  # held: changes
        assert by["a@x"].music[-1] == ("https://app.example/other", "POST")
        resumed = await sdk(lambda: part(a).update(hold=False))
        assert resumed.hold is False and by["a@x"].music[-1] is None
        modified = await sdk(lambda: part(b).update(end_conference_on_exit=True,
                                                    beep_on_exit=False))  # fmt: skip
        assert modified.end_conference_on_exit is True and not room.seats[1].rules.beep_on_exit
        for bad in (
            lambda: part(b).update(hold_url="https://app.example/m"),  # not held: needs Hold
            lambda: part(b).update(announce_url="ftp://app.example/x"),
            lambda: part(b).update(hold=True, hold_method="PUT", hold_url="https://a.example/"),
            lambda: client.conferences(lobby.sid).update(announce_url="https://app.example/x"),
            lambda: client.conferences(lobby.sid).participants(call_sid_of("c@x")).update(
                announce_url="https://app.example/x"),
        ):  # fmt: skip
            with pytest.raises(TwilioRestException) as caught:
                await sdk(bad)
            assert caught.value.status == 400
        assert not room.seats[1].held and len(by["b@x"].announcements) == 1
        ended = await sdk(lambda: conference.update(status="completed"))
        assert ended.status == "completed"
    kinds = [e.kind for e in {e.sequence: e for e in heard}.values()]
    assert kinds[-4:] == ["participant-hold", "participant-unhold", "participant-modify",
                          "conference-end"]  # fmt: skip


async def test_many_participants_are_listed_page_by_page(tmp_path: Path) -> None:
    """The SDK's ``list()`` and ``stream()`` follow ``next_page_uri`` through every page."""
    rooms = GatewayRooms()
    who = [f"p{i}@x" for i in range(120)]
    room, _ = seated(rooms, "big", *who)
    for seat in room.seats[::3]:
        seat.set_muted(True, 1.0e9)
    everyone = [call_sid_of(w) for w in who]
    async with api(tmp_path, rooms) as client:
        part = client.conferences(room.sid).participants
        listed = await sdk(lambda: part.list())  # 50 a page: three pages
        assert [p.call_sid for p in listed] == everyone
        some = await sdk(lambda: part.list(limit=57, page_size=20))
        assert [p.call_sid for p in some] == everyone[:57]
        streamed = await sdk(lambda: [p.call_sid for p in part.stream(page_size=7)])
        assert streamed == everyone
        muted = await sdk(lambda: part.list(muted=True, page_size=11))
        assert [p.call_sid for p in muted] == everyone[::3]
        page = await sdk(lambda: part.page(page_size=50))
        assert [p.call_sid for p in page] == everyone[:50]
        second = await sdk(page.next_page)
        assert [p.call_sid for p in second] == everyone[50:100]
        back = await sdk(second.previous_page)
        assert [p.call_sid for p in back] == everyone[:50]
        raw = await sdk(lambda: client.request(
            "GET", client.api.v2010.absolute_url(part._uri),
            params={"PageSize": "20", "Page": "2", "PageToken": "PT50", "Muted": "false"},
        ))  # fmt: skip
        assert raw.status_code == 200
        payload = json.loads(raw.text)
        unmuted = [sid for i, sid in enumerate(everyone) if i % 3]
        assert payload["page"] == 2 and payload["page_size"] == 20
        assert payload["start"] == 50 and payload["end"] == 69
        assert [p["call_sid"] for p in payload["participants"]] == unmuted[50:70]
        assert "Muted=false" in payload["next_page_uri"]
        assert "Page=3&PageToken=PT70" in payload["next_page_uri"]
        assert "Page=1&PageToken=PT30" in payload["previous_page_uri"]
        assert payload["first_page_uri"].endswith("Muted=false&PageSize=20&Page=0")
        assert payload["uri"].endswith(part._uri + "?PageSize=20&Page=2&PageToken=PT50&Muted=false")
        last = await sdk(lambda: client.request(
            "GET", client.api.v2010.absolute_url(part._uri), params={"PageToken": "PT70",
                                                                    "Muted": "false"}))  # fmt: skip
        ending = json.loads(last.text)
        assert ending["next_page_uri"] is None and ending["end"] == 79
        url = client.api.v2010.absolute_url(part._uri)
        for bad in ({"PageSize": "0"}, {"PageSize": "1001"}, {"PageToken": "nope"}):
            raw = await sdk(partial(client.request, "GET", url, params=bad))
            assert raw.status_code == 400, bad
        rooms_listed = await sdk(lambda: client.conferences.list(page_size=1))
        assert [c.sid for c in rooms_listed] == [room.sid]
