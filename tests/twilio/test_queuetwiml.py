"""``<Enqueue>``, ``<Leave>`` and ``<Dial><Queue>`` as the official ``twilio`` SDK writes them,
read into verbs; what is refused or bad, with its reason."""

from __future__ import annotations

import pytest
from twilio.twiml.voice_response import Dial, VoiceResponse

from sipgw.twilio.document import Dial as DialVerb
from sipgw.twilio.document import DialTarget, TwimlError, Unsupported, parse_twiml
from sipgw.twilio.queuetwiml import WORKFLOW_REFUSED, Enqueue, Leave


def test_the_sdks_queue_verbs_are_read() -> None:
    response = VoiceResponse()
    response.enqueue("support", action="/done", method="GET", wait_url="/wait",
                     wait_url_method="GET", max_queue_size=3)  # fmt: skip
    response.leave()
    dial = Dial(timeout=10)
    dial.queue("support", url="/about-to-connect", method="GET")
    response.append(dial)
    enqueue, leave, dialled = parse_twiml(str(response))
    assert enqueue == Enqueue("support", "/done", "GET", "/wait", "GET", 3)
    assert leave == Leave()
    assert isinstance(dialled, DialVerb) and dialled.timeout == 10
    assert dialled.targets == (DialTarget("queue", "support", "/about-to-connect", "GET"),)


def test_defaults_are_twilios() -> None:
    (enqueue,) = parse_twiml("<Response><Enqueue> support </Enqueue></Response>")
    assert enqueue == Enqueue("support")
    assert (enqueue.method, enqueue.wait_url_method, enqueue.max_queue_size) == ("POST", "POST",
                                                                                 1000)  # fmt: skip


def test_taskrouter_and_a_queue_beside_other_nouns_are_refused() -> None:
    doc = ("<Response><Enqueue workflowSid='WW1'>q</Enqueue>"
           "<Dial><Number>+15550100</Number><Queue>q</Queue></Dial></Response>")  # fmt: skip
    workflow, mixed = parse_twiml(doc)
    assert workflow == Unsupported("Enqueue workflowSid", WORKFLOW_REFUSED)
    assert mixed == Unsupported("Dial><Queue", "a <Queue> is dialled alone")


def test_taskrouters_enqueue_with_a_task_and_no_queue_name_is_refused_not_an_error() -> None:
    doc = """<Response><Enqueue workflowSid="WW1"><Task priority="5">{"a": 1}</Task></Enqueue>
             <Say>next</Say></Response>"""
    refused, after = parse_twiml(doc)
    assert refused == Unsupported("Enqueue workflowSid", WORKFLOW_REFUSED)
    assert not isinstance(after, Unsupported)


@pytest.mark.parametrize(
    ("doc", "why"),
    [
        ("<Enqueue/>", "without a queue name"),
        (f"<Enqueue>{'q' * 65}</Enqueue>", "at most 64"),
        ("<Enqueue maxQueueSize='0'>q</Enqueue>", "maxQueueSize"),
        ("<Enqueue waitUrlMethod='PUT'>q</Enqueue>", "POST or GET"),
        ("<Dial><Queue/></Dial>", "without a number"),
    ],
)
def test_bad_queue_verbs_say_why(doc: str, why: str) -> None:
    with pytest.raises(TwimlError, match=why):
        parse_twiml(f"<Response>{doc}</Response>")
