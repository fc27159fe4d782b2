"""The gateway as a SIPREC recording server (RFC 7866): a real SRC records a call to it.

``sipgw serve --routes routes.toml`` with a line whose agent is ``srs``, speech-to-text by
sipgw's AssemblyAI fake, webhooks to the docs' example receiver (it checks every
signature with its own code):

- SIPp is the Session Recording Client (tests/toolkit/peers/scenarios/src.xml, written from
  RFC 7866 §6.1 and §12.1 and RFC 7865 §6): its INVITE requires ``siprec``, offers two
  ``sendonly`` streams labelled 96 (Alice's, by the metadata) and 97 (Bob's), and checks the
  200 answers both ``recvonly`` with ``+sip.src``'s counterpart ``+sip.srs``; it plays a pcap
  of Alice's speech (a tone burst) to stream 96. SIPp plays one audio stream only, so the
  test sends Bob's speech to stream 97 itself, once Alice's utterance came back as a
  ``call.transcript`` webhook: the fake hands out its scripted sentences in the order turns
  end, so each sentence names the stream that spoke then, and a mix-up of the streams or
  of their speakers fails the test. Before Bob speaks, SIPp's re-INVITE with partial
  metadata (RFC 7866 §8) renames him Robert: his utterance carries the new name, his address
  kept from the first metadata.
- The call record has both utterances with their participants, the two-channel recording
  (``SIPGW_RECORD_DIR``) Alice's tone on the left only, Bob's on the right only.
- An ordinary call (SIPp's own UAC) to the recording line is refused 421.
- SIPp as an SRC whose INVITE has no metadata (scenarios/src_snapshot.xml): the gateway's
  metadata snapshot request (RFC 7866 §9.3) is answered, the complete metadata follows in a
  re-INVITE, and Alice's utterance is hers by name.
- SIPp as an SRC whose call gains a participant (scenarios/src_join.xml): a re-INVITE adds
  Bob's stream (RFC 7866 §8.1), the test sends his speech to its new port, his words are
  his; an UPDATE removes it (port 0) and its session ends.
- sipgw's own SRC: a second gateway runs a TwiML app (on the official ``twilio`` SDK) whose
  ``<Start><Siprec>`` records a baresip caller's call to the first gateway, and whose Media
  Stream answers later: the caller's words come back under stream ``1`` and the caller's
  address, the app's under stream ``2`` and the called address, as sipgw's SRC metadata
  names them (sipgw/sip/siprec.py).

About 15 s each.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import struct
import threading
import time
import wave
from collections.abc import Iterator
from pathlib import Path

import pytest
from twilio.twiml.voice_response import Connect, Start, VoiceResponse

from sipgw.app.evaluation.audio import dominant_tone, tone_frames, write_pattern
from sipgw.app.evaluation.fakes.assemblyai import FakeAssemblyAI
from sipgw.app.evaluation.gateway_process import GatewayProcess
from sipgw.media import g711
from tests.toolkit.peers.baresip import Baresip
from tests.toolkit.peers.sipp import run_sipp, scenario, write_rtp_pcap
from tests.toolkit.twilio_app import AppStream, TwilioSdkApp, WebhookRequest
from tests.toolkit.webhook_receiver import ExampleReceiver

pytestmark = [pytest.mark.timeout(90), pytest.mark.usefixtures("nothing_left_running")]

SECRET = "whsec_" + "c2lwZ3ctc3JzLXRlc3Qtc2VjcmV0LTMyLWJ5dGVzISE="
ALICE_HZ, BOB_HZ = 700, 1100
ALICE_SAYS, BOB_SAYS = "Hello, this is Alice.", "Hi Alice, Bob here."
ROUTES = """\
[lines.recorder]
agent = "srs"
recording = true

