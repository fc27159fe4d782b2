"""One account for the REST subset and the ``twiml`` agent, as on Twilio.

A Twilio account has one Account SID and one Auth Token: the app's client authenticates
with them, and its ``RequestValidator`` checks the webhooks, streams and status callbacks
signed with the token. The gateway takes that pair once, as ``SIPGW_TWIML_ACCOUNT_SID`` and
``SIPGW_TWIML_AUTH_TOKEN``; ``SIPGW_TWILIO_API=on`` serves the REST subset for it. The
subset's own pair (``SIPGW_TWILIO_API_ACCOUNT_SID``, ``SIPGW_TWILIO_API_AUTH_TOKEN``) still
works, deprecated, with a warning at start; a second pair that differs from the first is
refused, both named.
"""

from __future__ import annotations

import dataclasses

from sipgw.agent.twiml.settings import TwilioAppSection
from sipgw.app.twilio.api.settings import TwilioApiSection
from sipgw.foundation.settings import ConfigError, Sources, load, setting_of, validate

__all__ = ["rest_account"]


def rest_account(sources: Sources) -> tuple[TwilioApiSection, list[str]]:
    """The REST subset's section with the pair in effect, and the warnings for the log.

    Raises:
        ConfigError: the two pairs differ, the subset is on without a pair, a value is bad.
    """
    api = load(TwilioApiSection, sources)
    old = bool(api.twilio_api_account_sid or api.twilio_api_auth_token)
    if not (api.twilio_api or old):
        return api, []
    app = load(TwilioAppSection, sources)
    label = sources.labels(TwilioApiSection, TwilioAppSection)
    old_pair = f"{label['twilio_api_account_sid']} and {label['twilio_api_auth_token']}"
    new_pair = f"{label['account_sid']} and {label['auth_token']}"
    warnings: list[str] = []
    if old:
        warnings.append(
            f"{old_pair} are deprecated: the account is {new_pair} (the twiml agent's), and "
            f"SIPGW_TWILIO_API=on serves the REST subset for it"
        )
    old_sid, old_token = api.twilio_api_account_sid, api.twilio_api_auth_token
    if (app.account_sid and old_sid and app.account_sid != old_sid) or (
        app.auth_token and old_token and app.auth_token != old_token
    ):
        raise ConfigError(
            f"{old_pair} (deprecated) differ from {new_pair}: a Twilio account has one SID "
            f"and one Auth Token; set {new_pair} only, with SIPGW_TWILIO_API=on"
        )
    sid, token = app.account_sid or old_sid, app.auth_token or old_token
    if not (sid and token):
        switch = sources.find(setting_of(TwilioApiSection, "twilio_api")).quoted()
        raise ConfigError(f"{switch} needs {new_pair} (the app's account)")
    names = {
        "twilio_api_account_sid": label[
            "account_sid" if app.account_sid else "twilio_api_account_sid"
        ],
        "twilio_api_auth_token": label["auth_token" if app.auth_token else "twilio_api_auth_token"],
    }
    resolved = dataclasses.replace(
        api, twilio_api=True, twilio_api_account_sid=sid, twilio_api_auth_token=token
    )
    validate(resolved, names)
    return resolved, warnings
