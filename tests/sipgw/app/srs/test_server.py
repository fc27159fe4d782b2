"""SIPREC recording sessions answered by the gateway (sipgw.app.srs.server).

Which calls a line refuses (a recording session to a line that does not record, an ordinary
call to one that does), the streams' speakers from the metadata, and, in process with a
scripted phone and sipgw's AssemblyAI fake, one recording session from its INVITE to its BYE:
answered ``recvonly`` with ``+sip.srs``, the phone's speech transcribed under its stream's
label, the ports given back; a stream a re-INVITE adds (a participant joins) transcribed
under its sender's name, then removed by an UPDATE; a session without metadata asking its
SRC for a snapshot; an SRTP session decrypted and transcribed.
"""

from __future__ import annotations

import asyncio
import base64
import socket
import struct
import wave
from pathlib import Path

from sipgw.agent.srs.transcriber import RecordedParty, SrsAgent
from sipgw.app.agents import find_agent
from sipgw.app.evaluation.audio import dominant_tone, tone_frames
from sipgw.app.evaluation.fakes.assemblyai import FakeAssemblyAI
from sipgw.app.evaluation.fakes.openai import FakeOpenAI, FakeResponse
from sipgw.app.evaluation.phone import Phone
from sipgw.app.lines.routing import CallRoute
from sipgw.app.security.access import AccessConfig
from sipgw.app.srs.server import refusal
from sipgw.app.srs.streams import parties_of
from sipgw.foundation.settings import Sources
from sipgw.media import g711
from sipgw.media.srtp import SrtpContext, SrtpKeying
from sipgw.sip.call import CallInfo
from sipgw.sip.headers import NameAddr
from sipgw.sip.message import SipRequest, SipResponse, make_response
from sipgw.sip.rsmetadata import parse_metadata
from sipgw.sip.sdp import SessionDescription
from sipgw.sip.srs import RecordingRequest
from sipgw.sip.uri import parse_uri
from sipgw.sip.usages.snapshot import REQUEST_TYPE
from tests.agent.parts import speech_frames
from tests.sipgw.sip.test_rsmetadata import COMPLETE
from tests.sipgw.sip.test_srs import MULTIPART, rs_body
from tests.toolkit.gateway_in_process import running_gateway
from tests.toolkit.metrics import sample_value

KEY = "srs-key"
BOB = "sip:bob@biloxy.example.com"  # the metadata gives him no name
ROUTES = """\
[lines.recorder]
agent = "srs"

[lines.check]
agent = "echo"

[[routes]]
called = "recorder"
line = "recorder"

[[routes]]
called = "echo"
line = "check"
"""


def call(recording: RecordingRequest | None) -> CallInfo:
    party = NameAddr(parse_uri("sip:src@198.51.100.1"))
    return CallInfo(("c@t", "tag"), party, party, recording=recording)


def test_a_recording_session_and_a_line_must_go_together() -> None:
    sources = Sources({"ASSEMBLYAI_API_KEY": KEY, "SIPGW_SRS_RECORD_DIR": ""})
    srs, echo = find_agent("srs").build(sources), find_agent("echo").build(sources)
    required, tagged = RecordingRequest(True), RecordingRequest(False)
    assert refusal(call(required), CallRoute(srs)) is None
    assert refusal(call(None), CallRoute(echo)) is None
    ordinary = refusal(call(None), CallRoute(srs))
    assert ordinary is not None and (ordinary.refuse, ordinary.headers, ordinary.kind) == (
        421, (("Require", "siprec"),), "siprec",
    )  # fmt: skip
    unsupported = refusal(call(required), CallRoute(echo))
    assert unsupported is not None
    assert (unsupported.refuse, unsupported.headers) == (420, (("Unsupported", "siprec"),))
    only_tagged = refusal(call(tagged), CallRoute(echo))
    assert only_tagged is not None and (only_tagged.refuse, only_tagged.headers) == (488, ())
    assert refusal(call(required), CallRoute(None, refuse=404)) is None  # the routes' own


def test_each_stream_is_named_by_its_label_and_its_sender() -> None:
    recording = RecordingRequest(True, ("96", "", "97"), (0, 1, 2))
    parties = parties_of(recording, parse_metadata(COMPLETE))
    assert [(p.label, p.name, p.aor) for p in parties] == [
        ("96", "Alice", "sip:alice@atlanta.example.com"),
        ("m2", "", ""),  # no label: its position; nobody sends it
        ("97", "", "sip:bob@biloxy.example.com"),
    ]
    assert parties[0] == RecordedParty(
        "96", "srfBElmCRp2QB23b7Mpk0w==", "sip:alice@atlanta.example.com", "Alice"
    )


