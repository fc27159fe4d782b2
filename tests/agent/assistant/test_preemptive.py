"""Preemptive replies end to end in-process: the real gateway and production clients,
the fakes on real loopback sockets, a scripted phone sending and hearing real RTP; and
one call's request (agent/assistant/preemptive.py, PreemptiveReplies) on the in-memory doubles.

The fake STT sends a partial at ``min_turn_silence`` (100 ms) and, as the transcripts
have no sentence end, the final only at ``max_turn_silence`` (600 ms): the preemptive
request has half a second to run before the end of turn. The gateway's early end is off
(``words``, the default, would end these turns at 200 ms: their words read finished).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from sipgw.agent.conversation.caller_context import CallerContextSettings
from sipgw.agent.conversation.settings import SpeculationLimits
from sipgw.agent.services.tts.base import TtsError
from sipgw.agent.tools.registry import Tool
from sipgw.app.evaluation.audio import tone_frames
from sipgw.app.evaluation.fakes.openai import FakeResponse, FakeToolCall
from sipgw.app.evaluation.phone import Phone
from tests.agent import parts
from tests.agent.assistant.test_agent import REPLY_HZ, SPEECH, Stack, assistant, greeted, hang_up

pytestmark = pytest.mark.timeout(60)

ON = {"SIPGW_PREEMPTIVE": "on", "SIPGW_PREEMPTIVE_PAUSE_MS": "100", "SIPGW_EARLY_TURN_END": "off"}
SPECULATIVE = {
    **ON, "SIPGW_SPECULATIVE_SPEECH": "on", "ASSEMBLYAI_MAX_TURN_SILENCE": "600",
    "SIPGW_SPECULATIVE_MAX_WASTE_PERCENT": "1000",
}  # fmt: skip
"""Speculative speech; the gateway tells the STT (and so knows) its end of turn: 600 ms.
The waste budget lets a clause be held after the greeting alone ("Hi there.", 9
characters: up to 90 may be discarded); the budget's own tests are below."""
WASTED_HZ = 1700


def prepare(s: Stack, final: str, partial: str | None = None) -> None:
    s.stt.max_turn_silence_ms = 600
    s.stt.full_silence_partials = True
    s.stt.script([final])
    if partial is not None:
        s.stt.script_partials([partial])


def final_sent_at(s: Stack) -> float:
    session = s.stt.sessions[0]
    return next(
        at for m, at in zip(session.sent, session.sent_at, strict=True)
        if m.get("type") == "Turn" and m["end_of_turn"]
    )  # fmt: skip


async def one_reply(s: Stack) -> None:
    """A call: the greeting, 0.8 s of the caller, the reply heard; then hang up."""
    caller, _ok, phone = await s.call()
    await greeted(phone)
    phone.say(tone_frames(SPEECH, 0.8))
    await phone.wait_for_tone(REPLY_HZ, within=8, min_seconds=0.2)
    await hang_up(caller, phone)
    await asyncio.sleep(0.3)


