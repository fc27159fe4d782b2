"""Twilio's Conference and Participant resources: this process's ``<Dial><Conference>`` rooms.

With the REST subset on (:mod:`sipgw.app.twilio.api.endpoints`: the same Basic auth, throttle
and error JSON), an app's Twilio client reads and changes the rooms the calls of this
gateway process are in (:mod:`sipgw.app.conferences`):

- ``GET .../Conferences.json`` (``FriendlyName``, ``Status``: ``init``, ``in-progress``,
  ``completed``): the rooms, the open ones then the last ended ones, newest first; paged
  (:func:`_page`: ``PageSize``, ``Page``, ``PageToken``, as the SDK's ``Page`` reads them).
- ``GET .../Conferences/{Sid}.json``: one room. ``POST`` with ``Status=completed`` ends it
  (:meth:`~sipgw.agent.multiparty.conferences.ConferenceRoom.end`: ``conference-ended-via-api``);
  with ``AnnounceUrl`` (``AnnounceMethod``) announces that to the started room
  (:meth:`~sipgw.agent.multiparty.conferences.ConferenceRoom.announce`: a participant's agent makes
  the audio, ``announcement-end`` once heard).
- ``GET .../Conferences/{Sid}/Participants.json`` (``Muted``, ``Hold``, ``Coaching``):
  its participants, in the order they joined; paged likewise.
- ``GET .../Participants/{CallSid}.json`` (the participant's ``CallSid`` or its label):
  one participant. ``POST`` with ``Muted`` and/or ``Hold`` (``true``/``false``) mutes or
  holds it (held: nobody hears it, it hears its ``HoldUrl``, ``HoldMethod``, or silence);
  ``AnnounceUrl`` is announced to it alone; ``Coaching=true`` with ``CallSidToCoach`` (a
  participant of the room) makes it that one's coach (heard by it only),
  ``Coaching=false`` heard by all again, ``EndConferenceOnExit``/``BeepOnExit`` change its
  exit rules (``participant-modify``); ``DELETE`` removes it from the room
  (:meth:`~sipgw.agent.multiparty.conferences.Seat.kick`: its TwiML goes on after the ``<Dial>``):
  204.
- ``POST .../Conferences/{Sid or FriendlyName}/Participants.json`` (``From``, ``To``,
  ``Label``, ``Muted``, ``Beep``, ``StartConferenceOnEnter``, ``EndConferenceOnExit``,
  ``WaitUrl``, ``MaxParticipants``, ``ConferenceStatusCallback`` and its events,
  ``ConferenceRecord``, ``ConferenceTrim``, ``ConferenceRecordingStatusCallback`` and its
  method and events, ``Coaching`` and ``CallSidToCoach`` (``coach``), ``TimeLimit``,
  ``EarlyMedia`` (checked, not followed: nothing of the call is heard before it answers),
  ``StatusCallback`` and its events, ``Timeout``): a new call placed as the Calls
  resource's create places one (the same placer, the outbound rules and dial allow-list),
  whose TwiML is ``<Dial><Conference>`` of that room with those attributes
  (:func:`participant_twiml`): once answered it joins. 201 and the Participant resource,
  ``queued``; the call's own resource is the Calls resource's.

Each change is the room's event (``participant-mute``/``-unmute``, ``-hold``/``-unhold``,
``participant-modify``, ``participant-leave``, ``conference-end``, ``announcement-end``),
posted to the participants' conference ``statusCallback`` as the room's own events are
(:mod:`sipgw.agent.twiml.conference`).
Parameters Twilio has and this subset does not (``WaitUrl`` on an update, ``Region``,
``Record``...) are refused by name (422, 20422).

A room lives in one gateway process and is not in the cluster's shared table: another
gateway (or worker) does not know its ``ConferenceSid`` and answers 404, where the Call
resource's update would be forwarded to the gateway that carries the call.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Final
from urllib.parse import urlencode, urlsplit
from xml.sax.saxutils import escape, quoteattr

from aiohttp import web

from sipgw.agent.multiparty.conferences import Announcement, ConferenceRoom, Seat
from sipgw.agent.twiml.webhook import call_sid_of
from sipgw.app.conferences import GatewayRooms
from sipgw.app.twilio.api.resource import (
    API_VERSION,
    CallFacts,
    TwilioError,
    not_found,
    rfc2822,
)
from sipgw.app.twilio.api.status import parse_events

__all__ = [
    "CONFERENCE_UPDATE_FIELDS",
    "PARTICIPANT_CREATE_FIELDS",
    "PARTICIPANT_UPDATE_FIELDS",
    "ConferenceResources",
    "conference_resource",
    "participant_resource",
    "participant_twiml",
]

CONFERENCE_UPDATE_FIELDS = frozenset({"Status", "AnnounceUrl", "AnnounceMethod"})
"""The parameters of a conference update this subset takes."""
PARTICIPANT_UPDATE_FIELDS = frozenset({
    "Muted", "Hold", "HoldUrl", "HoldMethod", "AnnounceUrl", "AnnounceMethod", "Coaching",
    "CallSidToCoach", "BeepOnExit", "EndConferenceOnExit",
})  # fmt: skip
"""The parameters of a participant update this subset takes."""
PAGE_SIZE: Final = 50
"""A list's page size when the request gives none (Twilio's)."""
MAX_PAGE_SIZE: Final = 1000

PARTICIPANT_CREATE_FIELDS = frozenset({
    "From", "To", "Label", "Muted", "Beep", "StartConferenceOnEnter", "EndConferenceOnExit",
    "WaitUrl", "WaitMethod", "MaxParticipants", "ConferenceStatusCallback",
    "ConferenceStatusCallbackEvent", "ConferenceStatusCallbackMethod", "StatusCallback",
    "StatusCallbackEvent", "StatusCallbackMethod", "Timeout", "Coaching", "CallSidToCoach",
    "EarlyMedia", "TimeLimit", "ConferenceRecord", "ConferenceTrim",
    "ConferenceRecordingStatusCallback", "ConferenceRecordingStatusCallbackMethod",
    "ConferenceRecordingStatusCallbackEvent",
})  # fmt: skip
"""The parameters of a participant create this subset takes."""
_ATTRIBUTES = {
    "Label": "participantLabel", "Muted": "muted", "Beep": "beep",
    "StartConferenceOnEnter": "startConferenceOnEnter",
    "EndConferenceOnExit": "endConferenceOnExit", "WaitUrl": "waitUrl",
    "WaitMethod": "waitMethod", "MaxParticipants": "maxParticipants",
    "ConferenceStatusCallback": "statusCallback",
    "ConferenceStatusCallbackMethod": "statusCallbackMethod", "CallSidToCoach": "coach",
    "ConferenceTrim": "trim", "ConferenceRecordingStatusCallback": "recordingStatusCallback",
    "ConferenceRecordingStatusCallbackMethod": "recordingStatusCallbackMethod",
}  # fmt: skip
"""A create's parameter -> the ``<Conference>`` attribute it becomes."""

