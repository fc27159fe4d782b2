"""Twilio-shaped SIDs."""

from __future__ import annotations

import re

from sipgw.twilio.sids import new_sid


def test_a_sid_is_its_prefix_and_32_hex_digits_never_the_same_twice() -> None:
    sids = {new_sid("CF") for _ in range(100)}
    assert len(sids) == 100
    assert all(re.fullmatch(r"CF[0-9a-f]{32}", sid) for sid in sids)
