"""The vendor faults on a schedule (sipgw/app/evaluation/fakes/faults.py), applied to the
fakes: the clock's part, and what each fault does to a client of the fake."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from sipgw.app.evaluation.fakes.faults import FAULTS, FaultSchedule, apply_fault
from sipgw.app.evaluation.fakes.services import KEYS, ServiceOptions, start_services

pytestmark = pytest.mark.timeout(30)


def test_the_schedule_hands_out_each_fault_once_in_turn() -> None:
    schedule = FaultSchedule(["stt.5xx", "llm.5xx"], every=10.0, start=100.0)
    assert schedule.due(99.9) == []
    assert schedule.due(100.0) == ["stt.5xx"]
    assert schedule.due(125.0) == ["llm.5xx", "stt.5xx"]  # late: both missed ones, in order
    assert schedule.next_at() == 130.0 and schedule.applied == 3
    with pytest.raises(ValueError, match="unknown faults"):
        FaultSchedule(["stt.fire"], every=1.0, start=0.0)
    with pytest.raises(ValueError):
        FaultSchedule([], every=1.0, start=0.0)
    assert len(set(FAULTS)) == 9 == len({(v, k) for v in ("stt", "llm", "tts")
                                        for k in ("disconnect", "5xx", "stall")})  # fmt: skip


async def test_each_fault_reaches_the_fakes_client_and_stalls_end() -> None:
    services = await start_services(ServiceOptions(llm_first_token_ms=0, tts_first_byte_ms=0))
    headers = {"Authorization": f"Bearer {KEYS['OPENAI_API_KEY']}"}
    body = {"model": "gpt-4.1-mini", "stream": True, "messages": [{"role": "user", "content": "x"}]}
    url = f"{services.llm.base_url}/chat/completions"
    try:
        async with aiohttp.ClientSession() as http:
            assert apply_fault(services, "llm.5xx", stall=1.0, reply="ok") is None
            async with http.post(url, json=body, headers=headers) as answer:
                assert answer.status == 500
                assert "The server had an error" in (await answer.json())["error"]["message"]
            async with http.post(url, json=body, headers=headers) as answer:
                assert answer.status == 200  # one request only

            apply_fault(services, "llm.stall", stall=1.0, reply="ok")
            async with http.post(url, json=body, headers=headers) as answer:
                assert answer.status == 200
                with pytest.raises(TimeoutError):
                    await asyncio.wait_for(answer.content.readline(), 0.5)

            apply_fault(services, "llm.disconnect", stall=1.0, reply="ok")
            async with http.post(url, json=body, headers=headers) as answer:
                with pytest.raises(aiohttp.ClientError):  # the payload cut short
                    await answer.read()

            tts = f"{services.tts.base_url}/v1/text-to-speech/v/stream?output_format=ulaw_8000"
            apply_fault(services, "tts.5xx", stall=1.0, reply="ok")
            tts_headers = {"xi-api-key": KEYS["ELEVENLABS_API_KEY"]}
            for _ in range(2):
                async with http.post(tts, json={"text": "hi"}, headers=tts_headers) as answer:
                    assert answer.status == 500
            async with http.post(tts, json={"text": "hi"}, headers=tts_headers) as answer:
                assert answer.status == 200

        first_byte, final = services.tts.first_byte_latency, services.stt.final_latency
        undo_tts = apply_fault(services, "tts.stall", stall=2.0, reply="ok")
        undo_stt = apply_fault(services, "stt.stall", stall=2.0, reply="ok")
        assert services.tts.first_byte_latency == first_byte + 2.0
        assert services.stt.final_latency == final + 2.0
        assert undo_tts is not None and undo_stt is not None
        undo_tts()
        undo_stt()
        assert services.tts.first_byte_latency == first_byte
        assert services.stt.final_latency == final
        with pytest.raises(ValueError):
            apply_fault(services, "tts.fire", stall=1.0, reply="ok")
    finally:
        await services.aclose()
