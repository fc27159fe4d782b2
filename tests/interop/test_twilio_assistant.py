"""A Twilio number's call to the assistant: the webhook's TwiML, then a Media Stream, a barge-in.

``sipgw serve --agent assistant`` runs as a subprocess against the fake AI services, with the
admin server on and Twilio configured (its Auth Token, the public ``https://`` address a TLS
proxy would give it). The test is Twilio, as its pages describe it (docs/cloud-apis.md,
"Twilio Media Streams"): it posts the number's signed voice webhook, reads the
``<Connect><Stream>`` TwiML, and opens the stream the TwiML names with the fake
(``tests/toolkit/fakes/twilio.py``), signed for that public URL, sending the TwiML's
parameters as ``customParameters``. The fake plays our audio half a second after it arrives
(the way to the phone and its buffer), so only the marks say what the caller heard and only
``clear`` cuts it short.

The conversation: the greeting, a question, a long reply the caller talks over. Checked: the
reply stops at the caller's ear within a few frames of the barge-in (the ``clear``); every
mark we sent comes back, the ones Twilio dropped as cleared; the history the LLM gets next
keeps exactly what the caller heard of the long reply (to the marks' and the TTS chunks'
grain, not the half second Twilio held); the answer to the interruption is heard; the call
shows up in the API and the metrics as a ``twilio`` call with its parameters as variables.

A second call shows a bot's custom parameters reaching the assistant as the call's
``CallDetails.variables``: the greeting's and the prompt's ``{name}`` filled, the variables in
the system prompt's data, one that is not an identifier left out (and logged); its stream,
from a TwiML of its own, carries no token of our webhook: ``SIPGW_TWILIO_OWN_TWIML=on`` lets
it in.

A third shows a replayed stream opening nothing (issue 39): the handshake's signature covers
the URL only, so a copy of a real call's handshake and ``start`` (its one-time token too),
sent once and then 40 times at once, must open no call and no paid session: the fake STT and
TTS see the real call's sessions only.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from sipgw.agent.conversation.opening import DETAILS_HEADING
from sipgw.app.evaluation.audio import dominant_tone, tone_frames
from sipgw.app.evaluation.fakes.openai import FakeResponse
from sipgw.app.evaluation.gateway_process import GatewayProcess
from sipgw.app.evaluation.ports import free_port
from sipgw.twilio.token import TOKEN_PARAMETER
from tests.toolkit.canaries import ADMIN_TOKEN
from tests.toolkit.fakes.threaded import ThreadedFakes, fakes_in_threads
from tests.toolkit.fakes.twilio import FakeTwilioStream, PlayedAudio, call_the_webhook
from tests.toolkit.metrics import sample_value

pytestmark = [pytest.mark.timeout(120), pytest.mark.usefixtures("nothing_left_running")]

TWILIO_TOKEN = "twilio-test-auth-token"
PUBLIC = "https://gw.example.test"
GREETING_HZ, LONG_HZ, REPLY_HZ, SPEECH_HZ = 500, 900, 700, 300
TONES = (GREETING_HZ, LONG_HZ, REPLY_HZ)
LONG = "Let me tell you a long story about our shipping policy and all its details. " * 3
MS_PER_CHAR = 20  # the fake TTS speaks each character for 20 ms (fakes_in_threads)
PLAYOUT_DELAY = 0.5
CALLER = {
    "From": "+15551230001", "To": "+15557650002", "CallSid": "CA" + "1" * 32,
    "AccountSid": "AC" + "2" * 32, "CallStatus": "ringing", "Direction": "inbound",
}  # fmt: skip


@pytest.fixture
def services(tmp_workdir: Path) -> Iterator[ThreadedFakes]:
    tones = {"Hi there": GREETING_HZ, "story": LONG_HZ, "shipped": REPLY_HZ}
    with fakes_in_threads(tmp_workdir, tones) as fakes:
        yield fakes


def spans(heard: list[PlayedAudio], hz: float) -> list[tuple[float, float]]:
    """(start, end) loop times at which the caller heard ``hz``, frame by frame."""
    found: list[tuple[float, float]] = []
    for piece in heard:
        for offset in range(0, len(piece.audio) - 159, 160):
            frame = piece.audio[offset : offset + 160]
            if dominant_tone(frame, TONES) != hz:
                continue
            start = piece.start + offset / 8000
            if found and start - found[-1][1] < 0.03:
                found[-1] = (found[-1][0], start + 0.02)
            else:
                found.append((start, start + 0.02))
    return found


def marks(twilio: FakeTwilioStream) -> list[str]:
    """The names of the marks we sent, in order."""
    return [m["mark"]["name"] for _, m in twilio.received if m.get("event") == "mark"]


def seconds(found: list[tuple[float, float]]) -> float:
    return sum(end - start for start, end in found)


async def test_a_twilio_call_to_the_assistant_with_a_barge_in(
    tmp_workdir: Path, services: ThreadedFakes
) -> None:
    services.stt.script(["Tell me about shipping.", "Stop, I have a question."])
    services.llm.script([FakeResponse(text=LONG), FakeResponse(text="Your order has shipped.")])
    env = {
        **services.env, "SIPGW_ADMIN_PORT": str(free_port()), "SIPGW_ADMIN_TOKEN": ADMIN_TOKEN,
        "SIPGW_TWILIO_AUTH_TOKEN": TWILIO_TOKEN, "SIPGW_PUBLIC_URL": PUBLIC,
    }  # fmt: skip
    with GatewayProcess(tmp_workdir, agent="assistant", extra_env=env) as gw:
        admin = gw.wait_log(r"admin listening on (\S+)", 10).group(1)
        async with aiohttp.ClientSession() as http:
            # The number's webhook, signed as Twilio signs it (the public URL, the form); the
            # stream its TwiML names, with its parameters (our one-time token among them).
            answer = await call_the_webhook(
                http, f"{admin}/twilio/voice", TWILIO_TOKEN, f"{PUBLIC}/twilio/voice", CALLER
            )
            assert answer.status == 200, answer.body
            assert answer.stream_url == "wss://gw.example.test/twilio/stream"
            parameters = {k: v for k, v in answer.parameters.items() if k != TOKEN_PARAMETER}
            assert parameters == {"From": CALLER["From"], "To": CALLER["To"]}

            local = admin.replace("http://", "ws://") + "/twilio/stream"
            async with answer.stream(
                local, TWILIO_TOKEN, playout_delay=PLAYOUT_DELAY
            ) as twilio:  # fmt: skip
                loop = asyncio.get_running_loop()

                def heard(hz: float) -> float:
                    return seconds(spans(twilio.heard_by(loop.time()), hz))

                def quiet() -> bool:  # nothing of ours plays or waits to
                    return not twilio.heard or twilio.heard[-1].end < loop.time()

                await twilio.wait_for(lambda: heard(GREETING_HZ) > 0.1 and quiet(), 15)
                async with http.get(
                    f"{admin}/api/calls", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}
                ) as response:
                    (listed,) = (await response.json())["calls"]
                assert listed["leg"] == "twilio" and listed["caller"] == "tel:+15551230001"
                assert listed["call_id"] == CALLER["CallSid"]

                twilio.say(b"".join(tone_frames(SPEECH_HZ, 0.6, -12.0)))
                # The long reply plays; after 0.6 s of it at the caller's ear, they talk over it.
                await twilio.wait_for(lambda: heard(LONG_HZ) > 0.6, 20)
                barge_at = loop.time()
                twilio.say(b"".join(tone_frames(SPEECH_HZ, 1.2, -12.0)))
                await twilio.wait_for(lambda: bool(twilio.clears), 5)
                await twilio.wait_for(lambda: heard(REPLY_HZ) > 0.2 and quiet(), 20)
                await twilio.wait_for(lambda: len(twilio.echoed) == len(marks(twilio)), 5)

        long = spans(twilio.heard, LONG_HZ)
        heard_long = seconds(long)
        assert long[-1][1] - barge_at < 0.3, (long[-1], barge_at)  # cut at the ear, not 0.5 s on
        assert twilio.clears[0] > barge_at
        sent = marks(twilio)
        assert sent and sent == [name for name, _, _ in twilio.echoed], (sent, twilio.echoed)
        assert any(cleared for _, _, cleared in twilio.echoed)  # held by Twilio, dropped by clear
        assert twilio.protocol_errors == []

        history = services.llm.requests[1].body["messages"]
        cut = [m for m in history if m["role"] == "assistant" and m["content"][:20] == LONG[:20]]
        assert len(cut) == 1, history
        cut = cut[0]
        kept = len(cut["content"].removesuffix("…"))
        played = heard_long * 1000 / MS_PER_CHAR
        # Kept: what the caller heard, to within a TTS chunk (alignment) and the last word; the
        # half second Twilio still held (25 characters) is not in it.
        assert played - 20 <= kept <= played + 10, (kept, played, cut["content"])

        gw.wait_log(r"call ended: remote-hangup", 5)
        record = _record(tmp_workdir)
        call = next(line for line in record if line["type"] == "call")
        assert call["leg"] == "twilio" and call["variables"]["To"] == CALLER["To"]
        assert TOKEN_PARAMETER not in call["variables"]
        assert call["caller"] == "tel:+15551230001"
        barge = next(line for line in record if line["type"] == "barge_in")
        assert barge["heard"] == cut["content"].removesuffix("…")
        async with aiohttp.ClientSession() as http:
            async with http.get(
                f"{admin}/metrics", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}
            ) as response:
                metrics = await response.read()
        ended = {"direction": "inbound", "leg": "twilio", "outcome": "remote-hangup", "line": ""}
        assert sample_value(metrics, "sipgw_calls_total", **ended) == 1
        assert gw.stop() == 0


def _spoken(services: ThreadedFakes, word: str) -> list[str]:
    """The texts the fake TTS was asked to speak that contain ``word``."""
    return [c.text.strip() for c in services.tts.contexts if word in c.text]


async def test_a_streams_custom_parameters_reach_the_prompt_and_greeting(
    tmp_workdir: Path,
) -> None:
    """A bot's ``<Parameter>``s are the call's variables (its ``CallDetails``), as on SIP:
    its own TwiML's stream carries no token, and ``SIPGW_TWILIO_OWN_TWIML=on`` lets it in;
    they fill the greeting's and the prompt's ``{name}`` placeholders and go into the system
    prompt as data; one the rule of every call's variables refuses (``customer-id``: not an
    identifier) is left out and named in the log, and the call goes on."""
    prompt = tmp_workdir / "prompt.txt"
    prompt.write_text("You are the shop's assistant. The caller asks about order {order}.\n")
    tones = {"Hello Ada": GREETING_HZ, "shipped": REPLY_HZ}
    with fakes_in_threads(tmp_workdir, tones, greeting="Hello {customer}, welcome.") as services:
        services.stt.script(["Where is my order?"])
        services.llm.script([FakeResponse(text="It has shipped.")])
        env = {
            **services.env, "SIPGW_ADMIN_PORT": str(free_port()), "SIPGW_ADMIN_TOKEN": ADMIN_TOKEN,
            "SIPGW_TWILIO_AUTH_TOKEN": TWILIO_TOKEN, "SIPGW_PUBLIC_URL": PUBLIC,
            "SIPGW_SYSTEM_PROMPT_FILE": str(prompt), "SIPGW_TWILIO_OWN_TWIML": "on",
        }  # fmt: skip
        with GatewayProcess(tmp_workdir, agent="assistant", extra_env=env) as gw:
            admin = gw.wait_log(r"admin listening on (\S+)", 10).group(1)
            parameters = {
                "From": "+15551230001", "customer": "Ada", "order": "A-1234",
                "customer-id": "77",
            }  # fmt: skip
            async with FakeTwilioStream(
                admin.replace("http://", "ws://") + "/twilio/stream", auth_token=TWILIO_TOKEN,
                signed_url=f"{PUBLIC.replace('https://', 'wss://')}/twilio/stream",
                custom_parameters=parameters,
            ) as twilio:  # fmt: skip
                # The fallback lines were synthesized at the start: the greeting follows.
                await twilio.wait_for(lambda: bool(_spoken(services, "welcome")), 10)
                assert _spoken(services, "welcome") == ["Hello Ada, welcome."]
                twilio.say(b"".join(tone_frames(SPEECH_HZ, 0.6, -12.0)))
                await twilio.wait_for(lambda: bool(services.llm.requests), 15)
            gw.wait_log(r"custom parameter\(s\) 'customer-id' left out", 5)
            gw.wait_log(r"call ended: remote-hangup", 5)
            assert gw.stop() == 0
    system = services.llm.requests[0].body["messages"][0]
    assert system["role"] == "system", system
    assert "The caller asks about order A-1234." in system["content"]
    data, _ = json.JSONDecoder().raw_decode(system["content"].split(DETAILS_HEADING)[1].strip())
    assert data["variables"] == {"From": "+15551230001", "customer": "Ada", "order": "A-1234"}
    call = next(line for line in _record(tmp_workdir) if line["type"] == "call")
    assert call["leg"] == "twilio" and "customer-id" not in call["variables"]
    assert call["variables"]["customer"] == "Ada"


async def test_a_replayed_twilio_stream_opens_no_call_and_no_paid_session(
    tmp_workdir: Path, services: ThreadedFakes
) -> None:
    env = {
        **services.env, "SIPGW_ADMIN_PORT": str(free_port()), "SIPGW_ADMIN_TOKEN": ADMIN_TOKEN,
        "SIPGW_TWILIO_AUTH_TOKEN": TWILIO_TOKEN, "SIPGW_PUBLIC_URL": PUBLIC,
    }  # fmt: skip
    with GatewayProcess(tmp_workdir, agent="assistant", extra_env=env) as gw:
        admin = gw.wait_log(r"admin listening on (\S+)", 10).group(1)
        # Nothing admits SIP callers, but the legs the access policy does not judge take
        # calls: the start-up line says which (issue 39: "every call is refused").
        startup = gw.wait_log(r"WARNING +sipgw +(access: .*)", 2)[1]
        assert (
            "every SIP call is refused (403); the Twilio leg (signed by Twilio; each "
            "stream with our webhook's one-time token) and the browser leg" in startup
        ), startup
        local = admin.replace("http://", "ws://") + "/twilio/stream"
        async with aiohttp.ClientSession() as http:
            answer = await call_the_webhook(
                http, f"{admin}/twilio/voice", TWILIO_TOKEN, f"{PUBLIC}/twilio/voice", CALLER
            )

            async def calls() -> list[dict[str, Any]]:
                async with http.get(
                    f"{admin}/api/calls", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}
                ) as response:
                    listed: list[dict[str, Any]] = (await response.json())["calls"]
                    return listed

            async with answer.stream(local, TWILIO_TOKEN) as twilio:
                await twilio.wait_for(lambda: bool(_spoken(services, "Hi there")), 15)
                stt, tts = len(services.stt.sessions), len(services.tts.sockets)
                assert stt >= 1 and tts >= 1

                async def replay() -> FakeTwilioStream:
                    """The same handshake (signature) and the same ``start`` (token, SIDs)."""
                    copy = answer.stream(local, TWILIO_TOKEN, stream_sid=twilio.stream_sid,
                                         account_sid=twilio.account_sid)  # fmt: skip
                    async with copy:
                        await copy.wait_for(lambda: copy.closed_at is not None, 15)
                    return copy

                await replay()
                replays = await asyncio.gather(*(replay() for _ in range(40)))
                assert all(not r.media_received() for r in replays)
                assert [c["call_id"] for c in await calls()] == [CALLER["CallSid"]]
                assert twilio.closed_at is None  # the real call goes on
            gw.wait_log(r"call ended: remote-hangup", 5)
            await replay()  # after the call: its token is still used
            assert await calls() == []
            # each refusal is logged as its socket closes, the last one maybe just after the
            # fake saw it close (a loaded machine): wait for 42, then check there are no more
            for _ in range(100):
                if gw.log_text().count("refused: the stream token was used already") >= 42:
                    break
                await asyncio.sleep(0.05)
        refused = gw.log_text().count("refused: the stream token was used already")
        assert refused == 42, gw.log_tail()
        assert (len(services.stt.sessions), len(services.tts.sockets)) == (stt, tts)
        assert len(list((tmp_workdir / "calls").glob("*.jsonl"))) == 1
        assert services.llm.requests == []
        assert gw.stop() == 0


def _record(workdir: Path) -> list[dict[str, Any]]:
    (path,) = (workdir / "calls").glob("*.jsonl")
    return [json.loads(line) for line in path.read_text().splitlines()]
