"""The Twilio-SDK app of the tests refuses what Twilio's own samples refuse: a webhook request
without a valid X-Twilio-Signature gets 403 and no TwiML (so the agent tests' signature checks
can fail)."""

from __future__ import annotations

import aiohttp

from tests.toolkit.twilio_app import TwilioSdkApp


async def test_an_unsigned_request_is_refused() -> None:
    app = TwilioSdkApp("t" * 32)
    await app.start()
    try:
        async with aiohttp.ClientSession() as session:
            async with session.post(app.url, data={"CallSid": "CA1"}) as response:
                assert response.status == 403
        assert [r.valid for r in app.requests] == [False]
    finally:
        await app.stop()