async def test_a_recording_session_in_process_from_invite_to_bye(tmp_path: Path) -> None:
    routes = tmp_path / "routes.toml"
    routes.write_text(ROUTES)
    stt = await FakeAssemblyAI(api_key=KEY).start()
    stt.script(["What the SRC heard."])
    env = {"ASSEMBLYAI_API_KEY": KEY, "ASSEMBLYAI_STREAMING_URL": stt.url,
           "SIPGW_SRS_RECORD_DIR": ""}  # fmt: skip
    try:
        async with running_gateway(routes=routes, env=env) as (gateway, new_phone):
            ordinary = await new_phone(user="recorder")
            refused = await ordinary.invite()
            assert refused.status == 421 and refused.headers.get("Require") == "siprec"
            stray = await new_phone(user="echo")
            refused = await stray.invite(extra=["Require: siprec"])
            assert refused.status == 420 and refused.headers.get("Unsupported") == "siprec"
            text, _ = gateway.metrics.render()
            refusals = "sipgw_route_refusals_total"
            assert sample_value(text, refusals, line="recorder", why="siprec") == 1
            assert sample_value(text, refusals, line="check", why="siprec") == 1
            src = await new_phone(user="recorder", direction="sendonly")
            ok = await src.invite(extra=["Require: siprec"])
            assert ok.status == 200 and ok.headers.get("Contact", "").endswith(";+sip.srs")
            (stream,) = SessionDescription.parse(ok.body).media
            assert src.remote_rtp is not None
            assert stream.direction == "recvonly" and stream.port == src.remote_rtp[1]
            (handle,) = gateway.handles.values()
            agent = handle.agent
            assert isinstance(agent, SrsAgent)
            assert gateway.ports.in_use == 1  # the stream's port (no call media of its own)
            src.start_audio()
            src.say(speech_frames(1.0))
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 8
            while agent.utterances < 1:
                assert loop.time() < deadline, agent.record.lines
                await asyncio.sleep(0.05)
            await src.bye()
            deadline = loop.time() + 3
            while gateway.handles or gateway.ports.in_use:
                assert loop.time() < deadline, "the session's port is still held"
                await asyncio.sleep(0.02)
        (said,) = [line for line in agent.record.lines if line["type"] == "speech"]
        assert (said["label"], said["text"]) == ("m1", "What the SRC heard.")  # no a=label
    finally:
        await stt.aclose()


async def test_an_src_gone_without_its_bye_is_hung_up_after_the_rtp_timeout(
    tmp_path: Path,
) -> None:
    routes = tmp_path / "routes.toml"
    routes.write_text(ROUTES)
    stt = await FakeAssemblyAI(api_key=KEY).start()
    env = {"ASSEMBLYAI_API_KEY": KEY, "ASSEMBLYAI_STREAMING_URL": stt.url,
           "SIPGW_SRS_RECORD_DIR": ""}  # fmt: skip
    try:
        async with running_gateway(routes=routes, env=env, rtp_timeout=0.6) as (gateway, phones):
            src = await phones(user="recorder", direction="sendonly", answer_requests=True)
            assert (await src.invite(extra=["Require: siprec"])).status == 200
            src.start_audio()  # alive for a while, then gone
            src.say(speech_frames(0.4))
            await asyncio.sleep(0.5)
            assert gateway.handles  # RTP came: still up
            src.close()
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 4
            while gateway.handles or gateway.ports.in_use:
                assert loop.time() < deadline, "the recording session is still up"
                await asyncio.sleep(0.02)
    finally:
        await stt.aclose()


