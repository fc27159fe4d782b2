"""The Session Recording Server's side of SIPREC in the SIP core (sipgw.sip.srs, RFC 7866).

What makes an INVITE a recording session (``Require: siprec`` or ``+sip.src``), its
answer (each stream ``recvonly`` on a port of its own, labelled; anything else rejected),
and, through the user agent core on a fake clock (:class:`tests.sipgw.sip.ua_harness.Harness`),
the whole exchange: the offered call carries the recording session, the 200 says
``+sip.srs``, a re-INVITE keeps the streams and brings new metadata to the application, a
refusal carries its ``Unsupported``/``Require``.
"""

from __future__ import annotations

import pytest

from sipgw.sip.errors import SdpError
from sipgw.sip.events import (
    MediaUpdated,
    RecordingMetadataReceived,
    RecordingStreamsOffered,
    RecordingStreamsUpdated,
)
from sipgw.sip.message import SipResponse
from sipgw.sip.offeranswer import LocalMedia
from sipgw.sip.sdp import SessionDescription
from sipgw.sip.srs import (
    MAX_RECORDED_STREAMS,
    SRS_FEATURE,
    StreamChanges,
    recording_answer,
    recording_request,
    recording_streams,
    stream_changes,
)
from sipgw.sip.usages.modify import RECORDING_OFFER_WAIT
from tests.sipgw.sip.builders import SDP_OFFER, ack_for, invite, parse_request, request
from tests.sipgw.sip.test_rsmetadata import COMPLETE
from tests.sipgw.sip.ua_harness import Harness

RS_OFFER = (
    "v=0\r\no=SRC 2890844526 2890844526 IN IP4 198.51.100.1\r\ns=-\r\n"
    "c=IN IP4 198.51.100.1\r\nt=0 0\r\n"
    "m=audio 12240 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=label:96\r\na=sendonly\r\n"
    "m=video 12242 RTP/AVP 31\r\na=rtpmap:31 H261/90000\r\na=label:98\r\na=sendonly\r\n"
    "m=audio 12244 RTP/AVP 8\r\na=rtpmap:8 PCMA/8000\r\na=label:97\r\na=sendonly\r\n"
    "m=audio 0 RTP/AVP 0\r\na=label:99\r\na=sendonly\r\n"
)
BOUNDARY = "foobar"
MULTIPART = f"multipart/mixed;boundary={BOUNDARY}"


def rs_body(sdp: str = RS_OFFER, metadata: bytes = COMPLETE) -> str:
    return (
        f"--{BOUNDARY}\r\nContent-Type: application/sdp\r\n\r\n{sdp}"
        f"--{BOUNDARY}\r\nContent-Type: application/rs-metadata+xml\r\n"
        f"Content-Disposition: recording-session\r\n\r\n{metadata.decode()}\r\n--{BOUNDARY}--\r\n"
    )


def rs_invite(extra: str = "Require: siprec", **kwargs: object) -> bytes:
    return invite(body=rs_body(), content_type=MULTIPART, extra=extra, **kwargs)


# ------------------------------------------------------------------ what makes one


@pytest.mark.parametrize(
    ("extra", "contact", "required"),
    [
        ("Require: siprec", True, True),
        ("Require: timer, SIPREC", True, True),
        ("Contact: <sip:src@198.51.100.1>;+sip.src", False, False),
        ("Contact: <sip:src@198.51.100.1;+sip.src>", False, None),  # a URI parameter: no tag
        ("", True, None),
    ],
)
def test_a_recording_session_requires_siprec_or_its_contact_says_src(
    extra: str, contact: bool, required: bool | None
) -> None:
    message = parse_request(rs_invite(extra=extra, contact=contact))
    found = recording_request(message, SessionDescription.parse(RS_OFFER.encode()))
    if required is None:
        assert found is None
        return
    assert found is not None and found.required is required
    assert found.labels == ("96", "98", "97", "99")
    assert found.streams == (0, 2)  # audio, a port, sent by the SRC
    assert found.metadata.strip() == COMPLETE.strip()


def test_only_the_audio_lines_the_src_sends_are_recorded() -> None:
    offer = SessionDescription.parse(
        RS_OFFER.replace("a=label:97\r\na=sendonly", "a=label:97\r\na=recvonly").encode()
    )
    assert recording_streams(offer) == (0,)


