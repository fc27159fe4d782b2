"""The dashboard's routes on the admin server, against an in-process gateway carrying calls."""

from __future__ import annotations

import asyncio
import json
import wave
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from sipgw.agent.base import CallControl
from sipgw.agent.echo.agent import EchoAgent
from sipgw.agent.record import CallRecord
from sipgw.app.admin.dashboard import (
    COOKIE,
    SESSION_LIFETIME,
    STATIC,
    session_cookie_expiry,
    session_cookie_value,
)
from sipgw.app.admin.server import AdminServer
from sipgw.app.admin.settings import AdminSettings
from sipgw.app.admin.waveform import wav_peaks
from sipgw.app.evaluation.audio import tone_frames
from sipgw.app.evaluation.ports import free_port
from sipgw.app.gateway import Gateway
from sipgw.sip.message import SipRequest, make_response
from tests.toolkit.canaries import ADMIN_TOKEN
from tests.toolkit.gateway_in_process import running_gateway

AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
HOSTILE = '<img src=x onerror="alert(1)">'


class TalkingEchoAgent(EchoAgent):
    """The echo agent keeping a call record with a turn, as the assistant does."""

    def __init__(self, call: CallControl) -> None:
        super().__init__(call, delay_ms=200)
        self.record = CallRecord(None, call.call_id)
        self.record.write({"type": "user", "text": "before the answer"})

    def on_answered(self) -> None:
        super().on_answered()
        self.record.write({"type": "user", "text": HOSTILE})
        self.record.write({"type": "assistant", "text": "hi, how can I help?"})
        self.record.write(
            {
                "type": "tool_call",
                "name": "get_order_status",
                "arguments": '{"order_id": "1"}',
                "result": "shipped",
                "ok": True,
            }  # fmt: skip
        )
        self.record.write(
            {"type": "turn_metrics", "turn": 1, "stt_end_of_turn_ms": 120,
             "llm_first_token_ms": 300, "tts_first_byte_ms": 150, "first_rtp_after_tts_ms": 21}
        )  # fmt: skip


@asynccontextmanager
async def admin(gateway: Gateway, token: str = ADMIN_TOKEN) -> AsyncIterator[str]:
    server = AdminServer(gateway, AdminSettings(port=free_port(), token=token))
    await server.start()
    try:
        yield server.url
    finally:
        await server.stop()


def session() -> aiohttp.ClientSession:
    return aiohttp.ClientSession(
        timeout=aiohttp.ClientTimeout(total=30.0), cookie_jar=aiohttp.CookieJar(unsafe=True)
    )


async def next_event(stream: aiohttp.ClientResponse, within: float = 5.0) -> tuple[str, Any]:
    """The next ``event:``/``data:`` pair of a Server-Sent Events stream."""
    kind = ""
    async with asyncio.timeout(within):
        while True:
            line = (await stream.content.readline()).decode().rstrip("\n")
            if line.startswith("event: "):
                kind = line[7:]
            elif line.startswith("data: "):
                return kind, json.loads(line[6:])


async def test_pages_and_stream_are_refused_without_the_token_or_its_cookie() -> None:
    async with running_gateway() as (gateway, _), admin(gateway) as url, session() as http:
        for path in ["/dashboard", "/dashboard/calls/x", "/"]:
            async with http.get(url + path, allow_redirects=False) as page:
                assert page.status == 401
                assert 'action="/dashboard/login"' in await page.text()
        for path in ["/api/events", "/api/recent", "/api/recent/x", "/api/recent/x/peaks",
                     "/api/recent/x/recording.wav", "/api/charts"]:  # fmt: skip
            async with http.get(url + path) as refused:
                assert refused.status == 401, path
        http.cookie_jar.update_cookies({COOKIE: "forged"})
        async with http.get(url + "/api/events") as refused:
            assert refused.status == 401
        async with http.get(url + "/dashboard/static/dashboard.js") as script:
            assert script.status == 200 and "EventSource" in await script.text()
            assert "script-src 'self'" in script.headers["Content-Security-Policy"]
        async with http.get(url + "/dashboard/static/..%2Fserver.py") as sneaky:
            assert sneaky.status == 404