async def test_agent_assist_suggests_through_the_chat_models_fake(tmp_path: Path) -> None:
    """``SIPGW_SRS_ASSIST_PROMPT_FILE`` end to end in process: the utterance transcribed by
    the AssemblyAI fake goes, with the prompt, to the OpenAI fake through the real client,
    and its reply is the call's ``suggestion``."""
    routes = tmp_path / "routes.toml"
    routes.write_text(ROUTES)
    prompt = tmp_path / "assist.txt"
    prompt.write_text("Suggest the agent's next step, or answer -.")
    stt = await FakeAssemblyAI(api_key=KEY).start()
    stt.script(["My card was charged twice."])
    async with FakeOpenAI(api_key="llm-key") as llm:
        llm.script([FakeResponse(text="Offer to refund the second charge.")])
        env = {"ASSEMBLYAI_API_KEY": KEY, "ASSEMBLYAI_STREAMING_URL": stt.url,
               "SIPGW_SRS_RECORD_DIR": "", "SIPGW_SRS_ASSIST_PROMPT_FILE": str(prompt),
               "OPENAI_API_KEY": "llm-key", "OPENAI_BASE_URL": llm.base_url}  # fmt: skip
        try:
            async with running_gateway(routes=routes, env=env) as (gateway, new_phone):
                src = await new_phone(user="recorder", direction="sendonly")
                assert (await src.invite(extra=["Require: siprec"])).status == 200
                (handle,) = gateway.handles.values()
                agent = handle.agent
                assert isinstance(agent, SrsAgent)
                src.start_audio()
                src.say(speech_frames(1.0))
                loop = asyncio.get_running_loop()
                deadline = loop.time() + 8
                while not any(x["type"] == "suggestion" for x in agent.record.lines):
                    assert loop.time() < deadline, agent.record.lines
                    await asyncio.sleep(0.05)
                await src.bye()
        finally:
            await stt.aclose()
        (request,) = llm.requests
        messages = request.body["messages"]
        assert messages[0]["role"] == "system"
        assert messages[0]["content"] == "Suggest the agent's next step, or answer -."
        assert "[m1]: My card was charged twice." in messages[1]["content"]
    (suggestion,) = [x for x in agent.record.lines if x["type"] == "suggestion"]
    assert (suggestion["text"], suggestion["utterances"]) == (
        "Offer to refund the second charge.", 1,
    )  # fmt: skip


async def test_a_recording_session_passes_the_same_access_rules_as_any_call(
    tmp_path: Path,
) -> None:
    """No bypass: with callers held to digest credentials, an SRC without them is challenged
    before any port, agent or speech-to-text session exists (docs/security.md)."""
    routes = tmp_path / "routes.toml"
    routes.write_text(ROUTES)
    env = {"ASSEMBLYAI_API_KEY": KEY, "SIPGW_SRS_RECORD_DIR": ""}
    closed = AccessConfig(users=(("src", "a long enough password"),))
    async with running_gateway(routes=routes, env=env, access=closed) as (gateway, new_phone):
        src = await new_phone(user="recorder", direction="sendonly")
        challenged = await src.invite(extra=["Require: siprec"])
        assert challenged.status in (401, 407)
        assert not gateway.handles and gateway.ports.in_use == 0
        assert gateway.counters().calls_total == 0  # never offered to the routes


async def test_a_paused_recording_is_not_taken_for_a_gone_src(tmp_path: Path) -> None:
    """RFC 7866 §8.1.2: while the SRC pauses (a re-INVITE, a=inactive) its silence is no
    sign it is gone: the RTP timeout waits; once it resumes, it counts again."""
    routes = tmp_path / "routes.toml"
    routes.write_text(ROUTES)
    stt = await FakeAssemblyAI(api_key=KEY).start()
    env = {"ASSEMBLYAI_API_KEY": KEY, "ASSEMBLYAI_STREAMING_URL": stt.url,
           "SIPGW_SRS_RECORD_DIR": ""}  # fmt: skip
    try:
        async with running_gateway(routes=routes, env=env, rtp_timeout=0.6) as (gateway, phones):
            src = await phones(user="recorder", direction="sendonly", answer_requests=True)
            ok = await src.invite(extra=["Require: siprec"])
            assert ok.status == 200
            src.direction = "inactive"  # the pause
            src.cseq += 1
            src.send(src.request("INVITE", src.sdp(), extra=["Require: siprec"]))
            paused = await src.expect(
                lambda m: isinstance(m, SipResponse) and m.cseq.number == src.cseq, 3.0
            )
            assert isinstance(paused, SipResponse) and paused.status == 200
            (line,) = SessionDescription.parse(paused.body).media
            assert line.direction == "inactive"
            src.send(src.request("ACK", cseq=src.cseq))
            await asyncio.sleep(1.5)  # over twice the RTP timeout, no RTP
            assert gateway.handles, "a paused recording was hung up"
            src.direction = "sendonly"  # the resume, and still no RTP: gone after all
            src.cseq += 1
            src.send(src.request("INVITE", src.sdp(), extra=["Require: siprec"]))
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 4
            while gateway.handles:
                assert loop.time() < deadline, "the silent resumed recording is still up"
                await asyncio.sleep(0.05)
    finally:
        await stt.aclose()


