"""Reading SIPREC recording metadata (sipgw.sip.rsmetadata, RFC 7865): who sends which stream.

The documents are RFC 7865's own shapes: the complete metadata of its §6 (as RFC 7866 §12.1's
example sends it), a partial update (§6.1), the drafts' form some SRCs still write, and what
sipgw's own SRC writes (:class:`sipgw.sip.siprec.RecordingMetadata`); hostile ones are refused
with a 400 hint and never parsed.
"""

from __future__ import annotations

import random

import pytest

from sipgw.sip.errors import RemoteProtocolError
from sipgw.sip.rsmetadata import (
    MAX_METADATA_BYTES,
    MetadataParticipant,
    MetadataStream,
    RsMetadata,
    parse_metadata,
)
from sipgw.sip.siprec import RecordingMetadata

COMPLETE = b"""<?xml version="1.0" encoding="UTF-8"?>
<recording xmlns='urn:ietf:params:xml:ns:recording:1'>
  <datamode>complete</datamode>
  <session session_id="hVpd7YQgRW2nD22h7q60JQ==">
    <start-time>2010-12-16T23:41:07Z</start-time>
  </session>
  <participant participant_id="srfBElmCRp2QB23b7Mpk0w==">
    <nameID aor="sip:alice@atlanta.example.com">
      <name xml:lang="it">Alice</name>
    </nameID>
  </participant>
  <participant participant_id="zSfPoSvdSDCmU3A3TRDxAw==">
    <nameID aor="sip:bob@biloxy.example.com"/>
  </participant>
  <stream stream_id="UAAMm5GRQKSCMVvLyl4rFw==" session_id="hVpd7YQgRW2nD22h7q60JQ==">
    <label>96</label>
  </stream>
  <stream stream_id="i1Pz3to5hGk8fuXl+PbwCw==" session_id="hVpd7YQgRW2nD22h7q60JQ==">
    <label>97</label>
  </stream>
  <participantstreamassoc participant_id="srfBElmCRp2QB23b7Mpk0w==">
    <send>UAAMm5GRQKSCMVvLyl4rFw==</send>
    <recv>i1Pz3to5hGk8fuXl+PbwCw==</recv>
  </participantstreamassoc>
  <participantstreamassoc participant_id="zSfPoSvdSDCmU3A3TRDxAw==">
    <send>i1Pz3to5hGk8fuXl+PbwCw==</send>
    <recv>UAAMm5GRQKSCMVvLyl4rFw==</recv>
  </participantstreamassoc>
</recording>
"""


def test_the_complete_metadata_names_who_sends_each_labelled_stream() -> None:
    metadata = parse_metadata(COMPLETE)
    assert metadata.complete
    alice, bob = metadata.participants
    assert alice == MetadataParticipant(
        "srfBElmCRp2QB23b7Mpk0w==", "sip:alice@atlanta.example.com", "Alice",
        ("UAAMm5GRQKSCMVvLyl4rFw==",), ("i1Pz3to5hGk8fuXl+PbwCw==",),
    )  # fmt: skip
    assert (bob.aor, bob.name) == ("sip:bob@biloxy.example.com", "")
    assert metadata.streams == (
        MetadataStream("UAAMm5GRQKSCMVvLyl4rFw==", "96"),
        MetadataStream("i1Pz3to5hGk8fuXl+PbwCw==", "97"),
    )
    assert metadata.sender_of("96") == alice
    assert metadata.sender_of("97") == bob
    assert metadata.sender_of("98") is None  # no such stream


def test_a_stream_nobody_sends_has_no_sender() -> None:
    lonely = COMPLETE.replace(b"<send>i1Pz3to5hGk8fuXl+PbwCw==</send>", b"")
    assert parse_metadata(lonely).sender_of("97") is None


def test_a_partial_update_replaces_what_it_names_and_keeps_the_rest() -> None:
    known = parse_metadata(COMPLETE)
    update = parse_metadata(b"""<recording xmlns="urn:ietf:params:xml:ns:recording:1">
      <datamode>partial</datamode>
      <participant participant_id="zSfPoSvdSDCmU3A3TRDxAw==">
        <nameID aor="sip:bob@biloxy.example.com"><name>Bob Smith</name></nameID>
      </participant>
      <participant participant_id="newcomer"><nameID aor="sip:carol@example.com"/></participant>
    </recording>""")
    assert not update.complete
    merged = known.updated(update)
    assert merged.complete and merged.streams == known.streams
    bob = merged.sender_of("97")
    assert bob is not None and bob.name == "Bob Smith"
    assert bob.sends == ("i1Pz3to5hGk8fuXl+PbwCw==",)  # kept from before
    assert [p.aor for p in merged.participants][-1] == "sip:carol@example.com"
    # a complete update replaces everything
    assert known.updated(RsMetadata()) == RsMetadata()


def test_the_drafts_form_is_read_too() -> None:
    draft = parse_metadata(b"""<recording xmlns="urn:ietf:params:xml:ns:recording:1">
      <participant id="p1"><aor>sip:agent@pbx.example</aor><name>Agent 7</name>
        <send>s1</send></participant>
      <stream id="s1"><label>1</label></stream>
    </recording>""")
    sender = draft.sender_of("1")
    assert sender is not None and (sender.aor, sender.name) == ("sip:agent@pbx.example", "Agent 7")


def test_what_sipgws_own_src_writes_is_read_back() -> None:
    written = RecordingMetadata.new(
        random.Random(7), "2026-11-29T16:00:00Z", ("sip:+15551234567@trunk", "Ada"),
        ("sip:agent@gw", "Agent"),
    ).to_xml()  # fmt: skip
    metadata = parse_metadata(written)
    caller, agent = metadata.sender_of("1"), metadata.sender_of("2")
    assert caller is not None and (caller.aor, caller.name) == ("sip:+15551234567@trunk", "Ada")
    assert agent is not None and (agent.aor, agent.name) == ("sip:agent@gw", "Agent")


UTF16_DOCTYPE = '<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE r [<!ENTITY a "a">]><recording/>'


@pytest.mark.parametrize(
    ("document", "why"),
    [
        (b"<recording", "not XML"),
        (b'<?xml version="1.0" encoding="U-8"?><recording/>', "not XML"),  # found by fuzzing
        (b"<other xmlns='urn:ietf:params:xml:ns:recording:1'/>", "root"),
        (b"<recording/>", "root"),  # no namespace
        (b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaa">]><recording/>', "DOCTYPE"),
        (b"<recording>" + b" " * MAX_METADATA_BYTES + b"</recording>", "over"),
        (UTF16_DOCTYPE.encode("utf-16"), "not UTF-8"),  # a DOCTYPE no byte search would see
    ],
)
def test_hostile_or_broken_documents_are_refused_with_400(document: bytes, why: str) -> None:
    with pytest.raises(RemoteProtocolError, match=why) as refused:
        parse_metadata(document)
    assert refused.value.status_hint == 400
