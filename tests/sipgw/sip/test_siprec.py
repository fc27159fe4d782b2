"""SIPREC's Session Recording Client side (sipgw/sip/siprec.py), sans-IO: the offer's two
labelled ``sendonly`` streams, the RFC 7865 metadata, the multipart body, and SRS answers
shaped as RFC 7866 §8.1.1's (two ``recvonly`` streams), one rejected, one that will not
receive, and one that does not match."""

from __future__ import annotations

import random
import xml.etree.ElementTree as ET

import pytest

from sipgw.sip.body import sdp_body
from sipgw.sip.errors import SdpError
from sipgw.sip.headers import Headers
from sipgw.sip.message import SipRequest
from sipgw.sip.offeranswer import LocalMedia
from sipgw.sip.sdp import SessionDescription
from sipgw.sip.siprec import (
    LABELS,
    METADATA_TYPE,
    NAMESPACE,
    RecordingMetadata,
    accept_recording_answer,
    multipart_body,
    recording_offer,
)

LOCAL = LocalMedia(address="192.0.2.10", port=30000, session_id="1", session_version=1)
NS = {"r": NAMESPACE}


def srs_answer(first: str = "recvonly", second: str = "recvonly", port2: int = 10002) -> bytes:
    """An SRS's answer as RFC 7866 §8.1.1 draws it: each stream received, labels echoed."""
    return (
        "v=0\r\no=SRS 0 0 IN IP4 198.51.100.20\r\ns=-\r\nc=IN IP4 198.51.100.20\r\nt=0 0\r\n"
        f"m=audio 10000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=label:1\r\na={first}\r\n"
        f"m=audio {port2} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=label:2\r\na={second}\r\n"
    ).encode()


def test_the_offer_has_one_sendonly_labelled_line_per_stream_and_no_dtmf() -> None:
    offer = recording_offer(LOCAL, (30000, 30002))
    reparsed = SessionDescription.parse(offer.serialize())
    assert [m.port for m in reparsed.media] == [30000, 30002]
    for media, label in zip(reparsed.media, LABELS, strict=True):
        assert media.attribute("label") == label
        assert reparsed.direction(media) == "sendonly"
        assert media.formats == ["0", "8"]  # PCMU, PCMA: no telephone-event
    with pytest.raises(ValueError):
        recording_offer(LOCAL, (30000, 30002, 30004))
    (alone,) = recording_offer(LOCAL, (30004,), ("2",)).media  # the callee's side only
    assert (alone.port, alone.attribute("label")) == (30004, "2")


def test_an_srs_receiving_both_streams_gives_where_each_goes() -> None:
    offer = recording_offer(LOCAL, (30000, 30002))
    first, second = accept_recording_answer(offer, SessionDescription.parse(srs_answer()))
    assert first is not None and second is not None
    assert (first.remote_address, first.remote_port, first.codec) == (
        "198.51.100.20",
        10000,
        "PCMU",
    )
    assert (second.remote_port, second.direction) == (10002, "sendonly")


def test_a_stream_rejected_or_not_received_is_not_sent() -> None:
    offer = recording_offer(LOCAL, (30000, 30002))
    answer = SessionDescription.parse(srs_answer(port2=0))
    first, second = accept_recording_answer(offer, answer)
    assert first is not None and second is None  # port 0: rejected (RFC 3264 §8.2)
    answer = SessionDescription.parse(srs_answer(first="inactive"))
    first, second = accept_recording_answer(offer, answer)
    assert first is None and second is not None


def test_an_answer_with_another_number_of_lines_is_refused() -> None:
    offer = recording_offer(LOCAL, (30000, 30002))
    one_line = SessionDescription.parse(srs_answer().split(b"m=audio 10002")[0])
    with pytest.raises(SdpError) as caught:
        accept_recording_answer(offer, one_line)
    assert caught.value.status_hint == 488


