"""Starting a gateway for a command (sipgw.app.listen): the errors and exit statuses."""

from __future__ import annotations

import socket

import pytest

from sipgw.app.evaluation.ports import free_port_range
from sipgw.app.gateway import Gateway, GatewayParts
from sipgw.app.listen import start_gateway
from sipgw.app.security.access import AccessConfig
from sipgw.app.settings import GatewayConfig
from tests.toolkit.gateway_in_process import running_gateway


def gateway(port: int, **access: object) -> Gateway:
    config = GatewayConfig(bind="127.0.0.1", sip_port=port, rtp_ports=tuple(free_port_range(4)))  # type: ignore[arg-type]
    return Gateway(config, lambda call: None, GatewayParts(access=AccessConfig(**access)))  # type: ignore[arg-type, return-value]


async def test_a_port_in_use_is_exit_status_1_naming_it(capsys: pytest.CaptureFixture[str]) -> None:
    taken = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    taken.bind(("127.0.0.1", 0))
    port = taken.getsockname()[1]
    try:
        assert await start_gateway(gateway(port)) == 1
    finally:
        taken.close()
    assert f"sipgw: error: cannot listen on udp:127.0.0.1:{port}, tcp:127.0.0.1:{port}" in (
        capsys.readouterr().err
    )


async def test_an_allow_from_name_that_does_not_resolve_is_exit_status_2(
    capsys: pytest.CaptureFixture[str],
) -> None:
    bad = gateway(0, allow_from=("no-such-host.invalid",))
    assert await start_gateway(bad) == 2
    assert "no-such-host.invalid" in capsys.readouterr().err


async def test_a_gateway_that_starts_is_none() -> None:
    async with running_gateway() as (running, _):
        other = gateway(0)
        try:
            assert await start_gateway(other) is None and other.running
        finally:
            await other.stop()
        assert running.running
