"""``<Start><Transcription>`` on a real call: ``sipgw serve --agent twiml`` between a baresip
caller and an app on the official ``twilio`` SDK (tests/toolkit/twilio_app.py: its
RequestValidator checks every callback), the caller's audio transcribed by sipgw's AssemblyAI
fake (``SIPGW_TWIML_STT=assemblyai``), the events posted to ``statusCallbackUrl``."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from twilio.twiml.voice_response import Start, VoiceResponse

from sipgw.app.evaluation.audio import write_pattern
from sipgw.app.evaluation.fakes.assemblyai import FakeAssemblyAI
from sipgw.app.evaluation.gateway_process import GatewayProcess
from tests.toolkit.peers.baresip import Baresip
from tests.toolkit.twilio_app import TwilioSdkApp, WebhookRequest

pytestmark = [pytest.mark.timeout(60), pytest.mark.usefixtures("nothing_left_running")]

TOKEN = "9" * 32
ACCOUNT = "AC" + "5" * 32


@pytest.fixture
def app() -> Iterator[TwilioSdkApp]:
    peer = TwilioSdkApp(TOKEN).start_in_thread()
    try:
        yield peer
    finally:
        peer.stop_thread()


def test_a_baresip_callers_words_are_posted_as_transcription_content(
    tmp_workdir: Path, app: TwilioSdkApp
) -> None:
    def twiml(app_: TwilioSdkApp, request: WebhookRequest) -> VoiceResponse:
        response = VoiceResponse()
        if request.path == "/voice":
            start = Start()
            start.transcription(status_callback_url="/events", track="inbound_track")
            response.append(start)
            response.pause(length=4)
            response.hangup()
        return response

    app.twiml = twiml
    stt = FakeAssemblyAI(api_key="stt-key").start_in_thread()
    stt.script(["I need to talk to an agent."])
    talk = write_pattern(
        tmp_workdir / "audio" / "talk.wav", [(None, 1.0), (300, 1.2), (None, 60.0)], -12.0
    )
    try:
        with (
            GatewayProcess(
                tmp_workdir, agent="twiml", allow_from="127.0.0.0/8",
                extra_env={
                    "SIPGW_TWIML_URL": app.url, "SIPGW_TWIML_ACCOUNT_SID": ACCOUNT,
                    "SIPGW_TWIML_AUTH_TOKEN": TOKEN, "SIPGW_TWIML_STT": "assemblyai",
                    "ASSEMBLYAI_API_KEY": "stt-key", "ASSEMBLYAI_STREAMING_URL": stt.url,
                },
            ) as gw,
            Baresip(tmp_workdir, "a", user="a", source_wav=talk) as caller,
        ):  # fmt: skip
            caller.dial(gw.uri("bot"))
            caller.wait_event("CALL_ESTABLISHED", 10)
            caller.wait_event("CALL_CLOSED", 15)
            # "stopped" is posted as the call ends: in before the stop
            app.wait_until(lambda: len([r for r in app.requests if r.path == "/events"]) >= 3, 5)
            assert gw.stop() == 0
    finally:
        stt.stop()
    events = [r for r in app.requests if r.path == "/events"]
    assert events and all(e.valid for e in events)
    kinds = [e.params["TranscriptionEvent"] for e in events]
    assert kinds == ["transcription-started", "transcription-content", "transcription-stopped"]
    content = events[1].params
    assert content["Track"] == "inbound_track" and content["Final"] == "true"
    assert json.loads(content["TranscriptionData"])["transcript"] == "I need to talk to an agent."
    assert [e.params["SequenceId"] for e in events] == ["1", "2", "3"]
