"""The admin server's settings (``ADMIN`` in :mod:`sipgw.app.settings_registry`)."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from sipgw.app.settings import ConfigError, SettingValues

__all__ = ["AdminSettings", "load_admin_settings"]


@dataclass(frozen=True, slots=True)
class AdminSettings:
    """Where the admin server listens and the token it wants; ``port`` 0 = off."""

    port: int = 0
    """TCP port; 0 = no admin server (tests pass a free port explicitly)."""
    bind: str = "127.0.0.1"
    """Local address to listen on."""
    token: str = field(default="", repr=False)
    """The bearer token every request must carry; "" = none (loopback only)."""

    @property
    def enabled(self) -> bool:
        """Whether ``sipgw serve`` starts the admin server."""
        return self.port != 0

    def check(self) -> None:
        """Refuse a non-loopback address without a token.

        Raises:
            ConfigError: ``bind`` is not a loopback address and ``token`` is empty.
        """
        if not self.token and not ipaddress.ip_address(self.bind).is_loopback:
            raise ConfigError(
                f"SIPGW_ADMIN_TOKEN: required when the admin server listens on {self.bind} "
                "(not a loopback address): anyone who reaches the port could hang up calls "
                "and place new ones"
            )


def load_admin_settings(values: SettingValues) -> AdminSettings:
    """The ``ADMIN`` section's values, checked when the server is on.

    Raises:
        ConfigError: a value is bad, or the server would listen beyond loopback without a token.
    """
    settings = AdminSettings(
        port=values["SIPGW_ADMIN_PORT"] or 0,
        bind=values["SIPGW_ADMIN_BIND"],
        token=values["SIPGW_ADMIN_TOKEN"],
    )
    if settings.enabled:
        settings.check()
    return settings
