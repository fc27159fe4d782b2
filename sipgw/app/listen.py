"""Starting a gateway for a command, with the errors a user understands and the exit status.

``sipgw serve`` and ``sipgw call`` both bind SIP this way: a host name in
``--allow-from`` that does not resolve is exit status 2, a port that cannot be bound
(or a TLS certificate that does not load) exit status 1, each with one line naming it.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from sipgw.app.settings import ConfigError

if TYPE_CHECKING:
    from sipgw.app.gateway import Gateway

__all__ = ["start_gateway"]


async def start_gateway(gateway: Gateway) -> int | None:
    """Start the gateway; on failure print why and return the exit status (else None)."""
    config = gateway.config
    try:
        await gateway.start()
    except ConfigError as exc:  # an --allow-from name that does not resolve
        print(f"sipgw: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # ssl.SSLError too: a TLS certificate or key that does not load
        wanted = ", ".join(
            f"{name.lower()}:{config.bind}:{config.tls_port if name == 'TLS' else config.sip_port}"
            for name in config.transports
        )
        print(f"sipgw: error: cannot listen on {wanted}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    return None