async def test_login_sets_a_strict_http_only_cookie_good_for_reading_only() -> None:
    async with running_gateway() as (gateway, _), admin(gateway) as url, session() as http:
        async with http.post(url + "/dashboard/login", data={"token": "wrong"}) as wrong:
            assert wrong.status == 401 and "Wrong token." in await wrong.text()
        assert not list(http.cookie_jar)
        async with http.post(
            url + "/dashboard/login", data={"token": ADMIN_TOKEN}, allow_redirects=False
        ) as login:
            assert login.status == 303 and login.headers["Location"] == "/dashboard"
            set_cookie = login.headers["Set-Cookie"]
        assert "HttpOnly" in set_cookie and "SameSite=Strict" in set_cookie
        assert ADMIN_TOKEN not in set_cookie
        assert "Max-Age=43200" in set_cookie  # SESSION_LIFETIME
        value = login.cookies[COOKIE].value
        assert session_cookie_expiry(ADMIN_TOKEN, value) is not None
        async with http.get(url + "/dashboard") as page:
            assert page.status == 200 and 'id="active-calls"' in await page.text()
            assert page.headers["Content-Security-Policy"].startswith("default-src 'none'")
        async with http.get(url + "/api/recent") as recent:
            assert recent.status == 200 and await recent.json() == {"calls": []}
        async with http.get(url + "/api/calls") as calls:  # any GET of the API
            assert calls.status == 200
        async with http.post(url + "/api/calls", json={"target": "sip:x@127.0.0.1"}) as post:
            assert post.status == 401  # changes still need the bearer header
        async with http.post(url + "/dashboard/logout", allow_redirects=False) as logout:
            assert logout.status == 303
        async with http.get(url + "/api/recent") as after:
            assert after.status == 401


async def test_behind_a_tls_proxy_the_cookie_is_secure() -> None:
    async with running_gateway() as (gateway, _), admin(gateway) as url, session() as http:
        async with http.post(
            url + "/dashboard/login", data={"token": ADMIN_TOKEN}, allow_redirects=False
        ) as plain:
            assert "Secure" not in plain.headers["Set-Cookie"]
        for forwarded in ({"X-Forwarded-Proto": "https"}, {"Forwarded": "for=1.2.3.4;proto=https"}):
            async with http.post(
                url + "/dashboard/login", data={"token": ADMIN_TOKEN}, headers=forwarded,
                allow_redirects=False,
            ) as proxied:  # fmt: skip
                assert "Secure" in proxied.headers["Set-Cookie"], forwarded


async def test_the_cookie_expires_and_logout_revokes_it() -> None:
    """The expiry is signed into the cookie and checked here: an old cookie (or one whose
    expiry was moved) is refused, and a logged-out cookie stops working even when a copy
    of it is replayed."""
    now = [1_800_000_000.0]
    async with running_gateway() as (gateway, _):
        server = AdminServer(gateway, AdminSettings(port=free_port(), token=ADMIN_TOKEN))
        server.dashboard.clock = lambda: now[0]
        await server.start()
        try:
            async with session() as http:
                async with http.post(
                    server.url + "/dashboard/login", data={"token": ADMIN_TOKEN},
                    allow_redirects=False,
                ) as login:  # fmt: skip
                    value = login.cookies[COOKIE].value
                expires = int(now[0]) + SESSION_LIFETIME
                assert value == session_cookie_value(ADMIN_TOKEN, expires)
                assert value.startswith(f"{expires}.")
                async with http.get(server.url + "/api/recent") as fresh:
                    assert fresh.status == 200
                now[0] += SESSION_LIFETIME - 1
                async with http.get(server.url + "/api/recent") as late:
                    assert late.status == 200
                now[0] += 1
                async with http.get(server.url + "/api/recent") as expired:
                    assert expired.status == 401
                moved = f"{expires + 3600}.{value.partition('.')[2]}"  # same HMAC, later expiry
                http.cookie_jar.update_cookies({COOKIE: moved})
                async with http.get(server.url + "/api/recent") as forged:
                    assert forged.status == 401

                now[0] = 1_800_000_000.0
                http.cookie_jar.update_cookies({COOKIE: value})
                async with http.post(server.url + "/dashboard/logout", allow_redirects=False):
                    pass
                http.cookie_jar.update_cookies({COOKIE: value})  # a copy kept elsewhere
                async with http.get(server.url + "/api/recent") as replayed:
                    assert replayed.status == 401
        finally:
            await server.stop()


