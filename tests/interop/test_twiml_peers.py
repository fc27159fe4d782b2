"""A Twilio app on a SIP call: ``sipgw serve --agent twiml`` between a real baresip caller
and a small app built on the official ``twilio`` SDK (tests/toolkit/twilio_app.py: its
RequestValidator checks our signatures, its VoiceResponse builds the TwiML) with its
Media Streams bot (docs/twilio-apps.md).

The caller hears the bot (which echoes the caller's tone, plays its own, and cuts it with a
``clear``), the bot gets the caller's keys as ``dtmf``, its marks come back, its closing the
stream moves the TwiML on to ``<Hangup>`` (the caller gets a BYE), ``<Dial><Sip>`` with
``SIPGW_TWIML_DIAL=refer`` hands the caller to a second baresip (the bridged ``<Dial>``,
the default, is tests/interop/test_twiml_dial_peers.py), so does ``<Refer>`` (its action
posted), and each failure (a late webhook,
bad TwiML, a stream that breaks mid-call) is the fallback line heard, then the hang-up.
"""

from __future__ import annotations

import json
import math
import socket
import struct
import time
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import pytest
from twilio.twiml.voice_response import Connect, Dial, Refer, Stream, VoiceResponse

from sipgw.app.evaluation.audio import analyse, tone_spans, write_pattern
from sipgw.app.evaluation.gateway_process import GatewayProcess
from sipgw.media.g711 import linear_to_ulaw
from tests.toolkit.peers.baresip import Baresip
from tests.toolkit.twilio_app import AppStream, TwilioSdkApp, WebhookRequest
from tests.toolkit.waiting import wait_for

pytestmark = [pytest.mark.timeout(120), pytest.mark.usefixtures("nothing_left_running")]

TOKEN = "9" * 32
ACCOUNT = "AC" + "5" * 32
CALLER_HZ, BOT_HZ = 1000, 600


def bot_tone(seconds: float, hz: float = BOT_HZ) -> bytes:
    """μ-law of a tone at -12 dBFS, as a bot's text-to-speech would send it."""
    n = round(seconds * 8000)
    amplitude = 32767 * 10 ** (-12 / 20)
    pcm = b"".join(
        int(amplitude * math.sin(2 * math.pi * hz * i / 8000)).to_bytes(2, "little", signed=True)
        for i in range(n)
    )
    return linear_to_ulaw(pcm)


@pytest.fixture
def app() -> Iterator[TwilioSdkApp]:
    peer = TwilioSdkApp(TOKEN).start_in_thread()
    try:
        yield peer
    finally:
        peer.stop_thread()


def gateway(workdir: Path, app: TwilioSdkApp, **env: str) -> GatewayProcess:
    return GatewayProcess(
        workdir, agent="twiml", allow_from="127.0.0.0/8",
        extra_env={
            "SIPGW_TWIML_URL": app.url, "SIPGW_TWIML_ACCOUNT_SID": ACCOUNT,
            "SIPGW_TWIML_AUTH_TOKEN": TOKEN, "SIPGW_TWIML_RECORD_DIR": str(workdir / "calls"),
            **env,
        },
    )  # fmt: skip


def caller_wav(workdir: Path) -> Path:
    return write_pattern(workdir / "audio" / "caller.wav", [(None, 0.3), (CALLER_HZ, 60.0)], -12.0)


def phone(workdir: Path) -> Baresip:
    """The caller: a baresip playing a tone (after 0.3 s of silence)."""
    return Baresip(workdir, "a", user="a", source_wav=caller_wav(workdir))


def connect(then: str = "hangup") -> object:
    def build(app: TwilioSdkApp, request: WebhookRequest) -> VoiceResponse:
        response = VoiceResponse()
        connect = Connect()
        stream = Stream(url=app.ws_url)
        stream.parameter(name="CallerNumber", value=request.params.get("From", ""))
        connect.append(stream)
        response.append(connect)
        if then == "hangup":
            response.hangup()
        return response

    return build


