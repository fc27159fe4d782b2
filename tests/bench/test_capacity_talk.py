"""bench.capacity's callers' talk bursts: tone callers talk, silence callers send silence."""

from __future__ import annotations

import pytest

from bench.capacity import callers_talk


def test_tone_callers_of_the_assistant_talk_in_bursts_by_default() -> None:
    assert callers_talk("tone", "assistant", None) == "0.8/6"
    assert callers_talk("tone", "assistant", "1/4") == "1/4"
    assert callers_talk("tone", "echo", None) is None


def test_silence_callers_send_no_bursts() -> None:
    """The load generator's bursts are the tone: a silence caller with them would be a tone
    caller."""
    assert callers_talk("silence", "assistant", None) is None
    with pytest.raises(ValueError, match="silence"):
        callers_talk("silence", "assistant", "0.8/6")


def test_noisy_callers_talk_as_their_loop_does() -> None:
    assert callers_talk("noisy", "assistant", None) is None
    with pytest.raises(ValueError, match="noisy"):
        callers_talk("noisy", "assistant", "0.8/6")


def test_the_load_generator_refuses_bursts_of_silence() -> None:
    from bench.loadgen import main

    with pytest.raises(SystemExit):
        main(["--target", "127.0.0.1:5060", "--audio", "silence", "--talk", "0.8/6"])
