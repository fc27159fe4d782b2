"""``<Dial><Conference>`` read (twilio/conferencetwiml.py): the TwiML the official ``twilio``
SDK writes, Twilio's defaults, values out of Twilio's sets refused, what is not followed
named with its reason."""

from __future__ import annotations

import pytest
from twilio.twiml.voice_response import Dial, VoiceResponse

from sipgw.twilio.conferencetwiml import IGNORED, Conference, read_conference
from sipgw.twilio.document import DialConference, TwimlError, parse_twiml


def parsed(**attrs: object) -> DialConference:
    response = VoiceResponse()
    dial = Dial(action="/after", hangup_on_star=True, time_limit=60)
    dial.conference("  Team Room  ", **attrs)
    response.append(dial)
    (verb,) = parse_twiml(str(response))
    assert isinstance(verb, DialConference)
    return verb


def test_twilios_defaults() -> None:
    verb = parsed()
    assert verb.conference == Conference("Team Room")
    conf = verb.conference
    assert conf.beep_on_enter and conf.beep_on_exit and conf.start_on_enter
    assert not conf.muted and not conf.end_on_exit and conf.max_participants == 250
    assert conf.wait_url is None and conf.status_callback_events == frozenset()
    assert (verb.dial.action, verb.dial.hangup_on_star, verb.dial.time_limit) == (
        "/after",
        True,
        60,
    )
    assert verb.dial.targets == ()


def test_every_followed_attribute_as_the_sdk_writes_it() -> None:
    conf = parsed(
        muted=True, beep="onExit", start_conference_on_enter=False,
        end_conference_on_exit=True, wait_url="", wait_method="GET", max_participants=5,
        status_callback="/s", status_callback_method="GET",
        status_callback_event="start end join leave", participant_label="host",
    ).conference  # fmt: skip
    assert conf == Conference(
        "Team Room", muted=True, beep="onExit", start_on_enter=False, end_on_exit=True,
        wait_url="", wait_method="GET", max_participants=5, status_callback="/s",
        status_callback_method="GET", status_callback_events=frozenset(
            {"start", "end", "join", "leave"}), participant_label="host",
    )  # fmt: skip
    assert not conf.beep_on_enter and conf.beep_on_exit


def test_what_is_not_followed_is_named_with_its_reason() -> None:
    conf = parsed(region="ie1", coach="CA" + "1" * 32, jitter_buffer_size="small",
                  event_callback_url="/e", recording_configuration_id="RC1").conference  # fmt: skip
    names = ("region", "jitterBufferSize", "eventCallbackUrl", "recordingConfigurationId")
    assert dict(conf.ignored) == {name: IGNORED[name] for name in names}
    assert conf.coach == "CA" + "1" * 32  # followed: only that participant hears this one
    # Twilio's defaults said out loud are no request for anything
    assert parsed(record="do-not-record", jitter_buffer_size="large").conference.ignored == ()


def test_the_recording_attributes() -> None:
    conf = parsed(record="record-from-start", trim="do-not-trim", recording_status_callback="/r",
                  recording_status_callback_method="GET",
                  recording_status_callback_event="completed absent").conference  # fmt: skip
    assert conf.record and not conf.trim and conf.ignored == ()
    assert (conf.recording_status_callback, conf.recording_status_callback_method) == ("/r", "GET")
    assert conf.recording_status_callback_events == {"completed", "absent"}
    default = parsed().conference
    assert not default.record and default.trim
    assert default.recording_status_callback_events == {"completed"}
    assert read_conference({"bogus": "1"}, "r").ignored == (
        ("bogus", "not a <Conference> attribute"),
    )


@pytest.mark.parametrize(
    ("attrs", "says"),
    [
        ({"beep": "loud"}, "beep"),
        ({"muted": "yes"}, "muted"),
        ({"maxParticipants": "many"}, "maxParticipants"),
        ({"statusCallbackEvent": "start talking"}, "talking"),
        ({"waitMethod": "PUT"}, "waitMethod"),
        ({"record": "record-from-answer"}, "record"),
        ({"trim": "maybe"}, "trim"),
        ({"recordingStatusCallbackEvent": "done"}, "recordingStatusCallbackEvent"),
    ],
)
def test_values_out_of_twilios_sets_are_refused(attrs: dict[str, str], says: str) -> None:
    with pytest.raises(ValueError, match=says):
        read_conference(attrs, "r")
    xml = "".join(f' {k}="{v}"' for k, v in attrs.items())
    with pytest.raises(TwimlError, match=says):
        parse_twiml(f"<Response><Dial><Conference{xml}>r</Conference></Dial></Response>")


def test_max_participants_is_kept_within_twilios_range_and_a_name_is_needed() -> None:
    assert read_conference({"maxParticipants": "1"}, "r").max_participants == 2
    assert read_conference({"maxParticipants": "900"}, "r").max_participants == 250
    assert read_conference({"beep": "ONENTER"}, "r").beep == "onEnter"
    with pytest.raises(ValueError, match="room name"):
        read_conference({}, "  ")
