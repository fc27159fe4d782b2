"""Smoke test of the benchmark scripts: each runs in a tiny configuration and writes its JSON.

No performance figure is asserted; only that the scripts run end to end against a
real gateway process and report the fields the tables of docs/performance.md are built from.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bench._harness import hist_percentile, percentile
from bench.loadgen import _sdp_audio, _tag, parse_sip

REPO = Path(__file__).resolve().parents[2]


def run_bench(tmp_path: Path, module: str, *args: str, timeout: float = 90) -> dict[str, Any]:
    out = tmp_path / f"{module}.json"
    proc = subprocess.run(
        [sys.executable, "-m", f"bench.{module}", *args, "--json", str(out)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "JSON:" in proc.stdout  # the readable table was printed
    data: dict[str, Any] = json.loads(out.read_text())
    assert data["machine"]["cpu_model"] and data["machine"]["python"]
    assert data["params"]
    return data


STEP_FIELDS = (
    "calls", "cpu_percent", "cpu_per_call_percent", "rss_kb", "mem_per_call_kb",
    "tick_late_p99_ms", "tick_late_max_ms", "setup_p50_ms", "setup_p99_ms", "failed", "ok",
)  # fmt: skip
RECEIVER_FIELDS = ("rx_pacing_p50_ms", "rx_pacing_p99_ms", "rx_pacing_max_ms", "loss", "lost")


def test_capacity_ramp(tmp_path: Path) -> None:
    data = run_bench(
        tmp_path, "capacity", "--steps", "2", "--hold", "2", "--stats-interval", "1",
        "--settle", "0.5",
    )  # fmt: skip
    assert data["mode"] == "ramp-loadgen"
    (step,) = data["steps"]
    for key in (*STEP_FIELDS, *RECEIVER_FIELDS, "loadgen_tick_late_p99_ms"):
        assert key in step, key
    assert step["calls"] == 2 and step["answered"] == 2
    assert step["loadgen"]["rtp_rx"]["received"] > 0
    assert {"largest_ok_calls", "capacity_target", "setup_target", "memory_target"} <= set(
        data["verdict"]
    )
    assert data["idle"]["rss_kb"]


def test_capacity_assistant(tmp_path: Path) -> None:
    data = run_bench(
        tmp_path, "capacity", "--agent", "assistant", "--steps", "2", "--hold", "2",
        "--stats-interval", "1", "--settle", "0.5", "--tts-first-byte-ms", "150",
        "--answer-wait-ms", "1000",
    )  # fmt: skip
    (step,) = data["steps"]
    assert step["answered"] == 2
    assert data["params"]["answer_wait_ms"] == 1000 and step["setup_p50_ms"] is not None
    assert "fakes_cpu_percent" in step
    tally = step["fakes_tally"]  # what the step's calls asked the fakes for
    assert tally["tts_contexts"] >= 2  # each call's greeting at least
    assert tally["stt_messages"] > 0 and tally["stt_audio_ms"] >= 100 * tally["stt_messages"] // 2


@pytest.mark.skipif(
    shutil.which("espeak-ng") is None or shutil.which("sox") is None,
    reason="noisy callers are made with espeak-ng and sox",
)
def test_capacity_assistant_with_noisy_callers_and_the_model_detector(tmp_path: Path) -> None:
    data = run_bench(
        tmp_path, "capacity", "--agent", "assistant", "--steps", "2", "--hold", "2",
        "--stats-interval", "1", "--settle", "0.5", "--caller-audio", "noisy", "--snr", "10",
        "--noise", "babble,street", "--noisy-every", "3", "--voice-detector", "model",
    )  # fmt: skip
    (step,) = data["steps"]
    assert step["answered"] == 2 and not step["failed"]
    params = step["loadgen"]["params"]
    assert params["audio"] == "file" and params["audio_file_s"] == 6.0
    assert data["params"]["voice_detector"] == "model" and data["params"]["talk"] is None
    assert not data["gateway_errors"]


def test_capacity_overload_counts_refusals_apart(tmp_path: Path) -> None:
    """A CPU limit no gateway can stay under: every call is refused with 503, none fails."""
    data = run_bench(
        tmp_path, "capacity", "--steps", "3", "--hold", "1", "--stats-interval", "1",
        "--settle", "0.5", "--overload", "--overload-cpu-percent", "0.01",
        "--overload-lateness-ms", "0",
    )  # fmt: skip
    assert "--overload-cpu-percent" in data["gateway_command"]
    (step,) = data["steps"]
    assert step["answered"] == 0 and step["refused_503"] == 3 and step["failed"] == 0
    overload = data["verdict"]["overload"]
    assert overload["refused_503"] == 3 and overload["failed"] == 0 and "met" in overload


def test_capacity_machine_splits_calls_between_processes(tmp_path: Path) -> None:
    data = run_bench(
        tmp_path, "capacity", "--machine", "--processes", "1,2", "--steps", "3", "--hold", "2",
        "--stats-interval", "1", "--settle", "0.5",
    )  # fmt: skip
    assert data["mode"] == "machine"
    one, two = data["runs"]["1"], data["runs"]["2"]
    assert len(one["gateway_commands"]) == 1 and len(two["gateway_commands"]) == 2
    (step,) = two["steps"]
    assert step["calls"] == 3 and step["answered"] == 3 and step["failed"] == 0
    assert [w["calls"] for w in step["workers"]] == [2, 1]
    assert len({w["cpu"] for w in step["workers"]}) == min(2, len(os.sched_getaffinity(0)))
    for key in ("cpu_per_call_percent_worst", "calls_per_core_derived", "tick_late_p99_ms"):
        assert key in step, key
    assert len(step["cpu_per_call_percent_by_process"]) == 2
    assert step["loadgen_cpu_percent_total"] is not None
    assert set(data["scaling"]["held_up_to"]) == {"1", "2"}


@pytest.mark.interop  # SIPp: a real peer, one at a time (tests/conftest.py)
def test_capacity_sipp_driver(tmp_path: Path) -> None:
    data = run_bench(
        tmp_path, "capacity", "--driver", "sipp", "--steps", "2", "--hold", "2",
        "--stats-interval", "1", "--settle", "0.5",
    )  # fmt: skip
    (step,) = data["steps"]
    for key in STEP_FIELDS:
        assert key in step, key
    assert step["answered"] == 2 and step["sipp_exit"] == 0
    assert data["sipp"].startswith("SIPp v")


@pytest.mark.interop  # SIPp: a real peer, one at a time (tests/conftest.py)
def test_capacity_compare(tmp_path: Path) -> None:
    data = run_bench(
        tmp_path, "capacity", "--compare", "--compare-steps", "2", "--hold", "2",
        "--targets", "sipgw,sipp", "--stats-interval", "1", "--settle", "0.5",
    )  # fmt: skip
    assert set(data["targets"]) == {"sipgw", "sipp"}
    for rows in data["targets"].values():
        (row,) = rows
        for key in ("cpu_per_call_percent", "rx_pacing_p99_ms", "loss", "failed"):
            assert key in row, key
    (ratio,) = data["ratios"]
    assert {"cpu_sipgw_over_sipp", "pacing_sipgw_over_sipp"} <= set(ratio)


def test_pacing(tmp_path: Path) -> None:
    data = run_bench(
        tmp_path, "pacing", "--duration", "2", "--load-calls", "3", "--load-duration", "2",
        "--stats-interval", "1",
    )  # fmt: skip
    one, loaded = data["phases"]
    assert one["calls"] == 1 and loaded["calls"] == 3
    for key in ("dev_p50_ms", "dev_p99_ms", "dev_max_ms", "seq_gaps", "ts_jumps", "loss"):
        assert key in one, key
    assert one["intervals"] > 0
    assert {"target", "p99_ms_at_1_call", "met"} <= set(data["verdict"])


def test_sip_core(tmp_path: Path) -> None:
    data = run_bench(tmp_path, "sip_core", "--calls", "50", "--repeats", "2")
    figures = data["figures"]
    assert len(figures["us_per_call_runs"]) == 2
    assert 0 < figures["us_per_call_best"] <= figures["us_per_call_median"]


def test_loadgen_sip_parsing() -> None:
    raw = (
        b"SIP/2.0 200 OK\r\nv: SIP/2.0/UDP 127.0.0.1:5062;branch=z9hG4bK1\r\n"
        b"f: <sip:a@h>;tag=1\r\nt: <sip:b@h>;tag=abc\r\ni: x@y\r\nCSeq: 1 INVITE\r\n"
        b"m: <sip:gw@127.0.0.1:5060>\r\nc: application/sdp\r\n\r\n"
        b"v=0\r\nc=IN IP4 127.0.0.1\r\nm=audio 20000 RTP/AVP 0\r\n"
    )
    msg = parse_sip(raw)
    assert msg is not None and msg.status == 200 and msg.method == "INVITE"
    assert msg.h("call-id") == "x@y" and _tag(msg.h("to")) == "abc"
    assert _sdp_audio(msg.body) == ("127.0.0.1", 20000)


def test_percentiles() -> None:
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.5
    assert percentile([], 99) is None
    assert hist_percentile([0, 10, 0, 1], 0.5, 50) == 1.0


def test_drift_smoke(tmp_path: Path) -> None:
    data = run_bench(tmp_path, "drift", "--minutes", "1", "--jitter-ms", "10", timeout=60)
    fast, slow = sorted(data["runs"], key=lambda r: -r["ppm"])
    assert [m["minute"] for m in fast["per_minute"]] == [1]
    assert fast["dropped_frames"] >= 10 and slow["inserted_frames"] >= 10
    assert fast["delay_max_ms"] is not None and fast["delay_max_ms"] <= 200


def test_hd_voice_measures_each_voice_on_both_media_paths(tmp_path: Path) -> None:
    data = run_bench(tmp_path, "hd_voice", "--calls", "4", "--seconds", "0.2", "--repeats", "1")
    assert set(data["paths"]) == {"native", "pure"}
    assert data["paths"]["pure"]["path"] == "pure"
    for result in data["paths"].values():
        assert set(result["variants"]) == {
            "pcmu / ulaw_8000", "g722 / ulaw_8000", "g722 / pcm_16000", "g722 / line at 16 kHz",
        }  # fmt: skip
        for figures in result["variants"].values():
            assert figures["us_per_call_per_tick_median"] > 0


def test_s2s_hd_voice_measures_each_call_and_session_format(tmp_path: Path) -> None:
    data = run_bench(tmp_path, "s2s_hd_voice", "--calls", "2", "--seconds", "0.2",
                     "--repeats", "1")  # fmt: skip
    variants = data["result"]["variants"]
    assert set(variants) == {
        "pcmu / audio/pcmu", "g722 / audio/pcmu", "g722 / audio/pcm 24 kHz",
    }  # fmt: skip
    for figures in variants.values():
        assert figures["us_per_call_per_tick_median"] > 0
    assert variants["pcmu / audio/pcmu"]["over_pcmu_ratio"] == 1.0


def test_codec_cost(tmp_path: Path) -> None:
    data = run_bench(tmp_path, "codec_cost", "--calls", "2", "--ticks", "20", "--repeats", "1")
    figures = data["figures"]
    assert len(figures["echo_calls"]) == 5
    for case in figures["echo_calls"].values():
        assert case["us_median"] > 0 and case["calls_per_core"] > 0
    assert figures["opus_us"]["decode, to 16 kHz mu-law"] > 0
    loss = figures["opus_loss_1_in_20"]
    assert loss["lost_packets"] > 0 and "snr_db_opus" in loss and "snr_db_silence" in loss


def test_dtmf_detect(tmp_path: Path) -> None:
    data = run_bench(
        tmp_path, "dtmf_detect", "--seconds", "1", "--repeats", "1", "--talk-off", "music"
    )
    figures = data["figures"]
    assert len(figures["detector_us_per_frame"]) == 8
    for case in figures["detector_us_per_frame"].values():
        assert case["us_median"] > 0
    assert figures["pcmu_call_tick_us"]["on"]["us_median"] > 0
    music = figures["talk_off"]["music"]
    assert music["samples"] >= 30 and music["digits"] == 0
    assert figures["keys_at_15_db_snr"]["heard"] == figures["keys_at_15_db_snr"]["pressed"]


def test_attacks_measure_what_the_docs_quote(tmp_path: Path) -> None:
    """The quick attacks of bench.attacks (performance.md quotes the full run)."""
    data = run_bench(tmp_path, "attacks", "--only", "state", "ports", "--invites", "300")
    state, ports = data["figures"]["state"], data["figures"]["ports"]
    assert state["invites"] == 300 and state["server_transactions_peak"] == 0
    assert state["amplification_bytes"] <= 1.0
    assert ports["allocations"] == 200 and ports["next_port_is_previous_plus_2"] < 20


def test_the_attacks_through_callers_measure_what_the_docs_quote(tmp_path: Path) -> None:
    """bench.attacks' part B attacks on this tree: each one fails (performance.md's table)."""
    names = ["closed_default", "max_calls", "callback_injection", "orders", "dtmf_sequence",
             "secret_files"]  # fmt: skip
    figures = run_bench(tmp_path, "attacks", "--only", *names)["figures"]
    assert figures["closed_default"] == {
        "invite_status": 403, "paid_sessions_opened": 0, "startup_line_level": "WARNING",
    }  # fmt: skip
    assert figures["max_calls"] == {"default_max_calls": 100}
    assert figures["callback_injection"] == {
        "greeting_says_the_callers_text": False,
        "prompt_holds_the_notes_raw": False,
        "callbacks_to_one_number_stored_of_10": 3,
        "callback_call_schedules_another_number": False,
    }
    assert figures["orders"] == {"order_read_to_a_forged_from": False}
    assert figures["dtmf_sequence"] == {"digits_keyed_of_5": 1}
    assert figures["secret_files"] == {"world_writable_env_refused": True}


@pytest.mark.interop  # headless Chromium: a real peer, one at a time (tests/conftest.py)
def test_legs_compares_the_same_conversation_on_each_leg(tmp_path: Path) -> None:
    data = run_bench(tmp_path, "legs", "--calls", "1", timeout=180)
    assert set(data["legs"]) == {"sip", "twilio", "browser"}
    for leg, figures in data["legs"].items():
        assert figures["failed"] == 0, (leg, figures["errors"])  # e.g. "no ICE candidate"
        assert figures["end_of_speech_to_first_audio_ms"]["count"] == 2, leg
        assert figures["barge_in_stop_ms"]["count"] == 1, leg
        assert 0 < figures["barge_in_stop_ms"]["max"] < 1000, leg


def test_the_echo_call_figure_runs_the_whole_per_call_path() -> None:
    """bench.media_core's per-call figure: packets go in through the demultiplexer and the
    packets come out through the endpoint's send (it checks one per call per tick)."""
    from bench.media_core import echo_call_us

    assert echo_call_us(calls=4, ticks=60) > 0


