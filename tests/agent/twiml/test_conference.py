"""``<Dial><Conference>`` through the agent, against an app on the official ``twilio`` SDK:
three callers (each its own TwimlAgent and ticker, one room registry as the gateway has)
hear each other and never themselves, a muted one is heard by nobody, the waitUrl plays
until a starter joins, ``endConferenceOnExit`` ends it for all and the TwiML after the
``<Dial>`` runs, ``hangupOnStar``, ``maxParticipants``, and the status callbacks posted once
each, signed, with Twilio's parameters."""

from __future__ import annotations

import io
import math
import struct
import wave
from collections.abc import AsyncIterator, Callable, Mapping
from pathlib import Path

import pytest
from aiohttp import web
from twilio.twiml.voice_response import Conference, Dial, VoiceResponse

from sipgw.agent.base import CallDetails
from sipgw.agent.multiparty.conferences import Announcement, RoomEvent
from sipgw.agent.twiml.agent import TwimlAgent
from sipgw.agent.twiml.conference import ended_reason, status_form
from sipgw.agent.twiml.webhook import call_sid_of
from sipgw.app.conferences import GatewayRooms
from sipgw.media import g711
from tests.agent.parts import FakeCall, wait_for
from tests.agent.twiml.test_agent import TOKEN, Ticker, settings
from tests.media.test_conference import TONES, level, ulaw_tone
from tests.toolkit.twilio_app import TwilioSdkApp, WebhookRequest

WAIT_HZ = 1500.0


