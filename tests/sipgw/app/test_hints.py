"""What to check when a placed call is refused (sipgw.app.hints)."""

from __future__ import annotations

from sipgw.app.hints import HINTS, hint


def test_every_common_refusal_has_a_hint() -> None:
    assert set(HINTS) == {401, 403, 404, 407, 480, 486, 488, 503}
    assert "--caller-id +15551234567" in hint(403) and "--auth-password" in hint(407)
    assert hint(500) == "" and hint(None) == ""
