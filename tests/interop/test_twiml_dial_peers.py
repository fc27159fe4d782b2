"""A bridged ``<Dial>`` between real phones: a baresip caller, ``sipgw serve --agent twiml``
(a subprocess) following an app on the official ``twilio`` SDK (tests/toolkit/twilio_app.py),
and a second baresip as the called party (docs/twilio-apps.md).

The gateway places the second leg itself and relays the two: each phone hears the other's
tone; the called party hanging up posts ``DialCallStatus=completed`` (with its
``DialCallSid`` and ``DialCallDuration``) to the ``<Dial action>`` and the action's TwiML
runs for the caller; two called phones ring at once, the first to answer is bridged and the
other's ringing cancelled; a busy called party (486) and one that does not answer within
``timeout`` (our CANCEL) post ``busy`` and ``no-answer`` and the caller goes on; the caller
hanging up ends the called party's call too; either side holding and resuming, the two hear
each other again. Then the same through a Kamailio carrier
trunk that refuses REFER (tests/toolkit/peers/carriers.py): REFER cannot connect the
caller there, the bridge does.
"""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from twilio.twiml.voice_response import Dial, VoiceResponse

from sipgw.app.evaluation.audio import analyse, tone_spans, write_pattern
from sipgw.app.evaluation.gateway_process import GatewayProcess
from sipgw.app.evaluation.ports import free_port
from tests.interop.test_twiml_peers import ACCOUNT, CALLER_HZ, TOKEN, record
from tests.interop.test_warm_transfer_peers import wait_heard
from tests.toolkit.canaries import SIP_PASSWORD
from tests.toolkit.peers.baresip import Baresip
from tests.toolkit.peers.carriers import twilio
from tests.toolkit.peers.kamailio import Kamailio
from tests.toolkit.twilio_app import TwilioSdkApp, WebhookRequest

pytestmark = [pytest.mark.timeout(120), pytest.mark.usefixtures("nothing_left_running")]

CALLED_HZ = 600


@pytest.fixture
def app() -> Iterator[TwilioSdkApp]:
    peer = TwilioSdkApp(TOKEN).start_in_thread()
    try:
        yield peer
    finally:
        peer.stop_thread()


def gateway(workdir: Path, app: TwilioSdkApp, allow: str, **env: str) -> GatewayProcess:
    return GatewayProcess(
        workdir, agent="twiml", allow_from="127.0.0.0/8",
        extra_env={
            "SIPGW_TWIML_URL": app.url, "SIPGW_TWIML_ACCOUNT_SID": ACCOUNT,
            "SIPGW_TWIML_AUTH_TOKEN": TOKEN, "SIPGW_TWIML_RECORD_DIR": str(workdir / "calls"),
            "SIPGW_DIAL_ALLOW": allow, **env,
        },
    )  # fmt: skip


def tone(workdir: Path, name: str, hz: float) -> Path:
    return write_pattern(workdir / "audio" / f"{name}.wav", [(None, 0.3), (hz, 60.0)], -12.0)


def dial_app(target: str, timeout: int = 30) -> object:
    """``<Dial action="/dialled"><Sip>target</Sip></Dial>``; the action answers ``<Pause
    length="1"/><Hangup/>``: the caller stays a second after the ``<Dial>``."""

    def build(app: TwilioSdkApp, request: WebhookRequest) -> VoiceResponse:
        response = VoiceResponse()
        if request.path == "/dialled":
            response.pause(length=1)
            response.hangup()
            return response
        dial = Dial(action="/dialled", timeout=timeout)
        dial.sip(target)
        response.append(dial)
        response.say("never: the action replaces the rest")
        return response

    return build


@contextlib.contextmanager
def dialling(
    workdir: Path, app: TwilioSdkApp, called_uri: str
) -> Iterator[tuple[GatewayProcess, Baresip]]:
    """The gateway (dialling ``called_uri`` allowed) and the caller's phone (a tone of
    ``CALLER_HZ``), which has called the gateway's line."""
    caller_wav = tone(workdir, "caller", CALLER_HZ)
    with (
        gateway(workdir, app, called_uri) as gw,
        Baresip(workdir, "a", user="a", source_wav=caller_wav) as caller,
    ):
        caller.dial(gw.uri("bot"))
        yield gw, caller


def dialled(app: TwilioSdkApp, within: float = 15.0) -> dict[str, str]:
    """The form the ``<Dial action>`` got (the SDK's RequestValidator accepted it)."""
    app.wait_until(lambda: any(r.path == "/dialled" for r in app.requests), within)
    (request,) = [r for r in app.requests if r.path == "/dialled"]
    assert request.valid, "RequestValidator refused the action's signature"
    return request.params