def offer_sdp(*lines: tuple[str, int], proto: str = "RTP/AVP", crypto: str = "") -> str:
    """An SRC's SDP: one ``sendonly`` PCMU line per (label, port) (port 0: removed)."""
    sdp = "v=0\r\no=SRC 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
    for label, port in lines:
        sdp += f"m=audio {port} {proto} 0\r\na=rtpmap:0 PCMU/8000\r\n{crypto}"
        sdp += f"a=label:{label}\r\na=sendonly\r\n"
    return sdp


async def offer(src: Phone, method: str, body: str, multipart: bool = True) -> SipResponse:
    """Send the SRC's INVITE, re-INVITE or UPDATE with ``body``; ACK an INVITE's 2xx; its
    final response."""
    if method == "INVITE" and src.to_tag is not None:
        src.cseq += 1
    elif method == "UPDATE":
        src.cseq += 1
    data = src.request(method, body, extra=["Require: siprec"])
    if multipart:
        data = data.replace(
            b"Content-Type: application/sdp", f"Content-Type: {MULTIPART}".encode(), 1
        )
    src.send(data)
    cseq = src.cseq
    final = await src.expect(lambda m: isinstance(m, SipResponse) and m.status >= 200
                             and m.cseq.number == cseq, 8.0)  # fmt: skip
    assert isinstance(final, SipResponse)
    src.to_tag = final.to.tag
    if method == "INVITE" and final.status < 300:
        src.send(src.request("ACK", cseq=cseq))
        src.acked = True
        src.remote_rtp = ("127.0.0.1", SessionDescription.parse(final.body).media[0].port)
    return final


async def until(condition: object, seconds: float, what: object) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while not condition():  # type: ignore[operator]
        assert loop.time() < deadline, what
        await asyncio.sleep(0.05)


def speech_of(agent: SrsAgent) -> list[tuple[str, str, str]]:
    """Each utterance: its stream, who said it (a name, else an address), what was said."""
    lines = agent.record.lines
    return [(x["label"], x["name"] or x["aor"], x["text"]) for x in lines if x["type"] == "speech"]


async def test_a_stream_added_mid_session_is_transcribed_as_its_sender_then_removed(
    tmp_path: Path,
) -> None:
    """RFC 7866 §8.1: a re-INVITE adds Bob's stream (97) to Alice's session; it gets a port
    and a speech-to-text session of its own, his words are his; an UPDATE then removes it
    (port 0): its session ends, its port goes back."""
    routes = tmp_path / "routes.toml"
    routes.write_text(ROUTES)
    stt = await FakeAssemblyAI(api_key=KEY).start()
    stt.script(["Bob joined the call."])
    env = {"ASSEMBLYAI_API_KEY": KEY, "ASSEMBLYAI_STREAMING_URL": stt.url,
           "SIPGW_SRS_RECORD_DIR": ""}  # fmt: skip
    try:
        async with running_gateway(routes=routes, env=env) as (gateway, new_phone):
            alice = await new_phone(user="recorder", answer_requests=True)
            bob = await new_phone(user="recorder")  # his RTP socket only
            ok = await offer(alice, "INVITE", rs_body(offer_sdp(("96", alice.rtp_port)), COMPLETE))
            assert ok.status == 200 and gateway.ports.in_use == 1
            (handle,) = gateway.handles.values()
            agent = handle.agent
            assert isinstance(agent, SrsAgent) and set(agent.sessions) == {"96"}
            both = offer_sdp(("96", alice.rtp_port), ("97", bob.rtp_port))
            joined = await offer(alice, "INVITE", rs_body(both, COMPLETE))
            assert joined.status == 200
            lines = SessionDescription.parse(joined.body).media
            assert [(m.direction, m.attribute("label")) for m in lines] == [
                ("recvonly", "96"), ("recvonly", "97"),
            ]  # fmt: skip
            assert lines[1].port not in (0, lines[0].port) and gateway.ports.in_use == 2
            assert set(agent.sessions) == {"96", "97"}
            bob.start_audio(("127.0.0.1", lines[1].port))
            bob.say(speech_frames(1.0))
            await until(lambda: speech_of(agent), 8, agent.record.lines)
            assert speech_of(agent) == [("97", BOB, "Bob joined the call.")]
            left = offer_sdp(("96", alice.rtp_port), ("97", 0))
            removed = await offer(alice, "UPDATE", rs_body(left, COMPLETE))
            assert [m.port for m in SessionDescription.parse(removed.body).media][1] == 0
            lines_of = agent.record.lines
            await until(lambda: [x["label"] for x in lines_of if x["type"] == "stream_ended"]
                        == ["97"], 4, lines_of)  # fmt: skip
            assert set(agent.sessions) == {"96"} and gateway.ports.in_use == 1
            await alice.bye()
            await until(lambda: not gateway.handles and not gateway.ports.in_use, 3, "ports")
        added = [x for x in agent.record.lines if x["type"] == "streams_added"]
        assert [s["aor"] for x in added for s in x["streams"]] == [BOB]
    finally:
        await stt.aclose()