def test_each_stream_is_answered_recvonly_on_its_port_with_its_label() -> None:
    offer = SessionDescription.parse(RS_OFFER.encode())
    local = LocalMedia("192.0.2.1", 9, "7", 1)
    answer, agreed = recording_answer(offer, local, {0: 30000, 2: 30002})
    assert [m.port for m in answer.media] == [30000, 0, 30002, 0]
    first, video, second, rejected = answer.media
    assert (first.direction, first.attribute("label"), first.formats) == ("recvonly", "96", ["0"])
    assert (second.direction, second.attribute("label"), second.formats) == ("recvonly", "97",
                                                                               ["8"])  # fmt: skip
    assert video.media == "video" and rejected.port == 0
    assert all(m.attribute("rtpmap") is None or "telephone-event" not in str(m.attribute("rtpmap"))
               for m in answer.media)  # fmt: skip
    assert agreed[0].remote_port == 12240 and agreed[0].codec == "PCMU"
    assert agreed[2].remote_port == 12244 and agreed[2].codec == "PCMA"
    assert agreed[2].media_index == 2 and not agreed[2].sends and agreed[2].receives
    # round trip: an SRC reads it as its own answer (sipgw.sip.siprec)
    assert SessionDescription.parse(answer.serialize()).media[2].attribute("label") == "97"


def test_a_stream_with_none_of_our_codecs_is_rejected_and_none_at_all_is_488() -> None:
    offer = SessionDescription.parse(RS_OFFER.replace("RTP/AVP 8", "RTP/AVP 18").replace(
        "a=rtpmap:8 PCMA/8000", "a=rtpmap:18 G729/8000").encode())  # fmt: skip
    answer, agreed = recording_answer(offer, LocalMedia("192.0.2.1", 9, "7", 1), {0: 1, 2: 3})
    assert list(agreed) == [0] and answer.media[2].port == 0
    with pytest.raises(SdpError) as refused:
        recording_answer(offer, LocalMedia("192.0.2.1", 9, "7", 1), {2: 3})
    assert refused.value.status_hint == 488


# ------------------------------------------------------------------ through the core


def test_the_core_offers_it_answers_it_as_srs_and_passes_new_metadata_on() -> None:
    h = Harness()
    h.feed(rs_invite())
    assert h.statuses() == [100]  # siprec is not refused with 420 by the core
    call = h.offered()
    assert call.recording is not None and call.recording.streams == (0, 2)
    agreed = h.act(h.ua.answer_recording, call, {0: 30000, 2: 30002})
    assert sorted(agreed) == [0, 2]  # type: ignore[call-overload]
    (ok,) = h.responses()
    assert ok.status == 200
    assert ok.headers.get("Contact", "").endswith(f";{SRS_FEATURE}")
    answer = SessionDescription.parse(ok.body)
    assert [(m.port, m.direction) for m in answer.media] == [
        (30000, "recvonly"), (0, None), (30002, "recvonly"), (0, None),
    ]  # fmt: skip
    h.feed(ack_for(ok))
    h.take()
    # RFC 7866 §8: a re-INVITE with new metadata; the streams stay where they are
    update = COMPLETE.replace(b'<name xml:lang="it">Alice</name>', b"<name>Alice B.</name>")
    h.feed(request("INVITE", cseq=2, to_tag=ok.to.tag, body=rs_body(metadata=update),
                   content_type=MULTIPART))  # fmt: skip
    (again,) = [r for r in h.responses() if r.status == 200]
    assert SessionDescription.parse(again.body).media == answer.media  # unchanged: same o=
    assert SessionDescription.parse(again.body).origin == answer.origin
    (received,) = h.of(RecordingMetadataReceived)
    assert received.call is call and b"Alice B." in received.metadata
    assert h.of(MediaUpdated)
    (streams,) = h.of(RecordingStreamsUpdated)
    assert [(m.media_index, m.direction) for m in streams.streams] == [
        (0, "recvonly"), (2, "recvonly"),
    ]  # fmt: skip
    # an UPDATE that moves a stream: answered on the same ports, our answer unchanged
    h.feed(ack_for(again, cseq=2))
    moved = RS_OFFER.replace("12244", "14000")
    h.feed(request("UPDATE", cseq=3, to_tag=ok.to.tag, body=rs_body(sdp=moved),
                   content_type=MULTIPART))  # fmt: skip
    (updated,) = [r for r in h.responses() if r.status == 200]
    third = SessionDescription.parse(updated.body)
    assert [m.port for m in third.media] == [30000, 0, 30002, 0]
    assert third.origin.session_version == answer.origin.session_version  # same answer
    assert len(h.of(RecordingMetadataReceived)) == 2


