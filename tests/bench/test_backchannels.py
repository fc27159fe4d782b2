"""bench.backchannels: one voice's call through the model detector: the errors and the
silence are counted per item."""

from __future__ import annotations

import pytest

from bench.backchannels import measure
from tests.toolkit.backchannels.labelled import BACKCHANNELS, CONDITIONS, INTERRUPTIONS, VOICES

pytestmark = pytest.mark.timeout(120)


def test_one_voice_clean() -> None:
    f = measure(VOICES[:1], CONDITIONS[0], "model")
    assert f["backchannels"] == len(BACKCHANNELS) and f["interruptions"] == len(INTERRUPTIONS)
    assert f["backchannel_taken_for_interruption"] <= 0.1
    assert f["interruption_taken_for_backchannel"] <= 0.1
    # Ducked after 200 ms (the default): the silence is that, and the interruptions hear
    # the reply again, softly, until their partial cuts it.
    assert f["silence_ms_p95"] is not None and 0 < f["silence_ms_p95"] <= 300
    assert f["stop_ms_p50"] is not None and f["stop_ms_p50"] < 200
    assert f["interruption_heard_again"] > 0.5
    assert f["last_heard_ms_p50"] is not None and f["last_heard_ms_p50"] > f["stop_ms_p50"]
