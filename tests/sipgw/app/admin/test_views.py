"""What the admin API says about a call (sipgw/app/admin/views.py), from a live call."""

from __future__ import annotations

import asyncio

import pytest

from sipgw.agent.base import CallControl, CallDetails
from sipgw.agent.echo.agent import EchoAgent
from sipgw.agent.record import CallRecord
from sipgw.app.admin.views import call_detail, call_summary
from sipgw.app.calls.callhandle import CallHandle
from sipgw.app.evaluation.audio import tone_frames
from sipgw.app.legs.calls import LegCalls, party
from tests.sipgw.app.legs.doubles import FakeMedia
from tests.toolkit.gateway_in_process import running_gateway

pytestmark = pytest.mark.timeout(30)


class RecordingEcho(EchoAgent):
    def __init__(self, call: CallControl) -> None:
        super().__init__(call, 0)
        self.record = CallRecord(None, call.call_id)
        self.record.write({"type": "user", "text": "hello"})
        self.record.write({"type": "llm_request", "text": "not a transcript line"})


async def test_summary_and_detail_of_a_live_call() -> None:
    async with running_gateway(RecordingEcho) as (gateway, new_phone):
        phone = await new_phone()
        assert (await phone.invite()).status == 200
        await phone.play(tone_frames(1000, 0.2))
        (handle,) = gateway.handles.values()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 3.0
        while handle.session is None or handle.session.stats.packets_in < 10:
            assert loop.time() < deadline, "the packets did not arrive"
            await asyncio.sleep(0.01)
        summary = call_summary(handle)
        assert summary["id"] == handle.call.log_id and summary["call_id"] == phone.call_id
        assert (summary["direction"], summary["agent"]) == ("inbound", "recordingecho")
        assert summary["state"] in ("answered", "confirmed") and summary["duration_s"] >= 0
        detail = call_detail(handle)
        assert detail["media"]["codec"] == "PCMU" and detail["media"]["srtp"] is False
        assert detail["rtp"]["packets_in"] == 10 and detail["rtp"]["lost"] == 0
        assert detail["quality"]["mos"] > 4
        assert [line["type"] for line in detail["transcript"]] == ["user"]
        await phone.bye()


async def test_a_call_without_media_or_record() -> None:
    async with running_gateway(lambda call: EchoAgent(call, 0), ring_time=2.0) as (gw, new_phone):
        phone = await new_phone()
        phone.send(phone.request("INVITE", phone.sdp()))
        await phone.expect(lambda m: getattr(m, "status", None) == 180)
        (handle,) = gw.handles.values()
        assert isinstance(handle, CallHandle)
        detail = call_detail(handle)  # ringing: no media yet, an echo keeps no record
        assert detail["media"] is None and "rtp" not in detail and detail["transcript"] is None
        assert detail["agent"] is None


async def test_a_leg_call_says_its_leg_its_variables_and_its_legs_media() -> None:
    async with running_gateway(RecordingEcho) as (gateway, _):
        calls = LegCalls(gateway)
        handle = calls.start(
            FakeMedia("browser"), call_id="browser-1",
            details=CallDetails(variables={"customer": "Ann"}),
            caller=party("browser:127.0.0.1", fallback="x:y"),
            called=party("browser:agent", fallback="x:y"),
        )  # fmt: skip
        summary = call_summary(handle)
        assert (summary["leg"], summary["state"]) == ("browser", "connecting")
        detail = call_detail(handle)
        assert detail["variables"] == {"customer": "Ann"} and "rtp" not in detail
        assert detail["media"] == {"transport": "fake", "frames out": detail["media"]["frames out"]}
        handle.end("remote-hangup")
        await calls.finished(handle)
