"""The ConversationRelay app (tests/toolkit/apps/relay_app.py) as a platform sees it: it
answers a prompt with tokens, ends on goodbye with handoffData, checks the signature."""

from __future__ import annotations

import json
from typing import Any

from twilio.request_validator import RequestValidator
from websockets.asyncio.client import connect

from tests.toolkit.apps.relay_app import RelayApp

TOKEN = "c" * 32


async def test_tokens_for_a_prompt_and_end_for_goodbye() -> None:
    app = RelayApp(TOKEN, token_gap=0.0)
    await app.start()
    try:
        signature = RequestValidator(TOKEN).compute_signature(app.url, {})
        async with connect(app.url, additional_headers={"X-Twilio-Signature": signature}) as ws:
            await ws.send(json.dumps({"type": "prompt", "voicePrompt": "Hi there", "last": True}))
            tokens: list[dict[str, Any]] = []
            while not tokens or not tokens[-1]["last"]:
                tokens.append(json.loads(await ws.recv()))
            assert "".join(t["token"] for t in tokens) == "You said Hi there."
            assert {t["type"] for t in tokens} == {"text"}
            await ws.send(json.dumps({"type": "prompt", "voicePrompt": "Goodbye", "last": True}))
            assert json.loads(await ws.recv()) == {"type": "end", "handoffData": app.handoff}
        async with connect(app.url, additional_headers={"X-Twilio-Signature": "forged"}):
            pass
    finally:
        await app.stop()
    assert [s.handshake_valid for s in app.sessions] == [True, False]
