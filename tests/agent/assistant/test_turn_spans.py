"""A turn's span and its STT, LLM and TTS step spans, from the reply's times."""

from __future__ import annotations

from collections.abc import Mapping
from types import SimpleNamespace

import pytest

from sipgw.agent.assistant.reply import Reply
from sipgw.agent.assistant.turn_spans import close_turn_span
from sipgw.foundation.tracing import NO_SPAN, AttributeValue, Span


class Timed:
    """A span that keeps its children, start, end, attributes and events."""

    def __init__(self, name: str, start: float | None) -> None:
        self.name, self.start = name, start
        self.end_at: float | None = None
        self.children: dict[str, Timed] = {}
        self.attributes: dict[str, AttributeValue] = {}
        self.events: dict[str, float | None] = {}
        self.error = ""

    @property
    def recording(self) -> bool:
        return True

    def child(
        self, name: str, attributes: Mapping[str, AttributeValue] | None = None,
        start: float | None = None,
    ) -> Span:  # fmt: skip
        span = self.children[name] = Timed(name, start)
        span.attributes.update(attributes or {})
        return span

    def set_attribute(self, key: str, value: AttributeValue) -> None:
        self.attributes[key] = value

    def add_event(self, name, attributes=None, at=None) -> None:
        self.events[name] = at

    def set_error(self, description: str) -> None:
        self.error = description

    def end(self, at: float | None = None) -> None:
        self.end_at = at

    def traceparent(self) -> str | None:
        return None


def approx(value: float) -> object:
    return pytest.approx(value, abs=1e-6)


def reply(request_ids: list[str] | None = None, **times: float | None) -> Reply:
    tts = SimpleNamespace(
        id="ctx-1", first_audio_at=times.pop("first_audio_at", None),
        request_ids=request_ids or [],
    )  # fmt: skip
    return Reply("reply", tts, 1, **times)  # type: ignore[arg-type]


def test_the_steps_become_spans_with_their_times_to_first_byte() -> None:
    r = reply(speech_end_at=10.0, stt_final_at=10.3, started_at=10.31, first_token_at=10.71,
              first_sentence_at=10.9, first_audio_at=11.15, llm_done_at=11.5,
              request_ids=["r1", "r2"])  # fmt: skip
    r.span = turn = Timed("turn", 10.0)
    close_turn_span(r, 11.2, now=12.0)
    stt, llm, tts = turn.children["stt"], turn.children["llm"], turn.children["tts"]
    assert (stt.start, stt.end_at) == (10.0, 10.3)
    assert stt.attributes["stt.end_of_turn_ms"] == approx(300.0)
    assert (llm.start, llm.end_at) == (10.31, 11.5)
    assert llm.attributes["llm.ttfb_ms"] == approx(400.0) and llm.events == {"first_token": 10.71}
    assert (tts.start, tts.end_at) == (10.9, 12.0)
    assert tts.attributes["tts.ttfb_ms"] == approx(250.0) and tts.events == {"first_byte": 11.15}
    assert tts.attributes["tts.reply_id"] == "ctx-1"
    assert tts.attributes["tts.request_ids"] == "r1,r2"
    assert turn.attributes["turn.end_of_speech_to_first_rtp_ms"] == approx(1200.0)
    assert turn.end_at == 12.0 and "turn.barge_in" not in turn.attributes


def test_a_cut_reply_before_any_sentence_has_no_tts_span_and_says_barge_in() -> None:
    r = reply(started_at=5.0)
    r.heard = ""
    r.span = turn = Timed("turn", 5.0)
    close_turn_span(r, None, now=5.5)
    assert set(turn.children) == {"llm"}  # no STT times (a keypad reply), no sentence
    llm = turn.children["llm"]
    assert llm.end_at == 5.5 and "llm.ttfb_ms" not in llm.attributes
    assert turn.attributes == {"turn.barge_in": True} and turn.end_at == 5.5


def test_an_untraced_turn_costs_nothing() -> None:
    r = reply(started_at=1.0)
    assert r.span is NO_SPAN
    close_turn_span(r, 2.0, now=3.0)  # returns at once
