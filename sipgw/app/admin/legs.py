"""The admin server's part for the legs that are not SIP: the call page and Twilio's endpoints.

:class:`LegEndpoints` is what :class:`~sipgw.app.admin.server.AdminServer` holds: the
gateway's :class:`~sipgw.app.legs.calls.LegCalls`, the browser's routes
(:mod:`sipgw.app.admin.phone`) and Twilio's (:mod:`sipgw.app.twilio.endpoints`), and their two
words on authorization: Twilio's paths are opened by its signature (checked by their
handlers), and the page's two changes may pass on the dashboard's cookie. When the server
stops, every leg call ends.
"""

from __future__ import annotations

from aiohttp import web

from sipgw.app.admin.dashboard import Dashboard
from sipgw.app.admin.phone import PhoneEndpoints
from sipgw.app.gateway import Gateway
from sipgw.app.legs.calls import LegCalls
from sipgw.app.legs.settings import LegsSettings
from sipgw.app.twilio.endpoints import TWILIO_PATHS, TwilioEndpoints
from sipgw.twilio.stream import MediaStreamConfig

__all__ = ["LegEndpoints"]


class LegEndpoints:
    """The browser and Twilio endpoints of one admin server; see the module docstring."""

    def __init__(self, gateway: Gateway, settings: LegsSettings, dashboard: Dashboard) -> None:
        self.settings = settings
        self.calls = LegCalls(gateway)
        jitter = gateway.calls.jitter
        self.phone = PhoneEndpoints(self.calls, settings, dashboard, jitter)
        self.twilio = TwilioEndpoints(self.calls, settings, MediaStreamConfig(jitter=jitter))

    def add_routes(self, app: web.Application) -> None:
        """Register the routes that are on; end the leg calls when ``app`` shuts down."""
        self.phone.add_routes(app)
        self.twilio.add_routes(app)
        app.on_shutdown.append(self._shutdown)

    def signed_by_twilio(self, request: web.Request) -> bool:
        """A request to Twilio's paths: its handler checks Twilio's signature instead of
        the admin token (Twilio cannot send that)."""
        return self.settings.twilio and request.path in TWILIO_PATHS

    def allows(self, request: web.Request) -> bool:
        """A browser call placed or hung up from the page, on the dashboard's cookie."""
        return self.phone.allows(request)

    async def _shutdown(self, app: web.Application) -> None:
        await self.calls.shutdown()