def record(workdir: Path) -> list[dict[str, object]]:
    return [
        json.loads(line)
        for path in sorted((workdir / "calls").glob("*.jsonl"))
        for line in path.read_text().splitlines()
    ]


def test_a_twilio_sdk_bot_talks_with_a_baresip_caller(tmp_workdir: Path, app: TwilioSdkApp) -> None:
    """Audio both ways, dtmf, a mark after its audio, the bot's close ends the call."""
    app.twiml = connect()  # type: ignore[assignment]
    marks: list[float] = []

    async def bot(stream: AppStream) -> None:  # an echo bot, as the tutorials start with
        echoed = 0
        while not stream.events("dtmf"):
            media = stream.events("media")
            for message in media[echoed:]:
                await stream.send_media(json_payload(message))
            echoed = len(media)
            await stream.wait(partial(more_or_dtmf, stream, echoed))
        await stream.send_mark("after-echo")
        await stream.wait(lambda: stream.events("mark"))
        marks.append(time.monotonic())
        await stream.ws.close()  # done: the TwiML goes on to <Hangup>

    app.bot = bot
    with gateway(tmp_workdir, app) as gw, phone(tmp_workdir) as caller:
        caller.dial(gw.uri("bot"))
        caller.wait_event("CALL_ESTABLISHED", 10)
        app.wait_until(lambda: app.streams and len(app.streams[0].events("media")) >= 100)
        caller.send_dtmf("5")
        caller.wait_event("CALL_CLOSED", 10)  # the gateway's BYE after the last verb
        heard, _ = caller.recordings()
        assert gw.stop() == 0
    (request,) = app.requests
    assert request.valid, "the SDK's RequestValidator refused our X-Twilio-Signature"
    stream = app.streams[0]
    assert stream.handshake_valid
    start = stream.events("start")[0]["start"]
    assert start["callSid"] == request.params["CallSid"]
    assert start["customParameters"] == {"CallerNumber": request.params["From"]}
    assert stream.events("dtmf")[0]["dtmf"]["digit"] == "5"
    assert marks, "the mark never came back"
    report = analyse(heard)
    assert tone_spans(report, CALLER_HZ), report.describe()  # the bot's echo of the caller
    assert analyse_bot_side(stream, CALLER_HZ)
    kinds = [line["type"] for line in record(tmp_workdir)]
    assert "twiml_stream" in kinds and "twiml_end" in kinds and "twiml_failure" not in kinds


def more_or_dtmf(stream: AppStream, seen: int) -> bool:
    """More caller audio than ``seen`` messages, or a key."""
    return len(stream.events("media")) > seen or bool(stream.events("dtmf"))


def json_payload(message: dict[str, object]) -> bytes:
    import base64

    return base64.b64decode(message["media"]["payload"])  # type: ignore[index]


def analyse_bot_side(stream: AppStream, hz: float) -> bool:
    """The caller's tone arrived at the bot (inbound μ-law, decoded and analysed)."""
    from sipgw.app.evaluation.audio import analyse_samples
    from sipgw.media.g711 import ulaw_to_linear

    pcm = ulaw_to_linear(stream.caller_audio())
    samples = [int.from_bytes(pcm[i : i + 2], "little", signed=True) for i in range(0, len(pcm), 2)]
    return bool(tone_spans(analyse_samples(samples, 8000), hz))