async def test_a_session_without_metadata_asks_its_src_for_a_snapshot(tmp_path: Path) -> None:
    """RFC 7866 §9.3: an INVITE with its SDP only; once ACKed the SRS sends an UPDATE with
    an ``application/rs-metadata-request``; the SRC's re-INVITE with the complete metadata
    names the speaker of stream 96: Alice."""
    routes = tmp_path / "routes.toml"
    routes.write_text(ROUTES)
    stt = await FakeAssemblyAI(api_key=KEY).start()
    stt.script(["Alice speaking."])
    env = {"ASSEMBLYAI_API_KEY": KEY, "ASSEMBLYAI_STREAMING_URL": stt.url,
           "SIPGW_SRS_RECORD_DIR": ""}  # fmt: skip
    try:
        async with running_gateway(routes=routes, env=env) as (gateway, new_phone):
            src = await new_phone(user="recorder")
            sdp = offer_sdp(("96", src.rtp_port))
            ok = await offer(src, "INVITE", sdp, multipart=False)
            assert ok.status == 200
            asked = await src.expect(lambda m: isinstance(m, SipRequest), 3.0)
            assert isinstance(asked, SipRequest) and asked.method == "UPDATE"
            assert asked.headers.get("Content-Type") == REQUEST_TYPE
            assert asked.headers.get("Content-Disposition") == "recording-session"
            src.send(make_response(asked, 200).serialize())
            assert (await offer(src, "INVITE", rs_body(sdp, COMPLETE))).status == 200
            (handle,) = gateway.handles.values()
            agent = handle.agent
            assert isinstance(agent, SrsAgent)
            src.start_audio()
            src.say(speech_frames(1.0))
            await until(lambda: speech_of(agent), 8, agent.record.lines)
            await src.bye()
        assert speech_of(agent) == [("96", "Alice", "Alice speaking.")]
    finally:
        await stt.aclose()


SRC_KEY = bytes(range(30))  # the SRC's master key and salt (RFC 4568 §6.1 inline:)
CRYPTO = f"a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:{base64.b64encode(SRC_KEY).decode()}\r\n"


async def send_srtp(frames: list[bytes], to: tuple[str, int], ssrc: int) -> None:
    """``frames`` as SRTP packets protected with the SRC's key, one every 20 ms."""
    keying = SrtpKeying("AES_CM_128_HMAC_SHA1_80", SRC_KEY)
    srtp = SrtpContext(keying, keying)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for n, frame in enumerate(frames):
            packet = struct.pack("!BBHII", 0x80, 0, n, n * 160, ssrc) + frame
            protected = srtp.protect(packet)
            assert protected is not None
            sock.sendto(protected, to)
            await asyncio.sleep(0.02)