async def test_the_login_is_throttled_and_bounded() -> None:
    """Issue 21: the login form could be tried at line rate with tokens of any length.
    Issue 39: the lockout kept the right token out too; now only wrong ones get 429."""
    async with running_gateway() as (gateway, _), admin(gateway) as url, session() as http:
        for _ in range(5):
            async with http.post(url + "/dashboard/login", data={"token": "wrong"}) as wrong:
                assert wrong.status == 401
        async with http.post(url + "/dashboard/login", data={"token": "wrong"}) as waited:
            assert waited.status == 429 and "wait" in await waited.text()
            assert int(waited.headers["Retry-After"]) >= 1
        login = {"token": ADMIN_TOKEN}
        async with http.post(url + "/dashboard/login", data=login, allow_redirects=False) as ok:
            assert ok.status == 303 and ok.headers["Location"] == "/dashboard"
    async with running_gateway() as (gateway, _), admin(gateway) as url, session() as http:
        big = {"token": "x" * 10_000}
        async with http.post(url + "/dashboard/login", data=big) as too_big:
            assert too_big.status == 413
        async with http.post(url + "/dashboard/login", data={"token": "y" * 1000}) as long:
            assert long.status == 401


async def test_without_a_token_loopback_serves_the_dashboard() -> None:
    async with (
        running_gateway() as (gateway, _),
        admin(gateway, token="") as url,
        session() as http,
        http.get(url + "/dashboard") as page,
    ):
        assert page.status == 200


async def test_without_a_token_other_web_sites_cannot_act_or_read() -> None:
    """No token on loopback: a page on another site the operator's browser visits can
    neither change anything (a cross-origin form or fetch POST) nor read through a name
    rebound to 127.0.0.1 (DNS rebinding); tools on the machine (no Origin) still can."""
    async with (
        running_gateway() as (gateway, _),
        admin(gateway, token="") as url,
        session() as http,
    ):
        evil = {"Origin": "http://evil.example", "Content-Type": "text/plain"}
        async with http.post(url + "/api/drain", data="", headers=evil) as drain:
            assert drain.status == 403
        async with http.post(
            url + "/api/calls", data='{"target": "sip:900@127.0.0.1"}', headers=evil
        ) as call:
            assert call.status == 403
        async with http.post(url + "/api/calls/x/hangup", headers=evil) as hangup:
            assert hangup.status == 403
        async with http.post(
            url + "/api/drain", headers={"Origin": "null", "Sec-Fetch-Site": "cross-site"}
        ) as sandboxed:
            assert sandboxed.status == 403
        assert not gateway.drain_request.active and not gateway.handles
        port = url.rsplit(":", 1)[1]
        for path in ["/api/calls", "/api/recent", "/dashboard", "/metrics"]:
            async with http.get(url + path, headers={"Host": f"evil.example:{port}"}) as rebound:
                assert rebound.status == 403, path
        async with http.get(url + "/api/calls", headers={"Host": f"localhost:{port}"}) as named:
            assert named.status == 200
        reader, writer = await asyncio.open_connection("127.0.0.1", int(port))
        writer.write(b"GET /api/calls HTTP/1.0\r\n\r\n")  # an old tool: no Host at all
        assert (await reader.readline()).split()[1] == b"200"
        writer.close()
        async with http.post(
            url + "/api/drain", json={"seconds": 0}, headers={"Origin": url}
        ) as same_origin:
            assert same_origin.status == 202
        assert gateway.drain_request.active


