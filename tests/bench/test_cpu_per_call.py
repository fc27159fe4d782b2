"""bench/cpu_per_call.py at its smallest: two calls at once on a gateway, one turn each; what it
reports is checked, its figures never."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from bench.cpu_per_call import Load, cpu_seconds, figures, parse_settings, run, table

pytestmark = pytest.mark.timeout(240)


async def test_the_bench_loads_the_gateway_and_charges_it_its_own_cpu(tmp_path: Path) -> None:
    """sipgw's side alone (Pipecat's bot starts in tests/bench/test_turn_ends.py): two calls
    at once, one turn each, every turn answered and measured; a setting given goes on top
    of the bench's (here where the call records go)."""
    records = tmp_path / "records"
    settings = {"SIPGW_CALL_RECORD_DIR": str(records)}
    loads = await run(1, 2, 1, tmp_path, pipecat=False, idle_s=0.5, settings=settings)
    assert len(list(records.glob("*.jsonl"))) == 2
    assert [(x.system, x.calls, x.turns, x.replies) for x in loads] == [("sipgw", 2, 2, 2)]
    (load,) = loads
    assert load.seconds > 1.0 and load.cpu_s > 0 and load.errors == [], load
    assert load.core_per_call is not None and load.core_per_call > 0, load
    data = figures(loads)
    assert set(data) == {"sipgw", "ratio"} and data["ratio"]["per_round"] == []
    assert (
        table(data).splitlines()[-1]
        == "sipgw / Pipecat, per call: - (median of the rounds' ratios)"
    )


def test_a_calls_share_leaves_the_idle_rate_out_and_rounds_pair_up() -> None:
    busy = Load("sipgw", 0, 10, seconds=20.0, cpu_s=3.0, idle_cpu_s=1.0)
    assert busy.core_per_call == pytest.approx(0.01)  # (3 - 1) s over 20 s and 10 calls
    assert Load("sipgw", 0, 10).core_per_call is None  # nothing measured
    theirs = Load("pipecat", 0, 10, seconds=20.0, cpu_s=20.0)
    later = [Load("pipecat", 1, 10, seconds=10.0, cpu_s=5.0),
             Load("sipgw", 1, 10, seconds=10.0, cpu_s=0.5)]  # fmt: skip
    data = figures([busy, theirs, *later])
    assert data["ratio"]["per_round"] == [0.1, 0.1]
    assert data["sipgw"]["core_per_call_pct"] == [1.0, 0.5]
    assert data["pipecat"]["core_per_call_pct_median"] == pytest.approx(7.5)


def test_cpu_seconds_grows_with_work() -> None:
    before = cpu_seconds(os.getpid())
    end = time.process_time() + 0.05
    while time.process_time() < end:
        pass
    assert cpu_seconds(os.getpid()) - before >= 0.03


def test_settings_on_top_of_the_defaults_are_sipgw_s_and_named_when_wrong() -> None:
    assert parse_settings(["SIPGW_VOICE_DETECTOR=energy", "SIPGW_ECHO_GUARD=off"]) == {
        "SIPGW_VOICE_DETECTOR": "energy", "SIPGW_ECHO_GUARD": "off",
    }  # fmt: skip
    assert parse_settings(["SIPGW_GREETING="]) == {"SIPGW_GREETING": ""}
    for wrong in ("VOICE_DETECTOR=energy", "SIPGW_VOICE_DETECTOR", "SIPGW_=x"):
        with pytest.raises(SystemExit, match=f"--set '{wrong}': expected SIPGW_NAME=VALUE"):
            parse_settings([wrong])