def test_the_called_party_talks_with_the_caller_then_hangs_up_and_the_action_runs(
    tmp_workdir: Path, app: TwilioSdkApp
) -> None:
    with Baresip(tmp_workdir, "called", user="called", answermode="auto",
                 source_wav=tone(tmp_workdir, "called", CALLED_HZ)) as called:  # fmt: skip
        app.twiml = dial_app(called.uri)  # type: ignore[assignment]
        with dialling(tmp_workdir, app, called.uri) as (gw, caller):
            caller.wait_event("CALL_ESTABLISHED", 10)
            established = called.wait_event("CALL_ESTABLISHED", 15)
            assert "sip:a@" not in established["peeruri"]  # the gateway called, no REFER
            wait_heard(called, CALLER_HZ, 1.0)  # the caller's tone, through the relay
            wait_heard(caller, CALLED_HZ, 1.0)  # and the called party's, back
            called.hangup()
            hung_up = time.monotonic()
            form = dialled(app)
            closed = caller.wait_event("CALL_CLOSED", 10)  # the action's <Pause>, <Hangup>
            assert closed["received_at"] - hung_up >= 0.9, "the action's <Pause> did not run"
            assert gw.stop() == 0
    assert form["DialCallStatus"] == "completed"
    assert form["DialCallSid"].startswith("CA") and int(form["DialCallDuration"]) >= 1
    assert form["CallStatus"] == "in-progress"
    kinds = [line["type"] for line in record(tmp_workdir)]
    assert "twiml_dial_bridged" in kinds and "twiml_dial_ended" in kinds


def test_two_called_phones_ring_at_once_the_first_to_answer_is_bridged_the_other_cancelled(
    tmp_workdir: Path, app: TwilioSdkApp
) -> None:
    """``<Dial><Sip>mobile</Sip><Sip>desk</Sip></Dial>``: both phones ring at once; the desk
    answers (auto), the caller and the desk hear each other, the mobile's ringing stops (our
    CANCEL: 487); the desk hanging up posts ``completed``."""
    with (
        Baresip(tmp_workdir, "mobile", user="mobile") as mobile,  # rings; answers nothing
        Baresip(
            tmp_workdir,
            "desk",
            user="desk",
            answermode="auto",
            source_wav=tone(tmp_workdir, "desk", CALLED_HZ),
        ) as desk,  # fmt: skip
    ):

        def build(app_: TwilioSdkApp, request: WebhookRequest) -> VoiceResponse:
            response = VoiceResponse()
            if request.path == "/dialled":
                response.hangup()
                return response
            dial = Dial(action="/dialled", timeout=10)
            dial.sip(mobile.uri)
            dial.sip(desk.uri)
            response.append(dial)
            return response

        app.twiml = build
        with (
            gateway(tmp_workdir, app, f"{mobile.uri},{desk.uri}") as gw,
            Baresip(
                tmp_workdir, "a", user="a", source_wav=tone(tmp_workdir, "caller", CALLER_HZ)
            ) as caller,  # fmt: skip
        ):
            caller.dial(gw.uri("bot"))
            caller.wait_event("CALL_ESTABLISHED", 10)
            mobile.wait_event("CALL_INCOMING", 10)
            desk.wait_event("CALL_ESTABLISHED", 10)
            mobile.wait_event("CALL_CLOSED", 5)  # no longer ringing: cancelled
            wait_heard(desk, CALLER_HZ, 0.5)
            wait_heard(caller, CALLED_HZ, 0.5)
            desk.hangup()
            form = dialled(app)
            caller.wait_event("CALL_CLOSED", 10)
            assert gw.stop() == 0
    assert form["DialCallStatus"] == "completed" and form["DialCallSid"].startswith("CA")
    ended = {line["target"]: line for line in record(tmp_workdir)
             if line["type"] == "twiml_dial_ended"}  # fmt: skip
    assert ended[mobile.uri]["ended_by"] == "lost"
    assert ended[desk.uri]["status"] == "completed"


