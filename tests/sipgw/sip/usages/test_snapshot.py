"""The SRS's metadata snapshot request (sipgw.sip.usages.snapshot, RFC 7866 §9.3).

Through the user agent core on a fake clock: a recording session that came without
metadata asks its SRC once the dialog is confirmed, with an UPDATE whose body is an
``application/rs-metadata-request`` (``Content-Disposition: recording-session``, the reason
as its text); the SRC's answer comes back as an event; the snapshot it then sends in a
re-INVITE reaches the application as any new metadata does; the requests are bounded.
"""

from __future__ import annotations

import pytest

from sipgw.sip.errors import InvalidState
from sipgw.sip.events import RecordingMetadataReceived, RecordingSnapshotAnswered
from sipgw.sip.message import SipResponse, make_response
from sipgw.sip.usages.snapshot import MAX_SNAPSHOT_REQUESTS, REQUEST_TYPE
from tests.sipgw.sip.builders import ack_for, invite, request
from tests.sipgw.sip.test_rsmetadata import COMPLETE
from tests.sipgw.sip.test_srs import BOUNDARY, MULTIPART, RS_OFFER, rs_body
from tests.sipgw.sip.ua_harness import Harness


def no_metadata(allow: str = "INVITE, ACK, BYE, UPDATE") -> tuple[Harness, SipResponse]:
    """A recording session whose INVITE has only its SDP, answered; not yet ACKed."""
    h = Harness()
    extra = "Require: siprec" + (f"\r\nAllow: {allow}" if allow else "")
    h.feed(invite(body=RS_OFFER, extra=extra))
    call = h.offered()
    assert call.recording is not None and call.recording.metadata == b""
    h.act(h.ua.answer_recording, call, {0: 30000, 2: 30002})
    (ok,) = [r for r in h.responses() if r.status == 200]
    return h, ok


def test_the_srs_asks_once_confirmed_and_the_snapshot_comes_in_a_reinvite() -> None:
    h, ok = no_metadata()
    call = h.offered()
    with pytest.raises(InvalidState):  # not before the ACK: the dialog is not confirmed
        h.act(h.ua.request_recording_metadata, call, "no metadata")
    h.feed(ack_for(ok))
    h.take()
    assert h.act(h.ua.request_recording_metadata, call, "the INVITE had\r\nno metadata")
    (asked,) = h.requests()
    assert asked.method == "UPDATE" and asked.to.tag == "caller-tag"  # in the dialog
    assert asked.headers.get("Content-Type") == REQUEST_TYPE
    assert asked.headers.get("Content-Disposition") == "recording-session"
    assert asked.headers.get("Contact", "").endswith(";+sip.srs")
    assert asked.body == b"the INVITE had no metadata\r\n"  # one line of text
    h.feed(make_response(asked, 200).serialize())
    (answered,) = h.of(RecordingSnapshotAnswered)
    assert (answered.call, answered.status) == (call, 200)
    # the SRC's snapshot: a re-INVITE with the complete metadata
    h.feed(request("INVITE", cseq=2, to_tag=ok.to.tag, body=rs_body(metadata=COMPLETE),
                   content_type=MULTIPART))  # fmt: skip
    (snapshot,) = h.of(RecordingMetadataReceived)
    assert snapshot.metadata.strip() == COMPLETE.strip() and BOUNDARY not in str(snapshot)


def test_the_requests_are_bounded_whatever_the_src_does() -> None:
    h, ok = no_metadata()
    call = h.offered()
    h.feed(ack_for(ok))
    sent = [h.act(h.ua.request_recording_metadata, call, "again") for _ in range(5)]
    assert sent == [True] * MAX_SNAPSHOT_REQUESTS + [False] * (5 - MAX_SNAPSHOT_REQUESTS)
    assert len([r for r in h.requests() if r.method == "UPDATE"]) == MAX_SNAPSHOT_REQUESTS


def test_an_src_that_does_not_allow_update_is_not_asked() -> None:
    h, ok = no_metadata(allow="INVITE, ACK, BYE")
    h.feed(ack_for(ok))
    h.take()
    assert not h.act(h.ua.request_recording_metadata, h.offered(), "no metadata")
    assert not h.requests()


def test_an_unanswered_request_is_reported_as_408_and_an_ordinary_call_is_never_asked() -> None:
    h, ok = no_metadata(allow="")  # no Allow at all: UPDATE may be tried
    h.feed(ack_for(ok))
    assert h.act(h.ua.request_recording_metadata, h.offered(), "no metadata")
    h.advance(h.now + 40)  # Timer F
    assert [e.status for e in h.of(RecordingSnapshotAnswered)] == [408]
    plain = Harness()
    plain.feed(invite(call_id="plain@192.0.2.10"))
    call = plain.offered()
    plain.act(plain.ua.answer, call, 30000)
    (answer,) = [r for r in plain.responses() if r.status == 200]
    plain.feed(ack_for(answer))
    with pytest.raises(InvalidState):
        plain.act(plain.ua.request_recording_metadata, call, "why not")
