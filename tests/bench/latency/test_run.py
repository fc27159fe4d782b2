"""Smoke test of the latency benchmark and of the fake-services process (tiny runs).

No timing assertions: the figures only have to be there, with the right shape.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.timeout(60)

REPO = Path(__file__).resolve().parents[3]


def _env() -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SIPGW_", "ASSEMBLYAI_", "OPENAI_", "ELEVENLABS_"))
    }
    env["PYTHONPATH"] = str(REPO)
    return env


def test_fake_services_prints_its_urls_and_stops_cleanly() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench.fake_services", "--json-ready"],
        cwd=REPO,
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        ready = json.loads(line)
        assert ready["assemblyai_url"].startswith("ws://127.0.0.1:")
        assert ready["assemblyai_url"].endswith("/v3/ws")
        assert ready["openai_base_url"].startswith("http://127.0.0.1:")
        assert ready["openai_base_url"].endswith("/v1")
        assert ready["elevenlabs_base_url"].startswith("http://127.0.0.1:")
        assert set(ready["keys"]) == {"ASSEMBLYAI_API_KEY", "OPENAI_API_KEY", "ELEVENLABS_API_KEY"}
        assert all(ready["keys"].values())
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(15) == 0
        assert proc.stdout.read() == ""  # exactly one line on stdout
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_latency_benchmark_tiny_run_writes_every_figure(tmp_path: Path) -> None:
    out = tmp_path / "latency.json"
    done = subprocess.run(
        [
            sys.executable, "-m", "bench.latency", "--calls", "1", "--turns", "2",
            "--greeting-calls", "1", "--warmup-calls", "0", "--gateway-cpu", "-1",
            "--bench-cpu", "-1", "--json", str(out),
        ],
        cwd=REPO,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=50,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert "wire-side figures" in done.stdout
    result = json.loads(out.read_text())
    assert {"machine", "params", "targets", "configs"} <= set(result)
    assert result["params"]["calls"] == 1 and result["params"]["turns"] == 2
    (config,) = result["configs"]
    assert config["name"] == "base"
    assert config["settings"] == {
        "ASSEMBLYAI_CHUNK_MS": 100,
        "--jitter-min-ms": 40,
        "SIPGW_BARGE_IN_START_MS": 60,
        "SIPGW_PREEMPTIVE": "off",
        "SIPGW_SPECULATIVE_SPEECH": "off",
        "SIPGW_PREEMPTIVE_DURING_SPEECH": "off",
        "SIPGW_EARLY_TURN_END": "off",
    }
    assert config["calls"] == {"conversation": 1, "greeting_only": 1, "failed": 0}
    figures = config["figures"]
    expected = {
        "reply_path_ms": 2,
        "end_of_turn_overhead_ms": 2,
        "end_of_turn_gateway_ms": 2,
        "barge_in_ms": 1,
        "greeting_overhead_ms": 2,
        "ingress_incl_fill_ms": 10,
        "ingress_excl_fill_ms": 2,
    }
    for name, at_least in expected.items():
        figure = figures[name]
        assert figure["n"] >= at_least, (name, figure)
        assert {"p50", "p95", "p99", "max"} <= set(figure)
        assert all(isinstance(figure[k], float | int) for k in ("p50", "p95", "p99", "max"))
    assert {t["figure"] for t in config["targets"]} >= {"reply_path_ms", "barge_in_ms"}
    assert config["breakdown"]["gw_caller_to_stt_ms"]["n"] >= 2
    view = config["gateway_view"]
    for name in ("stt_end_of_turn_ms", "end_of_speech_to_first_rtp_ms", "barge_in_reaction_ms",
                 "greeting_first_rtp_after_answer_ms"):  # fmt: skip
        assert view[name]["n"] >= 1, (name, view[name])


def test_latency_benchmark_compares_off_preemptive_and_speculative(tmp_path: Path) -> None:
    """With the STT's end of turn 800 ms after speech the preemptive reply's first clause
    is ready long before it: speculative speech holds it and plays it at the end of turn.
    The waste budget is lifted (1000 %): one call of one turn never speaks the 620
    characters a 62-character clause needs at 10 %."""
    out = tmp_path / "latency.json"
    done = subprocess.run(
        [
            sys.executable, "-m", "bench.latency", "--realistic", "--preemptive", "all",
            "--max-turn-silence", "800",
            "--calls", "1", "--turns", "1", "--greeting-calls", "0", "--warmup-calls", "0",
            "--partial-mismatch", "0", "--gateway-cpu", "-1", "--bench-cpu", "-1",
            "--max-waste-percent", "1000", "--json", str(out),
        ],
        cwd=REPO,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=90,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert "first agent audio by mode" in done.stdout
    result = json.loads(out.read_text())
    params = result["params"]
    assert (params["llm_first_token_ms"], params["tts_first_byte_ms"]) == (350.0, 150.0)
    assert (params["max_turn_silence_ms"], params["sentence_end"]) == (800, False)
    off, on, speculative = result["configs"]
    assert (off["name"], on["name"], speculative["name"]) == (
        "preemptive-off", "preemptive-on", "speculative",
    )  # fmt: skip
    assert speculative["settings"]["SIPGW_SPECULATIVE_SPEECH"] == "on"
    assert off["preemptive"]["started"] == 0
    assert on["preemptive"]["started"] >= 1 and on["preemptive"]["used"] >= 1, on["preemptive"]
    assert on["preemptive"]["held_chars_used"] == 0
    assert speculative["preemptive"]["held_chars_used"] > 0, speculative["preemptive"]
    assert speculative["preemptive"]["held_chars_wasted"] == 0
    comparison = result["preemptive_comparison"]
    assert comparison["modes"] == ["off", "preemptive", "speculative"]
    wire = comparison["wire_end_of_speech_to_first_audio_ms"]
    for mode in comparison["modes"]:
        assert wire[mode]["n"] >= 1
    # The figures are reported, not judged here (how much the held clause saves is the
    # bench's to measure): that it plays at the end of turn, within a frame or so of the
    # final, is the assistant's rule, tested on the call's clock in
    # tests/agent/assistant/test_preemptive.py.
    assert all(isinstance(wire[mode]["p50"], float) for mode in comparison["modes"]), wire
    assert isinstance(comparison["saving_p50_ms"]["speculative"], float)