def test_a_clear_cuts_the_bots_audio_within_100_ms(tmp_workdir: Path, app: TwilioSdkApp) -> None:
    app.twiml = connect()  # type: ignore[assignment]
    times: dict[str, float] = {}

    async def bot(stream: AppStream) -> None:
        await stream.wait(lambda: stream.events("start"))
        times["sent"] = time.monotonic()
        await stream.send_media(bot_tone(6.0))  # a long reply, all at once
        await stream.wait(lambda: len(stream.events("media")) >= 75)  # 1.5 s: the caller barges in
        times["clear"] = time.monotonic()
        await stream.send_clear()
        await stream.wait(lambda: len(stream.events("media")) >= 150)
        await stream.ws.close()

    app.bot = bot
    with gateway(tmp_workdir, app) as gw, phone(tmp_workdir) as caller:
        caller.dial(gw.uri("bot"))
        caller.wait_event("CALL_ESTABLISHED", 10)
        caller.wait_event("CALL_CLOSED", 15)
        heard, _ = caller.recordings()
        assert gw.stop() == 0
    report = analyse(heard)
    spans = tone_spans(report, BOT_HZ, 0.02)
    assert len(spans) == 1, (spans, report.describe())
    heard_for = spans[0][1] - spans[0][0]
    talked_for = times["clear"] - times["sent"]  # what the bot let play before its clear
    print(f"clear: heard {heard_for:.3f} s of the bot, which cleared after {talked_for:.3f} s")
    assert heard_for <= talked_for + 0.1, (heard_for, talked_for)
    assert heard_for >= talked_for - 0.3, (heard_for, talked_for)  # it did play until then


def test_dial_sip_hands_the_caller_to_a_second_baresip(
    tmp_workdir: Path, app: TwilioSdkApp
) -> None:
    with Baresip(tmp_workdir, "human", user="human", answermode="auto") as human:

        def twiml(app_: TwilioSdkApp, request: WebhookRequest) -> VoiceResponse:
            response = VoiceResponse()
            dial = Dial()
            dial.sip(human.uri)
            response.append(dial)
            return response

        app.twiml = twiml
        with (
            gateway(tmp_workdir, app, SIPGW_DIAL_ALLOW=human.uri, SIPGW_TWIML_DIAL="refer") as gw,
            phone(tmp_workdir) as caller,
        ):
            caller.dial(gw.uri("bot"))
            caller.wait_event("CALL_ESTABLISHED", 10)
            established = human.wait_event("CALL_ESTABLISHED", 15)  # baresip followed our REFER
            assert "sip:a@" in established["peeruri"]
            gw.wait_log(r"call ended:", 15)
            caller.hangup()
    assert any(line["type"] == "twiml_dial" for line in record(tmp_workdir))


def test_refer_hands_the_caller_to_a_second_baresip_and_posts_the_action(
    tmp_workdir: Path, app: TwilioSdkApp
) -> None:
    """``<Refer action><Sip>``: baresip follows the REFER to the second phone; once that one
    answered (the final NOTIFY's 200) the gateway hangs up, and the action gets
    ``in-progress``, 202 and 200, signed."""
    with Baresip(tmp_workdir, "human", user="human", answermode="auto") as human:

        def twiml(app_: TwilioSdkApp, request: WebhookRequest) -> VoiceResponse:
            response = VoiceResponse()
            if request.path == "/referred":
                return response
            refer = Refer(action="/referred")
            refer.sip(human.uri)
            response.append(refer)
            return response

        app.twiml = twiml
        with (
            gateway(tmp_workdir, app, SIPGW_DIAL_ALLOW=human.uri) as gw,
            phone(tmp_workdir) as caller,
        ):
            caller.dial(gw.uri("bot"))
            caller.wait_event("CALL_ESTABLISHED", 10)
            established = human.wait_event("CALL_ESTABLISHED", 15)  # baresip followed our REFER
            assert "sip:a@" in established["peeruri"]
            gw.wait_log(r"call ended:", 15)
            wait_for(lambda: any(r.path == "/referred" for r in app.requests), 10,
                     lambda: [r.path for r in app.requests])  # fmt: skip
            caller.hangup()
    (action,) = [r for r in app.requests if r.path == "/referred"]
    assert action.valid, "RequestValidator refused the action's signature"
    assert action.params["ReferCallStatus"] == "in-progress"
    assert action.params["ReferSipResponseCode"] == "202"
    assert action.params["NotifySipResponseCode"] == "200"
    assert action.params["CallStatus"] == "completed"