Dial = Callable[
    [str, str, str | None, str | None, int, str | None, frozenset[str], dict[str, str]],
    Awaitable[CallFacts],
]
"""Places a participant's call: (To, From, Url, TwiML, Timeout, StatusCallback, its events,
machine detection), as
the Calls resource's create places one (:meth:`~sipgw.app.twilio.api.endpoints.TwilioRest.
place_call`)."""

Form = Callable[[web.Request, frozenset[str]], Awaitable[dict[str, list[str]]]]
"""Reads a request's form, refusing parameters outside the set (the REST subset's)."""


def _status(room: ConferenceRoom) -> str:
    if room.over:
        return "completed"
    return "in-progress" if room.started else "init"


def conference_resource(room: ConferenceRoom, account_sid: str) -> dict[str, Any]:
    """The Conference resource's JSON."""
    uri = f"/{API_VERSION}/Accounts/{account_sid}/Conferences/{room.sid}"
    return {
        "sid": room.sid,
        "account_sid": account_sid,
        "friendly_name": room.name,
        "status": _status(room),
        "date_created": rfc2822(room.created),
        "date_updated": rfc2822(room.updated),
        "api_version": API_VERSION,
        "region": "us1",
        "reason_conference_ended": room.end_reason or None,
        "call_sid_ending_conference": call_sid_of(room.ending) if room.ending else None,
        "uri": uri + ".json",
        "subresource_uris": {
            "participants": uri + "/Participants.json",
            "recordings": uri + "/Recordings.json",
        },
    }


