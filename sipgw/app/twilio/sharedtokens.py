"""Twilio stream tokens shared by the gateways of a cluster (or the workers of one
``serve --workers N``): made and checked under the key of the trust store
(:mod:`sipgw.app.security.trust`, secret ``stream-token``, rotated with it), and each Call
SID's token taken once, in the store, by whichever gateway its stream reaches."""

from __future__ import annotations

import asyncio
import logging
import time

from sipgw.app.security.trust import REFRESH, STREAM_SECRET, TrustStore
from sipgw.app.twilio.endpoints import TwilioEndpoints
from sipgw.twilio.token import StreamTokens

__all__ = ["share_stream_tokens"]

log = logging.getLogger("sipgw.access")


async def share_stream_tokens(
    store: TrustStore | None, endpoints: TwilioEndpoints, refresh: float = REFRESH
) -> asyncio.Task[None] | None:
    """Make the Twilio stream tokens the cluster's: made and checked under the shared key,
    each Call SID's token taken once in ``store`` by whichever gateway its stream reaches.
    Returns the task that reads the keys again every ``refresh`` seconds; None without a
    store."""
    if store is None:
        return None

    async def take(call_sid: str, expires: float) -> bool:
        return await store.take_token(call_sid, expires, time.time())

    async def read_keys() -> None:
        current, others = await store.secrets(STREAM_SECRET, time.time())
        endpoints.tokens = StreamTokens(current, also=others)

    await read_keys()
    endpoints.taken = take

    async def rotate() -> None:
        while True:
            await asyncio.sleep(refresh)
            try:
                await read_keys()
            except Exception as exc:  # the store is away: the keys known stay in force
                log.warning("trust: the stream token keys not read again (%s)", exc)

    return asyncio.get_running_loop().create_task(rotate(), name="trust-stream-keys")
