"""The webhooks settings section (sipgw/app/webhooks/settings.py)."""

from __future__ import annotations

import pytest

from sipgw.app.lines.routesfile import LineSpec
from sipgw.app.webhooks.settings import WebhookSection, line_check
from sipgw.foundation.settings import ConfigError, Sources, load

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def test_off_by_default_and_a_url_needs_a_secret() -> None:
    assert load(WebhookSection, Sources({})).webhook_url == ""
    with pytest.raises(
        ConfigError, match=r"SIPGW_WEBHOOK_URL=https://crm.example/hooks needs SIPGW_WEBHOOK_SECRET"
    ):
        load(WebhookSection, Sources({"SIPGW_WEBHOOK_URL": "https://crm.example/hooks"}))
    loaded = load(
        WebhookSection,
        Sources({"SIPGW_WEBHOOK_URL": "https://crm.example/hooks", "SIPGW_WEBHOOK_SECRET": SECRET}),
    )
    assert loaded.webhook_url == "https://crm.example/hooks" and loaded.webhook_retry_max == 600


def test_bad_values_are_named() -> None:
    with pytest.raises(ConfigError, match="SIPGW_WEBHOOK_URL=ftp://x: must be an http"):
        load(WebhookSection, Sources({"SIPGW_WEBHOOK_URL": "ftp://x"}))
    with pytest.raises(ConfigError, match=r"^SIPGW_WEBHOOK_SECRET: must be at least 24 bytes"):
        load(WebhookSection, Sources({"SIPGW_WEBHOOK_SECRET": "short"}))
    with pytest.raises(ConfigError, match="SIPGW_WEBHOOK_MAX_BYTES=100: must be"):
        load(WebhookSection, Sources({"SIPGW_WEBHOOK_MAX_BYTES": "100"}))


def test_a_lines_webhooks_are_checked_as_the_line_is_built() -> None:
    none = Sources({}, {})
    check = line_check(load(WebhookSection, none), none)
    check(LineSpec("quiet", where="routes.toml line 1: line 'quiet'"))
    check(LineSpec("own", where="w", webhook_url="https://a.example/", webhook_secret=SECRET))
    with pytest.raises(
        ConfigError,
        match=r"^routes.toml line 4: line 'a': webhook_url needs webhook_secret "
        r"\(or SIPGW_WEBHOOK_SECRET\): events are signed$",
    ):
        check(LineSpec("a", where="routes.toml line 4: line 'a'", webhook_url="https://a.example/"))
    with pytest.raises(ConfigError, match=r"^line 'b': webhook_secret must be at least 24 bytes"):
        check(LineSpec("b", where="line 'b'", webhook_secret="short"))
    signed = Sources({"SIPGW_WEBHOOK_SECRET": SECRET})
    line_check(load(WebhookSection, signed), signed)(
        LineSpec("a", where="w", webhook_url="https://a.example/")
    )  # the gateway's secret signs it
