"""Webhooks wired for ``sipgw serve``: the outbox, its delivery, the feed's hooks, the metrics.

:func:`start_webhooks` starts them when a URL is configured (``SIPGW_WEBHOOK_URL`` or a
line's ``webhook_url``), so a gateway that sends none keeps no outbox file; a first URL
added by a routes reload needs a restart. :meth:`Webhooks.stop` lets the post-call
summaries finish, writes what is queued to the outbox and gives back what was being
posted: the next start delivers it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry

from sipgw.app.calls.callfeed import CallFeed
from sipgw.app.claimers import claim_owner
from sipgw.app.lines.reload import Lines
from sipgw.app.webhooks.delivery import DeliveryCounts, DeliveryPolicy, WebhookDelivery
from sipgw.app.webhooks.hooks import CallWebhooks, Summarize
from sipgw.app.webhooks.outbox import Outbox
from sipgw.app.webhooks.settings import WebhookSection
from sipgw.app.webhooks.signing import WebhookSecret

__all__ = ["Webhooks", "start_webhooks", "webhooks_wanted"]

log = logging.getLogger("sipgw.webhooks")


def webhooks_wanted(settings: WebhookSection, lines: Lines | None) -> bool:
    """Whether any URL is configured: the gateway's, or a line's."""
    if settings.webhook_url:
        return True
    return lines is not None and any(line.spec.webhook_url for line in lines.table.lines.values())


class _Metrics(Collector):
    """The delivery's counts as series, read at scrape time."""

    def __init__(self, counts: DeliveryCounts) -> None:
        self.counts = counts

    def collect(self) -> Iterable[Metric]:
        counts = self.counts
        dropped = CounterMetricFamily(
            "sipgw_webhooks_dropped", "Webhook events dropped: full (the outbox was full), "
            "given_up (too old, or 410 Gone).", labels=["why"],
        )  # fmt: skip
        dropped.add_metric(["full"], counts.dropped_full)
        dropped.add_metric(["given_up"], counts.given_up)
        return [
            CounterMetricFamily(
                "sipgw_webhooks_delivered", "Webhook events delivered (2xx).",
                value=counts.delivered,
            ),
            CounterMetricFamily(
                "sipgw_webhook_attempts_failed", "Webhook attempts that failed (retried).",
                value=counts.failed_attempts,
            ),
            dropped,
            GaugeMetricFamily(
                "sipgw_webhooks_pending", "Webhook events in the outbox.", value=counts.pending
            ),
            GaugeMetricFamily(
                "sipgw_webhook_receivers_down", "Webhook URLs failing now.",
                value=len(counts.down_since),
            ),
        ]  # fmt: skip


@dataclass
class Webhooks:
    """The running webhooks."""

    hooks: CallWebhooks
    delivery: WebhookDelivery

    async def stop(self, grace: float = 5.0) -> None:
        """Summaries finish (``grace``), the queue goes to the outbox, posts get ``grace``."""
        await self.hooks.stop(grace)
        await self.delivery.stop(grace)


async def start_webhooks(
    settings: WebhookSection,
    feed: CallFeed,
    *,
    lines: Lines | None = None,
    registry: CollectorRegistry | None = None,
    link_base: str = "",
    summarize: Summarize | None = None,
    policy: DeliveryPolicy | None = None,
    shared_outbox: Callable[[str, int], Outbox] | None = None,
) -> Webhooks:
    """Open the outbox, start delivering, and hook the call feed.

    Args:
        settings: the ``webhooks`` section.
        feed: the gateway's call feed.
        lines: the routes file's lines (their URLs and secrets).
        registry: where the delivery's metrics are registered (the gateway's).
        link_base: the admin server's address, unless ``SIPGW_WEBHOOK_LINK_BASE`` says.
        summarize: the post-call summary, if on.
        policy: the delivery's policy; default from ``settings``.
        shared_outbox: the cluster's outbox for an owner and size (``SIPGW_DATABASE_URL``);
            None = the SQLite file ``SIPGW_WEBHOOK_DB``.
    """
    owner = claim_owner()
    outbox: Outbox = (
        shared_outbox(owner, settings.webhook_max_pending)
        if shared_outbox is not None
        else Outbox(Path(settings.webhook_db), owner, settings.webhook_max_pending)
    )
    secret = WebhookSecret.parse(settings.webhook_secret) if settings.webhook_secret else None
    policy = policy or DeliveryPolicy(
        timeout=settings.webhook_timeout,
        retry_max=settings.webhook_retry_max,
        give_up=settings.webhook_give_up_hours * 3600,
        lease=settings.webhook_timeout + 30.0,
    )
    holder: list[CallWebhooks] = []
    delivery = WebhookDelivery(outbox, lambda line: holder[0].secret_for(line), policy)
    hooks = CallWebhooks(
        feed, delivery, url=settings.webhook_url, secret=secret, lines=lines,
        max_bytes=settings.webhook_max_bytes,
        link_base=settings.webhook_link_base or link_base, summarize=summarize,
    )  # fmt: skip
    holder.append(hooks)
    if registry is not None:
        registry.register(_Metrics(delivery.counts))
    delivery.start()
    pending = await outbox.pending()
    log.info(
        "webhooks: outbox %s (%d waiting), to %s", outbox.where, pending,
        settings.webhook_url or "the lines' own URLs",
    )  # fmt: skip
    return Webhooks(hooks, delivery)
