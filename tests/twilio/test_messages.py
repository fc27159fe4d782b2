"""Twilio Media Streams messages: the docs' examples parse, ours are built as the docs show.

The JSON below is the examples of Twilio's "Media Streams - WebSocket Messages" page, as
published (numbers written as strings, the payload abbreviated there, made valid here).
"""

from __future__ import annotations

import base64
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sipgw.twilio.messages import (
    MAX_MESSAGE_CHARS,
    DtmfReceived,
    MalformedMessage,
    MarkEchoed,
    MediaFormat,
    MediaReceived,
    OtherEvent,
    StreamConnected,
    StreamStarted,
    StreamStopped,
    clear_message,
    mark_message,
    media_message,
    parse_message,
)

SID = "MZXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX"
AUDIO = bytes(range(160))
PAYLOAD = base64.b64encode(AUDIO).decode()

CONNECTED = '{"event": "connected", "protocol": "Call", "version": "1.0.0"}'
START = """{
  "event": "start",
  "sequenceNumber": "1",
  "start": {
    "accountSid": "ACXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX",
    "streamSid": "MZXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX",
    "callSid": "CAXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX",
    "tracks": [ "inbound" ],
    "mediaFormat": { "encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1 },
    "customParameters": { "FirstName": "Jane", "LastName": "Doe", "RemoteParty": "Bob" }
  },
  "streamSid": "MZXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX"
}"""
MEDIA = (
    '{"event": "media", "sequenceNumber": "4", "media": {"track": "inbound", "chunk": "2", '
    f'"timestamp": "5", "payload": "{PAYLOAD}"}}, "streamSid": "{SID}"}}'
)
DTMF = (
    f'{{"event": "dtmf", "streamSid": "{SID}", "sequenceNumber": "5", '
    '"dtmf": {"track": "inbound_track", "digit": "1"}}'
)
MARK = (
    f'{{"event": "mark", "sequenceNumber": "4", "streamSid": "{SID}", '
    '"mark": {"name": "my label"}}'
)
STOP = (
    '{"event": "stop", "sequenceNumber": "5", '
    '"stop": {"accountSid": "ACXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX",'
    f' "callSid": "CAXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX"}}, "streamSid": "{SID}"}}'
)


def test_the_docs_examples_parse() -> None:
    assert parse_message(CONNECTED) == StreamConnected("Call", "1.0.0")
    start = parse_message(START)
    assert start == StreamStarted(
        stream_sid=SID,
        call_sid="CAXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX",
        account_sid="ACXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX",
        tracks=("inbound",),
        custom_parameters={"FirstName": "Jane", "LastName": "Doe", "RemoteParty": "Bob"},
        media_format=MediaFormat("audio/x-mulaw", 8000, 1),
        sequence_number=1,
    )
    assert parse_message(MEDIA) == MediaReceived(SID, "inbound", 2, 5, AUDIO, 4)
    assert parse_message(DTMF) == DtmfReceived(SID, "1", "inbound_track", 5)
    assert parse_message(MARK) == MarkEchoed(SID, "my label", 4)
    assert parse_message(STOP) == StreamStopped(
        SID, "CAXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX", "ACXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX", 5
    )


def test_numbers_may_be_json_integers_and_fields_have_defaults() -> None:
    text = json.dumps(
        {"event": "media", "streamSid": SID,
         "media": {"chunk": 7, "timestamp": 120, "payload": PAYLOAD}}
    )  # fmt: skip
    assert parse_message(text) == MediaReceived(SID, "inbound", 7, 120, AUDIO)
    minimal = json.dumps({"event": "start", "start": {"streamSid": SID}})
    started = parse_message(minimal)
    assert isinstance(started, StreamStarted)
    assert started.media_format == MediaFormat() and started.custom_parameters == {}
    assert parse_message('{"event": "dtmf", "dtmf": {"digit": "a"}}') == DtmfReceived("", "A")