def test_a_refusal_carries_the_header_that_says_why() -> None:
    h = Harness()
    h.feed(rs_invite())
    h.take()
    h.act(h.ua.reject, h.offered(), 420, headers=(("Unsupported", "siprec"),))
    (refused,) = h.responses()
    assert refused.status == 420 and refused.headers.get("Unsupported") == "siprec"


def test_an_ordinary_call_is_no_recording_session() -> None:
    h = Harness()
    h.feed(invite(body=SDP_OFFER))
    assert h.offered().recording is None


def test_a_stream_aimed_at_an_address_we_may_not_send_to_refuses_the_answer() -> None:
    """Our RTCP reports go to each stream's address: the rule of a call's RTP
    (sipgw.sip.mediatarget) holds for every stream, not only the one chosen at the INVITE."""
    aimed = RS_OFFER.replace("a=label:97\r\n", "c=IN IP4 224.0.0.1\r\na=label:97\r\n")
    h = Harness()
    h.feed(invite(body=rs_body(sdp=aimed), content_type=MULTIPART, extra="Require: siprec"))
    h.take()
    call = h.offered()
    with pytest.raises(SdpError, match="not a unicast address") as refused:
        h.act(h.ua.answer_recording, call, {0: 30000, 2: 30002})
    assert refused.value.status_hint == 488
    assert not h.responses()  # nothing was sent: the application refuses it


def test_a_pause_is_answered_inactive_and_told_stream_by_stream() -> None:
    """RFC 7866 §8.1.2: the SRC pauses the recording with a re-INVITE, a=inactive."""
    h = Harness()
    h.feed(rs_invite())
    call = h.offered()
    h.act(h.ua.answer_recording, call, {0: 30000, 2: 30002})
    (ok,) = [r for r in h.responses() if r.status == 200]
    h.feed(ack_for(ok))
    h.take()
    paused = RS_OFFER.replace("a=sendonly", "a=inactive")
    h.feed(request("INVITE", cseq=2, to_tag=ok.to.tag, body=rs_body(sdp=paused),
                   content_type=MULTIPART))  # fmt: skip
    (answer,) = [r for r in h.responses() if r.status == 200]
    lines = SessionDescription.parse(answer.body).media
    assert [(m.port, m.direction) for m in lines] == [
        (30000, "inactive"), (0, None), (30002, "inactive"), (0, None),
    ]  # fmt: skip
    (update,) = h.of(RecordingStreamsUpdated)
    assert [m.direction for m in update.streams] == ["inactive", "inactive"]
    assert not any(m.receives for m in update.streams)


# ------------------------------------------------------------------ streams added, removed

CAROL = "m=audio 12246 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=label:100\r\na=sendonly\r\n"


def audio_lines(count: int) -> str:
    head = "v=0\r\no=SRC 1 1 IN IP4 198.51.100.1\r\ns=-\r\nc=IN IP4 198.51.100.1\r\nt=0 0\r\n"
    return head + "".join(
        f"m=audio {20000 + 2 * n} RTP/AVP 0\r\na=label:{n}\r\na=sendonly\r\n" for n in range(count)
    )


def test_a_new_offer_says_which_streams_it_adds_removes_and_refuses_over_the_bound() -> None:
    offer = SessionDescription.parse((RS_OFFER + CAROL).encode())
    assert stream_changes(offer, {0: 1, 2: 3}) == StreamChanges(added=(4,))
    assert stream_changes(offer, {0: 1, 2: 3, 4: 5}) == StreamChanges()
    removed = SessionDescription.parse(
        (RS_OFFER.replace("m=audio 12244", "m=audio 0") + CAROL).encode()
    )
    assert stream_changes(removed, {0: 1, 2: 3}) == StreamChanges(added=(4,), removed=(2,))
    many = SessionDescription.parse(audio_lines(MAX_RECORDED_STREAMS + 2).encode())
    recorded = {n: n for n in range(MAX_RECORDED_STREAMS - 1)}
    changes = stream_changes(many, recorded)
    assert changes.added == (MAX_RECORDED_STREAMS - 1,)
    assert changes.over == (MAX_RECORDED_STREAMS, MAX_RECORDED_STREAMS + 1)


def test_an_initial_offer_over_the_bound_records_the_first_streams_only() -> None:
    count = MAX_RECORDED_STREAMS + 1
    message = parse_request(invite(body=audio_lines(count), extra="Require: siprec"))
    found = recording_request(message, SessionDescription.parse(audio_lines(count).encode()))
    assert found is not None
    assert found.streams == tuple(range(MAX_RECORDED_STREAMS)) and found.over == (count - 1,)