async def test_the_stream_pushes_a_call_its_transcript_turns_and_end(tmp_path: Path) -> None:
    async with (
        running_gateway(TalkingEchoAgent, record_dir=str(tmp_path / "rec")) as (gw, new_phone),
        admin(gw) as url,
        session() as http,
        http.get(url + "/api/events", headers=AUTH) as stream,
    ):
        assert stream.headers["Content-Type"] == "text/event-stream"
        kind, snapshot = await next_event(stream)
        assert kind == "snapshot" and snapshot["live"] == [] and snapshot["recent"] == []
        phone = await new_phone()
        assert (await phone.invite()).status == 200
        kind, started = await next_event(stream)
        assert kind == "call_started" and started["call_id"] == phone.call_id
        assert started["agent"] is None and started["ended"] is None
        events = [await next_event(stream) for _ in range(6)]
        kinds = ["call_updated", "transcript", "transcript", "transcript", "transcript", "turn"]
        assert [k for k, _ in events] == kinds
        assert events[0][1]["agent"] == "talkingecho"
        assert events[1][1]["text"] == "before the answer"  # written before the feed saw it
        assert events[2][1]["text"] == HOSTILE and events[2][1]["call"] == started["id"]
        assert events[4][1]["name"] == "get_order_status"
        assert events[5][1]["stages_ms"] == {
            "stt_end_of_turn": 120, "llm_first_token": 300,
            "tts_first_byte": 150, "gateway_reply_path": 21,
        }  # fmt: skip
        await phone.play(tone_frames(440, 0.6))  # the caller talks; the echo answers
        await asyncio.sleep(0.4)
        await phone.hang_up()
        kind, ended = await next_event(stream)
        assert kind == "call_ended" and ended["outcome"] == "remote-bye" and ended["recording"]

        async with http.get(url + "/api/recent", headers=AUTH) as recent:
            assert [c["id"] for c in (await recent.json())["calls"]] == [ended["id"]]
        async with http.get(url + f"/api/recent/{phone.call_id}", headers=AUTH) as one:
            detail = await one.json()
        texts = [line.get("text") for line in detail["transcript"]]
        assert texts[:3] == ["before the answer", HOSTILE, "hi, how can I help?"]
        assert detail["turns"][0]["turn"] == 1 and 1 <= detail["quality"]["mos"] <= 5
        async with http.get(url + f"/api/recent/{ended['id']}/recording.wav", headers=AUTH) as wav:
            assert wav.status == 200 and (await wav.read())[:4] == b"RIFF"
        async with http.get(url + f"/api/recent/{ended['id']}/peaks", headers=AUTH) as peaks:
            figures = await peaks.json()
        assert set(figures["channels"]) == {"caller", "agent"} and figures["seconds"] > 0.3
        assert max(figures["channels"]["caller"]) > 0.1 and max(figures["channels"]["agent"]) > 0.1


async def test_a_call_without_recording_has_no_waveform() -> None:
    async with (
        running_gateway(TalkingEchoAgent) as (gateway, new_phone),
        admin(gateway) as url,
        session() as http,
    ):
        phone = await new_phone()
        assert (await phone.invite()).status == 200
        await phone.hang_up()
        async with http.get(url + f"/api/recent/{phone.call_id}/peaks", headers=AUTH) as peaks:
            assert peaks.status == 404
        async with http.get(url + "/api/recent/nope", headers=AUTH) as missing:
            assert missing.status == 404


async def test_recent_calls_are_bounded_newest_first() -> None:
    async with running_gateway(TalkingEchoAgent) as (gateway, new_phone):
        gateway.feed.recent = deque(maxlen=2)  # the feed the calls report to, kept short
        async with admin(gateway) as url, session() as http:
            ids = []
            for _ in range(3):
                phone = await new_phone()
                assert (await phone.invite()).status == 200
                await phone.hang_up()
                ids.append(phone.call_id)
            async with http.get(url + "/api/recent", headers=AUTH) as recent:
                calls = (await recent.json())["calls"]
            assert [c["call_id"] for c in calls] == [ids[2], ids[1]]
            assert all(c["outcome"] == "remote-bye" and c["agent"] == "talkingecho" for c in calls)
            async with http.get(url + f"/api/recent/{ids[0]}", headers=AUTH) as gone:
                assert gone.status == 404


@pytest.mark.usefixtures("virtual_clock")
async def test_stopping_the_server_ends_open_streams_at_once() -> None:
    async with running_gateway() as (gateway, _), session() as http:
        server = AdminServer(gateway, AdminSettings(port=free_port(), token=ADMIN_TOKEN))
        await server.start()
        async with http.get(server.url + "/api/events", headers=AUTH) as stream:
            assert (await next_event(stream))[0] == "snapshot"
            loop = asyncio.get_running_loop()
            started = loop.time()
            await asyncio.wait_for(server.stop(), 5.0)
            assert loop.time() - started < 0.001  # at once: no timeout waited out
            rest = await asyncio.wait_for(stream.content.read(), 2.0)  # to the end: closed
            assert rest.strip() == b""


