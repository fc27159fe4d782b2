"""Which agent or line answers an incoming call (sipgw/app/lines/routing.py)."""

from __future__ import annotations

from pathlib import Path

from sipgw.agent.base import Agent, CallControl
from sipgw.agent.capabilities import plugin_factory
from sipgw.app.lines.build import LineBase
from sipgw.app.lines.reload import Lines
from sipgw.app.lines.routing import LINE_BUSY, NOT_THIS_PEER, AgentRoutes
from sipgw.app.upstream.accounts import Account
from sipgw.foundation.settings import Sources
from sipgw.sip.call import CallInfo
from sipgw.sip.headers import NameAddr

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


DEFAULT = plugin_factory(default)
"""The gateway's agent as its plug-in is built: what lines that change nothing share."""


def lines(tmp_path: Path, text: str) -> Lines:
    sources = Sources({})
    path = tmp_path / "routes.toml"
    path.write_text(text)
    base = LineBase(sources, "echo", DEFAULT, accounts=("office", "trunk"))
    return Lines(path, base)


ROUTES = """\
unknown_status = 480
[lines.sales]
max_calls = 2
[lines.office]
[[routes]]
called = "+15550100"
line = "sales"
[[routes]]
account = "office"
line = "office"
"""


def test_with_a_routes_file_the_route_gives_the_line(tmp_path: Path) -> None:
    routes = AgentRoutes((OFFICE, TRUNK), {"trunk": trunk_agent}, default, lines(tmp_path, ROUTES))
    sales = routes.choose(to("<sip:+15550100@sip.telnyx.example>"), lambda line: 0)
    assert sales.line is not None and sales.line.name == "sales" and sales.factory is DEFAULT
    assert sales.account is TRUNK  # the account's own agent no longer decides
    office = routes.choose(to("<sip:1001@pbx.example.com>"), lambda line: 0)
    assert office.line is not None and office.line.name == "office"


def test_unknown_numbers_are_refused_or_go_to_the_default_line(tmp_path: Path) -> None:
    routes = AgentRoutes((OFFICE,), {}, default, lines(tmp_path, ROUTES))
    refused = routes.choose(to("<sip:+4420@gw.example>"), lambda line: 0)
    assert refused.factory is None and refused.refuse == 480 and refused.line is None
    assert refused.why == "no route matches"
    routes.lines = lines(tmp_path, 'default = "office"\n' + ROUTES)
    caught = routes.choose(to("<sip:+4420@gw.example>"), lambda line: 0)
    assert caught.line is not None and caught.line.name == "office" and caught.refuse is None


def test_a_line_at_its_limit_is_busy(tmp_path: Path) -> None:
    routes = AgentRoutes((), {}, default, lines(tmp_path, ROUTES))
    busy = routes.choose(to("<sip:+15550100@gw>"), {"sales": 2}.get)  # type: ignore[arg-type]
    assert busy.refuse == LINE_BUSY == 486 and busy.factory is None
    assert busy.line is not None and busy.why == "line sales has its 2 calls up"
    room = routes.choose(to("<sip:+15550100@gw>"), lambda line: 1)
    assert room.refuse is None and room.factory is DEFAULT


def test_a_line_with_tls_peer_names_takes_calls_from_those_peers_only(tmp_path: Path) -> None:
    names = '["SBC1.example.com", "sbc2.example.com"]'
    text = f'default = "trunk"\n[lines.trunk]\ntls_peer_names = {names}\n'
    routes = AgentRoutes((), {}, default, lines(tmp_path, text))
    call = to("<sip:+15550100@gw>")
    peers: dict[str, tuple[str, ...] | None] = {
        "sbc2": ("sbc2.example.com", "10.0.0.2"),
        "udp": None,
        "other": ("other.example.com",),
        "anonymous": (),
    }
    taken = routes.choose(call, lambda line: 0, lambda call: peers["sbc2"])
    assert taken.refuse is None and taken.factory is DEFAULT and taken.kind == ""
    for peer, came in (
        ("udp", "not over TLS"),
        ("other", "from other.example.com"),
        ("anonymous", "from no name"),
    ):
        refused = routes.choose(call, lambda line: 0, lambda call, peer=peer: peers[peer])  # type: ignore[misc]
        assert refused.refuse == NOT_THIS_PEER == 403 and refused.factory is None, peer
        assert refused.kind == "tls-peer" and refused.line is not None
        assert refused.why == (
            f"line trunk takes calls from sbc1.example.com, sbc2.example.com only: it came {came}"
        )
