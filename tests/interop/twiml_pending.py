"""The tests that need issue 41's ``twiml`` agent, written before its branch was merged.

They are marked with :data:`needs_twiml_agent`: a strict ``xfail`` while
:data:`TWIML_AGENT_MERGED` is False (they must fail then: without the agent nothing runs the
app's TwiML), plain tests once it is True. Set it True when merging the ``twiml`` branch:
if it is forgotten while the agent is there, they pass and the strict ``xfail`` fails the
suite (XPASS); if the agent is missing once it is True, they fail. Never a skip.
"""

from __future__ import annotations

import pytest

__all__ = ["TWIML_AGENT_MERGED", "needs_twiml_agent"]

TWIML_AGENT_MERGED = False
"""True once the ``twiml`` branch (the agent, ``twiml_url``/``twiml`` on placed calls) is in."""

needs_twiml_agent = pytest.mark.xfail(
    not TWIML_AGENT_MERGED,
    reason="the twiml agent (issue 41) is not merged yet: set TWIML_AGENT_MERGED",
    strict=True,
)