def test_the_metadata_says_who_sends_and_receives_each_labelled_stream() -> None:
    rng = random.Random(7866)
    meta = RecordingMetadata.new(rng, "2026-11-26T20:41:07Z", ("sip:+15551230000@pbx.example",
                                 "Alice & Co"), ("sip:agent@sipgw.example", ""))  # fmt: skip
    xml = meta.to_xml()
    assert xml.startswith(b'<?xml version="1.0" encoding="UTF-8"?>')
    root = ET.fromstring(xml)
    assert root.tag == f"{{{NAMESPACE}}}recording"
    assert root.findtext("r:datamode", namespaces=NS) == "complete"
    session = root.find("r:session", NS)
    assert session is not None and session.get("session_id") == meta.session_id
    assert session.findtext("r:start-time", namespaces=NS) == "2026-11-26T20:41:07Z"
    assert session.find("r:sipSessionID", NS) is None  # none given
    people = {p.get("participant_id"): p for p in root.findall("r:participant", NS)}
    alice = people[meta.caller.participant_id].find("r:nameID", NS)
    assert alice is not None and alice.get("aor") == "sip:+15551230000@pbx.example"
    assert alice.findtext("r:name", namespaces=NS) == "Alice & Co"  # escaped, read back
    assert len(root.findall("r:participantsessionassoc", NS)) == 2
    labels = {s.get("stream_id"): s.findtext("r:label", namespaces=NS)
              for s in root.findall("r:stream", NS)}  # fmt: skip
    assert labels == {meta.caller.stream_id: "1", meta.callee.stream_id: "2"}
    sends = {a.get("participant_id"): (a.findtext("r:send", namespaces=NS),
             a.findtext("r:recv", namespaces=NS))
             for a in root.findall("r:participantstreamassoc", NS)}  # fmt: skip
    assert sends == {
        meta.caller.participant_id: (meta.caller.stream_id, meta.callee.stream_id),
        meta.callee.participant_id: (meta.callee.stream_id, meta.caller.stream_id),
    }
    ids = {meta.session_id, meta.caller.participant_id, meta.callee.participant_id,
           meta.caller.stream_id, meta.callee.stream_id}  # fmt: skip
    assert len(ids) == 5 and all(len(i) == 24 and i.endswith("==") for i in ids)
    # the caller's side alone: one stream, which the callee receives and sends none
    alone = RecordingMetadata.new(
        rng, "t", ("sip:a@x", ""), ("sip:b@y", ""), recorded=(True, False)
    )
    root = ET.fromstring(alone.to_xml())
    assert [s.findtext("r:label", namespaces=NS) for s in root.findall("r:stream", NS)] == ["1"]
    lists = {a.get("participant_id"): ([e.text for e in a.findall("r:send", NS)],
             [e.text for e in a.findall("r:recv", NS)])
             for a in root.findall("r:participantstreamassoc", NS)}  # fmt: skip
    assert lists == {alone.caller.participant_id: ([alone.caller.stream_id], []),
                     alone.callee.participant_id: ([], [alone.caller.stream_id])}  # fmt: skip
    with_id = RecordingMetadata("s", "t", meta.caller, meta.callee, "ab30317f1a784dc4")
    session = ET.fromstring(with_id.to_xml()).find("r:session", NS)
    assert session is not None and session.findtext("r:sipSessionID", namespaces=NS)


def test_the_body_is_multipart_sdp_first_metadata_second_and_reads_back() -> None:
    rng = random.Random(1)
    sdp = recording_offer(LOCAL, (30000, 30002)).serialize()
    meta = RecordingMetadata.new(rng, "2026-11-26T20:41:07Z", ("sip:a@x", ""), ("sip:b@y", ""))
    content_type, body = multipart_body(sdp, meta.to_xml(), "siprec7866")
    assert content_type == "multipart/mixed;boundary=siprec7866"
    headers = Headers()
    headers.add("Content-Type", content_type)
    request = SipRequest("INVITE", "sip:srs@198.51.100.20", headers, body)
    assert sdp_body(request) == sdp.removesuffix(b"\r\n")
    assert b"Content-Type: " + METADATA_TYPE.encode() in body
    assert b"Content-Disposition: recording-session\r\n" in body
    assert body.endswith(b"--\r\n")
    with pytest.raises(ValueError):
        multipart_body(b"v=0 --x", b"", "x")  # the boundary occurs in a part
