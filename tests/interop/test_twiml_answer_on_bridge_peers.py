"""``<Dial answerOnBridge="true">`` between real phones: a baresip caller, ``sipgw serve
--agent twiml`` (a subprocess) following an app on the official ``twilio`` SDK, and a second
baresip as the called party, answering by hand (docs/twilio-apps.md, ``answerOnBridge``).

While the called party rings the caller's call is not answered: baresip reports the
gateway's 183 with SDP (``CALL_PROGRESS``) and hears the ring tone over that early media, and
its call is established only after the called party answered; then the two hear each other.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from twilio.twiml.voice_response import Dial, VoiceResponse

from sipgw.app.evaluation.audio import tone_frames
from tests.interop.test_twiml_dial_peers import CALLED_HZ, app, dialling, gateway, tone
from tests.interop.test_twiml_peers import CALLER_HZ
from tests.interop.test_warm_transfer_peers import wait_heard
from tests.toolkit.peers.baresip import Baresip
from tests.toolkit.peers.sipp import SippProcess, scenario
from tests.toolkit.twilio_app import TwilioSdkApp, WebhookRequest

__all__ = ["app"]

pytestmark = [pytest.mark.timeout(60), pytest.mark.usefixtures("nothing_left_running")]

RING_HZ = 480
"""The ring tone's tone the analysis finds dominant (440 + 480 Hz, 2 s on, 4 s off)."""


def test_the_caller_hears_ring_tone_as_early_media_and_is_answered_with_the_called_party(
    tmp_workdir: Path, app: TwilioSdkApp
) -> None:
    with Baresip(tmp_workdir, "called", user="called",
                 source_wav=tone(tmp_workdir, "called", CALLED_HZ)) as called:  # fmt: skip

        def build(app_: TwilioSdkApp, request: WebhookRequest) -> VoiceResponse:
            response = VoiceResponse()
            dial = Dial(answer_on_bridge=True, timeout=20)
            dial.sip(called.uri)
            response.append(dial)
            return response

        app.twiml = build
        with dialling(tmp_workdir, app, called.uri) as (gw, caller):
            called.wait_event("CALL_INCOMING", 15)
            caller.wait_event("CALL_PROGRESS", 10)  # 183 with SDP: early media
            wait_heard(caller, RING_HZ, 1.0, within=8)  # the ring tone, over early media
            assert not [e for e in caller.events if e.get("type") == "CALL_ESTABLISHED"]
            accepted = time.monotonic()
            called.accept()
            established = caller.wait_event("CALL_ESTABLISHED", 10)
            assert established["received_at"] >= accepted  # the 200 OK after the answer
            wait_heard(called, CALLER_HZ, 1.0, within=8)
            wait_heard(caller, CALLED_HZ, 1.0, within=8)
            called.hangup()
            caller.wait_event("CALL_CLOSED", 10)  # the document ran out: the call ends
            assert gw.stop() == 0


def test_the_called_partys_early_media_reaches_the_caller_before_either_is_answered(
    tmp_workdir: Path, app: TwilioSdkApp
) -> None:
    """A called peer answering with 183 and its own audio for 4 s, then 200 (SIPp: baresip
    1.0 sends no audio in early media): the caller hears that audio, not the gateway's ring
    tone, while its call is not answered; it is answered when the called peer answers."""
    cwd = tmp_workdir / "called"
    cwd.mkdir(parents=True)
    (cwd / "early.ulaw").write_bytes(b"".join(tone_frames(CALLED_HZ, 2.0)))
    called = SippProcess(["-sf", scenario("uas_early_media.xml"), "-m", "1", "-d", "4000"],
                         timeout=30, cwd=cwd)  # fmt: skip
    uri = f"sip:desk@127.0.0.1:{called.local_port}"

    def build(app_: TwilioSdkApp, request: WebhookRequest) -> VoiceResponse:
        response = VoiceResponse()
        dial = Dial(answer_on_bridge=True, timeout=20)
        dial.sip(uri)
        response.append(dial)
        return response

    app.twiml = build
    with (
        called,
        gateway(tmp_workdir, app, uri) as gw,
        Baresip(
            tmp_workdir, "a", user="a", source_wav=tone(tmp_workdir, "caller", CALLER_HZ)
        ) as caller,  # fmt: skip
    ):
        caller.dial(gw.uri("bot"))
        caller.wait_event("CALL_PROGRESS", 10)
        wait_heard(caller, CALLED_HZ, 1.0, within=8)  # the called peer's early media
        assert not [e for e in caller.events if e.get("type") == "CALL_ESTABLISHED"]
        caller.wait_event("CALL_ESTABLISHED", 10)  # SIPp's 200 after its 4 s
        caller.hangup()
        result = called.wait(10)
        assert gw.stop() == 0
    result.assert_ok(successful=1)  # 183, 200, the ACK, our BYE