def participant_resource(seat: Seat, account_sid: str) -> dict[str, Any]:
    """The Participant resource's JSON."""
    room, call_sid = seat.room, call_sid_of(seat.who)
    coached = seat.rules.coaching
    uri = f"/{API_VERSION}/Accounts/{account_sid}/Conferences/{room.sid}/Participants/{call_sid}"
    return {
        "account_sid": account_sid,
        "call_sid": call_sid,
        "conference_sid": room.sid,
        "label": seat.rules.label or None,
        "call_sid_to_coach": call_sid_of(coached) if coached else None,
        "coaching": bool(coached),
        "date_created": rfc2822(seat.joined),
        "date_updated": rfc2822(seat.updated),
        "end_conference_on_exit": seat.rules.end_on_exit,
        "start_conference_on_enter": seat.rules.start_on_enter,
        "muted": seat.muted,
        "hold": seat.held,
        "status": "connected",
        "queue_time": None,
        "uri": uri + ".json",
    }


_CONFERENCE_EVENTS_DEFAULT = "start end"
"""``ConferenceStatusCallbackEvent``'s default (the Participant create's, in the Twilio SDK's
docstring: "Defaults to `start end`")."""


_RECORD: Final = {
    "true": "record-from-start",
    "false": "do-not-record",
    "record-from-start": "record-from-start",
    "do-not-record": "do-not-record",
}
"""``ConferenceRecord``'s values -> ``<Conference record>``'s."""


def participant_twiml(name: str, form: dict[str, list[str]]) -> str:
    """The TwiML a created participant's call runs: ``<Dial><Conference>`` of room ``name``
    with the create's attributes (:data:`_ATTRIBUTES`; ``ConferenceRecord`` as ``record``;
    ``ConferenceStatusCallbackEvent`` and ``ConferenceRecordingStatusCallbackEvent`` values
    joined by spaces, ``ConferenceStatusCallbackEvent`` ``start end`` by default with a
    ``ConferenceStatusCallback``, as the Participant resource's create has it), ``TimeLimit``
    the ``<Dial>``'s, then ``<Hangup/>``."""
    attributes = "".join(
        f" {attribute}={quoteattr(form[field][-1])}"
        for field, attribute in _ATTRIBUTES.items() if form.get(field)
    )  # fmt: skip
    record = (form.get("ConferenceRecord") or [""])[-1].strip().lower()
    if record:
        attributes += f" record={quoteattr(_RECORD.get(record, record))}"
    for field, attribute in (("ConferenceStatusCallbackEvent", "statusCallbackEvent"),
                             ("ConferenceRecordingStatusCallbackEvent",
                              "recordingStatusCallbackEvent")):  # fmt: skip
        events = " ".join(form.get(field, []))
        if (
            not events
            and field == "ConferenceStatusCallbackEvent"
            and form.get("ConferenceStatusCallback")
        ):
            events = _CONFERENCE_EVENTS_DEFAULT
        if events:
            attributes += f" {attribute}={quoteattr(events)}"
    limit = (form.get("TimeLimit") or [""])[-1].strip()
    dial = f"<Dial timeLimit={quoteattr(limit)}>" if limit else "<Dial>"
    return (f"<Response>{dial}<Conference{attributes}>{escape(name)}</Conference></Dial>"
            "<Hangup/></Response>")  # fmt: skip


def _whole(query: dict[str, list[str]], name: str, default: int, low: int, high: int) -> int:
    raw = (query.get(name) or [""])[-1].strip()
    if not raw:
        return default
    if not raw.isascii() or not raw.isdigit() or not low <= int(raw) <= high:
        raise TwilioError(400, 20422, f"{name} {raw[:20]!r}: must be {low} to {high}")
    return int(raw)


def _page(key: str, request: web.Request, items: list[dict[str, Any]]) -> dict[str, Any]:
    """One page of ``items`` as Twilio's list resources give it, and the SDK reads it
    (``twilio.base.page.Page``: ``next_page_uri`` null ends a ``list()`` or ``stream()``).

    ``PageSize`` (50; at most 1000), ``Page`` (0 on), ``PageToken`` (``PT`` and the first
    item's index, as this page's ``next_page_uri`` gives it; without one, the page starts
    at ``Page`` × ``PageSize``). The other query parameters (the filters) stay in the pages'
    URIs.

    Raises:
        TwilioError: a size, number or token that is not one.
    """
    query = {name: request.query.getall(name) for name in request.query}
    size = _whole(query, "PageSize", PAGE_SIZE, 1, MAX_PAGE_SIZE)
    number = _whole(query, "Page", 0, 0, 10**6)
    token = (query.get("PageToken") or [""])[-1].strip()
    start = number * size
    if token:
        if not token.startswith("PT") or not token[2:].isascii() or not token[2:].isdigit():
            raise TwilioError(400, 20422, f"PageToken {token[:40]!r}: not one of this list's")
        start = int(token[2:])
    filters = [
        (n, v) for n in query for v in query[n] if n not in ("PageSize", "Page", "PageToken")
    ]

    def uri(page: int, first: int | None) -> str:
        params = [*filters, ("PageSize", str(size)), ("Page", str(page))]
        if first is not None:
            params.append(("PageToken", f"PT{first}"))
        return f"{request.path}?{urlencode(params)}"

    shown = items[start : start + size]
    more = start + size < len(items)
    return {
        key: shown,
        "first_page_uri": uri(0, None),
        "next_page_uri": uri(number + 1, start + size) if more else None,
        "previous_page_uri": uri(number - 1, max(start - size, 0)) if start > 0 else None,
        "page": number,
        "page_size": size,
        "start": start,
        "end": start + max(len(shown) - 1, 0),
        "uri": request.path_qs,
    }