def test_wav_peaks_has_both_channels(tmp_path: Path) -> None:
    path = tmp_path / "call.wav"
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(2)
        wav.setsampwidth(2)
        wav.setframerate(8000)
        frames = bytearray()
        for n in range(8000):
            left = 16000 if n < 4000 else 0
            frames += left.to_bytes(2, "little", signed=True)
            frames += (-8000).to_bytes(2, "little", signed=True)
        wav.writeframes(bytes(frames))
    peaks = wav_peaks(path, buckets=10)
    assert peaks["seconds"] == 1.0
    assert peaks["channels"]["caller"] == [0.488] * 5 + [0.0] * 5
    assert peaks["channels"]["agent"] == [0.244] * 10


@pytest.mark.parametrize("name", ["dashboard.js", "call.js", "common.js", "charts.js"])
def test_scripts_never_write_html(name: str) -> None:
    script = (STATIC / name).read_text()
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
        assert sink not in script, (name, sink)


async def test_an_outbound_call_shows_ringing_then_its_failure_among_recent_calls() -> None:
    async with (
        running_gateway(TalkingEchoAgent) as (gateway, new_phone),
        admin(gateway) as url,
        session() as http,
        http.get(url + "/api/events", headers=AUTH) as stream,
    ):
        assert (await next_event(stream))[0] == "snapshot"
        callee = await new_phone()
        placing = asyncio.ensure_future(
            gateway.place_call(f"sip:callee@127.0.0.1:{callee.sip_port}", ring_timeout=10.0)
        )
        invite = await callee.expect(lambda m: isinstance(m, SipRequest) and m.method == "INVITE")
        assert isinstance(invite, SipRequest)
        kind, started = await next_event(stream)
        assert kind == "call_started" and started["call_id"] == invite.call_id
        assert started["state"] == "ringing" and started["direction"] == "outbound"
        callee.send(make_response(invite, 180, to_tag="callee").serialize())
        async with http.get(url + "/api/events", headers=AUTH) as later:
            kind, snapshot = await next_event(later)  # a browser that opens the page now
        assert [(c["id"], c["state"]) for c in snapshot["live"]] == [(started["id"], "ringing")]
        callee.send(make_response(invite, 486, to_tag="callee").serialize())
        kind, ended = await next_event(stream)
        assert kind == "call_ended" and ended["id"] == started["id"]
        assert ended["outcome"] == "busy" and ended["state"] == "ended"
        assert ended["direction"] == "outbound" and ended["agent"] is None
        assert (await asyncio.wait_for(placing, 5.0)).kind == "busy"
        async with http.get(url + "/api/recent", headers=AUTH) as recent:
            calls = (await recent.json())["calls"]
        assert [(c["id"], c["outcome"], c["direction"]) for c in calls] == [
            (started["id"], "busy", "outbound")
        ]


async def test_an_answered_outbound_call_goes_from_ringing_to_active() -> None:
    async with (
        running_gateway(TalkingEchoAgent) as (gateway, new_phone),
        admin(gateway) as url,
        session() as http,
        http.get(url + "/api/events", headers=AUTH) as stream,
    ):
        assert (await next_event(stream))[0] == "snapshot"
        callee = await new_phone()
        placing = asyncio.ensure_future(
            gateway.place_call(f"sip:callee@127.0.0.1:{callee.sip_port}", ring_timeout=10.0)
        )
        invite = await callee.expect(lambda m: isinstance(m, SipRequest) and m.method == "INVITE")
        assert isinstance(invite, SipRequest)
        assert (await next_event(stream))[1]["state"] == "ringing"
        ok = make_response(invite, 200, to_tag="callee")
        ok.headers.add("Contact", f"<sip:callee@127.0.0.1:{callee.sip_port}>")
        ok.headers.add("Content-Type", "application/sdp")
        ok.body = callee.sdp().encode()
        callee.send(ok.serialize())
        kind, answered = await next_event(stream)
        assert kind == "call_updated" and answered["state"] == "active"
        assert answered["direction"] == "outbound"
        gateway.handles[next(iter(gateway.handles))].hangup()
        await callee.answer_bye()
        while (event := await next_event(stream))[0] != "call_ended":
            assert event[0] in ("call_updated", "transcript", "turn"), event
        assert event[1]["outcome"] == "local-bye" and event[1]["direction"] == "outbound"
        assert (await asyncio.wait_for(placing, 5.0)).answered


