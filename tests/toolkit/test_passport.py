"""Crafted PASSporTs (tests/toolkit/passport.py): what the gateway's parser reads back."""

from __future__ import annotations

from sipgw.sip.verification import parse_passport
from tests.toolkit.passport import identity_header, shaken


def test_a_crafted_passport_reads_back() -> None:
    value = identity_header(shaken("B", orig="15559876543", dest="15551230000"))
    token, _, params = value.partition(";")
    assert token.count(".") == 2
    assert params == "info=<https://cert.example/shaken.pem>;alg=ES256;ppt=shaken"
    read = parse_passport(value)
    assert read["header"]["alg"] == "ES256" and read["header"]["ppt"] == "shaken"
    payload = read["payload"]
    assert (payload["attest"], payload["orig"], payload["dest"]) == (
        "B", {"tn": "15559876543"}, {"tn": ["15551230000"]},
    )  # fmt: skip
