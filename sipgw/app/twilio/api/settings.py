"""The ``twilio_api`` settings section: the REST subset's switch (and its deprecated pair).

The account is the one the ``twiml`` agent signs with (``SIPGW_TWIML_ACCOUNT_SID``,
``SIPGW_TWIML_AUTH_TOKEN``): on Twilio an account has one SID and one Auth Token, which the
app's client authenticates with and its validator checks. :func:`~sipgw.app.twilio.api.account.
rest_account` resolves the pair in effect; its fields here are then that pair.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sipgw.foundation.settings import InvalidSettings, section, setting
from sipgw.foundation.settings.parsers import on_off, text, verbatim

__all__ = ["ACCOUNT_SID", "TwilioApiSection"]

ACCOUNT_SID = re.compile(r"AC[0-9a-fA-F]{32}")
"""An Account SID: ``AC`` and 32 hex digits (Twilio's form, which its SDKs build URLs of)."""

MIN_AUTH_TOKEN = 16
"""The shortest Auth Token taken (Twilio's are 32 hex digits: 128 bits)."""


def _account_sid(value: str) -> str:
    sid = value.strip()
    if sid and not ACCOUNT_SID.fullmatch(sid):
        raise ValueError("must be AC followed by 32 hex digits (an Account SID), or empty")
    return sid


@section(
    "twilio_api",
    title="Twilio's REST API (call control)",
    intro="A subset of Twilio's REST API on the admin server, with Twilio's paths and field "
    "names, so an app's Twilio client pointed at the gateway places, reads, redirects and "
    "ends calls: /2010-04-01/Accounts/{AccountSid}/Calls.json (docs/twilio-api.md).",
)
@dataclass(frozen=True)
class TwilioApiSection:
    """Whether the REST subset is on, and the account the app's Twilio client uses."""

    twilio_api: bool = setting(
        False, env="SIPGW_TWILIO_API", flag="--twilio-api", metavar="on|off", parse=on_off,
        default_text="off",
        help="The REST subset on the admin server, for the account of SIPGW_TWIML_ACCOUNT_SID "
        "and SIPGW_TWIML_AUTH_TOKEN (HTTP Basic user name and password; status callbacks "
        "signed with the token); off = its paths do not exist.",
    )  # fmt: skip
    twilio_api_account_sid: str = setting(
        "", env="SIPGW_TWILIO_API_ACCOUNT_SID", flag="--twilio-api-account-sid",
        metavar="AC...", parse=_account_sid,
        help="Deprecated (a warning at start): SIPGW_TWILIO_API=on with SIPGW_TWIML_ACCOUNT_SID. "
        "Still turns the REST subset on with the token; must equal SIPGW_TWIML_ACCOUNT_SID "
        "when that is set.",
    )  # fmt: skip
    twilio_api_auth_token: str = setting(
        "", env="SIPGW_TWILIO_API_AUTH_TOKEN", flag="--twilio-api-auth-token",
        metavar="TOKEN", parse=verbatim, secret=True,
        help="Deprecated (a warning at start): SIPGW_TWILIO_API=on with SIPGW_TWIML_AUTH_TOKEN. "
        "Must equal SIPGW_TWIML_AUTH_TOKEN when that is set. Never logged.",
    )  # fmt: skip

    @property
    def enabled(self) -> bool:
        """Whether the REST subset is on, with a pair (the one in effect: :mod:`.account`)."""
        return bool(self.twilio_api_account_sid and self.twilio_api_auth_token)

    def check(self) -> None:
        """Both or neither; a token long enough not to be guessed.

        Raises:
            InvalidSettings: one without the other, or a short token.
        """
        sid, token = self.twilio_api_account_sid, self.twilio_api_auth_token
        if bool(sid) != bool(token):
            raise InvalidSettings(
                "{twilio_api_account_sid} and {twilio_api_auth_token} go together (HTTP Basic "
                "user name and password of the REST subset)"
            )
        if token and len(text(token)) < MIN_AUTH_TOKEN:
            raise InvalidSettings(
                "{twilio_api_auth_token} must be at least {n} characters (Twilio's Auth Token "
                "is 32)",
                n=MIN_AUTH_TOKEN,
            )