def test_a_busy_called_party_posts_why_and_the_caller_goes_on(
    tmp_workdir: Path, app: TwilioSdkApp
) -> None:
    """baresip refuses the ringing call (486): ``DialCallStatus=busy``. (No answer, our CANCEL
    at the ``timeout``, and a refusal: tests/agent/twiml/dial/test_bridge.py's
    test_an_unanswered_dial_posts_why_and_the_twiml_goes_on; a CANCEL of a ringing real phone
    is test_two_called_phones_ring_at_once_the_first_to_answer_is_bridged_the_other_cancelled.)"""
    with Baresip(tmp_workdir, "called", user="called") as called:  # rings; answers nothing
        app.twiml = dial_app(called.uri, timeout=5)  # type: ignore[assignment]
        with dialling(tmp_workdir, app, called.uri) as (gw, caller):
            caller.wait_event("CALL_ESTABLISHED", 10)
            called.wait_event("CALL_INCOMING", 15)
            called.hangup()  # baresip refuses a ringing call with 486
            form = dialled(app, 15)
            called.wait_event("CALL_CLOSED", 5)
            caller.wait_event("CALL_CLOSED", 10)  # the action's TwiML ran: on, then the end
            assert gw.stop() == 0
    assert form["DialCallStatus"] == "busy"
    assert form["DialCallSid"].startswith("CA") and "DialCallDuration" not in form


def tone_seconds(phone: Baresip, hz: float) -> float:
    """Seconds of ``hz`` in everything ``phone`` received so far (each of its recordings:
    baresip starts a new one when its audio stream restarts, as after a hold)."""
    total = 0.0
    for received, _ in phone.all_recordings():
        total += sum(end - start for start, end in tone_spans(analyse(received), hz))
    return total


def wait_more(phone: Baresip, hz: float, than: float, within: float = 10.0) -> None:
    deadline = time.monotonic() + within
    while tone_seconds(phone, hz) < than:
        assert time.monotonic() < deadline, f"{phone.name} heard no more {hz} Hz than {than} s"
        time.sleep(0.2)


def packets_received(phone: Baresip) -> int:
    """The RTP packets ``phone`` received in its last call (its summary at the call's end)."""
    found = re.findall(r"packets:\s+\d+\s+(\d+)", phone.log_text())
    assert found, phone.log_tail()
    return int(found[-1])


@pytest.mark.parametrize("holder", ["caller", "called"])
def test_either_side_holds_and_resumes_and_the_two_hear_each_other_again(
    tmp_workdir: Path, app: TwilioSdkApp, holder: str
) -> None:
    """The one who held hears the other again (its RTP counts: baresip's recording of what it
    receives stops at a hold), the other hears it again (its recording)."""
    with Baresip(tmp_workdir, "called", user="called", answermode="auto",
                 source_wav=tone(tmp_workdir, "called", CALLED_HZ)) as called:  # fmt: skip
        app.twiml = dial_app(called.uri)  # type: ignore[assignment]
        with dialling(tmp_workdir, app, called.uri) as (gw, caller):
            up = {"caller": caller.wait_event("CALL_ESTABLISHED", 10)["received_at"],
                  "called": called.wait_event("CALL_ESTABLISHED", 15)["received_at"]}  # fmt: skip
            wait_heard(called, CALLER_HZ, 1.0)
            wait_heard(caller, CALLED_HZ, 1.0)
            phone, other, other_hz = (
                (caller, called, CALLER_HZ) if holder == "caller" else (called, caller, CALLED_HZ)
            )
            held = time.monotonic()
            phone.command("hold")  # re-INVITE a=sendonly: its audio stops
            time.sleep(2.0)
            phone.command("resume")
            wait_more(other, other_hz, tone_seconds(other, other_hz) + 1.0)
            time.sleep(1.0)
            called.hangup()
            phone.wait_event("CALL_CLOSED", 5)
            form = dialled(app)
            assert gw.stop() == 0
        # before the hold it got at most 50 a second; it got a second's worth more after
        assert packets_received(phone) > 50 * (held - up[holder] + 0.3) + 50, holder
    assert form["DialCallStatus"] == "completed" and int(form["DialCallDuration"]) >= 3


def test_the_caller_hanging_up_ends_the_called_partys_call(
    tmp_workdir: Path, app: TwilioSdkApp
) -> None:
    with Baresip(tmp_workdir, "called", user="called", answermode="auto",
                 source_wav=tone(tmp_workdir, "called", CALLED_HZ)) as called:  # fmt: skip
        app.twiml = dial_app(called.uri)  # type: ignore[assignment]
        with dialling(tmp_workdir, app, called.uri) as (gw, caller):
            caller.wait_event("CALL_ESTABLISHED", 10)
            called.wait_event("CALL_ESTABLISHED", 15)
            wait_heard(caller, CALLED_HZ, 0.5)
            caller.hangup()
            called.wait_event("CALL_CLOSED", 5)  # our BYE
            form = dialled(app)
            assert gw.stop() == 0
    assert form["DialCallStatus"] == "completed" and form["CallStatus"] == "completed"