def _url(form: dict[str, list[str]], name: str) -> tuple[str, str] | None:
    """An ``...Url`` parameter (http or https) and its ``...Method`` (GET or POST; POST)."""
    url = (form.get(name + "Url") or [""])[-1].strip()
    method = (form.get(name + "Method") or ["POST"])[-1].strip().upper() or "POST"
    if method not in ("GET", "POST"):
        raise TwilioError(400, 20422, f"{name}Method {method[:20]!r}: must be GET or POST")
    if not url:
        return None
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise TwilioError(400, 20422, f"{name}Url {url[:200]!r} is not an http:// or https:// URL")
    return url, method


def _flag(form: dict[str, list[str]], name: str) -> bool | None:
    values = form.get(name)
    if not values:
        return None
    value = values[-1].strip().lower()
    if value not in ("true", "false"):
        raise TwilioError(400, 20422, f"{name} {values[-1]!r}: must be true or false")
    return value == "true"


def _check_recording(form: dict[str, list[str]]) -> None:
    """``ConferenceRecord``, ``ConferenceTrim`` and ``TimeLimit`` are Twilio's values.

    Raises:
        TwilioError: one is not.
    """
    record = (form.get("ConferenceRecord") or [""])[-1].strip().lower()
    if record and record not in _RECORD:
        raise TwilioError(400, 20422, f"ConferenceRecord {record[:30]!r}: must be one of "
                          f"{', '.join(_RECORD)}")  # fmt: skip
    trim = (form.get("ConferenceTrim") or [""])[-1].strip()
    if trim and trim not in ("trim-silence", "do-not-trim"):
        raise TwilioError(400, 20422, f"ConferenceTrim {trim[:30]!r}: must be trim-silence or "
                          "do-not-trim")  # fmt: skip
    _whole(form, "TimeLimit", 14400, 1, 14400)


