"""Which agent answers an incoming call (sipgw/app/routing.py)."""

from __future__ import annotations

from agent.base import Agent, CallControl
from sipgw.app.accounts import Account
from sipgw.app.routing import AgentRoutes
from sipgw.call import CallInfo
from sipgw.headers import NameAddr

OFFICE = Account("office", "sip:1001@pbx.example.com")
TRUNK = Account("trunk", "sip:+15550100@sip.telnyx.example", agent="assistant")
LAB = Account("lab", "sip:1001@lab.example.com")


def default(call: CallControl) -> Agent:
    raise AssertionError("never built here")


def trunk_agent(call: CallControl) -> Agent:
    raise AssertionError("never built here")


def to(uri: str) -> CallInfo:
    return CallInfo(("c", "t"), NameAddr.parse("<sip:a@b>"), NameAddr.parse(uri))


def test_the_called_aor_names_the_account() -> None:
    routes = AgentRoutes((OFFICE, TRUNK), {"trunk": trunk_agent}, default)
    assert routes.account_for(to("<sip:1001@PBX.example.com>")) is OFFICE  # hosts any case
    assert routes.account_for(to("<sip:+15550100@sip.telnyx.example>;tag=x")) is TRUNK
    assert routes.account_for(to("<sip:1001@192.0.2.1:5070>")) is OFFICE  # the user alone
    assert routes.account_for(to("<sip:999@pbx.example.com>")) is None
    assert routes.account_for(to("<tel:+15550100>")) is None  # no user part to match


def test_a_user_two_accounts_share_needs_the_host() -> None:
    routes = AgentRoutes((OFFICE, LAB), {}, default)
    assert routes.account_for(to("<sip:1001@lab.example.com>")) is LAB
    assert routes.account_for(to("<sip:1001@192.0.2.1>")) is None  # which one: unknown


def test_the_agent_is_the_accounts_else_the_gateways() -> None:
    routes = AgentRoutes((OFFICE, TRUNK), {"trunk": trunk_agent}, default)
    assert routes.agent_for(to("<sip:+15550100@sip.telnyx.example>")) is trunk_agent
    assert routes.agent_for(to("<sip:1001@pbx.example.com>")) is default  # no agent of its own
    assert routes.agent_for(to("<sip:echo@192.0.2.1>")) is default  # no account at all