[[routes]]
called = "recorder"
line = "recorder"
"""


def rtp(seq: int, ts: int, payload: bytes, ssrc: int, marker: bool = False) -> bytes:
    return struct.pack("!BBHII", 0x80, (0x80 if marker else 0), seq, ts, ssrc) + payload


def speech_packets(hz: float, lead: float, talk: float, tail: float, ssrc: int) -> list[bytes]:
    """20 ms μ-law RTP packets: ``lead`` s of silence, ``talk`` s of a tone, ``tail`` s of
    silence (a talkspurt's first packet marked)."""
    frames = [b"\xff" * 160] * round(lead / 0.02) + tone_frames(hz, talk, -12.0)
    frames += [b"\xff" * 160] * round(tail / 0.02)
    first_loud = round(lead / 0.02)
    return [rtp(i, i * 160, f, ssrc, i == first_loud) for i, f in enumerate(frames)]


def send_paced(packets: list[bytes], to: tuple[str, int]) -> threading.Thread:
    """Send ``packets`` to ``to`` every 20 ms from a thread of their own."""

    def run() -> None:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            start = time.monotonic()
            for n, packet in enumerate(packets):
                time.sleep(max(0.0, start + n * 0.02 - time.monotonic()))
                sock.sendto(packet, to)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def transcripts(receiver: ExampleReceiver) -> list[dict[str, object]]:
    return [d["event"] for d in receiver.deliveries if d["event"]["type"] == "call.transcript"]


def wait_until(condition: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"not within {timeout} s: {what}"
        time.sleep(0.05)


def test_sipp_src_records_two_participants_transcribed_each_by_name(tmp_workdir: Path) -> None:
    routes = tmp_workdir / "routes.toml"
    routes.write_text(ROUTES)
    sipp_dir = tmp_workdir / "sipp"
    alice = speech_packets(ALICE_HZ, 0.5, 1.2, 1.5, ssrc=0x5EED0096)
    write_rtp_pcap(sipp_dir / "src_media.pcap", [(i * 0.02, p) for i, p in enumerate(alice)])
    stt = FakeAssemblyAI(api_key="stt-key").start_in_thread()
    stt.script([ALICE_SAYS, BOB_SAYS])
    receiver = ExampleReceiver(tmp_workdir, SECRET)
    env = {
        "ASSEMBLYAI_API_KEY": "stt-key", "ASSEMBLYAI_STREAMING_URL": stt.url,
        "SIPGW_WEBHOOK_URL": receiver.url, "SIPGW_WEBHOOK_SECRET": SECRET,
        "SIPGW_RECORD_DIR": str(tmp_workdir / "recordings"),
    }  # fmt: skip
    try:
        with (
            receiver,
            GatewayProcess(
                tmp_workdir, extra_env=env, allow_from="127.0.0.0/8",
                extra_args=["--routes", str(routes)],
            ) as gw,
        ):  # fmt: skip
            refused = run_sipp(["-sn", "uac", gw.target, "-s", "recorder", "-m", "1"],
                               timeout=10, cwd=tmp_workdir / "uac")  # fmt: skip
            assert refused.received(r"^SIP/2.0 421"), refused.describe()
            sipp: dict[str, object] = {}

            def src() -> None:
                sipp["result"] = run_sipp(
                    ["-sf", scenario("src.xml"), gw.target, "-s", "recorder", "-m", "1",
                     "-d", "9000"], timeout=30, cwd=sipp_dir,
                )  # fmt: skip

            src_thread = threading.Thread(target=src, daemon=True)
            src_thread.start()
            answered = gw.wait_log(r"recording session answered on RTP ports (\d+), (\d+)", 10)
            bob_port = int(answered.group(2))
            wait_until(lambda: transcripts(receiver), 8, "Alice's utterance")
            gw.wait_log(r"recording metadata updated: 96 \(Alice\), 97 \(Robert\)", 5)
            sender = send_paced(speech_packets(BOB_HZ, 0.3, 1.2, 1.5, 0x5EED0097),
                                ("127.0.0.1", bob_port))  # fmt: skip
            wait_until(lambda: len(transcripts(receiver)) >= 2, 8, "Bob's utterance")
            sender.join(5)
            src_thread.join(30)
            gw.wait_log(r"call ended: remote-bye", 5)
            wait_until(
                lambda: any(d["event"]["type"] == "call.ended" for d in receiver.deliveries),
                10, "call.ended",
            )  # fmt: skip
            assert gw.stop() == 0
    finally:
        stt.stop()
    result = sipp["result"]
    assert result.ok, result.describe()  # type: ignore[attr-defined]
    events = transcripts(receiver)
    assert {e["data"]["call"]["agent"] for e in events} == {"srs"}  # type: ignore[index]
    said = [event["data"]["utterance"] for event in events]  # type: ignore[index]
    assert [(u["label"], u["participant"]["name"], u["text"]) for u in said] == [
        ("96", "Alice", ALICE_SAYS),
        ("97", "Robert", BOB_SAYS),  # renamed by the re-INVITE's partial metadata
    ], said
    assert [u["participant"]["aor"] for u in said] == [
        "sip:alice@atlanta.example.com",
        "sip:bob@biloxy.example.com",
    ]
    # the call.ended event carries the whole transcript with its participants
    (end,) = [d["event"] for d in receiver.deliveries if d["event"]["type"] == "call.ended"]
    lines = end["data"]["transcript"]
    assert [(line["speaker"], line["label"], line["text"]) for line in lines] == [
        ("participant", "96", ALICE_SAYS),
        ("participant", "97", BOB_SAYS),
    ]
    # the call record: the participants, then each utterance with who said it
    (record,) = (tmp_workdir / "calls").glob("*.jsonl")
    kept = [json.loads(line) for line in record.read_text().splitlines()]
    speech = [(r["label"], r["name"], r["aor"], r["text"]) for r in kept if r["type"] == "speech"]
    assert speech == [
        ("96", "Alice", "sip:alice@atlanta.example.com", ALICE_SAYS),
        ("97", "Robert", "sip:bob@biloxy.example.com", BOB_SAYS),
    ]
    assert [r["type"] for r in kept].count("participants_updated") == 1
    # the two-channel recording: Alice left, Bob right
    (wav,) = (tmp_workdir / "recordings").glob("*.wav")
    with wave.open(str(wav)) as recording:
        assert recording.getnchannels() == 2
        frames = recording.readframes(recording.getnframes())
    left, right = frames_by_channel(frames)
    assert heard(left, ALICE_HZ) >= 0.8 and heard(right, ALICE_HZ) == 0
    assert heard(right, BOB_HZ) >= 0.8 and heard(left, BOB_HZ) == 0


def run_src(scenario_name: str, gw: GatewayProcess, cwd: Path, pause_ms: int) -> dict[str, object]:
    """Run the SIPp SRC ``scenario_name`` against ``gw`` in a thread; its result lands in the
    dict returned, under ``result``, once it ends."""
    sipp: dict[str, object] = {}

    def src() -> None:
        sipp["result"] = run_sipp(
            ["-sf", scenario(scenario_name), gw.target, "-s", "recorder", "-m", "1",
             "-d", str(pause_ms)], timeout=30, cwd=cwd,
        )  # fmt: skip

    thread = threading.Thread(target=src, daemon=True)
    thread.start()
    sipp["thread"] = thread
    return sipp


def srs_env(tmp_workdir: Path, stt: FakeAssemblyAI, receiver: ExampleReceiver) -> dict[str, str]:
    return {
        "ASSEMBLYAI_API_KEY": "stt-key", "ASSEMBLYAI_STREAMING_URL": stt.url,
        "SIPGW_WEBHOOK_URL": receiver.url, "SIPGW_WEBHOOK_SECRET": SECRET,
    }  # fmt: skip


@contextlib.contextmanager
def alice_recorded(
    tmp_workdir: Path, says: list[str]
) -> Iterator[tuple[GatewayProcess, ExampleReceiver, Path]]:
    """A gateway recording on the ``recorder`` line (no WAV), its webhooks to a receiver and
    its STT scripted to ``says``; SIPp's media for the SRC (Alice's speech on stream 96) in
    the directory it yields."""
    routes = tmp_workdir / "routes.toml"
    routes.write_text(ROUTES.replace("recording = true\n", ""))
    sipp_dir = tmp_workdir / "sipp"
    alice = speech_packets(ALICE_HZ, 0.5, 1.2, 1.5, ssrc=0x5EED0096)
    write_rtp_pcap(sipp_dir / "src_media.pcap", [(i * 0.02, p) for i, p in enumerate(alice)])
    stt = FakeAssemblyAI(api_key="stt-key").start_in_thread()
    stt.script(says)
    receiver = ExampleReceiver(tmp_workdir, SECRET)
    try:
        with (
            receiver,
            GatewayProcess(
                tmp_workdir, extra_env=srs_env(tmp_workdir, stt, receiver),
                allow_from="127.0.0.0/8", extra_args=["--routes", str(routes)],
            ) as gw,
        ):  # fmt: skip
            yield gw, receiver, sipp_dir
    finally:
        stt.stop()


def test_sipp_src_without_metadata_answers_the_snapshot_request(tmp_workdir: Path) -> None:
    """RFC 7866 §9.3 (tests/toolkit/peers/scenarios/src_snapshot.xml): the INVITE has no
    metadata; the gateway asks for a snapshot (an UPDATE with an
    ``application/rs-metadata-request``, checked by the scenario), SIPp answers it and sends
    the complete metadata in a re-INVITE: Alice's utterance is hers by name."""
    with alice_recorded(tmp_workdir, [ALICE_SAYS]) as (gw, receiver, sipp_dir):
        sipp = run_src("src_snapshot.xml", gw, sipp_dir, 4000)
        gw.wait_log(r"asking the SRC for a metadata snapshot", 10)
        gw.wait_log(r"the SRC took the metadata snapshot request \(200\)", 5)
        gw.wait_log(r"recording metadata updated: 96 \(Alice\), 97 \(Bob\)", 5)
        wait_until(lambda: transcripts(receiver), 10, "Alice's utterance")
        sipp["thread"].join(30)  # type: ignore[attr-defined]
        gw.wait_log(r"call ended: remote-bye", 5)
        assert gw.stop() == 0
    result = sipp["result"]
    assert result.ok, result.describe()  # type: ignore[attr-defined]
    said = [event["data"]["utterance"] for event in transcripts(receiver)]  # type: ignore[index]
    assert [(u["label"], u["participant"]["name"], u["text"]) for u in said] == [
        ("96", "Alice", ALICE_SAYS),
    ], said


def test_sipp_src_adds_a_participants_stream_then_removes_it(tmp_workdir: Path) -> None:
    """RFC 7866 §8.1 (tests/toolkit/peers/scenarios/src_join.xml): the session records Alice
    alone; a re-INVITE adds Bob's stream with partial metadata naming him, answered on a new
    port (the scenario checks both streams ``recvonly``, labelled); the test sends Bob's
    speech there; an UPDATE removes his stream (port 0): his session ends, Alice's goes on."""
    with alice_recorded(tmp_workdir, [ALICE_SAYS, BOB_SAYS]) as (gw, receiver, sipp_dir):
        sipp = run_src("src_join.xml", gw, sipp_dir, 1000)
        gw.wait_log(r"recording session answered on RTP ports (\d+): 96 \(Alice\)", 10)
        wait_until(lambda: transcripts(receiver), 8, "Alice's utterance")
        added = gw.wait_log(r"recorded stream 97 added on RTP port (\d+): Bob", 8)
        sender = send_paced(speech_packets(BOB_HZ, 0.3, 1.2, 1.2, 0x5EED0097),
                            ("127.0.0.1", int(added.group(1))))  # fmt: skip
        wait_until(lambda: len(transcripts(receiver)) >= 2, 8, "Bob's utterance")
        sender.join(5)
        gw.wait_log(r"recorded stream 97 removed", 10)
        sipp["thread"].join(30)  # type: ignore[attr-defined]
        gw.wait_log(r"call ended: remote-bye", 5)
        assert gw.stop() == 0
    result = sipp["result"]
    assert result.ok, result.describe()  # type: ignore[attr-defined]
    said = [event["data"]["utterance"] for event in transcripts(receiver)]  # type: ignore[index]
    assert [(u["label"], u["participant"]["name"], u["text"]) for u in said] == [
        ("96", "Alice", ALICE_SAYS),
        ("97", "Bob", BOB_SAYS),  # his stream, named by the re-INVITE's metadata
    ], said
    (record,) = (tmp_workdir / "calls").glob("*.jsonl")
    kept = [json.loads(line) for line in record.read_text().splitlines()]
    assert [r["label"] for r in kept if r["type"] == "stream_ended"] == ["97"]


def frames_by_channel(frames: bytes) -> tuple[list[bytes], list[bytes]]:
    """A 16-bit stereo WAV's data as 20 ms μ-law frames of each channel."""
    samples = struct.unpack(f"<{len(frames) // 2}h", frames)
    channels = []
    for channel in (0, 1):
        pcm = struct.pack(f"<{len(samples) // 2}h", *samples[channel::2])
        ulaw = g711.linear_to_ulaw(pcm)
        channels.append([ulaw[i : i + 160] for i in range(0, len(ulaw) - 159, 160)])
    return channels[0], channels[1]


def heard(frames: list[bytes], hz: float) -> float:
    """Seconds of ``frames`` where ``hz`` dominates."""
    return 0.02 * sum(1 for f in frames if dominant_tone(f, (ALICE_HZ, BOB_HZ)) == hz)


TOKEN = "7" * 32
ACCOUNT = "AC" + "3" * 32
CALLER_SAYS, APP_SAYS = "I would like to close my account.", "Let me look that up for you."


@pytest.fixture
def app() -> Iterator[TwilioSdkApp]:
    peer = TwilioSdkApp(TOKEN).start_in_thread()
    try:
        yield peer
    finally:
        peer.stop_thread()


def test_sipgws_own_src_records_a_twiml_call_to_the_srs_line(
    tmp_workdir: Path, app: TwilioSdkApp
) -> None:
    def twiml(app_: TwilioSdkApp, request: WebhookRequest) -> VoiceResponse:
        response = VoiceResponse()
        start = Start()
        start.siprec(connector_name="rec")
        response.append(start)
        connect = Connect()
        connect.stream(url=app_.ws_url)
        response.append(connect)
        return response

    async def bot(stream: AppStream) -> None:  # answers once the caller had their say
        await stream.wait(lambda: stream.events("start"), within=10)
        await asyncio.sleep(3.5)
        await stream.send_media(b"".join(tone_frames(BOB_HZ, 1.2, -12.0)))
        await stream.wait(lambda: stream.events("stop"), within=60)

    app.twiml = twiml
    app.bot = bot
    routes = tmp_workdir / "routes.toml"
    routes.write_text(ROUTES.replace("recording = true\n", ""))  # no WAV here
    talk = write_pattern(tmp_workdir / "audio" / "talk.wav",
                         [(None, 1.0), (ALICE_HZ, 1.2), (None, 60.0)], -12.0)  # fmt: skip
    stt = FakeAssemblyAI(api_key="stt-key").start_in_thread()
    stt.script([CALLER_SAYS, APP_SAYS])
    receiver = ExampleReceiver(tmp_workdir, SECRET)
    srs_env = {
        "ASSEMBLYAI_API_KEY": "stt-key", "ASSEMBLYAI_STREAMING_URL": stt.url,
        "SIPGW_WEBHOOK_URL": receiver.url, "SIPGW_WEBHOOK_SECRET": SECRET,
    }  # fmt: skip
    try:
        with (
            receiver,
            GatewayProcess(
                tmp_workdir, name="srs", extra_env=srs_env, allow_from="127.0.0.0/8",
                extra_args=["--routes", str(routes)],
            ) as srs,
        ):  # fmt: skip
            src_env = {
                "SIPGW_TWIML_URL": app.url, "SIPGW_TWIML_ACCOUNT_SID": ACCOUNT,
                "SIPGW_TWIML_AUTH_TOKEN": TOKEN,
                "SIPGW_TWIML_SIPREC_CONNECTORS": f"rec={srs.uri('recorder')}",
            }  # fmt: skip
            with (
                GatewayProcess(tmp_workdir, name="src", agent="twiml", extra_env=src_env,
                               allow_from="127.0.0.0/8") as src,
                Baresip(tmp_workdir, "a", user="a", source_wav=talk) as caller,
            ):  # fmt: skip
                caller.dial(src.uri("bot"))
                caller.wait_event("CALL_ESTABLISHED", 10)
                srs.wait_log(r"recording session answered on RTP ports", 10)
                wait_until(lambda: len(transcripts(receiver)) >= 2, 15, "both utterances")
                caller.hangup()
                caller.wait_event("CALL_CLOSED", 5)
                srs.wait_log(r"call ended: remote-bye", 5)  # the SRC's BYE
                wait_until(
                    lambda: any(d["event"]["type"] == "call.ended" for d in receiver.deliveries),
                    10, "call.ended",
                )  # fmt: skip
                assert src.stop() == 0
            assert srs.stop() == 0
    finally:
        stt.stop()
    said = [event["data"]["utterance"] for event in transcripts(receiver)]  # type: ignore[index]
    assert [(u["label"], u["text"]) for u in said] == [("1", CALLER_SAYS), ("2", APP_SAYS)], said
    caller_aor, called_aor = (u["participant"]["aor"] for u in said)
    assert caller_aor.startswith("sip:a@"), said  # the caller, as the SRC's metadata says
    assert called_aor.startswith("sip:bot@"), said  # the called side: the app