@pytest.fixture
async def app() -> AsyncIterator[TwilioSdkApp]:
    peer = TwilioSdkApp(TOKEN)
    await peer.start()
    pcm = struct.pack("<4000h", *(round(6000 * math.sin(2 * math.pi * WAIT_HZ * i / 8000))
                                  for i in range(4000)))  # fmt: skip
    wav = io.BytesIO()
    with wave.open(wav, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(pcm)

    async def music(request: web.Request) -> web.Response:
        return web.Response(body=wav.getvalue(), content_type="audio/x-wav")

    assert peer._runner is not None
    peer._runner.app.router._frozen = False  # one more route on the running app
    peer._runner.app.router.add_get("/music.wav", music)
    yield peer
    await peer.stop()


def room_app(**by_caller: Mapping[str, object]) -> Callable[[TwilioSdkApp, WebhookRequest], object]:
    """Each caller (``a``, ``b``, ``c`` by ``From``'s last digit) joins ``room`` with its
    attributes; ``/after`` (the action) answers ``<Hangup/>``; ``/wait`` plays ``/music.wav``."""

    def build(app: TwilioSdkApp, request: WebhookRequest) -> object:
        response = VoiceResponse()
        if request.path == "/wait":
            response.play(f"http://127.0.0.1:{app.http_port}/music.wav")
            return response
        if request.path == "/hold":  # the wait music elsewhere, and a verb not played there
            response.gather()
            response.redirect("/wait")
            return response
        if request.path in ("/after", "/status"):
            response.hangup()
            return response
        who = {"1": "a", "2": "b", "3": "c"}.get(request.params.get("From", "")[-1:], "")
        attrs = dict(by_caller.get(who, {}))
        dial_attrs = attrs.pop("dial", {})
        dial = Dial(**dial_attrs)  # type: ignore[arg-type]
        dial.append(Conference("room", **attrs))
        response.append(dial)
        response.hangup()
        return response

    return build


def tone_of(name: str) -> Callable[[int], bytes]:
    return lambda n: ulaw_tone(TONES[name], n * 160)


def hears(ticker: Ticker, last: int = 10) -> dict[str, bool]:
    """Which tones the caller heard in its last ``last`` frames."""
    return tones_in([f for _, f in ticker.played[-last:]])


def tones_in(frames: list[bytes | None]) -> dict[str, bool]:
    """Which tones ``frames`` carry."""
    if not frames:
        return {name: False for name in (*TONES, "wait")}
    pcm = b"".join(g711.ulaw_to_linear(f) if f is not None else bytes(320) for f in frames)
    freqs = {**TONES, "wait": WAIT_HZ}
    return {name: level(pcm, hz) > 800 for name, hz in freqs.items()}


async def caller(
    app: TwilioSdkApp, rooms: GatewayRooms, name: str, **kw: object
) -> tuple[TwimlAgent, FakeCall, Ticker]:
    """Caller ``name`` (``a``, ``b``, ``c``) saying its tone every tick."""
    return await talker(app, rooms, name, tone_of(name), kw)


async def talker(
    app: TwilioSdkApp, rooms: GatewayRooms, name: str, voice: Callable[[int], bytes | None],
    kw: Mapping[str, object] | None = None,
) -> tuple[TwimlAgent, FakeCall, Ticker]:  # fmt: skip
    """Caller ``name`` saying ``voice``'s frames (``kw``: its TwiML settings)."""
    number = f"+1555000000{'abc'.index(name) + 1}"
    call = FakeCall(call_id=f"{name}@test", caller=f"sip:{number}@trunk.example",
                    details=CallDetails(caller_number=number))  # fmt: skip
    agent = TwimlAgent(call, settings(url=app.url, conferences=rooms, **(kw or {})))
    await agent.prepare()
    agent.on_answered()
    ticker = Ticker(agent, voice)
    ticker.start()
    return agent, call, ticker


def posted(app: TwilioSdkApp, path: str) -> list[dict[str, str]]:
    found = [r for r in app.requests if r.path == path]
    assert all(r.valid for r in found), "RequestValidator refused a signature"
    return [r.params for r in found]


async def test_three_callers_hear_each_other_not_themselves_and_the_muted_one_not_at_all(
    app: TwilioSdkApp,
) -> None:
    status = {"status_callback": "/status", "status_callback_event": "start end join leave"}
    app.twiml = room_app(
        a={**status, "end_conference_on_exit": True, "dial": {"action": "/after"}},
        b={**status, "dial": {"action": "/after"}},
        c={**status, "muted": True},
    )
    rooms = GatewayRooms()
    callers = {}
    for name in "abc":
        callers[name] = await caller(app, rooms, name)
        await wait_for(
            lambda: "room" in rooms.rooms and len(rooms.rooms["room"].seats) == len(callers), 3
        )  # noqa: B023
    (room,) = rooms.rooms.values()
    assert room.started
    await wait_for(lambda: all(len(t.played) > 30 for _, _, t in callers.values()), 3)
    started = {name: len(t.played) for name, (_, _, t) in callers.items()}
    await wait_for(
        lambda: all(len(t.played) > started[n] + 15 for n, (_, _, t) in callers.items()), 3
    )
    heard = {name: hears(t) for name, (_, _, t) in callers.items()}
    assert heard["a"] == {"a": False, "b": True, "c": False, "wait": False}  # c is muted
    assert heard["b"] == {"a": True, "b": False, "c": False, "wait": False}
    assert heard["c"] == {"a": True, "b": True, "c": False, "wait": False}  # c still hears
    # a leaves (endConferenceOnExit): the room ends for b and c, whose TwiML goes on
    agent_a, call_a, ticker_a = callers["a"]
    await ticker_a.stop()
    await agent_a.close("remote-bye")
    for name in "bc":
        await wait_for(lambda: callers[name][1].hangups, 3)  # noqa: B023  the <Hangup> after
    assert "room" not in rooms.rooms
    after = posted(app, "/after")
    assert sorted(p["CallSid"] for p in after) == sorted(call_sid_of(f"{n}@test") for n in "ab")
    assert {p["DialCallStatus"] for p in after} == {"answered"}  # Twilio's, for a room
    assert {p["DialBridged"] for p in after} == {"true"}
    assert not any("DialCallDuration" in p or "DialCallSid" in p for p in after)
    for name in "bc":
        agent, _, ticker = callers[name]
        await ticker.stop()
        await agent.close("remote-bye")
    events = posted(app, "/status")
    kinds = [e["StatusCallbackEvent"] for e in events]
    assert kinds.count("participant-join") == 3 and kinds.count("participant-leave") == 3
    assert kinds.count("conference-start") == 1 and kinds.count("conference-end") == 1
    assert sorted(int(e["SequenceNumber"]) for e in events) == list(range(1, 9))
    assert {e["ConferenceSid"] for e in events} == {room.sid} and room.sid.startswith("CF")
    assert {e["FriendlyName"] for e in events} == {"room"}
    (end,) = [e for e in events if e["StatusCallbackEvent"] == "conference-end"]
    assert end["ReasonConferenceEnded"] == "participant-with-end-conference-on-exit-left"
    assert end["CallSidEndingConference"] == call_sid_of("a@test")
    joins = {e["CallSid"]: e for e in events if e["StatusCallbackEvent"] == "participant-join"}
    assert joins[call_sid_of("c@test")]["Muted"] == "true"
    assert joins[call_sid_of("a@test")]["EndConferenceOnExit"] == "true"
    assert all(e["Timestamp"].endswith(" +0000") for e in events)  # Twilio's RFC 2822
    left = {e["CallSid"]: e["ReasonParticipantLeft"]
            for e in events if e["StatusCallbackEvent"] == "participant-leave"}  # fmt: skip
    assert left == {call_sid_of("a@test"): "participant_hung_up",
                    call_sid_of("b@test"): "moderator_ended_conference",
                    call_sid_of("c@test"): "moderator_ended_conference"}  # fmt: skip


async def test_a_coach_is_heard_by_the_coached_caller_only(app: TwilioSdkApp) -> None:
    status = {"status_callback": "/status", "status_callback_event": "join"}
    app.twiml = room_app(a=status, b=status, c={**status, "coach": call_sid_of("a@test")})
    rooms = GatewayRooms()
    callers = {}
    for name in "abc":
        callers[name] = await caller(app, rooms, name)
        await wait_for(
            lambda: "room" in rooms.rooms and len(rooms.rooms["room"].seats) == len(callers), 3
        )  # noqa: B023
    await wait_for(lambda: all(len(t.played) > 30 for _, _, t in callers.values()), 3)
    started = {name: len(t.played) for name, (_, _, t) in callers.items()}
    await wait_for(
        lambda: all(len(t.played) > started[n] + 15 for n, (_, _, t) in callers.items()), 3
    )
    heard = {name: hears(t) for name, (_, _, t) in callers.items()}
    assert heard["a"] == {"a": False, "b": True, "c": True, "wait": False}  # the whisper
    assert heard["b"] == {"a": True, "b": False, "c": False, "wait": False}
    assert heard["c"] == {"a": True, "b": True, "c": False, "wait": False}
    for agent, _, ticker in callers.values():
        await ticker.stop()
        await agent.close("remote-bye")
    joins = {e["CallSid"]: e for e in posted(app, "/status")}
    assert joins[call_sid_of("c@test")]["Coaching"] == "true"
    assert joins[call_sid_of("a@test")]["Coaching"] == "false"


async def test_waiting_callers_hear_the_wait_url_until_a_starter_joins(app: TwilioSdkApp) -> None:
    waiter = {"start_conference_on_enter": False, "wait_url": "/wait", "beep": False}
    app.twiml = room_app(a=waiter, b=waiter, c={"beep": False})
    rooms = GatewayRooms()
    a = await caller(app, rooms, "a")
    b = await caller(app, rooms, "b")
    await wait_for(lambda: hears(a[2])["wait"] and hears(b[2])["wait"], 4)
    assert not hears(a[2])["b"] and not hears(b[2])["a"]  # waiting: nobody mixed
    assert not rooms.rooms["room"].started
    c = await caller(app, rooms, "c")
    await wait_for(lambda: rooms.rooms["room"].started, 3)
    await wait_for(lambda: hears(a[2]) == {"a": False, "b": True, "c": True, "wait": False}, 3)
    for agent, _, ticker in (a, b, c):
        await ticker.stop()
        await agent.close("remote-bye")
    assert "room" not in rooms.rooms


async def test_hangup_on_star_leaves_and_the_twiml_goes_on(app: TwilioSdkApp) -> None:
    app.twiml = room_app(
        a={"dial": {"hangup_on_star": True, "action": "/after"}, "status_callback": "/status",
           "status_callback_event": "leave"},
    )  # fmt: skip
    rooms = GatewayRooms()
    a = await caller(app, rooms, "a")
    b = await caller(app, rooms, "b")
    await wait_for(lambda: "room" in rooms.rooms and rooms.rooms["room"].started, 3)
    a[0].on_dtmf("*")
    await wait_for(lambda: a[1].hangups, 3)  # the action's <Hangup>
    assert posted(app, "/after")[0]["DialCallStatus"] == "answered"
    assert len(rooms.rooms["room"].seats) == 1 and b[1].hangups == 0  # b stays, alone
    await wait_for(lambda: posted(app, "/status"), 3)
    (left,) = posted(app, "/status")
    assert left["StatusCallbackEvent"] == "participant-leave"
    assert left["ReasonParticipantLeft"] == "hangup_on_star"
    assert left["ParticipantCallStatus"] == "in-progress"  # its TwiML goes on
    for agent, _, ticker in (a, b):
        await ticker.stop()
        await agent.close("remote-bye")


async def test_a_full_room_refuses_the_next_caller_who_goes_on(app: TwilioSdkApp) -> None:
    app.twiml = room_app(
        a={"max_participants": 2},
        c={"dial": {"action": "/after"}},
    )
    rooms = GatewayRooms()
    a = await caller(app, rooms, "a")
    b = await caller(app, rooms, "b")
    await wait_for(lambda: "room" in rooms.rooms and len(rooms.rooms["room"].seats) == 2, 3)
    c = await caller(app, rooms, "c")
    await wait_for(lambda: c[1].hangups, 3)
    assert posted(app, "/after")[0]["DialCallStatus"] == "failed"
    assert posted(app, "/after")[0]["DialBridged"] == "false"
    assert len(rooms.rooms["room"].seats) == 2
    for agent, _, ticker in (a, b, c):
        await ticker.stop()
        await agent.close("remote-bye")


async def test_without_rooms_the_verb_is_refused_and_the_twiml_goes_on(app: TwilioSdkApp) -> None:
    app.twiml = room_app()
    call = FakeCall()
    agent = TwimlAgent(call, settings(url=app.url))
    await agent.prepare()
    agent.on_answered()
    await wait_for(lambda: call.hangups, 3)
    await agent.close("remote-bye")
    assert agent.steps == ["conference", "end hangup"]


async def test_a_caller_holding_is_not_heard_and_its_hold_is_posted(app: TwilioSdkApp) -> None:
    """What a held phone sends is its hold music: kept out of the room."""
    status = {"status_callback": "/status", "status_callback_event": "hold"}
    app.twiml = room_app(a=status, b=status)
    rooms = GatewayRooms()
    a = await caller(app, rooms, "a")
    b = await caller(app, rooms, "b")
    await wait_for(lambda: hears(b[2])["a"], 3)
    a[0].on_hold(True)
    await wait_for(lambda: not hears(b[2])["a"], 3)
    a[0].on_hold(False)
    await wait_for(lambda: hears(b[2])["a"], 3)
    await wait_for(lambda: len(posted(app, "/status")) == 2, 3)
    events = posted(app, "/status")
    assert [(e["StatusCallbackEvent"], e["Hold"]) for e in events] == [
        ("participant-hold", "true"), ("participant-unhold", "false"),
    ]  # fmt: skip
    assert {e["CallSid"] for e in events} == {call_sid_of("a@test")}
    for agent, _, ticker in (a, b):
        await ticker.stop()
        await agent.close("remote-bye")


async def test_time_limit_takes_the_caller_out_of_the_room(app: TwilioSdkApp) -> None:
    status = {"status_callback": "/status", "status_callback_event": "leave"}
    app.twiml = room_app(a={**status, "dial": {"time_limit": 1, "action": "/after"}})
    rooms = GatewayRooms()
    a = await caller(app, rooms, "a")
    b = await caller(app, rooms, "b")
    await wait_for(lambda: "room" in rooms.rooms and rooms.rooms["room"].started, 3)
    await wait_for(lambda: a[1].hangups, 3)  # out after a second: the action's <Hangup>
    (after,) = posted(app, "/after")
    assert after["DialCallStatus"] == "answered" and "DialCallDuration" not in after
    await wait_for(lambda: posted(app, "/status"), 3)
    assert posted(app, "/status")[0]["ReasonParticipantLeft"] == "time_limit"
    for agent, _, ticker in (a, b):
        await ticker.stop()
        await agent.close("remote-bye")


async def test_the_rooms_recording_is_written_and_reported_at_its_end(
    app: TwilioSdkApp, tmp_path: Path
) -> None:
    """``record`` asked by a; the room ends when b, the last, hangs up: b writes the mix
    and posts a's ``recordingStatusCallback``."""
    recorded = {"record": "record-from-start", "recording_status_callback": "/rec"}
    app.twiml = room_app(a=recorded)
    rooms = GatewayRooms()
    where = {"recording_dir": tmp_path, "recording_url": "https://rec.example/r"}
    a = await caller(app, rooms, "a", **where)
    b = await caller(app, rooms, "b", **where)
    await wait_for(lambda: "room" in rooms.rooms and rooms.rooms["room"].started, 3)
    room = rooms.rooms["room"]
    await wait_for(lambda: room.mixer.rounds >= 25, 3)  # half a second mixed
    for agent, _, ticker in (a, b):
        await ticker.stop()
        await agent.close("remote-bye")
    (form,) = posted(app, "/rec")
    assert form["RecordingStatus"] == "completed" and form["ConferenceSid"] == room.sid
    assert form["RecordingSource"] == "Conference"  # Twilio's, for a room's recording
    sid = form["RecordingSid"]
    assert form["RecordingUrl"] == f"https://rec.example/r/{sid}"
    data = (tmp_path / f"{sid}.wav").read_bytes()  # μ-law (format 7: not for wave.open)
    assert data[:4] == b"RIFF"
    mix = g711.ulaw_to_linear(data[data.index(b"data") + 8 :])
    assert len(mix) >= 2 * 8000 * 0.4  # most of that half second (trimmed at the ends)
    assert level(mix, TONES["a"]) > 800 and level(mix, TONES["b"]) > 800  # both, mixed


@pytest.mark.parametrize("asker", ["a", "c"])
async def test_in_progress_is_posted_once_as_the_recording_starts(
    app: TwilioSdkApp, tmp_path: Path, asker: str
) -> None:
    """``recordingStatusCallbackEvent="in-progress completed"``, asked by a (the room's
    start starts it) or by c joining the started room (its join starts it)."""
    recorded = {"record": "record-from-start", "recording_status_callback": "/rec",
                "recording_status_callback_event": "in-progress completed"}  # fmt: skip
    app.twiml = room_app(**{asker: recorded})
    rooms = GatewayRooms()
    where = {"recording_dir": tmp_path, "recording_url": "https://rec.example/r"}
    callers = [await caller(app, rooms, "a", **where), await caller(app, rooms, "b", **where)]
    await wait_for(lambda: "room" in rooms.rooms and rooms.rooms["room"].started, 3)
    room = rooms.rooms["room"]
    if asker == "c":
        await wait_for(lambda: room.mixer.rounds >= 10, 3)
        assert not posted(app, "/rec")  # nobody asked yet
        callers.append(await caller(app, rooms, "c", **where))
    await wait_for(lambda: posted(app, "/rec"), 3)
    await wait_for(lambda: room.mixer.rounds >= 40, 3)
    for agent, _, ticker in callers:
        await ticker.stop()
        await agent.close("remote-bye")
    forms = posted(app, "/rec")
    assert [f["RecordingStatus"] for f in forms] == ["in-progress", "completed"]
    started, done = forms
    assert started["RecordingSid"] == done["RecordingSid"] and started["ConferenceSid"] == room.sid
    assert "RecordingDuration" not in started and "RecordingUrl" not in started
    assert started["RecordingStartTime"] == done["RecordingStartTime"]


async def test_the_wait_url_follows_its_redirect_and_refuses_other_verbs(
    app: TwilioSdkApp,
) -> None:
    app.twiml = room_app(a={"wait_url": "/hold", "wait_method": "GET"})
    rooms = GatewayRooms()
    a = await caller(app, rooms, "a")
    await wait_for(lambda: hears(a[2])["wait"], 4)
    paths = [r.path for r in app.requests if r.path in ("/hold", "/wait")]
    assert paths[:2] == ["/hold", "/wait"] and all(r.valid for r in app.requests)
    await a[2].stop()
    await a[0].close("remote-bye")
    refused = [line for line in a[0].record.lines if line.get("type") == "twiml_refused"]
    assert refused and refused[0]["verb"] == "Gather in waitUrl"


@pytest.mark.parametrize(
    ("reason", "status"),
    [("participant_hung_up", "completed"), ("hangup_on_star", "in-progress"),
     ("time_limit", "in-progress"), ("moderator_ended_conference", "in-progress"),
     ("conference_ended_via_api", "in-progress")],
)  # fmt: skip
def test_a_participant_leaving_says_its_own_calls_status(reason: str, status: str) -> None:
    """Twilio's ``ParticipantCallStatus`` on ``participant-leave``: the call is over when it
    hung up; otherwise its TwiML goes on after the ``<Dial>``."""
    event = RoomEvent("participant-leave", 3, 1_700_000_000.0, who="a@test", reason=reason)
    form = status_form(event, "CF" + "0" * 32, "room", "AC" + "0" * 32)
    assert form["ParticipantCallStatus"] == status and form["ReasonParticipantLeft"] == reason
    start = RoomEvent("conference-start", 1, 1_700_000_000.0)
    assert "ParticipantCallStatus" not in status_form(start, "CF1", "room", "AC1")


def test_the_rooms_end_is_one_of_twilios_reasons_for_the_others_leaving() -> None:
    assert ended_reason("conference-ended-via-api") == "conference_ended_via_api"
    for end in ("participant-with-end-conference-on-exit-left",
                "participant-with-end-conference-on-exit-kicked"):  # fmt: skip
        assert ended_reason(end) == "moderator_ended_conference"


def test_the_end_says_why_in_words_too() -> None:
    end = RoomEvent("conference-end", 9, 1_700_000_000.0, reason="last-participant-left")
    form = status_form(end, "CF1", "room", "AC1")
    assert form["ReasonConferenceEnded"] == "last-participant-left"
    assert form["Reason"] == "Last participant left the conference"


async def test_the_app_mutes_and_removes_a_participant_whose_twiml_goes_on(
    app: TwilioSdkApp,
) -> None:
    """What the Participant resource does (sipgw/app/twilio/api/conferences.py): mute,
    then remove; the removed caller's TwiML goes on after the ``<Dial>``."""
    status = {"status_callback": "/status", "status_callback_event": "mute leave"}
    app.twiml = room_app(a={"dial": {"action": "/after"}, **status}, b=status)
    rooms = GatewayRooms()
    a = await caller(app, rooms, "a")
    b = await caller(app, rooms, "b")
    await wait_for(lambda: hears(b[2])["a"], 3)
    room = rooms.rooms["room"]
    seat_a = next(s for s in room.seats if s.who == "a@test")
    seat_a.set_muted(True, 1.0)
    await wait_for(lambda: not hears(b[2])["a"], 3)
    seat_a.kick(2.0)
    await wait_for(lambda: a[1].hangups, 3)  # the action's <Hangup>
    assert posted(app, "/after")[0]["DialCallStatus"] == "answered"
    assert [s.who for s in room.seats] == ["b@test"] and not room.over
    await wait_for(lambda: len(posted(app, "/status")) == 2, 3)
    mute, left = posted(app, "/status")
    assert (mute["StatusCallbackEvent"], mute["Muted"]) == ("participant-mute", "true")
    assert left["StatusCallbackEvent"] == "participant-leave"
    assert left["ReasonParticipantLeft"] == "participant_updated_via_api"
    assert left["ParticipantCallStatus"] == "in-progress"
    for agent, _, ticker in (a, b):
        await ticker.stop()
        await agent.close("remote-bye")


async def test_the_app_ends_the_room_and_every_caller_goes_on(app: TwilioSdkApp) -> None:
    status = {"status_callback": "/status", "status_callback_event": "end"}
    after = {"dial": {"action": "/after"}}
    app.twiml = room_app(a={**after, **status}, b=after)
    rooms = GatewayRooms()
    a = await caller(app, rooms, "a")
    b = await caller(app, rooms, "b")
    await wait_for(lambda: "room" in rooms.rooms and rooms.rooms["room"].started, 3)
    room = rooms.rooms["room"]
    room.end(5.0)
    await wait_for(lambda: a[1].hangups and b[1].hangups, 3)
    assert not room.seats and room.end_reason == "conference-ended-via-api"
    assert "room" not in rooms.rooms and list(rooms.ended) == [room]
    await wait_for(lambda: posted(app, "/status"), 3)
    (end,) = posted(app, "/status")
    assert end["StatusCallbackEvent"] == "conference-end"
    assert end["ReasonConferenceEnded"] == "conference-ended-via-api"
    for agent, _, ticker in (a, b):
        await ticker.stop()
        await agent.close("remote-bye")


async def test_the_app_holds_a_caller_with_music_it_alone_hears_and_the_room_does_not_hear_it(
    app: TwilioSdkApp,
) -> None:
    """``Hold`` with a ``HoldUrl`` (the Participant resource's): the held caller hears that
    music (TwiML: ``<Play>`` of the 1500 Hz file), not the room, and is not heard; resumed,
    both ways again."""
    status = {"status_callback": "/status", "status_callback_event": "hold"}
    app.twiml = room_app(a=status, b=status)
    rooms = GatewayRooms()
    a = await caller(app, rooms, "a")
    b = await caller(app, rooms, "b")
    await wait_for(lambda: hears(b[2])["a"] and hears(a[2])["b"], 3)
    seat_a = next(s for s in rooms.rooms["room"].seats if s.who == "a@test")
    seat_a.set_held(True, 1.0, (app.url.replace("/voice", "/wait"), "POST"))
    await wait_for(lambda: hears(a[2])["wait"] and not hears(a[2])["b"], 3)
    await wait_for(lambda: not hears(b[2])["a"], 3)
    assert not hears(b[2])["wait"]  # the music is the held caller's alone
    seat_a.set_held(False, 2.0)
    await wait_for(lambda: hears(a[2])["b"] and not hears(a[2])["wait"], 3)
    await wait_for(lambda: hears(b[2])["a"], 3)
    await wait_for(lambda: len(posted(app, "/status")) == 2, 3)
    assert [e["StatusCallbackEvent"] for e in posted(app, "/status")] == [
        "participant-hold", "participant-unhold",
    ]  # fmt: skip
    assert [r.path for r in app.requests].count("/wait") >= 1
    for agent, _, ticker in (a, b):
        await ticker.stop()
        await agent.close("remote-bye")


@pytest.mark.parametrize("to", ["", "a@test"])
async def test_an_announcement_is_heard_by_the_room_or_one_caller_and_its_end_posted(
    app: TwilioSdkApp, to: str
) -> None:
    """``AnnounceUrl`` (the Conference or the Participant resource's): an audio file, heard
    over the talk by everybody, or by one caller alone; ``announcement-end`` posted once."""
    status = {"status_callback": "/status", "status_callback_event": "announcement"}
    app.twiml = room_app(a=status, b=status)
    rooms = GatewayRooms()
    a = await caller(app, rooms, "a")
    b = await caller(app, rooms, "b")
    await wait_for(lambda: hears(b[2])["a"] and hears(a[2])["b"], 3)
    room = rooms.rooms["room"]
    music = f"http://127.0.0.1:{app.http_port}/music.wav"
    since = len(b[2].played)
    assert room.announce(Announcement(music, "GET", to=to))
    await wait_for(lambda: hears(a[2], 5)["wait"], 3)
    assert hears(a[2], 5)["b"]  # over the room's talk
    if not to:
        await wait_for(lambda: hears(b[2], 5)["wait"], 3)
    await wait_for(lambda: posted(app, "/status"), 3)
    if to:  # b heard none of it, at any time
        played = [f for _, f in b[2].played[since:]]
        assert not any(tones_in(played[i : i + 5])["wait"] for i in range(0, len(played), 5))
    (end,) = posted(app, "/status")
    assert end["StatusCallbackEvent"] == "announcement-end"
    assert end.get("CallSid", "") == (call_sid_of(to) if to else "")
    await wait_for(lambda: not hears(a[2], 5)["wait"], 3)  # half a second: over
    for agent, _, ticker in (a, b):
        await ticker.stop()
        await agent.close("remote-bye")


SILENT: bytes = b"\xff" * 160
PERIOD: int = 53
"""Ticks of one talkspurt and the quiet after it (:class:`Bursts`)."""


class Bursts:
    """A caller's tone in talkspurts once its room started (silence before): 400 ms of
    quiet (the detector learning the line), then 200 ms, a 160 ms gap between words, 200
    ms, and 500 ms quiet, over and over; :attr:`ticks` since the room started."""

    def __init__(self, name: str, rooms: GatewayRooms) -> None:
        self.name, self.rooms = name, rooms
        self.first: int | None = None
        self.last = 0

    @property
    def ticks(self) -> int:
        return 0 if self.first is None else self.last - self.first

    def __call__(self, n: int) -> bytes:
        self.last = n
        room = self.rooms.rooms.get("room")
        if self.first is None and room is not None and room.started:
            self.first = n
        if self.first is None or n - self.first < 20:
            return SILENT
        k = (n - self.first - 20) % PERIOD
        return ulaw_tone(TONES[self.name], n * 160) if k < 10 or 18 <= k < 28 else SILENT


async def test_speaker_posts_each_talkspurt_of_a_heard_caller_once(app: TwilioSdkApp) -> None:
    """a asks for ``speaker``; b talks in bursts; c, muted, talks too: only b's speech is
    posted, to a's callback, a start and a stop a talkspurt (the gap between its words
    does not end it), with b's fields."""
    app.twiml = room_app(
        a={"status_callback": "/status", "status_callback_event": "speaker"},
        b={"status_callback": "/other", "status_callback_event": "join",
           "participant_label": "bee"},
        c={"muted": True, "beep": False},
    )  # fmt: skip
    rooms = GatewayRooms()
    voice = Bursts("b", rooms)
    a = await talker(app, rooms, "a", lambda n: SILENT)
    b = await talker(app, rooms, "b", voice)
    c = await talker(app, rooms, "c", Bursts("c", rooms))
    await wait_for(lambda: "room" in rooms.rooms and len(rooms.rooms["room"].seats) == 3, 3)

    def stops() -> int:
        return [e["StatusCallbackEvent"] for e in posted(app, "/status")].count(
            "participant-speech-stop"
        )

    await wait_for(lambda: stops() >= 2, 5)
    # the second talkspurt's stop is decided 300 ms after its end, not at its gap
    assert voice.ticks >= 20 + PERIOD + 28 + 14
    (room,) = rooms.rooms.values()
    for agent, _, ticker in (a, b, c):
        await ticker.stop()
        await agent.close("remote-bye")
    events = posted(app, "/status")
    kinds = [e["StatusCallbackEvent"] for e in events]
    assert kinds[:4] == ["participant-speech-start", "participant-speech-stop"] * 2
    assert set(kinds) == {"participant-speech-start", "participant-speech-stop"}
    assert {e["CallSid"] for e in events} == {call_sid_of("b@test")}  # c muted, a silent
    first = events[0]
    assert first["ConferenceSid"] == room.sid and first["FriendlyName"] == "room"
    assert first["ParticipantLabel"] == "bee"
    assert (first["Muted"], first["Hold"], first["Coaching"]) == ("false", "false", "false")
    assert first["StartConferenceOnEnter"] == "true" and first["EndConferenceOnExit"] == "false"
    sequences = [int(e["SequenceNumber"]) for e in events]
    assert sequences == sorted(sequences)
    # b's own callback did not ask for speaker: its joins only
    assert {e["StatusCallbackEvent"] for e in posted(app, "/other")} == {"participant-join"}
