"""The Participant resource's ``Hold`` with a ``HoldUrl`` between real phones: two baresip
callers in one ``<Dial><Conference>`` room of ``sipgw serve --agent twiml`` (a subprocess,
its REST subset on), the official ``twilio`` SDK holding one of them.

Each phone plays its own tone. Held, the first phone hears the hold music (a 1500 Hz WAV
the ``HoldUrl`` names) and not the room, and the second no longer hears it; resumed, both
hear each other again. The hold and the resume are posted, signed (docs/twilio-api.md,
"Conferences and their participants").
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from twilio.rest import Client
from twilio.twiml.voice_response import Conference, Dial, VoiceResponse

from sipgw.app.evaluation.audio import goertzel_dbfs, read_wav, write_pattern
from sipgw.app.evaluation.gateway_process import GatewayProcess
from sipgw.app.evaluation.ports import free_port
from tests.interop.test_twiml_peers import ACCOUNT, TOKEN
from tests.toolkit.peers.baresip import Baresip
from tests.toolkit.twilio_app import TwilioSdkApp, WebhookRequest

pytestmark = [pytest.mark.timeout(60), pytest.mark.usefixtures("nothing_left_running")]

TONES = {"a": 440.0, "b": 700.0, "music": 1500.0}
HEARD_DBFS = -30.0
"""A tone at -12 dBFS through the mix reads about -15 dBFS; absent, under -50."""


@pytest.fixture
def app() -> Iterator[TwilioSdkApp]:
    peer = TwilioSdkApp(TOKEN).start_in_thread()
    try:
        yield peer
    finally:
        peer.stop_thread()


@pytest.fixture
def music(tmp_workdir: Path) -> Iterator[str]:
    """The hold music's URL: a WAV of 1500 Hz served over HTTP."""
    folder = tmp_workdir / "music"
    write_pattern(folder / "hold.wav", [(TONES["music"], 3.0)], -12.0)
    handler = functools.partial(SimpleHTTPRequestHandler, directory=str(folder))
    handler.log_message = lambda *args: None  # type: ignore[attr-defined]
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hold.wav"
    finally:
        server.shutdown()
        server.server_close()


def room_twiml(app: TwilioSdkApp, request: WebhookRequest) -> VoiceResponse:
    response = VoiceResponse()
    if request.path == "/status":
        return response
    dial = Dial()
    dial.append(Conference("room", beep="false", status_callback="/status",
                           status_callback_event="hold"))  # fmt: skip
    response.append(dial)
    return response


def wait_hears(phone: Baresip, expected: dict[str, bool], within: float = 6.0) -> None:
    """Until the last second ``phone`` received holds exactly the tones ``expected`` says."""
    deadline = time.monotonic() + within
    while True:
        pairs = phone.all_recordings()
        found = {name: -100.0 for name in TONES}
        if pairs:
            samples, rate = read_wav(pairs[-1][0])
            tail = samples[-rate:]
            found = {name: goertzel_dbfs(tail, hz, rate) for name, hz in TONES.items()}
        if all((found[name] > HEARD_DBFS) is want for name, want in expected.items()):
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"{phone.name} hears {found}, expected {expected}")
        time.sleep(0.2)


def test_a_held_phone_hears_the_hold_music_not_the_room_and_is_not_heard(
    tmp_workdir: Path, app: TwilioSdkApp, music: str
) -> None:
    app.twiml = room_twiml
    admin = free_port()
    env = {"SIPGW_TWIML_URL": app.url, "SIPGW_TWIML_ACCOUNT_SID": ACCOUNT,
           "SIPGW_TWIML_AUTH_TOKEN": TOKEN, "SIPGW_ADMIN_PORT": str(admin),
           "SIPGW_ADMIN_TOKEN": "admin-token-" * 2, "SIPGW_TWILIO_API": "on"}  # fmt: skip
    client = Client(ACCOUNT, TOKEN)
    client.api.base_url = f"http://127.0.0.1:{admin}"
    audio = tmp_workdir / "audio"
    with GatewayProcess(tmp_workdir, agent="twiml", allow_from="127.0.0.0/8",
                        extra_env=env) as gw:  # fmt: skip
        phones = {
            name: Baresip(tmp_workdir, name, user=name, source_wav=write_pattern(
                audio / f"{name}.wav", [(None, 0.2), (TONES[name], 60.0)], -12.0)).start()
            for name in ("a", "b")
        }  # fmt: skip
        try:
            a, b = phones["a"], phones["b"]
            a.dial(gw.uri("room"))
            a.wait_event("CALL_ESTABLISHED", 10)
            app.wait_until(lambda: client.conferences.list(status="init"), 5)
            (room,) = client.conferences.list(status="init")
            (first,) = client.conferences(room.sid).participants.list()
            b.dial(gw.uri("room"))
            b.wait_event("CALL_ESTABLISHED", 10)
            wait_hears(a, {"a": False, "b": True, "music": False})
            held = client.conferences(room.sid).participants(first.call_sid).update(
                hold=True, hold_url=music, hold_method="GET")  # fmt: skip
            assert held.hold is True
            wait_hears(a, {"b": False, "music": True})
            wait_hears(b, {"a": False, "music": False})
            client.conferences(room.sid).participants(first.call_sid).update(hold=False)
            wait_hears(a, {"b": True, "music": False})
            wait_hears(b, {"a": True})
            for phone in (a, b):
                phone.hangup()
                phone.wait_event("CALL_CLOSED", 5)
            assert gw.stop() == 0
        finally:
            for phone in phones.values():
                phone.close()
    events = [r for r in app.requests if r.path == "/status"]
    assert events and all(r.valid for r in events), "RequestValidator refused a signature"
    assert [r.params["StatusCallbackEvent"] for r in events] == [
        "participant-hold", "participant-unhold",
    ]  # fmt: skip
    assert {r.params["CallSid"] for r in events} == {first.call_sid}
