"""bench/twiml_bridge.py in a short run: the legs' figures are measured, never asserted."""

from __future__ import annotations

import pytest

from bench.twiml_bridge import run, table

pytestmark = pytest.mark.timeout(120)


async def test_the_bench_measures_each_leg() -> None:
    result = await run(2)
    assert result["twilio_fake_ms"]["count"] == 2
    assert result["sip_echo_floor_ms"]["count"] == 2
    assert result["app_own_ms"]["count"] >= 2  # the app echoed the bursts
    assert result["twiml_agent_ms"]["count"] == 2, result["twiml_agent_ms"]
    assert set(result["added_ms"]) == {"p50", "p90"}
    assert "| Twilio fake -> app | 2 |" in table(result)
