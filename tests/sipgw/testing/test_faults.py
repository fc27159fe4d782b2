"""The fault scenarios (sipgw/testing/faults.py): each one named, scripted and expected to
be heard; the waits read from a recording. The calls themselves run in
tests/interop/test_fault_peers.py."""

from __future__ import annotations

from sipgw.testing.audio import analyse_samples, tone_samples
from sipgw.testing.faults import FAULTS, TONES, FaultRun, agent_pauses


def test_every_fault_is_named_once_and_says_what_the_caller_hears() -> None:
    names = [fault.name for fault in FAULTS]
    assert len(names) == len(set(names))
    for fault in FAULTS:
        assert fault.hears and set(fault.hears) <= set(TONES.values()), fault.name
        assert all(start >= 1.0 for start in fault.turns), fault.name  # after the greeting
        assert fault.at is None or fault.at < fault.seconds, fault.name
    kinds = {name.split("-")[0] for name in names}
    assert kinds == {"none", "tts", "stt", "llm"}


def test_the_wait_is_from_the_callers_end_of_speech_to_the_agents_audio() -> None:
    silence = [0] * 8000  # 1 s
    tone = list(tone_samples(700, 0.5, -15.0))
    report = analyse_samples(silence * 3 + tone)  # the agent speaks again at 3.0 s
    fault = FAULTS[0]
    run = FaultRun(fault, report, waits=[3.0 - 1.8], pauses=[], record=[], agent_hung_up=False)
    assert run.longest_wait == run.longest_silence == 1.2 and run.heard(700)
    assert run.summary()["longest_wait_s"] == 1.2 and run.decisions() == []
    assert run.summary()["heard"] == ["shipped"] and run.summary()["longest_pause_s"] == 0.0


def test_a_pause_is_from_a_reply_cut_short_to_the_line_that_explains() -> None:
    def tone(text: str, seconds: float) -> list[int]:
        return list(tone_samples(TONES[text], seconds, -15.0))

    quiet = [0] * 4000  # 0.5 s
    # The story stops at 1.0 s; 1.5 s later the apology; then, after 1.5 s, an answer.
    report = analyse_samples(tone("story", 1.0) + quiet * 3 + tone("having trouble", 0.5)
                             + quiet * 3 + tone("shipped", 0.5))  # fmt: skip
    (pause,) = agent_pauses(report, turns=())
    assert abs(pause - 1.5) <= 0.12  # the answer after the apology is no pause
    assert agent_pauses(report, turns=(1.2,)) == []  # the caller spoke: a wait, not a pause
    run = FaultRun(FAULTS[0], report, waits=[0.5], pauses=[pause], record=[],
                   agent_hung_up=False)  # fmt: skip
    assert run.longest_silence == run.longest_pause == pause