def of_type(record: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [r for r in record if r["type"] == kind]


async def test_matching_final_uses_the_preemptive_reply_and_speaks_only_after_it(
    tmp_path: Path,
) -> None:
    async with assistant(tmp_path, **ON) as s:
        prepare(s, "Where is my order 1234")
        s.llm.script([FakeResponse(text="Your order has shipped.")])  # answers at once
        caller, _ok, phone = await s.call()
        await greeted(phone)
        phone.say(tone_frames(SPEECH, 0.8))
        heard_at = await phone.wait_for_tone(REPLY_HZ, within=8, min_seconds=0.2)
        final_at = final_sent_at(s)
        (request,) = s.llm.requests  # one request: the preemptive one was adopted
        assert request.messages[-1] == {"role": "user", "content": "where is my order 1234"}
        assert request.received_at < final_at - 0.2  # it started well before the end of turn
        assert request.completed  # and was complete long before it, yet ...
        # ... nothing was spoken before the turn ended (at its instant at the earliest: the
        # test's clock stands still while the gateway works, tests/toolkit/virtual_time.py)
        assert heard_at >= final_at
        await hang_up(caller, phone)
        await asyncio.sleep(0.3)
    record = s.record()
    assert [r["outcome"] for r in of_type(record, "preemptive")] == ["started", "used"]
    (user,) = of_type(record, "user")
    assert user["text"] == "Where is my order 1234"  # the history keeps the final
    (metrics,) = of_type(record, "turn_metrics")
    assert metrics["preemptive"] == "used" and metrics["preemptive_wasted"] == 0


async def test_a_stable_partial_heard_during_the_last_words_starts_the_request(
    tmp_path: Path,
) -> None:
    """Universal-3 Pro's early partial, moved by ``interruption_delay`` (380 + the 300 ms
    the server adds: 680 ms into the turn; AssemblyAI, "Universal-3 Pro Streaming Partial
    Transcripts and Turn Detection"), comes while the caller is still speaking (0.8 s) and
    has all the words: its last word ends 120 ms before the caller's speech does. With
    SIPGW_PREEMPTIVE_DURING_SPEECH the request starts after the 100 ms pause, not when the
    silence partial comes (min_turn_silence 300 ms here), and the final adopts it. The
    service ends the turn (the gateway's early end is off: at 200 ms it would end it before
    the silence partial)."""
    env = {
        **ON, "SIPGW_PREEMPTIVE_DURING_SPEECH": "on", "ASSEMBLYAI_INTERRUPTION_DELAY": "380",
        "ASSEMBLYAI_CHUNK_MS": "50", "ASSEMBLYAI_MIN_TURN_SILENCE": "300",
        "SIPGW_EARLY_TURN_END": "off",
    }  # fmt: skip
    async with assistant(tmp_path, **env) as s:
        prepare(s, "Where is my order 1234")
        s.stt.script_speech_partials(["where is my order 1234"])
        s.llm.script([FakeResponse(text="Your order has shipped.")])
        caller, _ok, phone = await s.call()
        await greeted(phone)
        phone.say(tone_frames(SPEECH, 0.8))
        heard_at = await phone.wait_for_tone(REPLY_HZ, within=8, min_seconds=0.2)
        session = s.stt.sessions[0]
        early, silence = [
            (m, at) for m, at in zip(session.sent, session.sent_at, strict=True)
            if m.get("type") == "Turn" and not m["end_of_turn"]
        ]  # fmt: skip
        assert early[0]["words"][-1]["end"] < silence[0]["words"][-1]["end"] - 100
        (request,) = s.llm.requests  # one request: it was adopted
        assert request.received_at < silence[1] - 0.1  # well before the silence partial
        assert heard_at >= final_sent_at(s)  # and nothing was heard before the end of turn
        await hang_up(caller, phone)
        await asyncio.sleep(0.3)
    record = s.record()
    lines = of_type(record, "preemptive")
    assert [(r["outcome"], r.get("source")) for r in lines] == [
        ("started", "speech"),
        ("used", None),
    ]


async def test_changed_final_cancels_the_preemptive_request_and_restarts(tmp_path: Path) -> None:
    async with assistant(tmp_path, **ON) as s:
        prepare(s, "Where is my order 1234 please", partial="where is my order")
        # The first answer is still streaming when the final arrives.
        slow = FakeResponse(text="Sorry, which order?", first_chunk_delay=3.0)
        s.llm.script([slow, FakeResponse(text="Your order has shipped.")])
        caller, _ok, phone = await s.call()
        await greeted(phone)
        phone.say(tone_frames(SPEECH, 0.8))
        await phone.wait_for_tone(REPLY_HZ, within=8, min_seconds=0.2)
        first, second = s.llm.requests
        assert first.messages[-1]["content"] == "where is my order"
        assert second.messages[-1]["content"] == "Where is my order 1234 please"
        await s.llm.wait_for_disconnect(within=2)  # the fake saw the stream closed
        assert first.disconnected and not first.completed
        assert second.received_at >= final_sent_at(s)
        await hang_up(caller, phone)
        await asyncio.sleep(0.3)
    record = s.record()
    outcomes = [(r["outcome"], r.get("why")) for r in of_type(record, "preemptive")]
    assert outcomes == [("started", None), ("wasted", "final differs")]
    (metrics,) = of_type(record, "turn_metrics")
    assert metrics["preemptive"] is None and metrics["preemptive_wasted"] == 1


async def test_side_effect_tools_never_run_on_a_preemptive_request(tmp_path: Path) -> None:
    async with assistant(tmp_path, **ON) as s:
        prepare(s, "Please call me back tomorrow at ten")
        s.llm.script(
            [
                FakeResponse(tool_calls=[FakeToolCall("end_call", {})]),
                FakeResponse(text="Your order has shipped. Goodbye."),
            ]
        )
        caller, _ok, phone = await s.call()
        await greeted(phone)
        phone.say(tone_frames(SPEECH, 0.8))
        await phone.wait_for_tone(REPLY_HZ, within=8, min_seconds=0.2)
        await asyncio.sleep(0.3)
        final_at = final_sent_at(s)
        first = s.llm.requests[0]
        assert first.received_at < final_at - 0.2 and first.completed
        await hang_up(caller, phone)
        await asyncio.sleep(0.3)
    record = s.record()
    kinds = [r["type"] for r in record]
    # The tool ran only after the final transcript (the user line) confirmed the request.
    assert kinds.index("user") < kinds.index("tool_call"), kinds
    (tool,) = of_type(record, "tool_call")
    assert tool["name"] == "end_call"
    assert of_type(record, "preemptive")[-1]["outcome"] == "used"


async def test_no_tool_runs_on_a_preemptive_request_not_even_a_lookup(tmp_path: Path) -> None:
    """Issue 28: tool calls are never executed speculatively. The preemptive request asks
    for an order lookup (no side effects) and a hang-up; both run only after the final
    transcript confirmed the request, in the reply's tool loop."""
    async with assistant(tmp_path, **ON) as s:
        prepare(s, "Where is my order 1234 and then goodbye")
        s.llm.script(
            [
                FakeResponse(
                    tool_calls=[
                        FakeToolCall("get_order_status", {"order_id": "1234"}),
                        FakeToolCall("end_call", {"reason": "done"}),
                    ]
                ),
                FakeResponse(text="Your order has shipped. Goodbye."),
            ]
        )
        caller, _ok, phone = await s.call(["P-Asserted-Identity: <tel:+15551234567>"])
        await greeted(phone)
        phone.say(tone_frames(SPEECH, 0.8))
        await phone.wait_for_tone(REPLY_HZ, within=8, min_seconds=0.2)
        first, second = s.llm.requests
        assert first.received_at < final_sent_at(s) - 0.2 and first.completed
        tool_messages = [m for m in second.messages if m["role"] == "tool"]
        assert len(tool_messages) == 2 and "DHL" in tool_messages[0]["content"]
        await hang_up(caller, phone)
        await asyncio.sleep(0.3)
    record = s.record()
    kinds = [r["type"] for r in record]
    # Both tools ran after the final transcript (the user line), none before (before
    # issue 28 the lookup, declared read-only, started early: a preemptive_tool line).
    assert kinds.index("user") < kinds.index("tool_call"), kinds
    assert "preemptive_tool" not in kinds
    assert sorted(t["name"] for t in of_type(record, "tool_call")) == [
        "end_call", "get_order_status",
    ]  # fmt: skip
    assert of_type(record, "preemptive")[-1]["outcome"] == "used"


async def test_a_hang_up_during_a_preemptive_request_closes_its_stream(tmp_path: Path) -> None:
    async with assistant(tmp_path, **ON) as s:
        prepare(s, "Where is my order 1234 please")
        s.llm.script([FakeResponse(text="Your order has shipped.", first_chunk_delay=3.0)])
        caller, _ok, phone = await s.call()
        await greeted(phone)
        phone.say(tone_frames(SPEECH, 0.8))
        request = await s.llm.wait_for_request(within=5)  # the preemptive one, still waiting
        await hang_up(caller, phone)  # before the end of turn
        await s.llm.wait_for_disconnect(within=2)  # the call's end closed its stream
        assert request.disconnected and not request.completed
    outcomes = [(r["outcome"], r.get("why")) for r in of_type(s.record(), "preemptive")]
    assert outcomes == [("started", None), ("wasted", "call ended")]


async def test_the_first_preemptive_reply_carries_the_caller_context(tmp_path: Path) -> None:
    hook = {"SIPGW_CALLER_CONTEXT": "tests.agent.context_hooks:crm"}
    async with assistant(tmp_path, **ON, **hook) as s:
        prepare(s, "Where is my order 1234")
        s.llm.script([FakeResponse(text="Your order has shipped.")] * 2)
        await one_reply(s)
    answered = s.llm.requests[-1]  # the request whose answer was spoken
    assert "Name: Ada Lovelace" in answered.body["messages"][0]["content"]
    assert of_type(s.record(), "preemptive")[-1]["outcome"] == "used"


# --------------------------------------------------------------------------- speculative speech


async def test_speculative_speech_holds_the_first_clause_and_plays_it_at_the_end_of_turn(
    tmp_path: Path,
) -> None:
    async with assistant(tmp_path, **SPECULATIVE) as s:
        prepare(s, "Where is my order 1234")
        s.llm.script([FakeResponse(text="Your order 1234 has shipped, it arrives on Monday.")])
        caller, _ok, phone = await s.call()
        await greeted(phone)
        phone.say(tone_frames(SPEECH, 0.8))
        heard_at = await phone.wait_for_tone(REPLY_HZ, within=8, min_seconds=0.2)
        final_at = final_sent_at(s)
        assert heard_at >= final_at  # held until the end of turn (its instant at the earliest) ...
        (request,) = s.llm.requests
        held = [c for c in s.tts.contexts if c.texts[:1] == ["Your order 1234 has shipped, "]]
        # ... though it was synthesized long before: the clause went to TTS, then the rest
        # of the sentence (once the reply was confirmed), on the same context, once each.
        assert len(held) == 1, [c.texts for c in s.tts.contexts]
        await phone.wait_until_quiet(0.3)
        assert held[0].texts == ["Your order 1234 has shipped, ", "it arrives on Monday. "]
        await hang_up(caller, phone)
        await asyncio.sleep(0.3)
    record = s.record()
    (used,) = [r for r in of_type(record, "preemptive") if r["outcome"] == "used"]
    assert used["held_chars"] == len("Your order 1234 has shipped,")
    # Sent just in time: the TTS lead (the greeting's first byte, plus 50 ms) before the
    # STT's latest end of turn, not at once (the LLM answered 500 ms earlier).
    assert 30 < used["held_lead_ms"] < 300, used
    (metrics,) = of_type(record, "turn_metrics")
    assert metrics["held_chars"] == used["held_chars"] and metrics["wasted_tts_chars"] == 0
    # The reply's first frame left within a few ticks of the final transcript.
    assert metrics["first_rtp_after_turn_ms"] < 100, metrics
    (end,) = of_type(record, "end")  # the call's sums
    spoken = len("Hi there.Your order 1234 has shipped,it arrives on Monday.")
    assert end["speculation"] == {
        "requests_started": 1, "requests_used": 1, "requests_wasted": 0,
        "held_chars": used["held_chars"], "wasted_chars": 0, "spoken_chars": spoken,
    }  # fmt: skip


async def test_a_caller_who_pauses_mid_sentence_and_goes_on_never_hears_the_held_clause(
    tmp_path: Path,
) -> None:
    """The caller pauses 0.8 s mid-sentence (under max_turn_silence, 1000 ms: the STT sends
    a partial, not an end of turn) and goes on. The preemptive reply to the first half was
    ready at once; with TTS first bytes of 400 ms its first clause went to TTS at about
    1000 - 450 ms into the pause. Nothing of it may reach RTP, and its TTS context is
    closed."""
    env = {**SPECULATIVE, "ASSEMBLYAI_MAX_TURN_SILENCE": "1000"}
    async with assistant(tmp_path, **env) as s:
        s.tts.first_byte_latency = 0.4
        caller, phone = await mid_sentence_pause(s, 0.8)
        assert not phone.heard_tone(WASTED_HZ, min_seconds=0.02), phone.tone_spans(WASTED_HZ)
        wasted = [c for c in s.tts.contexts if c.texts[:1] == ["Which order do you mean, "]]
        assert len(wasted) == 1, [c.texts for c in s.tts.contexts]  # it was synthesized ...
        assert wasted[0].texts == ["Which order do you mean, "]  # ... only its clause ...
        assert wasted[0].close_requested  # ... and its context closed by the gateway
        first, second = s.llm.requests
        assert first.messages[-1]["content"] == "where is my order"
        assert second.messages[-1]["content"] == "where is my order 1234 please"
        await hang_up(caller, phone)
        await asyncio.sleep(0.3)
    record = s.record()
    outcomes = [(r["outcome"], r.get("why")) for r in of_type(record, "preemptive")]
    assert outcomes == [
        ("started", None), ("wasted", "caller went on"), ("started", None), ("used", None),
    ]  # fmt: skip
    assert of_type(record, "preemptive")[1]["held_chars"] == len("Which order do you mean,")
    (metrics,) = of_type(record, "turn_metrics")
    assert metrics["wasted_tts_chars"] == len("Which order do you mean,")
    assert metrics["preemptive_wasted"] == 1
    (end,) = of_type(record, "end")
    summary = end["speculation"]
    assert (summary["requests_started"], summary["requests_used"]) == (2, 1)
    assert (summary["requests_wasted"], summary["wasted_chars"]) == (1, 24)


async def test_a_caller_who_goes_on_before_the_clause_is_needed_costs_no_synthesis(
    tmp_path: Path,
) -> None:
    """The same with a 0.4 s pause, and the turn's end at 1300 ms: the caller goes on
    (the gateway drops the request about 460 ms into the pause, once it has heard 60 ms of
    them) well before the clause would have been needed (1300 - 450 ms), so it never went
    to TTS. At 1000 ms the clause's moment was only 80-100 ms after the drop, and a
    loaded machine takes that: the lead is the greeting's first byte as the gateway
    measured it, the loop's delays included (0.40-0.47 s seen under load, more when the
    loop stalls), and the drop comes late when the loop does."""
    env = {**SPECULATIVE, "ASSEMBLYAI_MAX_TURN_SILENCE": "1300"}
    async with assistant(tmp_path, **env) as s:
        s.tts.first_byte_latency = 0.4
        caller, phone = await mid_sentence_pause(s, 0.4)
        assert not [c for c in s.tts.contexts if "Which order" in c.text]
        await hang_up(caller, phone)
        await asyncio.sleep(0.3)
    wasted = [r for r in of_type(s.record(), "preemptive") if r["outcome"] == "wasted"]
    assert [(r["why"], r["held_chars"]) for r in wasted] == [("caller went on", 0)]


async def test_held_audio_that_arrived_before_the_caller_went_on_is_never_heard(
    tmp_path: Path,
) -> None:
    """The mid-sentence pause again, but with the clause's audio really there before the
    caller goes on (the test above could not see a leak: its held audio came after the
    drop). The greeting's TTS first byte (0.4 s) sets the lead at 0.45 s, so the clause
    goes to TTS 550 ms into the 800 ms pause; then TTS answers in 50 ms, so the held audio
    is in the gateway about 200 ms before the caller speaks again. None of it may reach
    RTP, and its context is closed."""
    env = {**SPECULATIVE, "ASSEMBLYAI_MAX_TURN_SILENCE": "1000"}
    async with assistant(tmp_path, **env) as s:
        s.tts.first_byte_latency = 0.4

        def fast_tts() -> None:
            s.tts.first_byte_latency = 0.05

        caller, phone = await mid_sentence_pause(s, 0.8, after_greeting=fast_tts)
        (wasted,) = [c for c in s.tts.contexts if c.texts[:1] == ["Which order do you mean, "]]
        arrived = wasted.utterances[0].first_audio_at
        resumed = phone.sent_at[await phone.wait_said(PAUSE_TAG, within=1)] + 0.02
        assert wasted.audio and arrived is not None
        assert arrived < resumed - 0.1, (arrived, resumed)  # there well before the drop ...
        assert not phone.heard_tone(WASTED_HZ, min_seconds=0.02), phone.tone_spans(WASTED_HZ)
        assert wasted.close_requested  # ... discarded unheard, its context closed
        await hang_up(caller, phone)
        await asyncio.sleep(0.3)
    wasted_lines = [r for r in of_type(s.record(), "preemptive") if r["outcome"] == "wasted"]
    assert [(r["why"], r["held_chars"]) for r in wasted_lines] == [
        ("caller went on", len("Which order do you mean,")),
    ]  # fmt: skip


PAUSE_TAG = 2
"""The tag of the pause's frames in :func:`mid_sentence_pause`."""


async def mid_sentence_pause(
    s: Stack, pause: float, after_greeting: Callable[[], None] | None = None
) -> tuple[Phone, Phone]:
    """A call: 0.8 s of the caller, ``pause`` of silence, 0.6 s more; the reply heard.

    The first answer (to the words before the pause) is wasted; its words map to
    ``WASTED_HZ``. ``after_greeting`` runs once the greeting was heard. The frames are
    tagged 1 (speech), :data:`PAUSE_TAG` (the pause) and 3 (speech). Returns the SIP
    caller and the phone.
    """
    prepare(s, "Where is my order 1234 please")
    s.stt.max_turn_silence_ms = 3000  # the gateway's ASSEMBLYAI_MAX_TURN_SILENCE rules
    s.stt.script_partials(["where is my order", "where is my order 1234 please"])
    s.tts.map_text("which order", WASTED_HZ)

    def answer(body: dict[str, Any]) -> FakeResponse:
        # The words decide the answer, as with a model, not the order in which the requests
        # reached the fake: a request dropped at once (both partials in quick succession,
        # on a loaded machine) reaches it late or never, and the next must not get its answer.
        if body["messages"][-1]["content"] == "where is my order":
            return FakeResponse(text="Which order do you mean, the one from Monday?")  # wasted
        return FakeResponse(text="Your order has shipped.")

    s.llm.responder = answer
    caller, _ok, phone = await s.call()
    await greeted(phone)
    if after_greeting is not None:
        after_greeting()
    phone.say(tone_frames(SPEECH, 0.8), 1)
    phone.say([b"\xff" * 160] * round(pause / 0.02), PAUSE_TAG)
    phone.say(tone_frames(SPEECH, 0.6), 3)
    await phone.wait_for_tone(REPLY_HZ, within=8, min_seconds=0.2)
    await phone.wait_until_quiet(0.3)
    return caller, phone


async def test_a_reply_that_calls_a_tool_first_is_not_spoken_speculatively(
    tmp_path: Path,
) -> None:
    async with assistant(tmp_path, **SPECULATIVE) as s:
        prepare(s, "Where is my order 1234")
        s.llm.script(
            [
                FakeResponse(tool_calls=[FakeToolCall("get_order_status", {"order_id": "1234"})]),
                FakeResponse(text="Your order 1234 has shipped, it arrives on Monday."),
            ]
        )
        await one_reply(s)
    record = s.record()
    used = [r for r in of_type(record, "preemptive") if r["outcome"] == "used"]
    assert len(used) == 1 and "held_chars" not in used[0]
    (metrics,) = of_type(record, "turn_metrics")
    assert metrics["held_chars"] is None


# --------------------------------------------------------------------------- one call's request


async def test_a_started_request_is_adopted_by_the_same_words() -> None:
    a = parts.assistant(script=[parts.Turn(text="On its way.")])
    preemptive = a.agent.preemptive
    preemptive.start("where is my order")
    request = preemptive.request
    assert request is not None and request.text == "where is my order"
    assert preemptive.adopt("Where is my order?") is request
    assert preemptive.request is None and preemptive.take_wasted() == 0
    outcomes = [line["outcome"] for line in a.record("preemptive")]
    assert outcomes == ["started", "used"] and a.record("preemptive")[1]["lead_ms"] >= 0
    assert [e for e in a.observer.events if e[0] == "preemptive"] == [
        ("preemptive", "started"), ("preemptive", "used"),
    ]  # fmt: skip
    await request.drop()


async def test_dropped_requests_are_wasted_and_counted_until_the_next_reply() -> None:
    a = parts.assistant()
    preemptive = a.agent.preemptive
    preemptive.start("where is")
    preemptive.start("where is my order")  # a newer partial replaces it
    preemptive.drop("caller went on")
    preemptive.drop("nothing left")  # nothing to drop: not counted
    assert preemptive.take_wasted() == 2 and preemptive.take_wasted() == 0
    whys = [line.get("why") for line in a.record("preemptive") if line["outcome"] == "wasted"]
    assert whys == ["replaced", "caller went on"]
    await parts.settle()
    await a.scope.cancel_tasks()


async def test_a_request_the_history_overtook_is_not_adopted() -> None:
    a = parts.assistant()
    preemptive = a.agent.preemptive
    preemptive.start("book a table")
    a.agent.conversation.add_dtmf("1")  # the history changed since the request started
    assert preemptive.adopt("Book a table.") is None
    (wasted,) = [line for line in a.record("preemptive") if line["outcome"] == "wasted"]
    assert wasted["why"] == "history changed"
    await a.scope.cancel_tasks()


async def test_no_request_before_the_caller_context_is_known() -> None:
    async def lookup(caller: str, called: str) -> str:
        await asyncio.sleep(0.05)
        return "A regular."

    a = parts.assistant(caller_context=CallerContextSettings(lookup, timeout=1.0))
    a.agent.caller_context.start("+15551234567", "shop", "test")  # the proven and called numbers
    a.agent.preemptive.start("where is my order")
    assert a.agent.preemptive.request is None and a.record("preemptive") == []
    await asyncio.sleep(0.1)
    a.agent.preemptive.start("where is my order")
    assert a.agent.preemptive.request is not None
    await parts.wait_for(lambda: bool(a.llm.requests))
    assert "A regular." in a.llm.requests[0][0]["content"]  # the request carries it
    await a.scope.cancel_tasks()
    await a.agent.preemptive.request.drop()


async def test_a_tool_call_waits_for_the_adoption_and_a_dropped_one_never_runs() -> None:
    calls: list[str] = []

    async def look_up(ctx: Any, args: dict[str, Any]) -> object:
        calls.append("look_up")
        return {"found": True}

    tool = Tool("look_up", "Looks something up.", {"type": "object", "properties": {}}, look_up)
    a = parts.assistant(
        script=[parts.Turn(tool_calls=(("look_up", "{}"),)), parts.Turn(text="Found it.")],
        tools=[tool],
    )  # fmt: skip
    preemptive = a.agent.preemptive
    preemptive.start("check my order")
    request = preemptive.request
    assert request is not None
    await parts.wait_for(lambda: bool(a.llm.requests))
    await parts.settle()  # the stream has asked for the tool by now
    assert calls == []  # buffered, not run
    preemptive.drop("caller went on")
    await parts.settle()
    assert calls == [] and a.record("preemptive_tool") == []
    await a.scope.cancel_tasks()


async def test_a_dropped_request_cancels_its_held_clause_and_counts_it_wasted() -> None:
    a = parts.assistant(script=[parts.Turn(text="Sure, your order has shipped today.")],
                        speculative_speech=True)  # fmt: skip
    preemptive = a.agent.preemptive
    preemptive.budget.spoken(400)  # the call has spoken enough to risk a clause
    preemptive.start("where is my order")
    request = preemptive.request
    assert request is not None
    await parts.wait_for(lambda: request.held is not None)
    # "Sure," is too short to end a clause: the first sentence is held whole.
    assert request.held is not None and request.held.text == "Sure, your order has shipped today."
    held_id = request.held.tts.id
    preemptive.drop("caller went on")
    await parts.settle()
    assert held_id in a.tts.cancelled
    chars = len("Sure, your order has shipped today.")
    assert ("speculative_speech", ("wasted", chars)) in a.observer.events
    assert preemptive.take_wasted_chars() == chars and preemptive.budget.wasted_chars == chars
    await a.scope.cancel_tasks()


async def test_the_waste_budget_can_refuse_to_hold_a_clause() -> None:
    a = parts.assistant(
        script=[parts.Turn(text="Your order has shipped, it arrives Monday.")],
        speculative_speech=True, speculation=SpeculationLimits(max_wasted_share=0.1),
    )  # fmt: skip
    preemptive = a.agent.preemptive
    preemptive.budget.wasted(1)  # more wasted than 10 % of nothing spoken
    preemptive.start("where is my order")
    request = preemptive.request
    assert request is not None
    await parts.wait_for(lambda: bool(a.llm.requests))
    await parts.settle()
    assert request.held is None and a.tts.sent == []  # nothing spoken: nothing to waste yet
    await request.drop()
    await a.scope.cancel_tasks()


async def test_without_speculative_speech_nothing_goes_to_tts_before_the_end_of_turn() -> None:
    a = parts.assistant(script=[parts.Turn(text="Your order has shipped, it arrives Monday.")])
    preemptive = a.agent.preemptive
    preemptive.start("where is my order")
    request = preemptive.request
    assert request is not None
    await parts.wait_for(lambda: bool(a.llm.requests))
    await parts.settle()
    assert request.held is None and a.tts.sent == []
    await request.drop()
    await a.scope.cancel_tasks()


def speculating(tts: parts.ScriptedTts | None = None) -> parts.Assistant:
    """An assistant with speculative speech that has spoken enough to risk a clause."""
    turn = parts.Turn(text="Your order has shipped, it arrives Monday.")
    a = parts.assistant(script=[turn], tts=tts, speculative_speech=True)
    a.agent.preemptive.budget.spoken(400)
    return a


async def test_a_slow_tts_connection_does_not_hold_up_the_stream() -> None:
    """The clause goes to TTS in a task of its own: while its ``send_text`` waits on a
    slow connection, the LLM stream is still read to its end (buffered for adoption)."""
    gate = asyncio.Event()
    a = speculating(parts.ScriptedTts(send_gate=gate))
    preemptive = a.agent.preemptive
    preemptive.start("where is my order")
    request = preemptive.request
    assert request is not None
    await parts.wait_for(lambda: a.llm.finished == 1)
    assert request.held is not None and request.held.text == "Your order has shipped,"
    assert not request.held.sent.is_set()  # still being sent
    gate.set()
    await parts.wait_for(request.held.sent.is_set)
    preemptive.drop("caller went on")
    await parts.settle()
    assert request.held.tts.id in a.tts.cancelled
    await a.scope.cancel_tasks()


async def test_a_clause_waiting_for_its_moment_is_let_go_when_the_request_is_adopted() -> None:
    """The STT's latest end of turn is 5 s away, so the clause waits to be sent; the turn
    ends sooner (the final came early) and the reply adopts the request: the waiting is
    over at once (the reply synthesizes the clause itself)."""
    a = speculating()
    a.stt.turn_end = 5.0
    preemptive = a.agent.preemptive
    preemptive.start("where is my order", speech_end_at=asyncio.get_running_loop().time())
    request = preemptive.request
    assert request is not None
    await parts.wait_for(lambda: a.llm.finished == 1)
    waiting = [t for t in asyncio.all_tasks() if t.get_name() == "hold first clause"]
    assert len(waiting) == 1 and not waiting[0].done()
    assert preemptive.adopt("Where is my order?") is request
    await parts.settle()
    assert waiting[0].cancelled() and request.held is None and a.tts.sent == []
    await request.drop()
    await a.scope.cancel_tasks()


async def test_a_clause_whose_synthesis_failed_counts_as_wasted() -> None:
    a = speculating(parts.ScriptedTts(send_error=TtsError("connection lost")))
    preemptive = a.agent.preemptive
    preemptive.start("where is my order")
    request = preemptive.request
    assert request is not None
    chars = len("Your order has shipped,")
    await parts.wait_for(lambda: preemptive.budget.wasted_chars == chars)
    assert request.held is None and preemptive.budget.ledger.unsettled_chars == 0
    assert ("speculative_speech", ("wasted", chars)) in a.observer.events
    failed = a.record("preemptive")[-1]
    assert (failed["outcome"], failed["held_chars"]) == ("hold_failed", chars)
    assert preemptive.take_wasted_chars() == chars
    await request.drop()
    await a.scope.cancel_tasks()