class ConferenceResources:
    """The resources' handlers (see the module docstring).

    Args:
        rooms: this process's rooms.
        account_sid: the account.
        form: reads a request's form (the REST subset's checks).
        clock: Unix seconds (the rooms' events).
        dial: places a created participant's call; None: a participant create is 405.
    """

    def __init__(
        self, rooms: GatewayRooms, account_sid: str, form: Form, clock: Callable[[], float],
        dial: Dial | None = None,
    ) -> None:  # fmt: skip
        self.dial = dial
        self.rooms = rooms
        self.account_sid = account_sid
        self.form = form
        self.clock = clock

    def routes(self) -> list[tuple[str, str, Callable[[web.Request], Awaitable[web.Response]]]]:
        """(method, path under ``.../Accounts/{account}/``, handler) of each route."""
        one = "Conferences/{conference}"
        who = one + "/Participants/{participant}.json"
        return [
            ("GET", "Conferences.json", self.list_conferences),
            ("GET", one + ".json", self.fetch_conference),
            ("POST", one + ".json", self.update_conference),
            ("GET", one + "/Participants.json", self.list_participants),
            ("POST", one + "/Participants.json", self.create_participant),
            ("GET", who, self.fetch_participant),
            ("POST", who, self.update_participant),
            ("DELETE", who, self.delete_participant),
        ]

    # -- lookups

    def _all(self) -> list[ConferenceRoom]:
        open_rooms = sorted(self.rooms.rooms.values(), key=lambda r: r.created, reverse=True)
        return [*open_rooms, *reversed(self.rooms.ended)]

    def _room(self, request: web.Request) -> ConferenceRoom:
        sid = request.match_info["conference"]
        room = next((r for r in self._all() if r.sid == sid), None)
        if room is None:
            raise not_found(request.path)
        return room

    def _seat(self, request: web.Request) -> Seat:
        room, key = self._room(request), request.match_info["participant"]
        seat = next((s for s in room.seats if call_sid_of(s.who) == key), None)
        seat = seat or next((s for s in room.seats if key and s.rules.label == key), None)
        if seat is None:
            raise not_found(request.path)
        return seat

    # -- conferences

    async def list_conferences(self, request: web.Request) -> web.Response:
        """The rooms, filtered by ``FriendlyName`` and ``Status``."""
        name, status = request.query.get("FriendlyName"), request.query.get("Status")
        rooms = [
            r for r in self._all()
            if (name is None or r.name == name) and (status is None or _status(r) == status)
        ]  # fmt: skip
        items = [conference_resource(r, self.account_sid) for r in rooms]
        return web.json_response(_page("conferences", request, items))

    async def fetch_conference(self, request: web.Request) -> web.Response:
        """One room."""
        return web.json_response(conference_resource(self._room(request), self.account_sid))

    async def update_conference(self, request: web.Request) -> web.Response:
        """``Status=completed`` ends the room; ``AnnounceUrl`` (``AnnounceMethod``) is
        announced to it."""
        room = self._room(request)
        form = await self.form(request, CONFERENCE_UPDATE_FIELDS)
        status = (form.get("Status") or [""])[-1].strip()
        announce = _url(form, "Announce")
        if (status or announce is None) and status != "completed":
            raise TwilioError(400, 20422, f"Status {status!r}: must be completed")
        if announce is not None and not room.announce(Announcement(*announce)):
            raise TwilioError(400, 20422, f"Conference {room.sid} is not in progress: "
                              "nothing can be announced to it")  # fmt: skip
        if status:
            room.end(self.clock())
        return web.json_response(conference_resource(room, self.account_sid))

    # -- participants

    async def list_participants(self, request: web.Request) -> web.Response:
        """The room's participants, filtered by ``Muted``, ``Hold``, ``Coaching``."""
        seats = list(self._room(request).seats)
        query = {name: [value] for name, value in request.query.items()}
        for name, has in (("Muted", lambda s: s.muted), ("Hold", lambda s: s.held),
                          ("Coaching", lambda s: bool(s.rules.coaching))):  # fmt: skip
            wanted = _flag(query, name)
            if wanted is not None:
                seats = [s for s in seats if has(s) == wanted]
        items = [participant_resource(s, self.account_sid) for s in seats]
        return web.json_response(_page("participants", request, items))

    async def create_participant(self, request: web.Request) -> web.Response:
        """Dial a new participant into the room (its sid, or a name: made on the first
        join)."""
        if self.dial is None:
            raise TwilioError(405, 20004, "Adding participants is not available here")
        key = request.match_info["conference"]
        room = next((r for r in self._all() if r.sid == key), None)
        if room is None and key.startswith("CF") and len(key) == 34:
            raise not_found(request.path)
        if room is not None and room.over:
            raise TwilioError(400, 20422, f"Conference {key} has ended")
        name = room.name if room is not None else key
        form = await self.form(request, PARTICIPANT_CREATE_FIELDS)
        to, from_ = (form.get("To") or [""])[-1].strip(), (form.get("From") or [""])[-1].strip()
        if not to:
            raise TwilioError(400, 21201, "No 'To' number is specified")
        if not from_:
            raise TwilioError(400, 21213, "No 'From' number is specified")
        for method in ("StatusCallbackMethod", "ConferenceStatusCallbackMethod", "WaitMethod"):
            if (form.get(method) or ["POST"])[-1].upper() != "POST":
                raise TwilioError(422, 20422, f"{method}: only POST is supported here")
        try:
            events = parse_events(form.get("StatusCallbackEvent", []))
        except ValueError as exc:
            raise TwilioError(400, 21626, f"Invalid 'StatusCallbackEvent': {exc}") from None
        coaching = _flag(form, "Coaching")
        to_coach = (form.get("CallSidToCoach") or [""])[-1].strip()
        if coaching and not to_coach:
            raise TwilioError(400, 20422, "Coaching=true needs CallSidToCoach")
        if coaching is False:
            form.pop("CallSidToCoach", None)
        _flag(form, "EarlyMedia")  # taken, not followed (docs/twilio-apps.md)
        _check_recording(form)
        raw = (form.get("Timeout") or ["60"])[-1].strip()
        if not raw.isdigit() or not 5 <= int(raw) <= 600:
            raise TwilioError(400, 20422, f"Timeout {raw!r}: must be 5 to 600 seconds")
        callback = (form.get("StatusCallback") or [""])[-1].strip() or None
        twiml = participant_twiml(name, form)
        facts = await self.dial(to, from_, None, twiml, int(raw), callback, events, {})
        label = (form.get("Label") or [""])[-1] or None
        uri = (f"/{API_VERSION}/Accounts/{self.account_sid}/Conferences/"
               f"{room.sid if room is not None else key}/Participants/{facts.sid}")  # fmt: skip
        flag = {name: (form.get(name) or [""])[-1].lower() == "true"
                for name in ("Muted", "EndConferenceOnExit")}  # fmt: skip
        resource = {
            "account_sid": self.account_sid, "call_sid": facts.sid,
            "conference_sid": room.sid if room is not None else None, "label": label,
            "call_sid_to_coach": (form.get("CallSidToCoach") or [""])[-1] or None,
            "coaching": bool(form.get("CallSidToCoach")),
            "date_created": rfc2822(facts.created), "date_updated": rfc2822(facts.created),
            "end_conference_on_exit": flag["EndConferenceOnExit"],
            "start_conference_on_enter":
                (form.get("StartConferenceOnEnter") or ["true"])[-1].lower() != "false",
            "muted": flag["Muted"], "hold": False, "status": "queued", "queue_time": None,
            "uri": uri + ".json",
        }  # fmt: skip
        return web.json_response(resource, status=201)

    async def fetch_participant(self, request: web.Request) -> web.Response:
        """One participant."""
        return web.json_response(participant_resource(self._seat(request), self.account_sid))

    async def update_participant(self, request: web.Request) -> web.Response:
        """``Muted``, ``Hold`` (``HoldUrl``, ``HoldMethod``), ``Coaching`` (with
        ``CallSidToCoach``), ``AnnounceUrl`` (``AnnounceMethod``), ``BeepOnExit``,
        ``EndConferenceOnExit``."""
        seat = self._seat(request)
        form = await self.form(request, PARTICIPANT_UPDATE_FIELDS)
        muted, held = _flag(form, "Muted"), _flag(form, "Hold")
        music, announce = _url(form, "Hold"), _url(form, "Announce")
        end_on_exit, beep_on_exit = _flag(form, "EndConferenceOnExit"), _flag(form, "BeepOnExit")
        to_coach = (form.get("CallSidToCoach") or [""])[-1].strip()
        coaching = _flag(form, "Coaching")
        if coaching is None and to_coach:
            coaching = True
        if music is not None and held is None:
            held = seat.held or None  # a held participant's music changes; else it needs Hold
            if held is None:
                raise TwilioError(400, 20422, "HoldUrl needs Hold=true")
        asked = (muted, held, coaching, announce, end_on_exit, beep_on_exit)
        if all(value is None for value in asked):
            raise TwilioError(400, 20422, "Nothing to update: give Muted, Hold, Coaching, "
                              "AnnounceUrl, BeepOnExit or EndConferenceOnExit")  # fmt: skip
        coached = ""
        if coaching:
            target = next((s for s in seat.room.seats if call_sid_of(s.who) == to_coach), None)
            if target is None or target is seat:
                raise TwilioError(400, 20422, f"CallSidToCoach {to_coach!r}: not another "
                                  "participant of this conference")  # fmt: skip
            coached = target.who
        if announce is not None and not seat.room.announce(Announcement(*announce, to=seat.who)):
            raise TwilioError(400, 20422, f"Participant {call_sid_of(seat.who)} is not in a "
                              "conference in progress: nothing can be announced to it")  # fmt: skip
        now = self.clock()
        if coaching is not None:
            seat.set_coaching(coached, now)
        if muted is not None:
            seat.set_muted(muted, now)
        if held is not None:
            seat.set_held(held, now, music)
        if end_on_exit is not None or beep_on_exit is not None:
            seat.set_exit_rules(end_on_exit, beep_on_exit, now)
        return web.json_response(participant_resource(seat, self.account_sid))

    async def delete_participant(self, request: web.Request) -> web.Response:
        """Remove the participant from the room."""
        self._seat(request).kick(self.clock())
        return web.Response(status=204)
