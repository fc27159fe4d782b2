"""``<Siprec>`` read (sipgw/twilio/siprectwiml.py): every attribute Twilio's SDKs name, the
defaults, ``<Parameter>`` children, and what Twilio does not take. The verbs in a document:
tests/twilio/test_document.py."""

from __future__ import annotations

import pytest

from sipgw.twilio.siprectwiml import Siprec, read_siprec


def test_every_attribute_and_the_parameters_are_read() -> None:
    noun = read_siprec(
        {"connectorName": " gridspace ", "name": "rec1", "track": "outbound_track",
         "statusCallback": "/siprec", "statusCallbackMethod": "get"},
        [("Parameter", {"name": "agent", "value": "7"}), ("Parameter", {"name": "q"})],
    )  # fmt: skip
    assert noun == Siprec("gridspace", "rec1", "outbound_track", "/siprec", "GET",
                          (("agent", "7"), ("q", "")))  # fmt: skip
    assert read_siprec({"connectorName": "c"}, []) == Siprec("c", "", "both_tracks", "", "POST")


@pytest.mark.parametrize(
    ("attrs", "children", "says"),
    [
        ({}, [], "connectorName"),
        ({"connectorName": "c", "track": "inbound"}, [], "track"),
        ({"connectorName": "c", "statusCallbackMethod": "PUT"}, [], "POST or GET"),
        ({"connectorName": "c"}, [("Config", {})], "only <Parameter>"),
    ],
)
def test_what_twilio_does_not_take_is_refused(
    attrs: dict[str, str], children: list[tuple[str, dict[str, str]]], says: str
) -> None:
    with pytest.raises(ValueError, match=says):
        read_siprec(attrs, children)
