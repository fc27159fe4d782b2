"""``<Start><Transcription>``/``<Stop><Transcription>`` read from TwiML the official SDK
writes, and the forms of the transcription's status callbacks."""

from __future__ import annotations

import json

import pytest
from twilio.twiml.voice_response import Start, Stop, VoiceResponse

from sipgw.twilio.document import TwimlError, parse_twiml
from sipgw.twilio.transcriptiontwiml import (
    StartTranscription,
    StopTranscription,
    Transcription,
    TranscriptionEvents,
    read_transcription,
)


def test_every_attribute_and_child_the_sdk_writes_is_read() -> None:
    response = VoiceResponse()
    start = Start()
    noun = start.transcription(
        name="notes", track="inbound_track", status_callback_url="/events",
        status_callback_method="GET", inbound_track_label="caller", outbound_track_label="bot",
        partial_results=True, language_code="es-ES", transcription_engine="deepgram",
        profanity_filter=False, speech_model="nova-3", hints="pay, bill",
        enable_automatic_punctuation=False, intelligence_service="GAxx",
    )  # fmt: skip
    noun.config(name="x", value="1")
    noun.parameter(name="crm", value="42")
    response.append(start)
    stop = Stop()
    stop.transcription(name="notes")
    response.append(stop)
    started, stopped = parse_twiml(str(response))
    assert started == StartTranscription(Transcription(
        name="notes", track="inbound_track", status_callback_url="/events",
        status_callback_method="GET", language_code="es-ES", transcription_engine="deepgram",
        speech_model="nova-3", profanity_filter=False, partial_results=True,
        hints=("pay", "bill"), enable_automatic_punctuation=False, inbound_track_label="caller",
        outbound_track_label="bot", intelligence_service="GAxx", config=(("x", "1"),),
        parameters=(("crm", "42"),),
    ))  # fmt: skip
    assert stopped == StopTranscription("notes")


def test_the_defaults_are_twilios_and_bad_values_are_twiml_errors() -> None:
    (verb,) = parse_twiml("<Response><Start><Transcription/></Start></Response>")
    assert isinstance(verb, StartTranscription)
    noun = verb.transcription
    assert noun.tracks == ("inbound_track", "outbound_track")
    assert (noun.status_callback_method, noun.language_code, noun.profanity_filter,
            noun.partial_results) == ("POST", "en-US", True, False)  # fmt: skip
    for bad in ('track="both"', 'partialResults="yes"', 'statusCallbackMethod="PUT"'):
        with pytest.raises(TwimlError):
            parse_twiml(f"<Response><Start><Transcription {bad}/></Start></Response>")
    with pytest.raises(TwimlError):
        parse_twiml("<Response><Start><Transcription><Say/></Transcription></Start></Response>")


def test_the_forms_are_numbered_in_order_with_twilios_fields() -> None:
    noun = Transcription(name="notes", track="inbound_track", partial_results=True)
    events = TranscriptionEvents(noun, "AC1", "CA1", "GT1", clock=lambda: "2026-11-26T18:00:00Z")
    started = events.started()
    partial = events.content("inbound_track", "I want", None, final=False)
    final = events.content("inbound_track", "I want to pay.", 0.9123456, final=True)
    stopped = events.stopped()
    error = events.error("it broke")
    assert [f["SequenceId"] for f in (started, partial, final, stopped, error)] == [
        "1", "2", "3", "4", "5"]  # fmt: skip
    assert [f["TranscriptionEvent"] for f in (started, final, stopped, error)] == [
        "transcription-started", "transcription-content", "transcription-stopped",
        "transcription-error"]  # fmt: skip
    for form in (started, final, stopped):
        assert (form["AccountSid"], form["CallSid"], form["TranscriptionSid"],
                form["Timestamp"]) == ("AC1", "CA1", "GT1", "2026-11-26T18:00:00Z")  # fmt: skip
    assert started["Name"] == "notes" and started["Track"] == "inbound_track"
    assert started["PartialResults"] == "true"
    assert json.loads(started["ProviderConfiguration"])["profanityFilter"] == "true"
    # partialResults: Stability on every content, no confidence (Twilio's page's rule)
    assert json.loads(final["TranscriptionData"]) == {"transcript": "I want to pay."}
    assert final["Final"] == "true" and final["Track"] == "inbound_track"
    assert final["Stability"] == "1.0"
    assert json.loads(partial["TranscriptionData"]) == {"transcript": "I want"}
    assert partial["Final"] == "false" and partial["Stability"] == "0.0"
    assert error["TranscriptionError"] == "it broke"


def test_without_partial_results_content_has_a_confidence_and_no_stability() -> None:
    events = TranscriptionEvents(Transcription(), "AC1", "CA1", "GT1")
    final = events.content("outbound_track", "Hello there.", 0.9123456, final=True)
    assert json.loads(final["TranscriptionData"]) == {"transcript": "Hello there.",
                                                      "confidence": 0.912346}  # fmt: skip
    assert "Stability" not in final and final["LanguageCode"] == "en-US"
    partial = TranscriptionEvents(Transcription(partial_results=True), "AC1", "CA1", "GT1")
    half = partial.content("inbound_track", "Hello", 0.5, final=False, stability=0.666)
    assert half["Stability"] == "0.67" and "confidence" not in half["TranscriptionData"]


def test_provider_configuration_names_the_default_model_and_the_hints() -> None:
    plain = TranscriptionEvents(Transcription(), "AC1", "CA1", "GT1").started()
    assert json.loads(plain["ProviderConfiguration"]) == {
        "profanityFilter": "true", "speechModel": "telephony",
        "enableAutomaticPunctuation": "true"}  # fmt: skip
    assert (plain["Track"], plain["TranscriptionEngine"], plain["PartialResults"],
            plain["LanguageCode"]) == ("both_tracks", "google", "false", "en-US")  # fmt: skip
    noun = Transcription(speech_model="long", hints=("Alice Johnson", "ACME Corp"))
    started = TranscriptionEvents(noun, "AC1", "CA1", "GT1").started()
    provider = json.loads(started["ProviderConfiguration"])
    assert provider["speechModel"] == "long" and provider["hints"] == "Alice Johnson, ACME Corp"


def test_the_conversation_orchestrator_attributes_are_kept() -> None:
    noun = read_transcription({"conversationConfiguration": "cfg1", "conversationId": "c2"}, [])
    assert (noun.conversation_configuration, noun.conversation_id) == ("cfg1", "c2")
