"""bench/awaited_turns.py: one turn through the ``off`` gateway (its patch checked as it
starts), and the figures and tables of made-up turns; the figures are measured, never
asserted."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import pytest

from bench.awaited_turns import (
    SENTENCES,
    STALL_AFTER_S,
    GatewayStall,
    Utterance,
    run,
    summary,
    table,
    transit_spread_ms,
    turn_table,
)

pytestmark = pytest.mark.skipif(
    shutil.which("espeak-ng") is None or shutil.which("sox") is None,
    reason="espeak-ng and sox speak the caller's sentences",
)


@pytest.mark.timeout(120)
async def test_a_turn_through_the_gateway_with_the_rule_patched_off(tmp_path: Path) -> None:
    """Three sentences said with the 400 ms pause: every turn reports whether either end
    stalled, and each turn where the caller and the gateway kept pace is checked (on a loaded
    machine all three can stall: a whole run beside other work once had gaps of 51-181 ms
    in each; the bench reports them, tests judge no figure). A caller that stalls (its process kept
    from the CPU) makes a longer pause on the gateway's side than the one it said, and the
    fake STT then splits the sentence elsewhere: a loaded full run once got one final of
    "four five six seven.". A gateway that stalled heard a pause the caller did not make: a
    loaded full run got "My account number is two", "nine one", "eight."; a gateway stopped
    300 ms mid-sentence split it the same way until media/ingress.py told its own stall
    apart (tests/media/test_ingress.py; end to end, ``python -m bench.awaited_turns
    --gateway-stall-ms 300``). Its turns still count apart: the stall moves their timings."""
    turns = await run(1, tmp_path, [400], ["off"], turns=3)
    assert [turn.sentence for turn in turns] == [0, 1, 2]
    assert all(t.caller_gap_ms is not None and t.gateway_lag_ms is not None for t in turns)
    for turn in [turn for turn in turns if not turn.stalled]:
        assert turn.error is None, repr(turn)
        # the STT transcribed each piece as the service would at its forced end (the
        # message says what it counted of the first piece: Utterance.half_heard) ...
        assert (turn.half_final, turn.rest_final) == SENTENCES[turn.sentence], repr(turn)
        # ... the rest's final after the caller's last word (the gateway's forced end or
        # the service's own), and the reply to the whole after it
        assert turn.final_after_ms is not None and turn.final_after_ms > 0, turn
        assert turn.first_audio_ms is not None and turn.first_audio_ms > turn.final_after_ms
        assert turn.wrong_heard == (turn.wrong_over_caller or turn.wrong_after_caller)
        assert turn.wrong_played_ms <= turn.wrong_ms + 20


def _turn(system: str, sentence: int, wrong_ms: int, first_audio_ms: float) -> Utterance:
    return Utterance(
        system, 0, sentence, sentence, 400, 400, half_final=SENTENCES[sentence][0],
        rest_final=SENTENCES[sentence][1], wrong_heard=wrong_ms > 0,
        wrong_after_caller=wrong_ms > 0, wrong_ms=wrong_ms, wrong_played_ms=wrong_ms // 2,
        race_gap_ms=10.0 if wrong_ms else None, final_after_ms=320.0,
        first_audio_ms=first_audio_ms,
    )  # fmt: skip


def test_a_gateway_stall_stops_the_process_then_lets_it_go_on() -> None:
    """``--gateway-stall-ms``: SIGSTOP :data:`STALL_AFTER_S` into the turn, SIGCONT after."""

    def state(pid: int) -> str:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]

    with subprocess.Popen(["sleep", "30"]) as process:
        try:
            started = time.monotonic()
            thread = GatewayStall(process.pid, 300).start()
            seen = set()
            while thread.is_alive():
                seen.add((state(process.pid), time.monotonic() - started >= STALL_AFTER_S))
                time.sleep(0.01)
            assert ("T", True) in seen and ("T", False) not in seen  # stopped, not before
            assert state(process.pid) != "T"  # and let go on
        finally:
            process.kill()


def test_a_stall_is_a_spread_of_the_chunks_transits_whatever_their_sizes() -> None:
    # 100 ms chunks, then 250 ms held and sent as one: the pace kept
    sizes = [800, 800, 2000, 800]
    kept = [1.1, 1.2, 1.45, 1.55]
    assert transit_spread_ms(kept, sizes, 0.0, 9.0) == pytest.approx(0.0)
    # stopped 300 ms after the second chunk, then caught up
    stopped = [1.1, 1.2, 1.75, 1.76]
    assert transit_spread_ms(stopped, sizes, 0.0, 9.0) == pytest.approx(300.0)
    assert transit_spread_ms(stopped, sizes, 1.7, 9.0) == pytest.approx(90.0)
    assert transit_spread_ms(stopped, sizes, 5.0, 9.0) is None


def test_the_figures_count_the_wrong_replies_heard_per_system() -> None:
    stalled = _turn("on", 1, 0, 750.0)
    stalled.caller_gap_ms = 61.0
    behind = _turn("off", 1, 0, 735.0)
    behind.gateway_lag_ms = 248.0
    turns = [
        _turn("on", 0, 0, 740.0), stalled,
        _turn("off", 0, 20, 730.0), behind,
        Utterance("off", 0, 2, 2, 500, 400, error="timeout"),
    ]  # fmt: skip
    figures = summary(turns)
    assert list(figures) == ["on@400", "off@400"]
    on, off = figures["on@400"], figures["off@400"]
    assert (on["wrong_heard"], off["wrong_heard"]) == (0, 1)
    assert (off["utterances"], off["errors"], off["half_finals"]) == (3, 1, 2)
    assert (on["caller_stalled"], off["caller_stalled"]) == (1, 0)
    assert (on["gateway_stalled"], off["gateway_stalled"]) == (0, 1)
    assert off["wrong_ms"] == {"total": 20, "max": 20} and off["wrong_played_ms"]["total"] == 10
    assert off["race_gap_ms"]["count"] == 1 and on["race_gap_ms"]["count"] == 0
    assert on["first_audio_ms"]["count"] == 2 and on["first_audio_ms"]["p50"] == 745.0
    lines = table(figures).splitlines()
    assert lines[0].split()[:3] == ["rule", "STT", "end"] and len(lines) == 4
    assert "1/2" in lines[3] and "0/2" in lines[2]
    rows = turn_table(turns).splitlines()
    assert len(rows) == 2 + 3 and "error" in rows[-1]
