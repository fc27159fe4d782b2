"""``<Dial><Conference>`` between real phones: three baresip callers, ``sipgw serve --agent
twiml`` (a subprocess) following an app on the official ``twilio`` SDK
(tests/toolkit/twilio_app.py) that puts each in one room (docs/twilio-apps.md, "Conferences").

Each phone plays its own tone; from what each phone receives (its recording, read as it is
written) each hears the other two and never its own. The third presses ``*``
(``hangupOnStar``): the ``<Dial action>``'s TwiML puts it back in the room ``muted``, and
then nobody hears it while it still hears the other two. The first caller
(``endConferenceOnExit``) hangs up: the room ends for the other two, whose TwiML after the
``<Dial>`` hangs up. The status callbacks arrive, signed, in sequence.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from twilio.twiml.voice_response import Conference, Dial, VoiceResponse

from sipgw.app.evaluation.audio import goertzel_dbfs, read_wav, write_pattern
from sipgw.app.evaluation.gateway_process import GatewayProcess
from tests.interop.test_twiml_peers import ACCOUNT, TOKEN
from tests.toolkit.peers.baresip import Baresip
from tests.toolkit.twilio_app import TwilioSdkApp, WebhookRequest

pytestmark = [pytest.mark.timeout(60), pytest.mark.usefixtures("nothing_left_running")]

TONES = {"a": 440.0, "b": 700.0, "c": 1100.0}
HEARD_DBFS = -30.0
"""A tone at -12 dBFS passed through the mix reads about -15 dBFS; leaked or absent, < -50."""


@pytest.fixture
def app() -> Iterator[TwilioSdkApp]:
    peer = TwilioSdkApp(TOKEN).start_in_thread()
    try:
        yield peer
    finally:
        peer.stop_thread()


def room_twiml(app: TwilioSdkApp, request: WebhookRequest) -> VoiceResponse:
    """``a`` ends the room when it leaves; ``c`` leaves on ``*`` and its action puts it back
    muted; every participant reports every event to ``/status``."""
    response = VoiceResponse()
    if request.path == "/status":
        return response
    who = request.params["From"].split(":")[1][0]
    status = {"status_callback": "/status", "status_callback_event": "start end join leave",
              "beep": "false"}  # fmt: skip
    dial = Dial()
    if request.path == "/again":
        dial.append(Conference("room", muted=True, **status))
    elif who == "a":
        dial.append(Conference("room", end_conference_on_exit=True, **status))
    elif who == "c":
        dial = Dial(hangup_on_star=True, action="/again")
        dial.append(Conference("room", **status))
    else:
        dial.append(Conference("room", **status))
    response.append(dial)
    response.hangup()
    return response


def levels(phone: Baresip, seconds: float = 1.0) -> dict[str, float]:
    """Each tone's level (dBFS) in the last ``seconds`` of what ``phone`` received."""
    pairs = phone.all_recordings()
    if not pairs:
        return {name: -100.0 for name in TONES}
    samples, rate = read_wav(pairs[-1][0])
    tail = samples[-round(seconds * rate) :]
    return {name: goertzel_dbfs(tail, hz, rate) for name, hz in TONES.items()}


def wait_hears(phone: Baresip, expected: dict[str, bool], within: float = 8.0) -> None:
    """Until the last second ``phone`` received holds exactly the tones ``expected`` says."""
    deadline = time.monotonic() + within
    while True:
        found = levels(phone)
        if all((found[name] > HEARD_DBFS) is want for name, want in expected.items()):
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"{phone.name} hears {found}, expected {expected}")
        time.sleep(0.2)


def status_events(app: TwilioSdkApp) -> list[str]:
    """The ``StatusCallbackEvent`` of each status callback the app got so far."""
    return [r.params.get("StatusCallbackEvent", "") for r in app.requests if r.path == "/status"]


def test_three_phones_in_one_room_hear_each_other_then_one_muted_then_the_end(
    tmp_workdir: Path, app: TwilioSdkApp
) -> None:
    app.twiml = room_twiml
    audio = tmp_workdir / "audio"
    env = {"SIPGW_TWIML_URL": app.url, "SIPGW_TWIML_ACCOUNT_SID": ACCOUNT,
           "SIPGW_TWIML_AUTH_TOKEN": TOKEN}  # fmt: skip
    with GatewayProcess(tmp_workdir, agent="twiml", allow_from="127.0.0.0/8",
                        extra_env=env) as gw:  # fmt: skip
        phones = {
            name: Baresip(tmp_workdir, name, user=name, source_wav=write_pattern(
                audio / f"{name}.wav", [(None, 0.2), (hz, 60.0)], -12.0)).start()
            for name, hz in TONES.items()
        }  # fmt: skip
        try:
            for phone in phones.values():
                phone.dial(gw.uri("room"))
                phone.wait_event("CALL_ESTABLISHED", 10)
            a, b, c = phones["a"], phones["b"], phones["c"]
            for name, phone in phones.items():
                wait_hears(phone, {other: other != name for other in TONES})
            c.send_dtmf("*")  # hangupOnStar: out, and back in muted by the action's TwiML
            app.wait_until(lambda: any(r.path == "/again" for r in app.requests), 5)
            wait_hears(a, {"a": False, "b": True, "c": False})
            wait_hears(b, {"a": True, "b": False, "c": False})
            wait_hears(c, {"a": True, "b": True, "c": False})
            a.hangup()  # endConferenceOnExit: the room ends, b's and c's TwiML hangs up
            b.wait_event("CALL_CLOSED", 5)
            c.wait_event("CALL_CLOSED", 5)
            # the room's end and each leave are posted as they happen: all in before the stop
            app.wait_until(lambda: status_events(app).count("conference-end") == 1
                           and status_events(app).count("participant-leave") >= 4, 5)  # fmt: skip
            assert gw.stop() == 0
        finally:
            for phone in phones.values():
                phone.close()
    events = [r for r in app.requests if r.path == "/status"]
    assert events and all(r.valid for r in events), "RequestValidator refused a signature"
    kinds = [r.params["StatusCallbackEvent"] for r in events]
    assert kinds.count("participant-join") == 4  # c twice
    assert kinds.count("conference-start") == 1 and kinds.count("conference-end") == 1
    assert kinds.count("participant-leave") == 4
    numbers = [int(r.params["SequenceNumber"]) for r in events]
    assert sorted(numbers) == list(range(1, len(events) + 1))
    (end,) = [r.params for r in events if r.params["StatusCallbackEvent"] == "conference-end"]
    assert end["ReasonConferenceEnded"] == "participant-with-end-conference-on-exit-left"
    muted = [r.params for r in events if r.params["StatusCallbackEvent"] == "participant-join"]
    assert [p["Muted"] for p in muted] == ["false", "false", "false", "true"]
