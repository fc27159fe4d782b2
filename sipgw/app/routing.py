"""Which agent answers a call: its account's (``agent`` in the accounts file), else the gateway's.

A registrar routes a call to the Contact we registered but keeps the account's
AOR in To, so To names the account: :meth:`AgentRoutes.account_for` matches its
user and host, or the user alone when only one account has that user. Routes by
called number or by line would extend :meth:`AgentRoutes.agent_for`; every
incoming call asks it (:mod:`sipgw.app.inbound`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from agent.base import AgentFactory
from sipgw.app.accounts import Account
from sipgw.call import CallInfo

__all__ = ["AgentRoutes"]


class AgentRoutes:
    """The accounts and the agent of each.

    Args:
        accounts: the configured accounts.
        account_agents: agent factories by account name, for accounts another agent answers.
        default: the gateway's agent (``--agent``).
    """

    def __init__(
        self,
        accounts: Iterable[Account],
        account_agents: Mapping[str, AgentFactory],
        default: AgentFactory,
    ) -> None:
        self.accounts = tuple(accounts)
        self.account_agents = dict(account_agents)
        self.default = default

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

    def agent_for(self, call: CallInfo) -> AgentFactory:
        """The agent of the account the call was made to, else the gateway's."""
        account = self.account_for(call)
        if account is not None and account.name in self.account_agents:
            return self.account_agents[account.name]
        return self.default
