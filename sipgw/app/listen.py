"""Building and starting a gateway for a command, with the errors a user understands and the
exit status.

``sipgw serve`` and ``sipgw call`` both build the gateway their settings describe with
:func:`gateway_of` and bind SIP with :func:`start_gateway`: a host name in
``--allow-from`` that does not resolve is exit status 2, a port that cannot be bound
(or a TLS certificate that does not load) exit status 1, each with one line naming it.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from sipgw.foundation.settings import ConfigError, Sources

if TYPE_CHECKING:
    from sipgw.app.gateway import Gateway
    from sipgw.app.settings import GatewayConfig
    from sipgw.app.startup import Startup

__all__ = ["gateway_of", "start_gateway"]


def gateway_of(
    startup: Startup,
    config: GatewayConfig | None = None,
    *,
    register: bool = True,
    legs: bool = True,
) -> Gateway:
    """The gateway ``startup`` describes (with ``config`` instead of its own, if given);
    ``register=False`` leaves the accounts unregistered (one call needs no registration:
    the proxy or registrar takes our INVITE with the account's credentials); ``legs=False``:
    no admin server will serve the browser and Twilio legs (the start-up line names none)."""
    # imported when a command runs: --help stays quick
    from sipgw.app.gateway import Gateway, GatewayParts
    from sipgw.app.upstream.accounts import RegistrationSettings

    parts = GatewayParts(
        access=startup.access,
        registration=startup.registration if register else RegistrationSettings(),
        account_agents=startup.account_agents,
        outbound=startup.outbound,
        limits=startup.limits,
        dial_policy=startup.dial_policy,
        floods=startup.floods,
        overload=startup.overload,
        breakers=startup.breakers,
        agents=startup.agent_factories,
        headers=startup.headers,
        lines=startup.lines,
        dns=startup.dns,
        other_legs=tuple(startup.legs.taking_calls(legs and startup.admin.enabled)),
    )
    return Gateway(config or startup.config, startup.agent_factory, parts)


async def start_gateway(
    gateway: Gateway, sources: Sources | None = None, *, ready: bool = True
) -> int | None:
    """Start the gateway; on failure print why and return the exit status (else None).

    ``sources``: where the settings came from, to name them as the user gave them
    (:meth:`~sipgw.foundation.settings.Sources.explain`); None: by their flags and variables.
    ``ready``: as :meth:`Gateway.start <sipgw.app.gateway.Gateway.start>`'s (False: the
    caller calls :meth:`Gateway.ready <sipgw.app.gateway.Gateway.ready>` itself).
    """
    config = gateway.config
    try:
        await gateway.start(ready=ready)
    except ConfigError as exc:  # an --allow-from name that does not resolve, ...
        print(f"sipgw: error: {(sources or Sources()).explain(exc)}", file=sys.stderr)
        return 2
    except OSError as exc:  # ssl.SSLError too: a TLS certificate or key that does not load
        wanted = ", ".join(
            f"{name.lower()}:{config.bind}:{config.tls_port if name == 'TLS' else config.sip_port}"
            for name in config.transports
        )
        print(f"sipgw: error: cannot listen on {wanted}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    return None
