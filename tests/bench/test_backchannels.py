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
    assert f["silence_ms_p50"] is not None and 0 < f["silence_ms_p50"] < 600
    assert f["stop_ms_p50"] is not None and f["stop_ms_p50"] < 200
