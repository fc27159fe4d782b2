"""An HD conference between real phones: two G.722-only baresips and a PCMU-only one in one
``<Dial><Conference>`` room of ``sipgw serve --agent twiml --codecs G722,PCMU,PCMA`` (a
subprocess, the app on the official ``twilio`` SDK).

The room mixes at 16 kHz (a participant is wideband: media/bridge.py's ``room_rate``). ``a``
plays 6 kHz and 700 Hz, ``b`` 5 kHz, ``n`` (G.711) 1 kHz. Each G.722 phone hears the other's
tone above 4 kHz (the room carried 16 kHz) and ``n``'s 1 kHz; ``n`` hears ``a``'s 700 Hz
but neither 2 nor 3 kHz: the 6 and 5 kHz tones are low-passed out of its mix, not folded
down (8 kHz μ-law through ``audioop.ratecv`` alone would give them at 2 and 3 kHz).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from twilio.twiml.voice_response import Conference, Dial, VoiceResponse

from sipgw.app.evaluation.audio import goertzel_dbfs, read_wav, tone_samples, write_wav
from sipgw.app.evaluation.gateway_process import GatewayProcess
from tests.interop.test_twiml_peers import ACCOUNT, TOKEN, record
from tests.toolkit.peers.baresip import Baresip
from tests.toolkit.twilio_app import TwilioSdkApp, WebhookRequest

pytestmark = [pytest.mark.timeout(60), pytest.mark.usefixtures("nothing_left_running")]

HEARD_DBFS = -30.0
"""A tone at -15 dBFS through the mix reads about -18; absent or filtered, below -50."""
FOLDED_DBFS = -45.0


@pytest.fixture
def app() -> Iterator[TwilioSdkApp]:
    peer = TwilioSdkApp(TOKEN).start_in_thread()
    try:
        yield peer
    finally:
        peer.stop_thread()


def tones(workdir: Path, name: str, rate: int, *hz: float) -> Path:
    """0.3 s of silence, then the sum of ``hz`` (each at -15 dBFS), mono at ``rate``."""
    parts = [tone_samples(f, 30.0, -15.0, rate=rate) for f in hz]
    samples = [0] * (rate * 3 // 10) + [sum(s) for s in zip(*parts, strict=True)]
    path = workdir / "audio" / f"{name}.wav"
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_wav(path, samples, rate)


def g722_phone(workdir: Path, name: str, *hz: float) -> Baresip:
    return Baresip(workdir, name, user=name, source_wav=tones(workdir, name, 16000, *hz),
                   codec="g722/16000/1", modules=["g722.so"])  # fmt: skip


def room(app: TwilioSdkApp, request: WebhookRequest) -> VoiceResponse:
    response = VoiceResponse()
    dial = Dial()
    dial.append(Conference("hd", beep="false"))
    response.append(dial)
    return response


def level(phone: Baresip, hz: float) -> float:
    """``hz``'s level (dBFS) in the last second ``phone`` received."""
    pairs = phone.all_recordings()
    if not pairs:
        return -100.0
    samples, rate = read_wav(pairs[-1][0])
    return goertzel_dbfs(samples[-rate:], hz, rate)


def wait_levels(phone: Baresip, above: tuple[float, ...], below: tuple[float, ...]) -> None:
    """Until the last second ``phone`` received holds each of ``above`` and none of ``below``."""
    deadline = time.monotonic() + 10.0
    while True:
        found = {hz: level(phone, hz) for hz in (*above, *below)}
        if all(found[hz] > HEARD_DBFS for hz in above) and all(
            found[hz] < FOLDED_DBFS for hz in below
        ):  # fmt: skip
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"{phone.name} hears {found}: {above} above, {below} below")
        time.sleep(0.2)


def test_a_tone_above_4khz_crosses_a_16khz_room_and_is_not_folded_for_a_g711_phone(
    tmp_workdir: Path, app: TwilioSdkApp
) -> None:
    app.twiml = room
    env = {"SIPGW_TWIML_URL": app.url, "SIPGW_TWIML_ACCOUNT_SID": ACCOUNT,
           "SIPGW_TWIML_AUTH_TOKEN": TOKEN,
           "SIPGW_TWIML_RECORD_DIR": str(tmp_workdir / "calls")}  # fmt: skip
    with GatewayProcess(tmp_workdir, agent="twiml", allow_from="127.0.0.0/8", extra_env=env,
                        extra_args=("--codecs", "G722,PCMU,PCMA")) as gw:  # fmt: skip
        phones = {
            "a": g722_phone(tmp_workdir, "a", 6000, 700),
            "b": g722_phone(tmp_workdir, "b", 5000),
            "n": Baresip(tmp_workdir, "n", user="n",
                         source_wav=tones(tmp_workdir, "n", 8000, 1000)),
        }  # fmt: skip
        try:
            for phone in phones.values():
                phone.start()
                phone.dial(gw.uri("room"))
                phone.wait_event("CALL_ESTABLISHED", 10)
            a, b, n = phones["a"], phones["b"], phones["n"]
            wait_levels(b, above=(6000, 700, 1000), below=())
            wait_levels(a, above=(5000, 1000), below=())
            wait_levels(n, above=(700,), below=(2000, 3000))
            for phone in phones.values():
                phone.hangup()
            assert gw.stop() == 0
        finally:
            for phone in phones.values():
                phone.close()
    joined = [line for line in record(tmp_workdir) if line["type"] == "twiml_conference_joined"]
    assert sorted(str(line["audio"]) for line in joined) == [
        "pcm_s16le/16000", "pcm_s16le/16000", "ulaw/8000"]  # fmt: skip
