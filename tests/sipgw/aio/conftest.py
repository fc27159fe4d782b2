"""Fixtures shared by the tests of the SIP core's asyncio adapters."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from sipgw.aio.endpoint import SipEndpoint


@pytest.fixture
async def endpoints() -> AsyncIterator[list[SipEndpoint]]:
    """Endpoints a test opened (append them): closed when it ends."""
    opened: list[SipEndpoint] = []
    yield opened
    for endpoint in opened:
        endpoint.close()
    await asyncio.sleep(0)
