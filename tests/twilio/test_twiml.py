"""The <Connect><Stream> TwiML: Twilio's shape, every value escaped, Twilio's limits enforced."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pytest

from sipgw.twilio.twiml import MAX_PARAMETER_CHARS, connect_stream_twiml, reject_twiml


def test_the_document_is_twilios_connect_stream_with_its_parameters() -> None:
    text = connect_stream_twiml(
        "wss://gw.example.com/twilio/stream",
        {"FirstName": "Jane", "LastName": "Doe"},
        name="call-1",
        status_callback="https://gw.example.com/twilio/status",
    )
    assert text.startswith('<?xml version="1.0" encoding="UTF-8"?><Response><Connect><Stream ')
    root = ET.fromstring(text)
    (connect,) = root
    (stream,) = connect
    assert (root.tag, connect.tag, stream.tag) == ("Response", "Connect", "Stream")
    assert stream.attrib == {
        "url": "wss://gw.example.com/twilio/stream",
        "name": "call-1",
        "statusCallback": "https://gw.example.com/twilio/status",
    }
    assert [(p.tag, p.attrib) for p in stream] == [
        ("Parameter", {"name": "FirstName", "value": "Jane"}),
        ("Parameter", {"name": "LastName", "value": "Doe"}),
    ]
    bare = ET.fromstring(connect_stream_twiml("wss://gw.example.com/s"))
    assert bare[0][0].attrib == {"url": "wss://gw.example.com/s"} and len(bare[0][0]) == 0


@pytest.mark.parametrize(
    "value",
    ['"/><Hangup/><Parameter name="x', "a&b<c>'d", "line\nbreak\ttab\r", "Zoë ☎ 📞", ""],
)
def test_hostile_values_come_back_unchanged_and_add_no_element(value: str) -> None:
    text = connect_stream_twiml("wss://gw.example.com/s", [("caller", value), (value or "k", "v")])
    stream = ET.fromstring(text)[0][0]
    assert [p.attrib for p in stream] == [
        {"name": "caller", "value": value}, {"name": value or "k", "value": "v"},
    ]  # fmt: skip
    assert len(list(ET.fromstring(text).iter())) == 5  # Response, Connect, Stream, 2 Parameter


@pytest.mark.parametrize(
    ("url", "params", "message"),
    [
        ("https://gw.example.com/s", {}, "'https://gw.example.com/s': Twilio streams only to wss"),
        ("wss:///s", {}, "only to wss"),
        ("wss://gw.example.com/s?call=1", {}, "takes no query string"),
        ("wss://gw.example.com/s", {"": "x"}, "empty name"),
        ("wss://gw.example.com/s", {"k": "v" * (MAX_PARAMETER_CHARS - 1)}, "are 500 characters"),
        ("wss://gw.example.com/s", {"k": "bell\x07"}, "U+0007"),
        ("wss://gw.example.com/s", {"k": "\ud800"}, "U+D800"),
    ],
)
def test_what_twilio_would_refuse_is_an_error_naming_the_input(
    url: str, params: dict[str, str], message: str
) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        connect_stream_twiml(url, params)


def test_a_parameter_just_under_the_limit_is_accepted() -> None:
    connect_stream_twiml("wss://gw.example.com/s", {"k": "v" * (MAX_PARAMETER_CHARS - 2)})


def test_a_relative_status_callback_is_refused() -> None:
    with pytest.raises(ValueError, match="statusCallback '/status'"):
        connect_stream_twiml("wss://gw.example.com/s", status_callback="/status")


def test_reject_is_the_first_and_only_verb() -> None:
    """Twilio's "TwiML Voice: <Reject>": as the first verb it keeps the call unanswered."""
    root = ET.fromstring(reject_twiml())
    assert root.tag == "Response" and [child.tag for child in root] == ["Reject"]
    assert root[0].attrib == {"reason": "busy"}
    assert ET.fromstring(reject_twiml("rejected"))[0].attrib["reason"] == "rejected"
    with pytest.raises(ValueError, match="'no-answer'"):
        reject_twiml("no-answer")
