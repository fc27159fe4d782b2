"""Where an incoming call goes: a line of the routes file, else its account's agent or ours.

A registrar routes a call to the Contact we registered but keeps the account's
AOR in To, so To names the account: :meth:`AgentRoutes.account_for` matches its
user and host, or the user alone when only one account has that user.

With a routes file (``--routes``, :mod:`sipgw.app.lines`), :meth:`AgentRoutes.choose`
gives the call the line of the first route it takes, else the default line; a call
no route takes is refused (``unknown_status``, 404 by default), and so is a call to a
line already holding its ``max_calls`` (486 Busy Here), and a call to a line with
``tls_peer_names`` that did not come over TLS from a peer whose certificate names one
of them (403). Without one, every call gets
its account's agent (``agent`` in the accounts file), else the gateway's. Every
incoming call asks (:mod:`sipgw.app.calls.inbound`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from sipgw.agent.base import AgentFactory
from sipgw.app.lines.build import Line
from sipgw.app.lines.reload import Lines
from sipgw.app.upstream.accounts import Account
from sipgw.sip.call import CallInfo

__all__ = ["LINE_BUSY", "NOT_THIS_PEER", "AgentRoutes", "CallRoute"]

LINE_BUSY = 486
"""The answer to a call for a line that holds its ``max_calls`` (Busy Here, as a PBX
answers for a busy extension)."""
NOT_THIS_PEER = 403
"""The answer to a call for a line whose ``tls_peer_names`` its peer is not one of."""


@dataclass(frozen=True, slots=True)
class CallRoute:
    """Where one incoming call goes: its agent and line, or the status refusing it."""

    factory: AgentFactory | None
    """Who answers; None when the call is refused."""
    line: Line | None = None
    """Its line (None without a routes file, or when no route took it)."""
    account: Account | None = None
    """The account it was made to, if one."""
    refuse: int | None = None
    """The final status to refuse it with, if it is refused."""
    why: str = ""
    """Why it is refused, for the log."""
    headers: tuple[tuple[str, str], ...] = ()
    """Headers of the refusal (a SIPREC refusal's ``Require`` or ``Unsupported``)."""
    kind: str = ""
    """Why it is refused, for ``sipgw_route_refusals_total``: ``no-route``, ``line-busy``,
    ``tls-peer``, ``siprec`` ("": from its status)."""


class AgentRoutes:
    """The accounts, the agent of each, and the lines of the routes file if there is one.

    Args:
        accounts: the configured accounts.
        account_agents: agent factories by account name, for accounts another agent answers.
        default: the gateway's agent (``--agent``).
        lines: the routes file's lines in force; None = no routes file.
    """

    def __init__(
        self,
        accounts: Iterable[Account],
        account_agents: Mapping[str, AgentFactory],
        default: AgentFactory,
        lines: Lines | None = None,
    ) -> None:
        self.accounts = tuple(accounts)
        self.account_agents = dict(account_agents)
        self.default = default
        self.lines = lines

    def account_for(self, call: CallInfo) -> Account | None:
        """The account a call was made to: its AOR's user and host, else the user alone."""
        uri = call.called.uri
        user = getattr(uri, "user", None) or ""
        host = str(getattr(uri, "host", "")).lower()
        same_user = [a for a in self.accounts if a.user == user]
        for account in same_user:
            if account.host == host:
                return account
        return same_user[0] if len(same_user) == 1 else None

    def factories(self) -> list[AgentFactory]:
        """Every agent an incoming call may get now: the gateway's, the accounts' own, the
        lines'."""
        lines = self.lines.table.lines.values() if self.lines is not None else ()
        return [self.default, *self.account_agents.values(), *(line.factory for line in lines)]

    def agent_for(self, call: CallInfo) -> AgentFactory:
        """The agent of the account the call was made to, else the gateway's."""
        account = self.account_for(call)
        if account is not None and account.name in self.account_agents:
            return self.account_agents[account.name]
        return self.default

    def line_named(self, name: str) -> Line:
        """The routes file's line ``name`` (to place a call on).

        Raises:
            ValueError: there is no routes file, or no such line (the message lists them).
        """
        lines = self.lines.table.lines if self.lines is not None else {}
        found = lines.get(name)
        if found is None:
            known = ", ".join(lines) or "none: no routes file"
            raise ValueError(f"no line {name!r} (lines: {known})")
        return found

    def choose(
        self,
        call: CallInfo,
        busy: Callable[[str], int],
        tls_peer: Callable[[CallInfo], tuple[str, ...] | None] = lambda call: None,
    ) -> CallRoute:
        """Where ``call`` goes (see the module docstring); ``busy(line)`` counts the
        calls up on a line, ``tls_peer(call)`` gives the names in the certificate of the
        peer it came from over TLS (None: not over TLS)."""
        account = self.account_for(call)
        if self.lines is None:
            return CallRoute(self.agent_for(call), account=account)
        table = self.lines.table
        line = table.route(call, account.name if account else None)
        if line is None:
            return CallRoute(
                None, account=account, refuse=table.unknown_status, why="no route matches",
                kind="no-route",
            )  # fmt: skip
        wanted = line.spec.tls_peer_names
        if wanted:
            names = tls_peer(call)
            if names is None or not set(names) & set(wanted):
                came = "not over TLS" if names is None else f"from {', '.join(names) or 'no name'}"
                why = f"line {line.name} takes calls from {', '.join(wanted)} only: it came {came}"
                return CallRoute(None, line, account, NOT_THIS_PEER, why, kind="tls-peer")
        limit = line.spec.max_calls
        if limit and busy(line.name) >= limit:
            why = f"line {line.name} has its {limit} call{'s' if limit > 1 else ''} up"
            return CallRoute(None, line, account, LINE_BUSY, why, kind="line-busy")
        return CallRoute(line.factory, line, account)
