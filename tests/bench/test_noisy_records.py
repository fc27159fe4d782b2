"""bench.noisy_records: the answered turns sorted by whose words they are."""

from __future__ import annotations

import json
from pathlib import Path

from bench.caller_audio import ROOM_TEXTS, SENTENCES
from bench.noisy_records import summarize


def _record(path: Path, lines: list[dict[str, object]]) -> None:
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))


def test_turns_are_sorted_by_whose_words_they_are(tmp_path: Path) -> None:
    sentence = SENTENCES[0][1]
    _record(
        tmp_path / "a.jsonl",
        [
            {"t": 0.0, "type": "call"},
            {"t": 2.0, "type": "user", "text": sentence},
            {"t": 3.0, "type": "user", "text": sentence.split()[0]},
            {"t": 4.0, "type": "user", "text": ROOM_TEXTS["tv"]},
            {"t": 5.0, "type": "room_speech", "text": ROOM_TEXTS["tv"]},
            {"t": 6.0, "type": "user", "text": "So I"},
            {"t": 7.0, "type": "user", "text": "So I So I told"},
            {"t": 8.0, "type": "user", "text": f"{sentence} {ROOM_TEXTS['tv']}"},
            {"t": 9.0, "type": "user", "text": "Thanks, bye."},
            {"t": 12.0, "type": "end"},
        ],
    )
    _record(tmp_path / "b.jsonl", [{"t": 0.0, "type": "call"}, {"t": 12.0, "type": "end"}])
    out = summarize(tmp_path, every=6.0, llm_requests=6)
    assert out["calls"] == 2 and out["sentences"] == 4.0
    assert out["answered_by_kind"] == {
        "sentence": 1,
        "piece": 1,
        "room": 1,
        "room piece": 2,
        "sentence and room": 1,
        "other": 1,
    }
    assert out["answered_per_sentence"] == 1.75
    assert out["room_speech"] == 1
    assert out["llm_requests_per_call_second"] == 0.25
