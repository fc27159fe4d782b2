"""Secrets and privacy: what the gateway masks in its logs and call records.

:func:`load_redactor` builds the :class:`sipgw.foundation.redact.Redactor` from the
``privacy`` section (:class:`~sipgw.app.security.settings.PrivacySection`: ``SIPGW_REDACT``,
``SIPGW_REDACT_PATTERNS``) and the secrets it is given: the values of every setting
marked ``secret`` (API keys, SIP passwords: :func:`sipgw.foundation.settings.secret_texts`)
and, from :func:`startup_secrets`, the passwords of the accounts file and the inbound
users file. :func:`install_log_redaction` is the last line of defence the CLI
installs at start-up: every log record, from our code or any library's (the
``websockets`` client logs its request headers, ``Authorization`` and
``xi-api-key`` included, at DEBUG), has its message, arguments, exception text
and stack redacted when it is created, before any handler sees it. Uncaught
exceptions printed by :data:`sys.excepthook` are redacted too.
"""

from __future__ import annotations

import logging
import sys
import traceback
from collections.abc import Iterable
from types import TracebackType
from typing import TYPE_CHECKING, Any

from sipgw.app.security.settings import PrivacySection
from sipgw.foundation.redact import Redactor, redact_log_record

if TYPE_CHECKING:
    from sipgw.app.security.access import AccessConfig
    from sipgw.app.upstream.accounts import RegistrationSettings

__all__ = [
    "LogRedaction",
    "Redactor",
    "install_log_redaction",
    "load_redactor",
    "startup_secrets",
]


def load_redactor(settings: PrivacySection, secrets: Iterable[str] = ()) -> Redactor:
    """The redactor ``settings`` describe, masking ``secrets`` too."""
    return Redactor(
        list(secrets), cards=settings.redact == "cards", pattern=settings.redact_patterns or None
    )


def startup_secrets(registration: RegistrationSettings, access: AccessConfig) -> list[str]:
    """The accounts' digest passwords and the inbound users' passwords."""
    passwords = [account.auth_password for account in registration.accounts]
    passwords += [password for _, password in access.users]
    return [p for p in passwords if p]


class LogRedaction:
    """The installed log redaction; ``redactor`` may be replaced while it runs."""

    def __init__(self, redactor: Redactor) -> None:
        self.redactor = redactor
        self._previous_factory = logging.getLogRecordFactory()
        self._previous_hook = sys.excepthook
        logging.setLogRecordFactory(self._make_record)
        sys.excepthook = self._excepthook

    def _make_record(self, *args: Any, **kwargs: Any) -> logging.LogRecord:
        record = self._previous_factory(*args, **kwargs)
        redact_log_record(record, self.redactor)
        return record

    def _excepthook(
        self, kind: type[BaseException], exc: BaseException, tb: TracebackType | None
    ) -> None:
        text = "".join(traceback.format_exception(kind, exc, tb))
        sys.stderr.write(self.redactor.redact(text))

    def uninstall(self) -> None:
        """Restore the record factory and excepthook found at installation."""
        if logging.getLogRecordFactory() == self._make_record:
            logging.setLogRecordFactory(self._previous_factory)
        if sys.excepthook == self._excepthook:
            sys.excepthook = self._previous_hook


def install_log_redaction(redactor: Redactor) -> LogRedaction:
    """Redact every log record from now on, and uncaught exceptions.

    Works through :func:`logging.setLogRecordFactory`, so it covers every
    logger and every handler, including ones added later.
    """
    return LogRedaction(redactor)
