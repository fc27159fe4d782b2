"""A bridged ``<Dial>`` between two G.722 phones carries wideband audio: baresip caller
(G.722 only) -> ``sipgw serve --agent twiml --codecs G722,PCMU,PCMA`` (a subprocess, the
app on the official ``twilio`` SDK answering ``<Dial><Sip>``) -> baresip called party
(G.722 only). Each phone plays a tone above 4 kHz (6 kHz the caller, 5 kHz the called
party), which 8 kHz μ-law cannot carry (it folds to 2 and 3 kHz): each hears the other's
as sent, so the bridge carried 16 kHz (sipgw/agent/twiml/dial/audioformat.py, media/bridge.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from twilio.twiml.voice_response import Dial, VoiceResponse

from sipgw.app.evaluation.audio import tone_samples, write_wav
from sipgw.app.evaluation.gateway_process import GatewayProcess
from tests.interop.test_twiml_peers import ACCOUNT, TOKEN, record
from tests.interop.test_warm_transfer_peers import wait_heard
from tests.toolkit.peers.baresip import Baresip
from tests.toolkit.twilio_app import TwilioSdkApp, WebhookRequest

pytestmark = [pytest.mark.timeout(60), pytest.mark.usefixtures("nothing_left_running")]

CALLER_HZ, CALLED_HZ = 6000, 5000
"""Above 4 kHz: heard only through a bridge that carries 16 kHz."""
RATE = 16000


@pytest.fixture
def app() -> Iterator[TwilioSdkApp]:
    peer = TwilioSdkApp(TOKEN).start_in_thread()
    try:
        yield peer
    finally:
        peer.stop_thread()


def wide_tone(workdir: Path, name: str, hz: float) -> Path:
    """16 kHz mono (baresip's file source at G.722's rate): 0.3 s of silence, then ``hz``."""
    samples = [0] * (RATE * 3 // 10) + tone_samples(hz, 30.0, -12.0, rate=RATE)
    path = workdir / "audio" / f"{name}.wav"
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_wav(path, samples, RATE)


def g722_phone(workdir: Path, name: str, hz: float, answermode: str | None = None) -> Baresip:
    return Baresip(workdir, name, user=name, source_wav=wide_tone(workdir, name, hz),
                   codec="g722/16000/1", modules=["g722.so"], answermode=answermode)  # fmt: skip


def test_two_g722_phones_bridged_by_a_dial_hear_each_other_above_4_khz(
    tmp_workdir: Path, app: TwilioSdkApp
) -> None:
    with g722_phone(tmp_workdir, "called", CALLED_HZ, answermode="auto") as called:

        def build(app_: TwilioSdkApp, request: WebhookRequest) -> VoiceResponse:
            response = VoiceResponse()
            dial = Dial()
            dial.sip(called.uri)
            response.append(dial)
            return response

        app.twiml = build
        gw = GatewayProcess(
            tmp_workdir, agent="twiml", allow_from="127.0.0.0/8",
            extra_args=("--codecs", "G722,PCMU,PCMA"),
            extra_env={
                "SIPGW_TWIML_URL": app.url, "SIPGW_TWIML_ACCOUNT_SID": ACCOUNT,
                "SIPGW_TWIML_AUTH_TOKEN": TOKEN, "SIPGW_DIAL_ALLOW": called.uri,
                "SIPGW_TWIML_RECORD_DIR": str(tmp_workdir / "calls"),
            },
        )  # fmt: skip
        with gw, g722_phone(tmp_workdir, "a", CALLER_HZ) as caller:
            caller.dial(gw.uri("bot"))
            caller.wait_event("CALL_ESTABLISHED", 10)
            called.wait_event("CALL_ESTABLISHED", 10)
            wait_heard(called, CALLER_HZ, 1.0, within=10)  # 6 kHz, across the bridge
            wait_heard(caller, CALLED_HZ, 1.0, within=10)  # 5 kHz, back
            caller.hangup()
            called.wait_event("CALL_CLOSED", 10)
            assert gw.stop() == 0
    assert gw.log_lines() and sum("media: G722/9 to " in line for line in gw.log_lines()) == 2
    (bridged,) = [line for line in record(tmp_workdir) if line["type"] == "twiml_dial_bridged"]
    assert bridged["audio"] == "pcm_s16le/16000"
