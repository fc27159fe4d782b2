"""Where registrations and placed calls go: a trunk's servers found by RFC 3263, kept current.

A carrier publishes its signalling addresses in DNS (NAPTR, SRV with priorities and weights,
A/AAAA) so that calls survive one of them failing. :class:`Trunks` looks them up
(:class:`~sipgw.aio.dns.ServerLocator`) and hands the SIP core the list of places to try
(:mod:`sipgw.sip.locate`), which then moves to the next one on a transport error, a timeout or a
503 (RFC 3263 §4.3, in ``usages/register`` and ``usages/outbound``):

- an account's registrar (or outbound proxy) is looked up before it registers, and again
  each time the answers' TTL runs out; new targets reach the core with
  :meth:`~sipgw.sip.useragent.UserAgent.retarget` (a registration keeps the server it uses
  while that one is still listed);
- a placed call's first hop (the outbound proxy, else the target) is looked up when the
  call is placed (answers cached for their TTL).

A host that is an IP address needs no lookup. A lookup that finds nothing leaves the request
to the URI's own host (the transport resolves its A record), as before RFC 3263. The
``dns`` section (:mod:`sipgw.app.upstream.settings`) says which DNS servers to ask.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import socket
from collections.abc import Callable, Iterable
from functools import cached_property, partial
from typing import TYPE_CHECKING

from sipgw.aio.endpoint import SipEndpoint
from sipgw.app.upstream.settings import DnsSection
from sipgw.foundation.stopping import cancel_and_wait
from sipgw.sip.addressing import Flow
from sipgw.sip.locate import TargetList, is_ip
from sipgw.sip.uri import SipUri
from sipgw.sip.usages.outbound import first_hop
from sipgw.sip.usages.register import next_hop
from sipgw.sip.useragent import OutboundCall, RegistrationConfig

if TYPE_CHECKING:
    from sipgw.aio.dns import ServerLocator

__all__ = ["Trunks"]

log = logging.getLogger("sipgw.dns")


class Trunks:
    """Looks up registrars and call targets and keeps registrations' targets current.

    Args:
        settings: the ``dns`` section.
        sip: the SIP endpoint (once the gateway has started).
        bind: our SIP address (which address family is usable).
        found: told of the servers DNS finds for each account's registrations (its AOR and
            them), e.g. to give its TLS ones the account's certificate.
    """

    def __init__(
        self,
        settings: DnsSection,
        sip: Callable[[], SipEndpoint],
        bind: str = "0.0.0.0",
        found: Callable[[str, tuple[Flow, ...]], None] = lambda aor, flows: None,
    ) -> None:
        self._settings = settings
        self._family = socket.AF_INET6 if ":" in bind else socket.AF_INET
        self._sip = sip
        self._refreshers: list[asyncio.Task[None]] = []
        self._found = found

    @cached_property
    def locator(self) -> ServerLocator:
        """The DNS side, made at the first lookup: a gateway that never looks a name up
        never imports dnspython (about 14 MB)."""
        from sipgw.aio.dns import ServerLocator

        settings = self._settings
        return ServerLocator(
            settings.dns_servers, families=(self._family,), timeout=settings.dns_timeout
        )

    async def _targets(self, hop: SipUri) -> TargetList:
        return await self.locator.locate(hop, asyncio.get_running_loop().time())

    async def register(self, config: RegistrationConfig) -> None:
        """Look the account's next hop up, then start registering it (and keep its targets
        current while the gateway runs).

        Raises:
            LocalProtocolError: a URI or the transport of ``config`` is unusable.
            InvalidState: that AOR is already registering.
        """
        hop = next_hop(config)
        found = await self._targets(hop)
        self._found(config.aor, found.flows)
        sip = self._sip()
        sip.act(lambda now: sip.ua.register(dataclasses.replace(config, targets=found.flows), now))
        if found.flows:
            log.info("%s: registering via %s", config.aor, _describe(found.flows))
        if not is_ip(hop.host):
            refresh = self._refresh(config.aor, hop, found)
            self._refreshers.append(asyncio.get_running_loop().create_task(refresh))

    async def register_all(self, configs: Iterable[RegistrationConfig]) -> None:
        """:meth:`register` each of ``configs``, their registrars looked up at the same time
        (the start waits for the slowest lookup, not for their sum).

        Raises:
            LocalProtocolError, InvalidState: as :meth:`register` (the first to fail; the
                others go on).
        """
        await asyncio.gather(*(self.register(config) for config in configs))

    async def _refresh(self, aor: str, hop: SipUri, found: TargetList) -> None:
        loop = asyncio.get_running_loop()
        current = found.flows
        while True:
            await asyncio.sleep(max(1.0, found.expires - loop.time()))
            found = await self._targets(hop)
            if found.flows and found.flows != current:
                current = found.flows
                self._found(aor, current)
                log.info("%s: the registrar's servers are now %s", aor, _describe(current))
                sip = self._sip()
                sip.act(partial(sip.ua.retarget, aor, current))

    async def call_targets(self, spec: OutboundCall) -> tuple[Flow, ...]:
        """Where a call's INVITE may go, in order (empty: its first hop's own flow)."""
        hop = first_hop(spec)
        if is_ip(hop.host):
            return ()
        return (await self._targets(hop)).flows

    async def stop(self) -> None:
        """Stop keeping the registrations' targets current.

        A refresher's cancel can be lost (dnspython's asyncio backend waits for an answer
        with CPython 3.11's ``asyncio.wait_for``, which returns one that came with the
        cancel): :func:`cancel_and_wait` cancels again until it has ended.
        """
        await cancel_and_wait(*self._refreshers)
        self._refreshers.clear()


def _describe(flows: tuple[Flow, ...]) -> str:
    return ", ".join(f"{f.transport.lower()}:{f.address[0]}:{f.address[1]}" for f in flows)