DID = "+15551230000"
"""The account's number at the carrier: what the caller dials, and the callerId dialled from."""
CALLER, CALLED = "+15559876543", "+15557654321"
PHONE_PW = "phone-pw"


def carrier_phone(workdir: Path, kam: Kamailio, number: str, hz: float) -> Baresip:
    """A phone of the carrier's network, registered under ``number``, playing ``hz``."""
    return Baresip(
        workdir, f"phone{number[-4:]}", user=number, source_wav=tone(workdir, number[-4:], hz),
        account=kam.account_line(number, PHONE_PW, params="answermode=auto;audio_codecs=pcmu"),
    )  # fmt: skip


@pytest.mark.parametrize("mode", ["refer", "bridge"])
def test_dial_through_a_carrier_trunk_that_refuses_refer(
    tmp_workdir: Path, app: TwilioSdkApp, mode: str
) -> None:
    """The caller reaches the gateway through the carrier (origination), the ``<Dial>``
    goes out through it (termination: a credential list, the From must be the account's
    number: ``callerId`` gives it). REFER cannot connect the two there (the trunk answers
    403: ``failed``); the bridge does, and the TwiML goes on when the called party hangs up."""
    gw_port = free_port()
    trunk = twilio({DID: f"sip:bot@127.0.0.1:{gw_port}"},
                   credentials={"sipgw-trunk": SIP_PASSWORD}, caller_ids=(DID,))  # fmt: skip
    kam = Kamailio(
        tmp_workdir, "carrier", users={"sipgw-trunk": SIP_PASSWORD, CALLER: PHONE_PW,
                                       CALLED: PHONE_PW},
        invite_route=trunk.script(), refuse_refer=True, transports=("udp",),
    )  # fmt: skip

    def build(app_: TwilioSdkApp, request: WebhookRequest) -> VoiceResponse:
        response = VoiceResponse()
        if request.path == "/dialled":
            response.pause(length=1)
            response.hangup()
            return response
        dial = Dial(action="/dialled", caller_id=DID, timeout=10)
        dial.number(CALLED)
        response.append(dial)
        return response

    app.twiml = build
    with kam:
        gw = GatewayProcess(
            tmp_workdir, agent="twiml", allow_from="127.0.0.0/8",
            extra_args=["--sip-port", str(gw_port), "--outbound-proxy", kam.uri(),
                        "--auth-username", "sipgw-trunk"],
            extra_env={
                "SIPGW_TWIML_URL": app.url, "SIPGW_TWIML_ACCOUNT_SID": ACCOUNT,
                "SIPGW_TWIML_AUTH_TOKEN": TOKEN, "SIPGW_DIAL_ALLOW": CALLED,
                "SIPGW_AUTH_PASSWORD": SIP_PASSWORD, "SIPGW_TWIML_DIAL": mode,
                "SIPGW_TWIML_RECORD_DIR": str(tmp_workdir / "calls"),
            },
        )  # fmt: skip
        with (
            gw,
            carrier_phone(tmp_workdir, kam, CALLED, CALLED_HZ) as called,
            carrier_phone(tmp_workdir, kam, CALLER, CALLER_HZ) as caller,
        ):
            kam.wait_registered(CALLED)
            kam.wait_registered(CALLER)
            caller.dial(kam.uri(DID))
            caller.wait_event("CALL_ESTABLISHED", 10)
            kam.wait_events(f"ORIGINATE {DID} -> sip:bot@127.0.0.1:{gw_port}")
            if mode == "refer":
                kam.wait_events("REFER refused")
                form = dialled(app)
                caller.wait_event("CALL_CLOSED", 10)  # the action's TwiML: on, then the end
            else:
                called.wait_event("CALL_ESTABLISHED", 15)
                terminated = kam.wait_events(f"TERMINATE sip:{CALLED}")
                assert terminated, terminated
                wait_heard(called, CALLER_HZ, 1.0)
                wait_heard(caller, CALLED_HZ, 1.0)
                called.hangup()
                form = dialled(app)
                caller.wait_event("CALL_CLOSED", 10)
            assert gw.stop() == 0
    assert form["DialCallStatus"] == ("failed" if mode == "refer" else "completed")