def test_a_broken_stream_is_the_fallback_line_heard(tmp_workdir: Path, app: TwilioSdkApp) -> None:
    """The bot's process dies mid-call (no close frame): the caller hears the fallback line,
    then the hang-up, no dead air. (A late webhook and bad TwiML take the same fallback:
    tests/agent/twiml/test_fallback.py.)"""
    app.twiml = connect()  # type: ignore[assignment]

    async def dies(stream: AppStream) -> None:
        await stream.wait(lambda: len(stream.events("media")) >= 25)
        stream.ws.transport.abort()  # the bot's process is gone: no close frame

    app.bot = dies
    with gateway(tmp_workdir, app) as gw, phone(tmp_workdir) as caller:
        caller.dial(gw.uri("bot"))
        caller.wait_event("CALL_ESTABLISHED", 10)
        caller.wait_event("CALL_CLOSED", 15)  # the line, then the hang-up: no dead air
        heard, _ = caller.recordings()
        gw.wait_log(r"TwiML: .*broke.*; fallback: say", 5)
        assert gw.stop() == 0
    report = analyse(heard)
    assert report.active_seconds >= 1.5, report.describe()  # "Thank you for calling. Goodbye."
    (failed,) = [line for line in record(tmp_workdir) if line["type"] == "twiml_failure"]
    assert "broke" in str(failed["reason"]) and failed["fallback"] == "say"


def test_reject_refuses_the_call_unanswered(tmp_workdir: Path, app: TwilioSdkApp) -> None:
    def twiml(app_: TwilioSdkApp, request: WebhookRequest) -> VoiceResponse:
        response = VoiceResponse()
        response.reject(reason="busy")
        return response

    app.twiml = twiml
    with gateway(tmp_workdir, app) as gw, phone(tmp_workdir) as caller:
        caller.dial(gw.uri("bot"))
        closed = caller.wait_event("CALL_CLOSED", 10)
        assert not [e for e in caller.events if e.get("type") == "CALL_ESTABLISHED"]
        assert gw.stop() == 0
    assert "486" in str(closed.get("param", "")), closed  # Busy Here, as Twilio maps "busy"
    assert any(line["type"] == "twiml_reject" for line in record(tmp_workdir))


OWN_LOOP_BOTS = ("close-in-its-own-loop", "close-behind-a-tunnel")
CLOSES = ["close-after-last-mark", "close-in-its-own-loop", "close-behind-a-tunnel", "tcp-reset"]


@pytest.mark.parametrize("how", CLOSES)
def test_the_apps_close_moves_the_call_on_within_200_ms(
    tmp_workdir: Path, app: TwilioSdkApp, how: str
) -> None:
    """The app closing its stream from its handler, whatever way, moves the call to the next
    verb (here none: the call ends; a reset is a broken stream: the fallback) within 200 ms,
    and the gateway leaves no aiohttp session or socket unclosed (a user's report: the
    close was seen only when the caller hung up, 7.7 s later, in silence)."""
    if how == "close-behind-a-tunnel":  # the app's FIN waits for ours: only the handshake says
        app = TwilioSdkApp(TOKEN, behind_tunnel=True).start_in_thread()
        try:
            close_moves_on(tmp_workdir, app, how)
        finally:
            app.stop_thread()
    else:
        close_moves_on(tmp_workdir, app, how)


