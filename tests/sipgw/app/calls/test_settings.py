"""The calls' settings sections (sipgw/app/calls/settings.py): the headers section."""

from __future__ import annotations

import pytest

from sipgw.app.calls.settings import CallHeadersSection
from sipgw.foundation.settings import ConfigError, Sources, load


def test_the_settings() -> None:
    section = load(
        CallHeadersSection,
        Sources({"SIPGW_PASS_HEADERS": "X-Ticket-Id, X-Campaign-*"}, {"--transfer-summary": "on"}),
    )
    assert section.pass_headers.patterns == ("X-Ticket-Id", "X-Campaign-*")
    assert section.transfer_summary
    assert load(CallHeadersSection, Sources()) == CallHeadersSection()
    with pytest.raises(ConfigError, match="^SIPGW_PASS_HEADERS=Ticket: 'Ticket' is not an X-"):
        load(CallHeadersSection, Sources({"SIPGW_PASS_HEADERS": "Ticket"}))