def recording(h: Harness) -> SipResponse:
    h.feed(rs_invite())
    call = h.offered()
    h.act(h.ua.answer_recording, call, {0: 30000, 2: 30002})
    (ok,) = [r for r in h.responses() if r.status == 200]
    h.feed(ack_for(ok))
    h.take()
    return ok


def reoffer(h: Harness, ok: SipResponse, sdp: str, method: str = "INVITE", cseq: int = 2,
            metadata: bytes = COMPLETE) -> None:  # fmt: skip
    h.feed(request(method, cseq=cseq, to_tag=ok.to.tag, body=rs_body(sdp, metadata),
                   content_type=MULTIPART))  # fmt: skip


@pytest.mark.parametrize("method", ["INVITE", "UPDATE"])
def test_a_stream_added_waits_for_its_port_then_is_answered_recvonly(method: str) -> None:
    """RFC 7866 §8.1: a participant joins; the new stream gets a port of its own."""
    h = Harness()
    ok = recording(h)
    reoffer(h, ok, RS_OFFER + CAROL, method)
    assert h.statuses() == ([100] if method == "INVITE" else [])  # waits for the port
    kinds = [type(e) for e in h.events[-2:]]
    assert kinds == [RecordingMetadataReceived, RecordingStreamsOffered]  # names first
    (offered,) = h.of(RecordingStreamsOffered)
    assert (offered.indexes, offered.labels) == ((4,), ("100",))
    # another offer meanwhile: 500 with Retry-After (RFC 3261 §14.2, RFC 3311 §5.2)
    reoffer(h, ok, RS_OFFER, "UPDATE", cseq=3)
    (busy,) = h.responses()
    assert busy.status == 500 and busy.headers.get("Retry-After") is not None
    h.act(h.ua.answer_recording_offer, offered.call, {4: 30004})
    (answered,) = [r for r in h.responses() if r.status == 200]
    lines = SessionDescription.parse(answered.body).media
    assert [(m.port, m.direction, m.attribute("label")) for m in lines] == [
        (30000, "recvonly", "96"), (0, None, None), (30002, "recvonly", "97"),
        (0, None, None), (30004, "recvonly", "100"),
    ]  # fmt: skip
    update = h.of(RecordingStreamsUpdated)[-1]
    assert [m.media_index for m in update.streams] == [0, 2, 4] and update.removed == ()
    assert len(h.of(RecordingMetadataReceived)) == 1  # not again at the answer


def test_a_stream_given_no_port_in_time_is_rejected_and_a_removed_one_ends() -> None:
    h = Harness()
    ok = recording(h)
    reoffer(h, ok, RS_OFFER + CAROL)
    h.take()
    h.advance(h.now + RECORDING_OFFER_WAIT)  # the application never answered
    (answered,) = [r for r in h.responses() if r.status == 200]
    assert [m.port for m in SessionDescription.parse(answered.body).media][4] == 0
    assert h.of(RecordingStreamsUpdated)[-1].refused == (4,)
    h.feed(ack_for(answered, cseq=2))
    # RFC 3264 §8.2: the SRC removes stream 97 (port 0); its port is no longer ours
    reoffer(h, ok, RS_OFFER.replace("m=audio 12244", "m=audio 0"), "UPDATE", cseq=3)
    (removed,) = [r for r in h.responses() if r.status == 200]
    assert [m.port for m in SessionDescription.parse(removed.body).media][:3] == [30000, 0, 0]
    update = h.of(RecordingStreamsUpdated)[-1]
    assert [m.media_index for m in update.streams] == [0] and update.removed == (2,)
    # its line reused by a new stream later (RFC 3264 §8.3): a new stream, a new port
    reoffer(h, ok, RS_OFFER.replace("a=label:97", "a=label:101"), "UPDATE", cseq=4)
    assert h.of(RecordingStreamsOffered)[-1].indexes == (2,)


def test_a_bye_while_new_streams_wait_gets_the_reinvite_a_487() -> None:
    h = Harness()
    ok = recording(h)
    reoffer(h, ok, RS_OFFER + CAROL)
    h.take()
    h.feed(request("BYE", cseq=3, to_tag=ok.to.tag, content_type=None))
    assert sorted(h.statuses()) == [200, 487]
    assert h.ended()