def close_moves_on(tmp_workdir: Path, app: TwilioSdkApp, how: str) -> None:
    app.twiml = connect(then="nothing")  # type: ignore[assignment]
    closed_at: list[float] = []

    async def bot(stream: AppStream) -> None:
        await stream.wait(lambda: stream.events("start"))
        await stream.send_media(bot_tone(1.0))
        await stream.send_mark("last")
        await stream.wait(lambda: stream.events("mark"))
        closed_at.append(time.monotonic())
        if how == "tcp-reset":
            sock = stream.ws.transport.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            stream.ws.transport.abort()  # an RST, no close frame
        else:
            await stream.ws.close()

    async def own_loop(stream: AppStream) -> None:  # the handler websockets' docs show
        ws = stream.ws
        async for text in ws:
            message = json.loads(text)
            if message["event"] == "start":
                stream.stream_sid = message["start"]["streamSid"]
                await stream.send_media(bot_tone(1.0))
                await stream.send_mark("last")
            elif message["event"] == "mark":
                closed_at.append(time.monotonic())
                await ws.close()

    app.bot = own_loop if how in OWN_LOOP_BOTS else bot
    app.own_reader = how in OWN_LOOP_BOTS
    with gateway(tmp_workdir, app) as gw, phone(tmp_workdir) as caller:
        caller.dial(gw.uri("bot"))
        caller.wait_event("CALL_ESTABLISHED", 10)
        app.wait_until(lambda: closed_at, within=10)
        if how == "tcp-reset":  # the fallback line starts within 200 ms, then the hang-up
            index, _ = gw.process.lines.search(r"TwiML: .*broke.*; fallback: say", 5) or (-1, None)
            assert index >= 0, gw.log_tail()
            took = gw.process.lines.lines()[index][0] - closed_at[0]
            print(f"{how}: the fallback {took * 1000:.0f} ms after the reset")
            assert took < 0.2, took
            caller.wait_event("CALL_CLOSED", 10)
        else:
            ended = caller.wait_event("CALL_CLOSED", 5)  # no next verb: the call ends
            took = ended["received_at"] - closed_at[0]
            print(f"{how}: BYE {took * 1000:.0f} ms after the app's close")
            assert took < 0.2, took
        assert gw.stop() == 0
        log_text = gw.log_text()
    moved = [line for line in log_text.splitlines() if "the app closed its stream" in line
             or "fallback: say" in line]  # fmt: skip
    assert moved, log_text[-3000:]
    assert "Unclosed" not in log_text, log_text[-3000:]
    assert "Traceback" not in log_text, log_text[-3000:]


def test_gather_takes_a_baresip_callers_keys_and_play_digits_reaches_it(
    tmp_workdir: Path, app: TwilioSdkApp
) -> None:
    """The caller presses 4, 2, # (RFC 4733) into <Gather>; the app's action gets
    Digits=42 (its RequestValidator accepts the post) and answers <Play digits="1w2">, whose
    keys the caller's phone receives, then <Hangup>."""

    def twiml(app_: TwilioSdkApp, request: WebhookRequest) -> VoiceResponse:
        response = VoiceResponse()
        if request.path == "/gathered":
            response.play(digits="1w2")
            response.hangup()
        else:
            response.gather(action="/gathered", timeout=10)
            response.say("never")  # no input would fall through to this
        return response

    app.twiml = twiml
    with gateway(tmp_workdir, app, SIPGW_DIAL_ALLOW="*") as gw, phone(tmp_workdir) as caller:
        caller.dial(gw.uri("bot"))
        caller.wait_event("CALL_ESTABLISHED", 10)
        time.sleep(0.5)
        caller.send_dtmf("42#")
        keys = [caller.wait_event("CALL_DTMF_START", 10)["param"] for _ in range(2)]
        caller.wait_event("CALL_CLOSED", 10)
        assert gw.stop() == 0
    (action,) = [r for r in app.requests if r.path == "/gathered"]
    assert action.valid and action.params["Digits"] == "42"
    assert keys == ["1", "2"]
    kinds = [line["type"] for line in record(tmp_workdir)]
    assert "twiml_gather" in kinds and "twiml_digits" in kinds and "twiml_refused" not in kinds


