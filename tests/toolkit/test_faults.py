"""The fault scenarios (tests/toolkit/faults.py): each one named, scripted and expected to
be heard; the waits read from a recording; docs/assistant.md's table in step with them.
The calls themselves run in tests/interop/test_fault_peers.py."""

from __future__ import annotations

import re
from pathlib import Path

from sipgw.app.evaluation.audio import analyse_samples, tone_samples
from tests.toolkit.faults import (
    FAULTS,
    LIKE,
    ONE_PER_BEHAVIOUR,
    SPEECH_SECONDS,
    TABLE_HEADERS,
    TONES,
    FaultRun,
    agent_pauses,
    table_row,
)

REPO = Path(__file__).resolve().parents[2]
DOCS = REPO / "docs" / "assistant.md"


def run_of(report_samples: list[int], *, waits: list[float], pauses: list[float]) -> FaultRun:
    report = analyse_samples(report_samples)
    return FaultRun(FAULTS[0], report, waits, pauses, record=[], agent_hung_up=False,
                    metric_decisions={}, seconds=4.0)  # fmt: skip


def test_every_fault_is_named_once_and_says_what_the_caller_hears() -> None:
    names = [fault.name for fault in FAULTS]
    assert len(names) == len(set(names))
    for fault in FAULTS:
        assert fault.hears and set(fault.hears) <= set(TONES.values()), fault.name
        assert all(start >= 1.0 for start in fault.turns), fault.name  # after the greeting
        assert fault.at is None or fault.at < fault.seconds, fault.name
        assert fault.first_heard is None or fault.first_heard in fault.hears, fault.name
    kinds = {name.split("-")[0] for name in names}
    assert kinds == {"none", "tts", "stt", "llm", "voice", "realtime"}
    # Every fallback line is heard through some fault, the one-moment and transfer ones too.
    heard = {hz for fault in FAULTS for hz in fault.hears}
    lines = ("having trouble", "One moment, please", "can't hear you", "Goodbye", "colleague")
    assert {TONES[text] for text in lines} <= heard
    assert {"voice-agent", "realtime"} <= {fault.agent for fault in FAULTS}


def test_the_wait_is_from_the_callers_end_of_speech_to_the_agents_audio() -> None:
    silence = [0] * 8000  # 1 s
    tone = list(tone_samples(700, 0.5, -15.0))
    run = run_of(silence * 3 + tone, waits=[3.0 - 1.8], pauses=[])  # the agent at 3.0 s
    assert run.longest_wait == run.longest_silence == 1.2 and run.heard(700)
    assert run.summary()["longest_wait_s"] == 1.2 and run.decisions() == []
    assert run.summary()["heard"] == ["shipped"] and run.summary()["longest_pause_s"] == 0.0
    hz, at = run.first_after_turn()
    assert hz == 700 and at == 3.0
    assert at - (1.0 + SPEECH_SECONDS) == 1.2


def test_what_was_heard_counts_from_the_fault_on() -> None:
    """The table's column is what the caller heard *after* the fault: the greeting and
    what played before it ended are not (it used to be what was heard at any time)."""
    before = list(tone_samples(TONES["shipped"], 0.5, -15.0))
    after = list(tone_samples(TONES["having trouble"], 0.5, -15.0))
    run = run_of(before + [0] * 8000 + after, waits=[], pauses=[])  # fault at 1.0 s (turn)
    assert run.heard_after_fault(TONES["having trouble"])
    assert not run.heard_after_fault(TONES["shipped"])  # over at 0.5 s
    assert run.summary()["heard"] == ["having trouble"]


def test_a_pause_is_from_a_reply_cut_short_to_the_line_that_explains() -> None:
    def tone(text: str, seconds: float) -> list[int]:
        return list(tone_samples(TONES[text], seconds, -15.0))

    quiet = [0] * 4000  # 0.5 s
    # The story stops at 1.0 s; 1.5 s later the apology; then, after 1.5 s, an answer.
    samples = (tone("story", 1.0) + quiet * 3 + tone("having trouble", 0.5) + quiet * 3
               + tone("shipped", 0.5))  # fmt: skip
    report = analyse_samples(samples)
    (pause,) = agent_pauses(report, turns=())
    assert abs(pause - 1.5) <= 0.12  # the answer after the apology is no pause
    assert agent_pauses(report, turns=(1.2,)) == []  # the caller spoke: a wait, not a pause
    run = run_of(samples, waits=[0.5], pauses=[pause])
    assert run.longest_silence == run.longest_pause == pause
    assert agent_pauses(report, (), run.heard) == [pause]  # from the run's spans: the same


def _docs_table() -> list[list[str]]:
    """docs/assistant.md's fault table: its header cells, then each row's."""
    text = DOCS.read_text()
    start = text.index("| " + TABLE_HEADERS[0] + " |")
    rows = []
    for line in text[start:].splitlines():
        if not line.startswith("|"):
            break
        cells = [cell.strip() for cell in re.split(r"(?<!\\)\|", line.strip())[1:-1]]
        rows.append(cells)
    return [rows[0], *rows[2:]]


def test_the_docs_table_has_every_fault_with_its_decisions_and_lines() -> None:
    """The table (``python -m bench.fault_silence`` prints it) lists exactly FAULTS, each
    with its agent, its decisions and at least the lines the test requires it to hear."""
    header, *rows = _docs_table()
    assert tuple(header) == TABLE_HEADERS
    by_name = {row[0][1:].split("`", 1)[0]: row for row in rows}
    assert list(by_name) == [fault.name for fault in FAULTS]
    names = {hz: text for text, hz in TONES.items()}
    for fault in FAULTS:
        row = by_name[fault.name]
        expected = table_row(
            {"fault": fault.name, "what": fault.what, "agent": fault.agent, "heard": [],
             "decisions": list(fault.decisions), "longest_wait_s": 0.0,
             "longest_pause_s": 0.0, "agent_hung_up": fault.hangs_up}
        )  # fmt: skip
        assert row[0] == expected[0] and row[1] == expected[1], row
        assert row[3] == expected[3] and row[6] == expected[6], row
        for hz in fault.hears:
            assert f'"{names[hz]}"' in row[2], (fault.name, names[hz], row[2])
        assert float(row[4]) <= 2.0 and float(row[5]) <= 2.0, row


def test_a_fault_left_to_another_s_call_is_heard_and_decided_as_that_one() -> None:
    """The suite calls through one fault per behaviour (:data:`ONE_PER_BEHAVIOUR`); each
    other fault names the one whose call is its own and the test of the rule that makes
    them alike, which must exist."""
    by_name = {fault.name: fault for fault in FAULTS}
    called = {fault.name for fault in ONE_PER_BEHAVIOUR}
    assert set(LIKE) | called == set(by_name) and not set(LIKE) & called
    for name, (like, rule) in LIKE.items():
        fault, other = by_name[name], by_name[like]
        assert like in called, name
        same = ("agent", "hears", "heard_for", "first_heard", "decisions", "hangs_up")
        assert [getattr(fault, f) for f in same] == [getattr(other, f) for f in same], name
        path, test = rule.split("::")
        assert f"def {test}(" in (REPO / path).read_text(), rule