def test_an_event_the_docs_do_not_list_is_kept_not_refused() -> None:
    assert parse_message('{"event": "pong", "anything": [1, 2]}') == OtherEvent("pong")


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (b'{"event": "connected"}', "binary frame"),
        ("x" * (MAX_MESSAGE_CHARS + 1), "character message"),
        ("{not json", "not JSON"),
        ("[1, 2]", "not a JSON object"),
        ('{"protocol": "Call"}', "'event'"),
        ('{"event": 3}', "'event'"),
        ('{"event": "media", "media": {}}', "'payload'"),
        ('{"event": "media", "media": {"payload": "***"}}', "base64"),
        ('{"event": "media", "media": {"payload": "", "chunk": "-1"}}', "'chunk'"),
        ('{"event": "media", "media": {"payload": "", "chunk": true}}', "'chunk'"),
        ('{"event": "media", "media": {"payload": "", "timestamp": "1e3"}}', "'timestamp'"),
        ('{"event": "media", "media": {"payload": "", "timestamp": "9999999999999999"}}',
         "too many digits"),
        ('{"event": "media", "media": "AAAA"}', "'media' object"),
        ('{"event": "start", "start": {}}', "streamSid"),
        ('{"event": "start", "start": {"streamSid": "MZ1", "tracks": "inbound"}}', "tracks"),
        ('{"event": "start", "start": {"streamSid": "MZ1", "customParameters": {"a": 1}}}',
         "customParameters"),
        ('{"event": "start", "start": {"streamSid": "MZ1", "mediaFormat": {"sampleRate": "8k"}}}',
         "sampleRate"),
        ('{"event": "dtmf", "dtmf": {"digit": "12"}}', "keypad"),
        ('{"event": "dtmf", "dtmf": {"digit": "X"}}', "keypad"),
        ('{"event": "mark", "mark": {}}', "'name'"),
        ('{"event": "mark", "mark": {"name": 5}}', "not a string"),
        ('{"event": "mark", "sequenceNumber": "x", "mark": {"name": "a"}}', "sequenceNumber"),
        ("[" * 60_000, "not JSON"),
    ],
)  # fmt: skip
def test_malformed_messages_raise_one_documented_error(text: str | bytes, reason: str) -> None:
    with pytest.raises(MalformedMessage, match=reason):
        parse_message(text)


def test_our_messages_have_the_shapes_the_docs_show() -> None:
    assert json.loads(media_message(SID, AUDIO)) == {
        "event": "media", "streamSid": SID, "media": {"payload": PAYLOAD},
    }  # fmt: skip
    assert json.loads(mark_message(SID, "my label")) == {
        "event": "mark", "streamSid": SID, "mark": {"name": "my label"},
    }  # fmt: skip
    assert json.loads(clear_message(SID)) == {"event": "clear", "streamSid": SID}


@settings(max_examples=200)
@given(st.text(max_size=40), st.binary(max_size=400))
def test_a_media_message_built_without_the_encoder_is_the_encoders(sid: str, audio: bytes) -> None:
    payload = base64.b64encode(audio).decode("ascii")
    assert json.loads(media_message(sid, audio)) == {
        "event": "media", "streamSid": sid, "media": {"payload": payload},
    }  # fmt: skip


@pytest.mark.parametrize(
    "payload", ["AAE", "AA==AA==", "AA=A", "AAECAw==\n", "AA\u00e9A", "AAEC AwQ="]
)  # fmt: skip
def test_a_payload_is_strict_base64(payload: str) -> None:
    text = json.dumps({"event": "media", "media": {"payload": payload}})
    with pytest.raises(MalformedMessage, match="base64"):
        parse_message(text)


# -- fuzzing: any text is an event or MalformedMessage, never another exception ----------------

_scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
_json = st.recursive(
    _scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=12,
)
_fields = st.sampled_from(
    ["streamSid", "payload", "chunk", "timestamp", "track", "digit", "name", "tracks",
     "customParameters", "mediaFormat", "sampleRate", "encoding", "channels", "callSid"]
)  # fmt: skip
_objects = st.dictionaries(_fields, _json | st.just(PAYLOAD) | st.just("12"), max_size=6)
_messages = st.builds(
    lambda event, body, top: {"event": event, **top, **{key: body for key in ("media", "start",
                              "mark", "dtmf", "stop")}},
    st.sampled_from(["connected", "start", "media", "mark", "dtmf", "stop", "other"]),
    _objects | _json,
    st.dictionaries(st.sampled_from(["sequenceNumber", "streamSid"]), _json, max_size=2),
)  # fmt: skip


def _parses_or_refuses(text: str) -> None:
    try:
        parse_message(text)
    except MalformedMessage:
        pass


@settings(max_examples=400, deadline=None)
@given(_messages)
def test_any_shaped_message_parses_or_is_refused(message: dict[str, object]) -> None:
    _parses_or_refuses(json.dumps(message))


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_any_text_parses_or_is_refused(text: str) -> None:
    _parses_or_refuses(text)