def test_gather_hears_a_baresip_caller_through_the_speech_to_text(
    tmp_workdir: Path, app: TwilioSdkApp
) -> None:
    """<Gather input="speech" speechTimeout="auto">: the caller talks (a tone the AssemblyAI
    fake takes for words), the app's action gets SpeechResult and Confidence."""
    from sipgw.app.evaluation.fakes.assemblyai import FakeAssemblyAI

    def twiml(app_: TwilioSdkApp, request: WebhookRequest) -> VoiceResponse:
        response = VoiceResponse()
        if request.path == "/gathered":
            response.hangup()
        else:
            response.gather(input="speech", action="/gathered", speech_timeout="auto", timeout=8)
        return response

    app.twiml = twiml
    stt = FakeAssemblyAI(api_key="stt-key").start_in_thread()
    stt.script(["I need to talk to an agent"])
    talk = write_pattern(
        tmp_workdir / "audio" / "talk.wav", [(None, 1.5), (300, 1.2), (None, 60.0)], -12.0
    )
    try:
        with (
            gateway(tmp_workdir, app, SIPGW_TWIML_STT="assemblyai", ASSEMBLYAI_API_KEY="stt-key",
                    ASSEMBLYAI_STREAMING_URL=stt.url) as gw,
            Baresip(tmp_workdir, "a", user="a", source_wav=talk) as caller,
        ):  # fmt: skip
            caller.dial(gw.uri("bot"))
            caller.wait_event("CALL_ESTABLISHED", 10)
            caller.wait_event("CALL_CLOSED", 15)
            assert gw.stop() == 0
    finally:
        stt.stop()
    (action,) = [r for r in app.requests if r.path == "/gathered"]
    assert action.valid and action.params["SpeechResult"] == "I need to talk to an agent"
    assert 0.0 < float(action.params["Confidence"]) <= 1.0


def test_record_keeps_what_a_baresip_caller_says(tmp_workdir: Path, app: TwilioSdkApp) -> None:
    """<Record timeout="2">: the caller hears the beep, talks (a tone) and goes quiet; the
    app's action gets the RecordingUrl of a WAV holding that tone, trimmed."""

    def twiml(app_: TwilioSdkApp, request: WebhookRequest) -> VoiceResponse:
        response = VoiceResponse()
        if request.path == "/recorded":
            response.hangup()
        else:
            response.record(action="/recorded", timeout=2)
        return response

    app.twiml = twiml
    talk = write_pattern(
        tmp_workdir / "audio" / "talk.wav", [(None, 0.8), (CALLER_HZ, 1.5), (None, 60.0)], -12.0
    )
    recordings = tmp_workdir / "recordings"
    with (
        gateway(tmp_workdir, app, SIPGW_TWIML_RECORDING_DIR=str(recordings),
                SIPGW_TWIML_RECORDING_URL="https://media.example/rec") as gw,
        Baresip(tmp_workdir, "a", user="a", source_wav=talk) as caller,
    ):  # fmt: skip
        caller.dial(gw.uri("bot"))
        caller.wait_event("CALL_ESTABLISHED", 10)
        caller.wait_event("CALL_CLOSED", 15)
        heard, _ = caller.recordings()
        assert gw.stop() == 0
    (action,) = [r for r in app.requests if r.path == "/recorded"]
    assert action.valid
    sid = action.params["RecordingSid"]
    assert action.params["RecordingUrl"] == f"https://media.example/rec/{sid}"
    assert action.params["RecordingDuration"] in ("1", "2")  # 1.5 s of words, trimmed
    assert tone_spans(analyse(heard), 1000, 0.3)  # the beep was heard
    from sipgw.app.evaluation.audio import analyse_samples
    from sipgw.media.g711 import ulaw_to_linear

    wav = (recordings / f"{sid}.wav").read_bytes()
    pcm = ulaw_to_linear(wav[wav.index(b"data") + 8 :])
    samples = [int.from_bytes(pcm[i : i + 2], "little", signed=True) for i in range(0, len(pcm), 2)]
    spans = tone_spans(analyse_samples(samples, 8000), CALLER_HZ)
    assert spans and spans[0][1] - spans[0][0] >= 1.2, spans
