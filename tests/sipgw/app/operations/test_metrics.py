"""The gateway's Prometheus series: rendered from simulated events, and after a real call."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Mapping

import pytest
from prometheus_client.parser import text_string_to_metric_families

from sipgw.app.evaluation.audio import tone_frames
from sipgw.app.gateway import Gateway
from sipgw.app.operations.counters import Counters, MediaTotals
from sipgw.app.operations.metrics import GatewayMetrics
from sipgw.media.quality import CallQuality
from tests.toolkit.gateway_in_process import running_gateway
from tests.toolkit.metrics import sample_value


def _quality(
    jitter_ms: float, loss_percent: float, mos: float, rtt_ms: float | None
) -> CallQuality:
    return CallQuality(packets_expected=1000, packets_lost=int(loss_percent * 10),
                       loss_percent=loss_percent, jitter_ms=jitter_ms, peer_loss_percent=None,
                       peer_jitter_ms=None, rtt_ms=rtt_ms, reports_sent=5, reports_received=4,
                       mos=mos)  # fmt: skip


class _Source:
    def __init__(self) -> None:
        media = MediaTotals(rtp_in=500, jb_lost=3, jb_concealed=4, rtp_paused=8)
        self.now = Counters(calls=2, calls_total=7, media=media, refused=5, rate_limited=6,
                            udp_oversized=1, stateless_answers=9)  # fmt: skip
        self.registered = {"sip:1001@pbx.example.com": True, "sip:1002@pbx.example.com": False}

    def counters(self) -> Counters:
        return self.now

    def registration_states(self) -> Mapping[str, bool]:
        return self.registered

    def ticker_counts(self) -> tuple[int, int]:
        return 1000, 2


def test_scrape_time_counters_and_registration_state() -> None:
    source = _Source()
    metrics = GatewayMetrics(source)
    text, content_type = metrics.render()
    assert content_type.startswith("text/plain; version=0.0.4")
    assert sample_value(text, "sipgw_active_calls") == 2
    assert sample_value(text, "sipgw_calls_offered_total") == 7
    assert sample_value(text, "sipgw_rtp_packets_received_total") == 500
    assert sample_value(text, "sipgw_rtp_packets_lost_total") == 3
    assert sample_value(text, "sipgw_concealed_frames_total") == 4
    assert sample_value(text, "sipgw_refused_total") == 5
    assert sample_value(text, "sipgw_rate_limited_total") == 6
    assert sample_value(text, "sipgw_udp_oversized_total") == 1
    assert sample_value(text, "sipgw_rtp_paused_total") == 8  # issue 21's counters too
    assert sample_value(text, "sipgw_stateless_answers_total") == 9
    assert b"Times a call's sending paused" in text
    assert sample_value(text, "sipgw_ticks_total") == 1000
    assert sample_value(text, "sipgw_ticks_skipped_total") == 2
    assert sample_value(text, "sipgw_registration_up", aor="sip:1001@pbx.example.com") == 1
    assert sample_value(text, "sipgw_registration_up", aor="sip:1002@pbx.example.com") == 0
    # Read at scrape time: a later change shows in the next scrape.
    source.now = dataclasses.replace(source.now, calls=0)
    source.registered["sip:1002@pbx.example.com"] = True
    text, _ = metrics.render()
    assert sample_value(text, "sipgw_active_calls") == 0
    assert sample_value(text, "sipgw_registration_up", aor="sip:1002@pbx.example.com") == 1


def test_events_feed_counters_and_histograms() -> None:
    metrics = GatewayMetrics(_Source())
    metrics.call_ended("inbound", "remote-bye", _quality(4.0, 0.0, 4.4, 40.0))
    metrics.call_ended("inbound", "remote-bye", _quality(30.0, 3.0, 3.6, None))
    metrics.call_ended("outbound", "busy", None)
    observer = metrics.agent_observer
    observer.turn_measured({"stt_end_of_turn": 0.2, "llm_first_token": 0.4,
                            "tts_first_byte": 0.15, "gateway_reply_path": 0.01})  # fmt: skip
    observer.turn_measured({"llm_first_token": 0.9, "made_up_stage": 1.0})
    observer.barge_in()
    observer.service_error("llm", "timeout")
    observer.service_error("tts", "http_status")
    observer.service_error("tts", "http_status")
    metrics.observe_tick_lateness(0.0007)
    metrics.observe_tick_lateness(0.03)
    text, _ = metrics.render()
    calls = "sipgw_calls_total"
    sip = {"leg": "sip", "line": ""}
    assert sample_value(text, calls, direction="inbound", outcome="remote-bye", **sip) == 2
    assert sample_value(text, calls, direction="outbound", outcome="busy", **sip) == 1
    jitter = "sipgw_call_jitter_seconds"
    assert sample_value(text, f"{jitter}_count") == 2
    assert sample_value(text, f"{jitter}_bucket", le="0.005") == 1
    assert sample_value(text, "sipgw_call_loss_ratio_bucket", le="0.0") == 1
    assert sample_value(text, "sipgw_call_loss_ratio_sum") == 0.03
    assert sample_value(text, "sipgw_call_mos_bucket", le="3.8") == 1
    assert sample_value(text, "sipgw_call_mos_count") == 2
    assert sample_value(text, "sipgw_call_rtt_seconds_count") == 1  # one call had reports
    assert sample_value(text, "sipgw_call_rtt_seconds_sum") == 0.04
    stage = "sipgw_turn_stage_seconds"
    assert sample_value(text, f"{stage}_count", stage="llm_first_token") == 2
    assert sample_value(text, f"{stage}_sum", stage="llm_first_token") == 1.3
    assert sample_value(text, f"{stage}_bucket", stage="llm_first_token", le="0.5") == 1
    for name in ("stt_end_of_turn", "tts_first_byte", "gateway_reply_path"):
        assert sample_value(text, f"{stage}_count", stage=name) == 1
    assert sample_value(text, f"{stage}_count", stage="made_up_stage") is None
    assert sample_value(text, "sipgw_barge_ins_total") == 1
    errors = "sipgw_ai_errors_total"
    assert sample_value(text, errors, service="llm", kind="timeout") == 1
    assert sample_value(text, errors, service="tts", kind="http_status") == 2
    lateness = "sipgw_tick_lateness_seconds"
    assert sample_value(text, f"{lateness}_count") == 2
    assert sample_value(text, f"{lateness}_bucket", le="0.001") == 1


def test_preemptive_requests_are_counted_by_outcome() -> None:
    metrics = GatewayMetrics(_Source())
    observer = metrics.agent_observer
    for outcome in ("started", "used", "started", "wasted", "started"):
        observer.preemptive(outcome)
    text, _ = metrics.render()
    name = "sipgw_preemptive_requests_total"
    assert sample_value(text, name, outcome="started") == 3
    assert sample_value(text, name, outcome="used") == 1
    assert sample_value(text, name, outcome="wasted") == 1


def test_tool_calls_are_counted_by_source_and_outcome_with_their_time() -> None:
    metrics = GatewayMetrics(_Source())
    observer = metrics.agent_observer
    observer.tool_called("http", "ok", 0.2)
    observer.tool_called("mcp", "unavailable", 0.0)
    observer.tool_called("http", "ok", 0.4)
    text, _ = metrics.render()
    assert sample_value(text, "sipgw_tool_calls_total", source="http", outcome="ok") == 2
    assert sample_value(text, "sipgw_tool_calls_total", source="mcp", outcome="unavailable") == 1
    assert sample_value(text, "sipgw_tool_seconds_count", source="http") == 2
    assert sample_value(text, "sipgw_tool_seconds_sum", source="http") == pytest.approx(0.6)


def test_speculative_characters_are_counted_by_outcome() -> None:
    metrics = GatewayMetrics(_Source())
    observer = metrics.agent_observer
    observer.speculative_speech("used", 28)
    observer.speculative_speech("used", 12)
    observer.speculative_speech("wasted", 24)
    text, _ = metrics.render()
    name = "sipgw_speculative_tts_chars_total"
    assert sample_value(text, name, outcome="used") == 40
    assert sample_value(text, name, outcome="wasted") == 24


def test_spoken_characters_are_counted_so_the_waste_share_is_computable() -> None:
    metrics = GatewayMetrics(_Source())
    observer = metrics.agent_observer
    observer.tts_spoken(300)
    observer.tts_spoken(28)
    observer.speculative_speech("wasted", 24)
    text, _ = metrics.render()
    spoken = sample_value(text, "sipgw_tts_spoken_chars_total")
    wasted = sample_value(text, "sipgw_speculative_tts_chars_total", outcome="wasted")
    assert spoken == 328 and wasted == 24  # the share: 24 / 328


def test_who_answered_placed_calls_is_counted_with_its_decision_time() -> None:
    metrics = GatewayMetrics(_Source())
    observer = metrics.agent_observer
    observer.answer_detected("human", 0.9)
    observer.answer_detected("voicemail", 2.4)
    observer.answer_detected("voicemail", 3.5)
    observer.answer_detected("per-call-nonsense", 1.0)  # not a kind: not a series
    text, _ = metrics.render()
    name = "sipgw_amd_results_total"
    assert sample_value(text, name, kind="human") == 1
    assert sample_value(text, name, kind="voicemail") == 2
    assert sample_value(text, name, kind="per-call-nonsense") is None
    decision = "sipgw_amd_decision_seconds"
    assert sample_value(text, f"{decision}_count") == 3
    assert sample_value(text, f"{decision}_bucket", le="1.0") == 1
    assert sample_value(text, f"{decision}_bucket", le="3.0") == 2


def test_each_gateway_has_its_own_registry() -> None:
    first, second = GatewayMetrics(_Source()), GatewayMetrics(_Source())
    first.agent_observer.barge_in()
    assert sample_value(first.render()[0], "sipgw_barge_ins_total") == 1
    assert sample_value(second.render()[0], "sipgw_barge_ins_total") == 0


def test_no_series_is_labelled_per_call() -> None:
    metrics = GatewayMetrics(_Source())
    for reason in ("remote-bye", "local-bye", "cancelled"):
        metrics.call_ended("inbound", reason, _quality(10.0, 1.0, 4.0, 50.0))
    allowed = {
        "direction", "leg", "outcome", "stage", "service", "kind", "aor", "le", "line", "why",
        "path",
    }  # fmt: skip
    for family in text_string_to_metric_families(metrics.render()[0].decode()):
        for sample in family.samples:
            assert set(sample.labels) <= allowed, sample


async def test_an_echo_call_shows_in_the_metrics() -> None:
    async with running_gateway() as (gateway, new_phone):
        assert isinstance(gateway, Gateway)
        caller = await new_phone()
        assert (await caller.invite()).status == 200
        text, _ = gateway.metrics.render()
        assert sample_value(text, "sipgw_active_calls") == 1
        await caller.play(tone_frames(400, 0.4))
        await asyncio.sleep(0.3)
        assert await caller.bye()
        await asyncio.sleep(0.1)
        text, _ = gateway.metrics.render()
    calls = "sipgw_calls_total"
    sip = {"leg": "sip", "line": ""}
    assert sample_value(text, calls, direction="inbound", outcome="remote-bye", **sip) == 1
    assert sample_value(text, "sipgw_active_calls") == 0
    assert sample_value(text, "sipgw_calls_offered_total") == 1
    assert (sample_value(text, "sipgw_rtp_packets_received_total") or 0) >= 15
    assert sample_value(text, "sipgw_call_jitter_seconds_count") == 1
    assert sample_value(text, "sipgw_call_mos_count") == 1
    assert (sample_value(text, "sipgw_tick_lateness_seconds_count") or 0) > 10
    assert (sample_value(text, "sipgw_ticks_total") or 0) > 10


def test_the_media_path_in_use_is_exported() -> None:
    from sipgw.media import _accel

    text, _ = GatewayMetrics(_Source()).render()
    assert sample_value(text, "sipgw_media_path", path=_accel.PATH) == 1
    other = "pure" if _accel.PATH == "native" else "native"
    assert f'sipgw_media_path{{path="{other}"}}'.encode() not in text


def test_calls_are_counted_by_their_codec() -> None:
    """Issue 43: how many calls were HD voice (G.722), from the quality each call ends with."""
    metrics = GatewayMetrics(_Source())
    wide = dataclasses.replace(_quality(4.0, 0.0, 4.4, 40.0), codec="G722")
    metrics.call_ended("inbound", "remote-bye", wide)
    metrics.call_ended("inbound", "remote-bye", wide)
    metrics.call_ended("inbound", "remote-bye", dataclasses.replace(wide, codec="PCMU"))
    metrics.call_ended("inbound", "remote-bye", _quality(4.0, 0.0, 4.4, 40.0))  # not said
    text, _ = metrics.render()
    assert sample_value(text, "sipgw_call_codecs_total", codec="G722") == 2
    assert sample_value(text, "sipgw_call_codecs_total", codec="PCMU") == 1
    assert wide.record()["codec"] == "G722" and "codec" not in _quality(4, 0, 4, 1).record()
