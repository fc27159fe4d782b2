"""The TwiML parser: the verbs Twilio's apps use, read; everything else refused by name;
no DTD, no entities, bounded."""

from __future__ import annotations

import pytest

from sipgw.twilio.document import (
    MAX_TWIML_BYTES,
    REFUSED,
    Connect,
    Dial,
    DialTarget,
    Hangup,
    Pause,
    Play,
    Redirect,
    Reject,
    Say,
    Start,
    StreamNoun,
    TwimlError,
    Unsupported,
    parse_twiml,
)


def test_connect_stream_with_parameters() -> None:
    doc = (
        '<?xml version="1.0" encoding="UTF-8"?><Response><Connect action="/next">'
        '<Stream url="wss://bot.example.com/media" name="s1">'
        '<Parameter name="first_name" value="Ada &amp; co"/><Parameter name="n" value="2"/>'
        "</Stream></Connect></Response>"
    )
    assert parse_twiml(doc) == (
        Connect(
            StreamNoun(
                "wss://bot.example.com/media", "s1", "inbound_track",
                (("first_name", "Ada & co"), ("n", "2")),
            ),
            "/next",
        ),
    )  # fmt: skip


def test_every_followed_verb() -> None:
    doc = """<Response>
      <Start><Stream url="wss://fork.example/x" track="both_tracks"/></Start>
      <Say voice="alice" loop="2">  Hello
         there </Say>
      <Play loop="0">https://files.example/a.wav</Play>
      <Pause length="3"/>
      <Dial callerId="+15550100" timeout="20"><Number>+15550111</Number>
        <Sip>sip:desk@pbx.example</Sip></Dial>
      <Dial>+15550122</Dial>
      <Redirect method="GET">/other</Redirect>
      <Hangup/>
      <Reject reason="busy"/>
    </Response>"""
    assert parse_twiml(doc) == (
        Start(StreamNoun("wss://fork.example/x", track="both_tracks")),
        Say("Hello there", voice="alice", loop=2),
        Play("https://files.example/a.wav", loop=100),
        Pause(3),
        Dial(
            (DialTarget("number", "+15550111"), DialTarget("sip", "sip:desk@pbx.example")),
            caller_id="+15550100", timeout=20,
        ),
        Dial((DialTarget("number", "+15550122"),)),
        Redirect("/other", "GET"),
        Hangup(),
        Reject("busy"),
    )  # fmt: skip


def test_other_verbs_are_kept_by_name_to_be_refused() -> None:
    doc = (
        "<Response><Gather input='speech'><Say>hi</Say></Gather><Record/>"
        "<Connect><Room>r</Room></Connect><Enqueue>q</Enqueue><Dial><Conference>c</Conference>"
        "</Dial><Start><Siprec/></Start><Bogus/></Response>"
    )
    verbs = parse_twiml(doc)
    refused = [(v.name, v.why) for v in verbs if isinstance(v, Unsupported)]
    assert [name for name, _ in refused] == [
        "Record", "Connect><Room", "Enqueue", "Dial><Conference", "Start><Siprec", "Bogus",
    ]  # fmt: skip
    assert [why for _, why in refused[:-1]] == [REFUSED[name] for name, _ in refused[:-1]]
    assert refused[-1][1] == "not a TwiML voice verb sipgw knows"


@pytest.mark.parametrize(
    ("doc", "says"),
    [
        ('<!DOCTYPE r [<!ENTITY a "aaaa">]><Response><Say>&a;</Say></Response>', "DOCTYPE"),
        (
            '<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><Response>&x;</Response>',
            "DOCTYPE",
        ),
        ("<Response><Say>&undefined;</Say></Response>", "not well-formed"),
        ("<Response><Say>unclosed</Response>", "not well-formed"),
        ("<Twiml/>", "not <Response>"),
        ("", "not well-formed"),
        ("<Response><Connect><Stream/></Connect></Response>", "without a url"),
        ("<Response><Stream url='wss://x/y'/><Connect/></Response>", "holds nothing"),
        ("<Response><Reject reason='maybe'/></Response>", "busy or rejected"),
        ("<Response><Dial/></Response>", "without a number"),
        ("<Response><Pause length='-1'/></Response>", "whole number"),
        ("<Response>" + "<a>" * 9 + "</a>" * 9 + "</Response>", "deeper"),
        ("<Response>" + "<Hangup/>" * 101 + "</Response>", "101 verbs"),
    ],
)
def test_refused_documents_say_why(doc: str, says: str) -> None:
    with pytest.raises(TwimlError, match=says):
        parse_twiml(doc)


def test_size_limit() -> None:
    doc = "<Response><Say>" + "a" * MAX_TWIML_BYTES + "</Say></Response>"
    with pytest.raises(TwimlError, match="byte document"):
        parse_twiml(doc)


def test_billion_laughs_is_refused_before_any_expansion() -> None:
    lol = (
        '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
        + "".join(
            f'<!ENTITY lol{i} "{("&lol" + str(i - 1) + ";") * 10 if i > 1 else "&lol;" * 10}">'
            for i in range(1, 10)
        )
        + "]><Response><Say>&lol9;</Say></Response>"
    )
    with pytest.raises(TwimlError, match="DOCTYPE"):
        parse_twiml(lol)