async def test_the_stream_of_one_call_has_its_events_only() -> None:
    async with (
        running_gateway(TalkingEchoAgent) as (gateway, new_phone),
        admin(gateway) as url,
        session() as http,
    ):
        async with http.get(url + "/api/events?call=nope", headers=AUTH) as missing:
            assert missing.status == 404
        first, second = await new_phone(), await new_phone()
        assert (await first.invite()).status == 200
        async with http.get(url + f"/api/events?call={first.call_id}", headers=AUTH) as stream:
            kind, snapshot = await next_event(stream)
            assert kind == "snapshot" and snapshot["call"]["call_id"] == first.call_id
            assert snapshot["call"]["state"] == "active" and snapshot["call"]["ended"] is None
            texts = [line.get("text") for line in snapshot["call"]["transcript"]]
            assert HOSTILE in texts and snapshot["call"]["turns"][0]["turn"] == 1
            assert "live" not in snapshot
            assert (await second.invite()).status == 200  # another call: not on this stream
            await second.hang_up()
            record = next(
                h.agent.record for h in gateway.handles.values()
                if h.call.call_id == first.call_id and isinstance(h.agent, TalkingEchoAgent)
            )  # fmt: skip
            record.write({"type": "user", "text": "later"})
            kind, line = await next_event(stream)
            assert kind == "transcript" and line["text"] == "later"
            assert line["call"] == snapshot["call"]["id"]
            await first.hang_up()
            kind, ended = await next_event(stream)
            assert kind == "call_ended" and ended["call_id"] == first.call_id
            assert ended["outcome"] == "remote-bye"
        async with http.get(url + f"/api/events?call={first.call_id}", headers=AUTH) as again:
            kind, snapshot = await next_event(again)  # an ended call: its final detail
        assert snapshot["call"]["state"] == "ended" and 1 <= snapshot["call"]["quality"]["mos"] <= 5


class TimedEchoAgent(TalkingEchoAgent):
    """Writes, besides the stages, when its reply's first audio went out after the turn."""

    def on_answered(self) -> None:
        super().on_answered()
        self.record.write({"type": "turn_metrics", "turn": 2, "first_rtp_after_turn_ms": 640})


async def test_the_charts_count_the_gateways_own_figures() -> None:
    """Two calls through the gateway, a turn each, a barge-in and a vendor error reported
    by an agent's observer: ``/api/charts`` has them in the current minute, behind the
    token like the other data, and refuses an unknown window."""
    async with (
        running_gateway(TimedEchoAgent) as (gateway, new_phone),
        admin(gateway) as url,
        session() as http,
    ):
        phones = [await new_phone(), await new_phone()]
        for phone in phones:
            assert (await phone.invite()).status == 200
        async with http.get(url + "/api/charts", headers=AUTH) as during:
            assert during.status == 200
            live = (await during.json())["points"][-1]
        assert live["calls"] == 2
        gateway.metrics.agent_observer.barge_in()
        gateway.metrics.agent_observer.service_error("llm", "timeout")
        for phone in phones:
            await phone.hang_up()
        for _ in range(50):  # the feed hears the end as the gateway releases the call
            if not gateway.feed.live:
                break
            await asyncio.sleep(0.05)
        async with http.get(url + "/api/charts?window=hour", headers=AUTH) as hour:
            series = await hour.json()
        async with http.get(url + "/api/charts?window=day", headers=AUTH) as day:
            assert (await day.json())["step_s"] == 600
        async with http.get(url + "/api/charts?window=week", headers=AUTH) as week:
            assert week.status == 400 and "hour, day" in (await week.json())["error"]
        async with http.get(url + "/api/charts") as refused:
            assert refused.status == 401
    assert series["window"] == "hour" and len(series["points"]) == 60
    recent = series["points"][-3:]  # the test may cross a minute's end
    assert max(p["calls"] for p in recent) == 2
    assert sum(p["ended"] for p in recent) == 2
    assert [p["outcomes"] for p in recent if p["outcomes"]] in (
        [{"remote-bye": 2}], [{"remote-bye": 1}, {"remote-bye": 1}],
    )  # fmt: skip
    assert sum(p["turns"] for p in recent) == 2
    assert all(640 <= p["p50_ms"] <= 640 * 1.15 for p in recent if p["turns"])
    assert sum(p["barge_ins"] for p in recent) == sum(p["vendor_errors"] for p in recent) == 1
    assert all(1 <= p["mos"] <= 5 for p in recent if p["ended"])
