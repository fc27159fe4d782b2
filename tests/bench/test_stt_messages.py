"""bench.stt_messages: the noisy callers' audio to speech-to-text, message by message."""

from __future__ import annotations

import pytest

from bench.noisy_turns import call_audio, make_loop
from bench.stt_messages import measure, messages

pytestmark = pytest.mark.timeout(120)


def test_every_frame_is_placed_and_every_message_is_within_the_services_limits() -> None:
    frames, sentences = call_audio(make_loop(10.0), 4, 1, 12.0)
    result = messages(frames, sentences, "model")
    assert sum(result["frames"].values()) == len(frames)
    assert result["frames"]["speech"] and result["frames"]["quiet"]
    sent_ms = sum(ms * n for ms, n in result["lengths"].items())
    assert len(frames) * 20 - 250 <= sent_ms <= len(frames) * 20  # a slow chunk at most batched
    assert all(50 <= ms <= 1000 for ms in result["lengths"])
    assert sum(result["messages"].values()) == sum(result["lengths"].values())


def test_the_figures_are_per_second_of_each_place() -> None:
    figures = measure(2, 12.0, 10.0, ["model"])["model"]
    places = figures["places"]
    assert sum(p["messages"] for p in places.values()) == figures["messages"]
    assert sum(p["seconds"] for p in places.values()) == pytest.approx(24.0, abs=0.2)
    assert figures["call_seconds"] == 24.0
    speech = places["speech"]
    assert speech["per_s"] == pytest.approx(speech["messages"] / speech["seconds"], rel=0.02)
    assert 5 < figures["per_call_s"] < 25  # 100 ms chunks, smaller after speech
