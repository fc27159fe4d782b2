"""Webhooks wired to a running gateway (sipgw/app/webhooks/service.py): a call's events arrive."""

from __future__ import annotations

from pathlib import Path

import pytest

from sipgw.app.webhooks.delivery import DeliveryPolicy
from sipgw.app.webhooks.service import start_webhooks, webhooks_wanted
from sipgw.app.webhooks.settings import WebhookSection
from tests.sipgw.app.webhooks.test_delivery import receiver
from tests.toolkit.gateway_in_process import running_gateway
from tests.toolkit.metrics import sample_value

pytestmark = pytest.mark.timeout(30)

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


async def test_a_calls_events_reach_the_receiver(tmp_path: Path) -> None:
    async with receiver() as got, running_gateway() as (gateway, new_phone):
        settings = WebhookSection(
            webhook_url=got.url, webhook_secret=SECRET,
            webhook_db=str(tmp_path / "hooks.sqlite3"),
        )  # fmt: skip
        assert webhooks_wanted(settings, None)
        assert not webhooks_wanted(WebhookSection(), None)
        hooks = await start_webhooks(
            settings, gateway.feed, registry=gateway.metrics.registry,
            policy=DeliveryPolicy(retry_max=0.2),
        )  # fmt: skip
        phone = await new_phone()
        assert (await phone.invite()).status == 200
        await phone.bye()
        await got.until(3)
        await hooks.stop()
        text, _ = gateway.metrics.render()
    kinds = [(body["type"], body["data"]["sequence"]) for _, body, ok in got.got if ok]  # type: ignore[index]
    assert kinds == [("call.incoming", 1), ("call.answered", 2), ("call.ended", 3)]
    assert sample_value(text, "sipgw_webhooks_delivered_total") == 3
    assert sample_value(text, "sipgw_webhooks_dropped_total", why="full") == 0
