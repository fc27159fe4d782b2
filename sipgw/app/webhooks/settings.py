"""The ``webhooks`` settings section: where events go, how they are signed, kept and retried."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sipgw.app.lines.routesfile import LineSpec
from sipgw.app.webhooks.signing import WebhookSecret
from sipgw.foundation.settings import ConfigError, InvalidSettings, Sources, section, setting
from sipgw.foundation.settings.parsers import int_at_least, positive, text

__all__ = ["WebhookSection", "line_check"]


def _url(value: str) -> str:
    url = value.strip()
    if url and not url.startswith(("http://", "https://")):
        raise ValueError("must be an http:// or https:// URL, or empty")
    return url


def _secret(value: str) -> str:
    if value.strip():
        WebhookSecret.parse(value)
    return value


@section(
    "webhooks",
    title="Webhooks",
    intro="Call events (incoming, answered, ended, transferred, failed, callback scheduled) "
    "posted as signed JSON to your URL, from a persistent outbox with retries "
    "(docs/webhooks.md); environment variables (or `.env` lines) only. A line of the routes "
    "file may send its own elsewhere.",
)
@dataclass(frozen=True)
class WebhookSection:
    """Where webhooks go, their secret, the outbox and the retries."""

    webhook_url: str = setting(
        "", env="SIPGW_WEBHOOK_URL", parse=_url,
        help="Where call events are posted (http:// or https://); empty = nowhere (lines of the "
        "routes file may still name their own).",
    )  # fmt: skip
    webhook_secret: str = setting(
        "", env="SIPGW_WEBHOOK_SECRET", parse=_secret, secret=True, default_doc="none",
        help="Signing secret (Standard Webhooks: whsec_ and base64, or text of at least 24 "
        "bytes); required with a URL. Never logged.",
    )  # fmt: skip
    webhook_db: str = setting(
        "webhooks.sqlite3", env="SIPGW_WEBHOOK_DB", parse=text, state=True,
        help="SQLite file of the outbox (relative: under the state directory): events wait "
        "there until delivered, across restarts.",
    )  # fmt: skip
    webhook_timeout: float = setting(
        10.0, env="SIPGW_WEBHOOK_TIMEOUT", parse=positive,
        help="Seconds one delivery attempt may take (connect, send, the receiver's answer).",
    )  # fmt: skip
    webhook_retry_max: float = setting(
        600.0, env="SIPGW_WEBHOOK_RETRY_MAX", parse=positive,
        help="Longest wait between two attempts, seconds: waits start at 1 s and double "
        "(with jitter) up to this.",
    )  # fmt: skip
    webhook_give_up_hours: float = setting(
        72.0, env="SIPGW_WEBHOOK_GIVE_UP_HOURS", parse=positive,
        help="An event not delivered after this many hours is dropped (logged, counted).",
    )  # fmt: skip
    webhook_max_pending: int = setting(
        10000, env="SIPGW_WEBHOOK_MAX_PENDING", parse=int_at_least(1),
        help="Events the outbox holds at most; beyond it new events are dropped (logged, "
        "counted) rather than filling the disk.",
    )  # fmt: skip
    webhook_max_bytes: int = setting(
        262144, env="SIPGW_WEBHOOK_MAX_BYTES", parse=int_at_least(4096),
        help="Largest event body, bytes; a longer transcript is cut (transcript_truncated).",
    )  # fmt: skip
    webhook_link_base: str = setting(
        "", env="SIPGW_WEBHOOK_LINK_BASE", parse=_url,
        help="Base URL of the admin server as receivers reach it, for recording links; empty "
        "= the admin server's own address.",
    )  # fmt: skip

    def check(self) -> None:
        """A URL needs a secret: unsigned events could be forged by anyone.

        Raises:
            InvalidSettings: a URL without a secret.
        """
        if self.webhook_url and not self.webhook_secret.strip():
            raise InvalidSettings("{webhook_url} needs {webhook_secret} (events are signed)")


def line_check(settings: WebhookSection, sources: Sources) -> Callable[[LineSpec], None]:
    """What a line of the routes file must be about its webhooks, checked as it is built
    (at start-up and on every reload): its own secret parses, and its URL has a secret,
    its own or the gateway's (``settings``, as read from ``sources``).
    """
    gateway_secret = bool(settings.webhook_secret.strip())

    def check(line: LineSpec) -> None:
        if line.webhook_secret is not None:
            try:
                WebhookSecret.parse(line.webhook_secret)
            except ValueError as exc:
                raise ConfigError(f"{line.where}: webhook_secret {exc}") from None
        elif line.webhook_url and not gateway_secret:
            secret = sources.label(WebhookSection, "webhook_secret")
            raise ConfigError(
                f"{line.where}: webhook_url needs webhook_secret (or {secret}): events are signed"
            )

    return check