async def test_an_srtp_recording_session_is_decrypted_and_transcribed(tmp_path: Path) -> None:
    """RFC 4568: an SRC offering RTP/SAVP with SDES keys is answered with SRTP (a key of
    ours) under a policy that takes it (here ``allow-insecure``: the test signals over
    UDP), and its stream, real SRTP packets, is decrypted and transcribed. Under the
    default policy the same offer over UDP is refused 488 (docs/srtp.md)."""
    routes = tmp_path / "routes.toml"
    routes.write_text(ROUTES)
    stt = await FakeAssemblyAI(api_key=KEY).start()
    stt.script(["Encrypted hello."])
    env = {"ASSEMBLYAI_API_KEY": KEY, "ASSEMBLYAI_STREAMING_URL": stt.url,
           "SIPGW_SRS_RECORD_DIR": ""}  # fmt: skip
    try:
        async with running_gateway(routes=routes, env=env) as (gateway, new_phone):
            src = await new_phone(user="recorder")
            sdp = offer_sdp(("96", src.rtp_port), proto="RTP/SAVP", crypto=CRYPTO)
            refused = await offer(src, "INVITE", rs_body(sdp, COMPLETE))
            assert refused.status == 488 and not gateway.ports.in_use
        async with running_gateway(routes=routes, env=env, srtp="allow-insecure") as (
            gateway, new_phone,
        ):  # fmt: skip
            src = await new_phone(user="recorder")
            sdp = offer_sdp(("96", src.rtp_port), proto="RTP/SAVP", crypto=CRYPTO)
            ok = await offer(src, "INVITE", rs_body(sdp, COMPLETE))
            assert ok.status == 200
            (line,) = SessionDescription.parse(ok.body).media
            assert (line.proto, line.direction) == ("RTP/SAVP", "recvonly")
            ours = line.attribute("crypto") or ""
            assert ours.startswith("1 AES_CM_128_HMAC_SHA1_80 inline:")
            assert base64.b64encode(SRC_KEY).decode() not in ours  # a key of our own
            (handle,) = gateway.handles.values()
            agent = handle.agent
            assert isinstance(agent, SrsAgent)
            await send_srtp(speech_frames(1.0) + [b"\xff" * 160] * 40, ("127.0.0.1", line.port),
                            ssrc=0x5EED0096)  # fmt: skip
            await until(lambda: speech_of(agent), 8, agent.record.lines)
            (step,) = gateway.srs.sessions[handle.call.key].steps.values()
            srtp = step.session.srtp
            assert srtp is not None and srtp.stats.unprotected >= 50 and not srtp.stats.dropped
            await src.bye()
        assert speech_of(agent) == [("96", "Alice", "Encrypted hello.")]
    finally:
        await stt.aclose()


async def test_three_streams_are_a_three_channel_wav(tmp_path: Path) -> None:
    """With ``recording = true``, a channel per stream the INVITE's answer took, in order."""
    routes = tmp_path / "routes.toml"
    routes.write_text(ROUTES.replace('agent = "srs"\n', 'agent = "srs"\nrecording = true\n', 1))
    stt = await FakeAssemblyAI(api_key=KEY).start()
    env = {"ASSEMBLYAI_API_KEY": KEY, "ASSEMBLYAI_STREAMING_URL": stt.url,
           "SIPGW_SRS_RECORD_DIR": ""}  # fmt: skip
    tones = (500, 800, 1200)
    try:
        async with running_gateway(routes=routes, env=env, record_dir=str(tmp_path / "wav")) as (
            gateway, new_phone,
        ):  # fmt: skip
            src = await new_phone(user="recorder")
            others = [await new_phone(user="recorder") for _ in range(2)]
            lines = [("96", src.rtp_port), ("97", others[0].rtp_port), ("98", others[1].rtp_port)]
            ok = await offer(src, "INVITE", rs_body(offer_sdp(*lines), COMPLETE))
            ports = [m.port for m in SessionDescription.parse(ok.body).media]
            for phone, port, hz in zip((src, *others), ports, tones, strict=True):
                phone.start_audio(("127.0.0.1", port))
                phone.say(tone_frames(hz, 1.0, -12.0))
            await asyncio.sleep(1.6)
            await src.bye()
            await until(lambda: not gateway.handles, 3, "the session is still up")
    finally:
        await stt.aclose()
    (wav_path,) = (tmp_path / "wav").glob("*.wav")
    with wave.open(str(wav_path)) as wav:
        assert wav.getnchannels() == 3
        data = wav.readframes(wav.getnframes())
    samples = struct.unpack(f"<{len(data) // 2}h", data)
    for channel, hz in enumerate(tones):
        pcm = struct.pack(f"<{len(samples) // 3}h", *samples[channel::3])
        ulaw = g711.linear_to_ulaw(pcm)
        frames = [ulaw[i : i + 160] for i in range(0, len(ulaw) - 159, 160)]
        heard = [dominant_tone(f, tones) for f in frames]
        assert heard.count(hz) >= 30 and not {t for t in heard if t is not None} - {hz}, channel
