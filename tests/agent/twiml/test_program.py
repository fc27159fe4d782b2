"""The TwiML program, sans-IO: verbs in order, redirects and actions, pauses on an injected
clock, refusals by name, the end after the last verb."""

from __future__ import annotations

import pytest

from sipgw.agent.twiml.gather import GatherResult, KeyCollector
from sipgw.agent.twiml.program import (
    MAX_DOCUMENTS,
    Fetch,
    Finished,
    Program,
    Refused,
    Run,
    Wait,
    absolute_url,
)
from sipgw.twilio.document import REFUSED, Dial, Gather, parse_twiml


def test_verbs_run_in_order_and_the_call_ends_after_the_last() -> None:
    program = Program(parse_twiml(
        "<Response><Say>a</Say><Pause length='2'/><Pay/><Play>https://x.example/a.wav"
        "</Play></Response>"
    ), "https://app.example/voice")  # fmt: skip
    now = 100.0
    step = program.next_step(now)
    assert isinstance(step, Run) and type(step.verb).__name__ == "Say"
    assert program.next_step(now) == Wait(102.0)
    assert program.next_step(now + 2) == Refused("Pay", REFUSED["Pay"])
    step = program.next_step(now + 2)
    assert isinstance(step, Run) and type(step.verb).__name__ == "Play"
    assert program.next_step(now + 3) == Finished("end")
    assert program.next_step(now + 4) == Finished("end")  # stays finished


def test_redirect_resolves_against_the_documents_url_and_replaces_the_rest() -> None:
    program = Program(parse_twiml(
        "<Response><Redirect>next?x=1</Redirect><Hangup/></Response>"
    ), "https://app.example/voice/start")  # fmt: skip
    assert program.next_step(0) == Fetch("https://app.example/voice/next?x=1", "POST", "redirect")
    program.load(
        parse_twiml("<Response><Reject reason='busy'/></Response>"),
        "https://app.example/voice/next",
    )
    assert program.next_step(0) == Finished("reject", "busy")


def test_connect_action_is_fetched_once_the_stream_is_over() -> None:
    program = Program(parse_twiml(
        "<Response><Connect action='/after'><Stream url='wss://b.example/s'/></Connect>"
        "<Say>never</Say></Response>"
    ), "https://app.example/voice")  # fmt: skip
    assert isinstance(program.next_step(0), Run)
    assert program.next_step(1) == Fetch("https://app.example/after", "POST", "<Connect action>")


def test_a_redirect_loop_ends_the_call() -> None:
    program = Program(
        parse_twiml("<Response><Redirect>/loop</Redirect></Response>"), "https://a.example/"
    )
    for _ in range(MAX_DOCUMENTS - 1):
        step = program.next_step(0)
        assert isinstance(step, Fetch)
        program.load(parse_twiml("<Response><Redirect>/loop</Redirect></Response>"), step.url)
    assert program.next_step(0) == Finished("too-many-documents")


def test_inline_document_needs_absolute_urls() -> None:
    program = Program(parse_twiml("<Response><Redirect>/relative</Redirect></Response>"), "")
    step = program.next_step(0)
    assert isinstance(step, Refused) and "not an absolute" in step.why


@pytest.mark.parametrize(
    "url", ["file:///etc/passwd", "javascript:x", "//no-scheme", "http:///nohost"]
)
def test_absolute_url_refuses_other_schemes(url: str) -> None:
    with pytest.raises(ValueError, match="absolute"):
        absolute_url("", url)


def test_an_update_drops_what_was_left_and_runs_the_new_twiml_next() -> None:
    program = Program(parse_twiml("<Response><Pause length='60'/><Hangup/></Response>"),
                      "https://app.example/voice")  # fmt: skip
    assert program.next_step(0.0) == Wait(60.0)
    program.update(None, parse_twiml("<Response><Reject/></Response>"))
    assert program.next_step(1.0) == Finished("reject", "rejected")
    fetched = Program(parse_twiml("<Response><Hangup/></Response>"), "https://app.example/voice")
    fetched.update("next", None)  # a Url: fetched next, against the document's URL
    assert fetched.next_step(0.0) == Fetch("https://app.example/next", "POST", "update")


def test_an_update_after_the_end_changes_nothing() -> None:
    program = Program(parse_twiml("<Response><Hangup/></Response>"))
    assert program.next_step(0.0) == Finished("hangup")
    program.update(None, parse_twiml("<Response><Pause/></Response>"))
    assert program.next_step(1.0) == Finished("hangup")


def test_a_gathers_input_goes_to_its_action_or_the_documents_url_and_replaces_the_rest() -> None:
    program = Program(parse_twiml(
        "<Response><Gather action='next'/><Say>never</Say></Response>"
    ), "https://app.example/voice/start")  # fmt: skip
    step = program.next_step(0.0)
    assert isinstance(step, Run) and isinstance(step.verb, Gather)
    assert program.gathered(step.verb, (("Digits", "42"),))
    assert program.next_step(0.0) == Fetch(
        "https://app.example/voice/next", "POST", "<Gather action>", (("Digits", "42"),)
    )
    own = Program(parse_twiml("<Response><Gather method='GET'/></Response>"), "https://a.example/v")
    gather = own.next_step(0.0).verb
    assert own.gathered(gather, ())  # type: ignore[arg-type]
    assert own.next_step(0.0) == Fetch("https://a.example/v", "GET", "<Gather action>", ())
    inline = Program(parse_twiml("<Response><Gather/><Hangup/></Response>"), "")
    gather = inline.next_step(0.0).verb
    assert not inline.gathered(gather, (("Digits", "1"),))  # type: ignore[arg-type]
    assert inline.next_step(0.0) == Finished("hangup")  # nowhere to post: the document goes on


def test_keys_end_at_num_digits_or_the_finish_key() -> None:
    keys = KeyCollector(num_digits=3, finish_on_key="#")
    assert [keys.key(k) for k in "12"] == [False, False] and keys.key("3")
    assert (keys.digits, keys.finished_on_key) == ("123", "")
    keys = KeyCollector(finish_on_key="*")
    assert [keys.key(k) for k in "9#9"] == [False] * 3 and keys.key("*")
    assert (keys.digits, keys.finished_on_key) == ("9#9", "*")
    assert GatherResult(digits="9#9", finished_on_key="*").params() == (
        ("Digits", "9#9"), ("FinishedOnKey", "*"),
    )  # fmt: skip
    assert GatherResult(speech="yes", confidence=0.91234).params() == (
        ("SpeechResult", "yes"), ("Confidence", "0.9123"),
    )  # fmt: skip
    assert GatherResult().empty and GatherResult().params() == ()


def test_a_dials_action_gets_its_outcome_and_without_one_the_next_verb_runs() -> None:
    program = Program(parse_twiml(
        "<Response><Dial>+15550100</Dial><Pause/>"
        "<Dial action='dialled' method='GET'>+15550101</Dial><Say>never</Say></Response>"
    ), "https://app.example/voice")  # fmt: skip
    first = program.next_step(0)
    assert isinstance(first, Run) and isinstance(first.verb, Dial)
    assert not program.dialled(first.verb, (("DialCallStatus", "busy"),))  # no action: on
    assert isinstance(program.next_step(1), Wait)
    second = program.next_step(2)
    assert isinstance(second, Run) and isinstance(second.verb, Dial)
    assert program.dialled(second.verb, (("DialCallStatus", "completed"),))
    assert program.next_step(3) == Fetch(
        "https://app.example/dialled", "GET", "<Dial action>", (("DialCallStatus", "completed"),)
    )