def test_dial_cpu_measures_a_bridged_call_against_an_echo_call(tmp_path: Path) -> None:
    data = run_bench(tmp_path, "dial_cpu", "--calls", "2", "--seconds", "1")
    for run in ("echo", "bridged"):
        assert data[run]["answered"] == 2, data[run]
        assert data[run]["packets_heard_per_call_per_s"] > 25  # the audio came back
        assert "cpu_percent_per_call" in data[run]
    assert "ratio" in data


def test_startup_times_each_phase_and_profiles_the_imports(tmp_path: Path) -> None:
    data = run_bench(tmp_path, "startup", "--runs", "1", timeout=120)
    assert data["python_floor_s"] > 0 and data["machine"]["loadavg_at_end"]
    by_agent = {r["agent"]: r for r in data["results"]}
    assert set(by_agent) == {"echo", "assistant"}
    for result in by_agent.values():
        (run,) = result["runs"]
        assert 0 < run["first_log"] <= run["ready"]
        assert result["median_s"]["ready"] == run["ready"]
        profile = result["import_profile"]
        assert profile["modules"] > 100
        # among the costliest (the assistant's openai SDK may cost more than sipgw's own
        # modules, whose @dataclass methods come compiled: sipgw/app/operations/dataclass_code.py)
        assert "sipgw" in [p["package"] for p in profile["top"][:3]], profile["top"]
    lines = by_agent["assistant"]["runs"][0]["fallback_lines"]  # synthesized before ready
    assert lines is not None and by_agent["assistant"]["runs"][0]["first_log"] < lines
    assert lines <= by_agent["assistant"]["runs"][0]["ready"]
    assert by_agent["echo"]["runs"][0]["fallback_lines"] is None  # echo has none
