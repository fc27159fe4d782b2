"""The TwiML parser: the verbs Twilio's apps use, read; everything else refused by name;
no DTD, no entities, bounded."""

from __future__ import annotations

import re

import pytest
from twilio.twiml import voice_response as voice

from sipgw.twilio.document import (
    MAX_TWIML_BYTES,
    REFUSED,
    Connect,
    Dial,
    DialTarget,
    Gather,
    Hangup,
    Pause,
    Play,
    PlayDigits,
    Record,
    Redirect,
    Refer,
    Reject,
    Say,
    Start,
    StartSiprec,
    StopSiprec,
    StopStream,
    StreamNoun,
    TwimlError,
    Unsupported,
    parse_twiml,
)
from sipgw.twilio.siprectwiml import Siprec


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


def test_record_reads_its_recording_status_events() -> None:
    (plain, asked) = parse_twiml(
        '<Response><Record/><Record recordingStatusCallback="/rs" '
        'recordingStatusCallbackEvent="in-progress, absent"/></Response>'
    )
    assert isinstance(plain, Record) and plain.recording_status_callback_events == {"completed"}
    assert isinstance(asked, Record) and asked.recording_status_callback == "/rs"
    assert asked.recording_status_callback_events == {"in-progress", "absent"}
    with pytest.raises(TwimlError, match="recordingStatusCallbackEvent"):
        parse_twiml('<Response><Record recordingStatusCallbackEvent="done"/></Response>')


def test_refer_reads_its_sip_target_and_action() -> None:
    (refer,) = parse_twiml(
        '<Response><Refer action="/done" method="GET">'
        "<Sip>sip:alice@example.com?X-AcctNumber=123456&amp;X-Reason=billing</Sip>"
        "</Refer></Response>"
    )
    assert refer == Refer("sip:alice@example.com?X-AcctNumber=123456&X-Reason=billing",
                          "/done", "GET")  # fmt: skip
    (plain,) = parse_twiml("<Response><Refer><Sip>sips:b@c.example</Sip></Refer></Response>")
    assert plain == Refer("sips:b@c.example")
    for bad in ("<Refer/>", "<Refer><Sip>+15551234567</Sip></Refer>",
                "<Refer><Sip>sip:a@b</Sip><Sip>sip:c@d</Sip></Refer>"):  # fmt: skip
        with pytest.raises(TwimlError, match="Refer"):
            parse_twiml(f"<Response>{bad}</Response>")


