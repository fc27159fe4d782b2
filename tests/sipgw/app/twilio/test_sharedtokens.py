"""Twilio stream tokens shared by two gateways (sipgw/app/twilio/sharedtokens.py), on both
engines (``backing``): the key is the store's, and a token is taken once across them. The
stream itself refusing a token another gateway took: tests/sipgw/app/twilio/test_leg.py."""

from __future__ import annotations

import asyncio
import time
from types import SimpleNamespace
from typing import Any

from sipgw.app.security.trust import TrustStore
from sipgw.app.twilio.sharedtokens import share_stream_tokens
from sipgw.twilio.token import StreamTokenRefused, StreamTokens
from tests.toolkit.engines import Backing

CALL = "CA" + "d" * 32


def endpoints() -> Any:
    """What share_stream_tokens sets on the Twilio endpoints: the tokens and the taker."""
    return SimpleNamespace(tokens=StreamTokens(b"x" * 32), taken=None)


async def test_a_token_issued_on_one_gateway_is_taken_once_on_any(backing: Backing) -> None:
    one, two = endpoints(), endpoints()
    tasks = [
        await share_stream_tokens(TrustStore(backing.engine()), gateway, refresh=3600)
        for gateway in (one, two)
    ]
    try:
        token = one.tokens.issue(CALL, {"From": "+15551234567"}, time.time())
        two.tokens.check(token, CALL, {"From": "+15551234567"}, time.time())  # the same key
        assert await two.taken(CALL, time.time() + 30)
        assert not await one.taken(CALL, time.time() + 30)
        try:  # a key of this process's own is not the cluster's
            StreamTokens(b"x" * 32).check(token, CALL, {"From": "+15551234567"}, time.time())
        except StreamTokenRefused as exc:
            assert "not ours" in str(exc)
        else:
            raise AssertionError("a token under another key was taken")
    finally:
        for task in tasks:
            assert task is not None
            task.cancel()
        await asyncio.gather(*(t for t in tasks if t is not None), return_exceptions=True)


async def test_without_a_store_nothing_is_shared() -> None:
    alone = endpoints()
    before = alone.tokens
    assert await share_stream_tokens(None, alone) is None
    assert alone.tokens is before and alone.taken is None
