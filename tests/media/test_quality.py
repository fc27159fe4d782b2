"""The simplified E-model against known rows."""

from __future__ import annotations

import pytest

from sipgw.media.quality import (
    BPL_G711,
    BPL_G711_PLC,
    CallQuality,
    delay_impairment,
    loss_impairment,
    mos_from_r,
    r_factor,
)


@pytest.mark.parametrize(
    ("r", "mos"),
    [(-5.0, 1.0), (0.0, 1.0), (50.0, 2.58), (60.0, 3.1), (70.0, 3.6), (80.0, 4.02),
     (90.0, 4.34), (93.2, 4.41), (100.0, 4.5), (120.0, 4.5)],
)  # fmt: skip
def test_mos_from_r(r: float, mos: float) -> None:
    assert mos_from_r(r) == pytest.approx(mos, abs=0.01)


def test_delay_impairment_knee_at_177_ms() -> None:
    assert delay_impairment(0) == 0
    assert delay_impairment(100) == pytest.approx(2.4)
    assert delay_impairment(177.3) == pytest.approx(4.2552)
    assert delay_impairment(300) == pytest.approx(7.2 + 0.11 * 122.7)


@pytest.mark.parametrize(
    ("loss", "bpl", "ie"),
    [(0.0, BPL_G711, 0.0), (1.0, BPL_G711, 17.92), (1.0, BPL_G711_PLC, 3.64),
     (5.0, BPL_G711_PLC, 15.78), (100.0, BPL_G711, 91.08)],
)  # fmt: skip
def test_loss_impairment_g711(loss: float, bpl: float, ie: float) -> None:
    assert loss_impairment(loss, bpl) == pytest.approx(ie, abs=0.01)


def test_clean_call_is_toll_quality_and_loss_hurts() -> None:
    assert mos_from_r(r_factor(40, 0)) == pytest.approx(4.39, abs=0.01)
    assert mos_from_r(r_factor(40, 5, BPL_G711_PLC)) < 4.0
    assert mos_from_r(r_factor(40, 5, BPL_G711)) < 2.6


def test_call_quality_summary_and_record() -> None:
    q = CallQuality(500, 5, 1.0, 2.5, None, None, None, 3, 0, 4.1)
    assert "loss 1.0% (5/500)" in q.summary() and "rtt -" in q.summary()
    record = q.record()
    assert record["rtt_ms"] is None and record["mos"] == 4.1