def test_other_verbs_are_kept_by_name_to_be_refused() -> None:
    doc = (
        "<Response><Gather input='speech'><Say>hi</Say></Gather><Pay/>"
        "<Connect><Room>r</Room></Connect><Dial><Client>c</Client>"
        "</Dial><Connect><Assistant/></Connect><Bogus/></Response>"
    )
    verbs = parse_twiml(doc)
    refused = [(v.name, v.why) for v in verbs if isinstance(v, Unsupported)]
    assert [name for name, _ in refused] == [
        "Pay", "Connect><Room", "Dial><Client", "Connect><Assistant", "Bogus",
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


def test_gather_reads_twilios_attributes_and_its_nested_verbs() -> None:
    (gather,) = parse_twiml(
        '<Response><Gather input="dtmf speech" action="/next" method="GET" timeout="3" '
        'speechTimeout="auto" finishOnKey="*" numDigits="4" hints="billing, account number" '
        'language="fr-FR" actionOnEmptyResult="true" bargeIn="false" '
        'partialResultCallback="/partial" partialResultCallbackMethod="GET">'
        '<Say>Bonjour</Say><Play>https://a.example/m.wav</Play><Pause length="2"/></Gather>'
        "</Response>"
    )
    assert gather == Gather(
        input=("dtmf", "speech"), action="/next", method="GET", timeout=3, speech_timeout=None,
        finish_on_key="*", num_digits=4, hints=("billing", "account number"), language="fr-FR",
        action_on_empty_result=True, barge_in=False, partial_result_callback="/partial",
        partial_result_callback_method="GET",
        prompts=(Say("Bonjour"), Play("https://a.example/m.wav"), Pause(2)),
    )  # fmt: skip
    (plain,) = parse_twiml("<Response><Gather/></Response>")
    assert (plain.input, plain.timeout, plain.speech_timeout, plain.finish_on_key) == (
        ("dtmf",), 5, 5.0, "#",
    )  # fmt: skip
    (empty_key,) = parse_twiml('<Response><Gather finishOnKey="" speechTimeout="2"/></Response>')
    assert empty_key.finish_on_key == "" and empty_key.speech_timeout == 2.0


@pytest.mark.parametrize(
    ("gather", "says"),
    [
        ('<Gather input="voice"/>', "dtmf, speech or both"),
        ('<Gather finishOnKey="##"/>', "finishOnKey"),
        ('<Gather actionOnEmptyResult="yes"/>', "true or false"),
        ('<Gather method="PUT"/>', "POST or GET"),
        ("<Gather><Dial>1</Dial></Gather>", "only <Say>, <Play>, <Pause>"),
        ('<Gather><Play digits="1"/></Gather>', "a URL only"),
    ],
)
def test_a_gather_twilio_would_refuse_is_a_twiml_error(gather: str, says: str) -> None:
    with pytest.raises(TwimlError, match=re.escape(says)):
        parse_twiml(f"<Response>{gather}</Response>")


def test_say_ssml_words_are_said_and_breaks_are_silence() -> None:
    (say,) = parse_twiml(
        '<Response><Say voice="Polly.Joanna"><p><s>One <emphasis level="strong">two</emphasis>'
        '</s><s>three</s></p><break strength="x-strong"/><break time="1s"/>'
        '<say-as interpret-as="digits">123</say-as> <sub alias="doctor">Dr.</sub><break/>'
        '<w role="amazon:VB">read</w><break time="20s"/></Say></Response>'
    )
    assert isinstance(say, Say)
    assert say.text == "One two three 123 doctor read"
    assert say.parts == ("One two three", 2.25, "123 doctor", 0.4, "read", 10.0)
    (plain,) = parse_twiml("<Response><Say>  just   words </Say></Response>")
    assert plain.parts == () and plain.pieces() == ("just words",)
    with pytest.raises(TwimlError, match="inside <Say>"):
        parse_twiml("<Response><Say>a<Hangup/></Say></Response>")
    with pytest.raises(TwimlError, match="break time"):
        parse_twiml('<Response><Say>a<break time="soon"/></Say></Response>')


def test_play_digits_and_stop_stream() -> None:
    verbs = parse_twiml(
        '<Response><Play digits="ww12#wA"/><Stop><Stream name="rec"/></Stop>'
        "<Stop><Stream/></Stop><Stop><Siprec/></Stop></Response>"
    )
    assert verbs == (
        PlayDigits("ww12#wA"), StopStream("rec"), StopStream(""),
        StopSiprec(""),
    )  # fmt: skip
    with pytest.raises(TwimlError, match="Play digits"):
        parse_twiml('<Response><Play digits="12x"/></Response>')


def test_dial_reads_every_attribute_sipgw_follows() -> None:
    doc = """<Response><Dial action="/dialled" method="GET" timeout="12" timeLimit="90"
      hangupOnStar="true" answerOnBridge="true" record="record-from-answer-dual"
      callerId=" +15550100 "><Number>+15550111</Number></Dial>
      <Dial record="true">+15550122</Dial><Dial record="false" timeLimit="99999">1</Dial>
    </Response>"""
    first, second, third = parse_twiml(doc)
    assert first == Dial(
        (DialTarget("number", "+15550111"),), caller_id="+15550100", timeout=12,
        action="/dialled", method="GET", time_limit=90, hangup_on_star=True,
        answer_on_bridge=True, record="record-from-answer-dual",
    )  # fmt: skip
    assert isinstance(second, Dial) and second.record == "record-from-answer"
    assert isinstance(third, Dial) and third.record == "do-not-record"
    assert third.time_limit == 14400  # Twilio's longest (4 h)
    assert (third.timeout, third.hangup_on_star, third.answer_on_bridge) == (30, False, False)
    assert not first.sequential
    (fourth,) = parse_twiml(
        '<Response><Dial sequential="true"><Number>1</Number>'
        '<Number sendDigits="ww1928#">2</Number></Dial></Response>'
    )
    assert isinstance(fourth, Dial) and fourth.sequential
    assert [t.send_digits for t in fourth.targets] == ["", "ww1928#"]
    assert first.recording_status_callback_events == {"completed"}
    (fifth,) = parse_twiml(
        '<Response><Dial record="true" recordingStatusCallback="/rec" '
        'recordingStatusCallbackMethod="GET" recordingStatusCallbackEvent="in-progress, '
        'completed">1</Dial></Response>'
    )
    assert isinstance(fifth, Dial) and fifth.recording_status_callback == "/rec"
    assert fifth.recording_status_callback_method == "GET"
    assert fifth.recording_status_callback_events == {"in-progress", "completed"}
    with pytest.raises(TwimlError, match="sendDigits"):
        parse_twiml('<Response><Dial><Number sendDigits="12p">1</Number></Dial></Response>')
    assert (first.ring_tone, first.recording_track, first.trim) == ("us", "both", False)
    (sixth,) = parse_twiml(
        '<Response><Dial ringTone="UK" record="true" recordingTrack="inbound" '
        'trim="trim-silence"><Sip username="desk7" password="s3cret-Pass">sip:7@pbx.example'
        "</Sip><Sip>sip:8@pbx.example</Sip></Dial></Response>"
    )
    assert isinstance(sixth, Dial) and sixth.ring_tone == "uk"
    assert (sixth.recording_track, sixth.trim) == ("inbound", True)
    desk, other = sixth.targets
    assert (desk.username, desk.password, other.username) == ("desk7", "s3cret-Pass", "")
    assert "s3cret" not in repr(sixth)  # the password is never shown
    assert first.ignored == () and sixth.ignored == ()
    (seventh,) = parse_twiml(
        '<Response><Dial referUrl="/refer" events="x"><Number url="/screen" '
        'statusCallback="/leg" statusCallbackEvent="ringing answered,completed">1</Number>'
        '<Sip method="GET" statusCallbackMethod="get">sip:a@b</Sip></Dial></Response>'
    )
    assert isinstance(seventh, Dial) and seventh.ignored == ("events",)
    number, sip = seventh.targets
    assert (number.url, number.method, number.status_callback) == ("/screen", "POST", "/leg")
    assert number.status_callback_events == {"ringing", "answered", "completed"}
    assert (sip.url, sip.method, sip.status_callback_method) == ("", "GET", "GET")
    assert sip.status_callback_events == {"completed"}  # Twilio's default
    with pytest.raises(TwimlError, match="statusCallbackEvent"):
        parse_twiml(
            '<Response><Dial><Number statusCallbackEvent="rang">1</Number></Dial></Response>'
        )
    assert (seventh.refer_url, seventh.refer_method) == ("/refer", "POST")
    (ninth,) = parse_twiml(
        '<Response><Dial callReason="Your order" recordingConfigurationId="RC1">'
        '<Number byoc="BY1" machineDetection="Enable" amdStatusCallback="/amd">1</Number>'
        '<Number byoc="BY2">2</Number><Sip machineDetection="DetectMessageEnd">sip:a@b</Sip>'
        "</Dial></Response>"
    )
    assert isinstance(ninth, Dial) and ninth.ignored == (
        "callReason", "recordingConfigurationId", "Number byoc",
    )  # fmt: skip
    assert [t.address for t in ninth.targets] == ["1", "2", "sip:a@b"]  # dialled all the same
    detected, plain, sip_leg = ninth.targets
    assert detected.amd == (("MachineDetection", "Enable"),)
    assert detected.amd_status_callback == "/amd"
    assert plain.amd == () and sip_leg.amd == (("MachineDetection", "DetectMessageEnd"),)
    (tuned,) = parse_twiml(
        '<Response><Dial><Number machineDetection="Enable" machineDetectionTimeout="10" '
        'machineDetectionSilenceTimeout="3000" amdStatusCallbackMethod="GET">1</Number>'
        "</Dial></Response>"
    )
    assert isinstance(tuned, Dial)
    assert dict(tuned.targets[0].amd) == {
        "MachineDetection": "Enable", "MachineDetectionTimeout": "10",
        "MachineDetectionSilenceTimeout": "3000",
    }  # fmt: skip
    assert tuned.targets[0].amd_status_callback_method == "GET"
    with pytest.raises(TwimlError, match="machineDetection"):
        parse_twiml('<Response><Dial><Number machineDetection="Yes">1</Number></Dial></Response>')
    assert (first.refer_url, first.refer_method) == ("", "POST")
    (eighth,) = parse_twiml(
        '<Response><Dial referUrl=" https://app/r " referMethod="get">1</Dial></Response>'
    )
    assert isinstance(eighth, Dial)
    assert (eighth.refer_url, eighth.refer_method) == ("https://app/r", "GET")
    with pytest.raises(TwimlError, match="referMethod"):
        parse_twiml('<Response><Dial referUrl="/r" referMethod="PUT">1</Dial></Response>')
    with pytest.raises(TwimlError, match="without a username"):
        parse_twiml('<Response><Dial><Sip password="x">sip:a@b</Sip></Dial></Response>')


@pytest.mark.parametrize(
    ("attrs", "says"),
    [
        ('record="always"', "record-from-answer"),
        ('hangupOnStar="yes"', "true or false"),
        ('sequential="1"', "true or false"),
        ('recordingStatusCallbackEvent="done"', "in-progress, completed, absent"),
        ('method="PUT"', "POST or GET"),
        ('timeLimit="ten"', "whole number"),
        ('recordingTrack="left"', "inbound, outbound or both"),
        ('trim="yes"', "trim-silence or do-not-trim"),
    ],
)
def test_dial_attributes_out_of_range_are_refused(attrs: str, says: str) -> None:
    with pytest.raises(TwimlError, match=says):
        parse_twiml(f"<Response><Dial {attrs}>+15550111</Dial></Response>")


def test_start_siprec_from_the_sdk_and_stop_siprec_by_name() -> None:
    response = voice.VoiceResponse()
    start = voice.Start()
    siprec = start.siprec(name="rec1", connector_name="gridspace", track="inbound_track",
                          status_callback="/siprec", status_callback_method="GET")  # fmt: skip
    siprec.parameter(name="agent", value="7")
    response.append(start)
    stop = voice.Stop()
    stop.siprec(name="rec1")
    response.append(stop)
    assert parse_twiml(str(response)) == (
        StartSiprec(Siprec("gridspace", "rec1", "inbound_track", "/siprec", "GET",
                           (("agent", "7"),))),
        StopSiprec("rec1"),
    )  # fmt: skip
    assert parse_twiml("<Response><Start><Siprec connectorName='c'/></Start></Response>") == (
        StartSiprec(Siprec("c")),
    )
    for bad, says in (
        ("<Siprec/>", "connectorName"),
        ("<Siprec connectorName='c' track='both'/>", "track"),
        ("<Siprec connectorName='c'><Stream/></Siprec>", "only <Parameter>"),
    ):
        with pytest.raises(TwimlError, match=says):
            parse_twiml(f"<Response><Start>{bad}</Start></Response>")
