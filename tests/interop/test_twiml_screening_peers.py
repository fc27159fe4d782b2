"""Call screening and a leg's status callbacks between real phones: a baresip caller,
``sipgw serve --agent twiml`` (a subprocess) following an app on the official ``twilio`` SDK
(tests/toolkit/twilio_app.py), and a second baresip as the called party (docs/twilio-apps.md,
``<Number url>`` and ``<Number statusCallback>``; ``<Sip>``'s alike).

``<Sip url="/screen">``: once the called party answers, ``/screen`` (a ``<Gather>`` of one key)
runs for it alone while the caller hears ring tone; its key ``1`` accepts (the two are bridged,
the ``<Dial action>`` gets ``completed``), ``2`` makes the app answer ``<Hangup/>``: the
called party is hung up, the action gets ``no-answer`` and its TwiML runs for the caller.
``<Sip statusCallback statusCallbackEvent="ringing answered completed">``: the leg's 180,
its answer and its end are posted in that order, signed as Twilio signs them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest
from twilio.twiml.voice_response import Dial, Gather, VoiceResponse

from tests.interop.test_twiml_dial_peers import (
    CALLED_HZ,
    app,
    dialled,
    dialling,
    tone,
    tone_seconds,
)
from tests.interop.test_twiml_peers import CALLER_HZ, record
from tests.interop.test_warm_transfer_peers import wait_heard
from tests.toolkit.peers.baresip import Baresip
from tests.toolkit.twilio_app import TwilioSdkApp, WebhookRequest

__all__ = ["app"]  # the fixture

pytestmark = [pytest.mark.timeout(60), pytest.mark.usefixtures("nothing_left_running")]


def screening_app(target: str, events: str = "completed") -> Callable[..., VoiceResponse]:
    """``<Dial action="/dialled"><Sip url="/screen" statusCallback="/leg">target</Sip></Dial>``;
    ``/screen`` gathers one key for ``/accept`` (``1``: an empty document, the bridge; any
    other: ``<Hangup/>``); the action answers ``<Pause length="1"/><Hangup/>``."""

    def build(app_: TwilioSdkApp, request: WebhookRequest) -> VoiceResponse:
        response = VoiceResponse()
        if request.path == "/dialled":
            response.pause(length=1)
            response.hangup()
        elif request.path == "/screen":
            response.append(Gather(num_digits=1, action="/accept", timeout=10))
            response.hangup()
        elif request.path == "/accept":
            if request.params.get("Digits") != "1":
                response.hangup()
        elif request.path != "/leg":  # the voice webhook
            dial = Dial(action="/dialled", timeout=10)
            dial.sip(target, url="/screen", status_callback="/leg", status_callback_event=events)
            response.append(dial)
        return response

    return build


def screening_started(app: TwilioSdkApp, within: float = 10.0) -> WebhookRequest:
    """The screening document's request (the leg's parameters, signed)."""
    app.wait_until(lambda: any(r.path == "/screen" for r in app.requests), within)
    (request,) = [r for r in app.requests if r.path == "/screen"]
    assert request.valid, "RequestValidator refused the screening fetch's signature"
    return request


def test_the_called_party_accepts_with_key_1_and_the_legs_callbacks_come_in_order_signed(
    tmp_workdir: Path, app: TwilioSdkApp
) -> None:
    """One call for both: the screening and the bridge, and the leg's status callbacks
    (each phone started once, the lane's time)."""
    with Baresip(tmp_workdir, "called", user="called",
                 source_wav=tone(tmp_workdir, "called", CALLED_HZ)) as called:  # fmt: skip
        events = "ringing answered completed"
        app.twiml = screening_app(called.uri, events=events)
        with dialling(tmp_workdir, app, called.uri) as (gw, caller):
            caller.wait_event("CALL_ESTABLISHED", 10)
            called.wait_event("CALL_INCOMING", 10)  # it rings: its 180
            app.wait_until(lambda: any(r.path == "/leg" for r in app.requests), 5)
            called.accept()
            called.wait_event("CALL_ESTABLISHED", 10)
            screen = screening_started(app)
            time.sleep(1.0)  # the called party talks into its screening meanwhile
            assert tone_seconds(caller, CALLED_HZ) < 0.2, "the caller heard the screening"
            called.send_dtmf("1")
            wait_heard(caller, CALLED_HZ, 1.0)  # bridged: each hears the other
            wait_heard(called, CALLER_HZ, 1.0)
            called.hangup()
            form = dialled(app)
            app.wait_until(lambda: len([r for r in app.requests if r.path == "/leg"]) >= 3, 5)
            caller.wait_event("CALL_CLOSED", 10)  # the action's TwiML
            assert gw.stop() == 0
    assert form["DialCallStatus"] == "completed" and int(form["DialCallDuration"]) >= 1
    assert screen.params["CallSid"] == form["DialCallSid"] != form["CallSid"]
    assert screen.params["ParentCallSid"] == form["CallSid"]
    assert screen.params["Direction"] == "outbound-dial"
    accept = [r for r in app.requests if r.path == "/accept"]
    assert [r.params["Digits"] for r in accept] == ["1"] and accept[0].valid
    kinds = [line["type"] for line in record(tmp_workdir)]
    assert kinds.index("twiml_dial_screening") < kinds.index("twiml_dial_bridged")
    legs = [r for r in app.requests if r.path == "/leg"]
    assert [r.params["CallStatus"] for r in legs] == ["ringing", "in-progress", "completed"]
    assert [r.params["SequenceNumber"] for r in legs] == ["0", "1", "2"]
    assert all(r.valid for r in legs), "RequestValidator refused a status callback"
    assert {r.params["CallSid"] for r in legs} == {form["DialCallSid"]}
    assert {r.params["ParentCallSid"] for r in legs} == {form["CallSid"]}
    assert {r.params["CallbackSource"] for r in legs} == {"call-progress-events"}
    assert legs[0].params["To"] == called.uri and legs[0].params["Direction"] == "outbound-dial"
    assert int(legs[-1].params["CallDuration"]) >= 0


def test_the_called_party_refuses_and_the_twiml_after_the_dial_runs(
    tmp_workdir: Path, app: TwilioSdkApp
) -> None:
    with Baresip(tmp_workdir, "called", user="called", answermode="auto",
                 source_wav=tone(tmp_workdir, "called", CALLED_HZ)) as called:  # fmt: skip
        app.twiml = screening_app(called.uri)
        with dialling(tmp_workdir, app, called.uri) as (gw, caller):
            caller.wait_event("CALL_ESTABLISHED", 10)
            called.wait_event("CALL_ESTABLISHED", 10)
            screening_started(app)
            called.send_dtmf("2")  # declined: /accept answers <Hangup/>
            called.wait_event("CALL_CLOSED", 5)  # the gateway's BYE
            refused = time.monotonic()
            form = dialled(app)
            closed = caller.wait_event("CALL_CLOSED", 10)  # the action's <Pause>, <Hangup>
            assert closed["received_at"] - refused >= 0.9, "the action's <Pause> did not run"
            assert tone_seconds(caller, CALLED_HZ) < 0.2, "the caller heard the called party"
            app.wait_until(lambda: any(r.path == "/leg" for r in app.requests), 5)
            assert gw.stop() == 0
    assert form["DialCallStatus"] == "no-answer" and "DialCallDuration" not in form
    (completed,) = [r for r in app.requests if r.path == "/leg"]  # completed alone: the default
    assert completed.valid and completed.params["CallStatus"] == "completed"
