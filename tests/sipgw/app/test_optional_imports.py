"""The heavy optional libraries are imported only by the features that use them.

aiohttp (about 23 MB of resident memory) serves the admin server and posts webhooks;
dnspython (about 14 MB) asks the RFC 3263 NAPTR/SRV questions; OpenTelemetry (the otel
extra) exports traces when ``OTEL_*`` asks for them. An echo gateway with no admin port, no
webhook URL, no summary, no host name to look up and no tracing must load none: the real
``sipgw serve`` runs here, answers a call, and prints at exit which of them it holds.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from sipgw.app.evaluation.gateway_process import GatewayProcess
from sipgw.app.evaluation.phone import Phone
from sipgw.app.evaluation.ports import free_port

PROBE = """
import atexit, sys
from sipgw.app.cli import main

def report():
    heavy = {"aiohttp", "dns", "opentelemetry"}
    held = sorted({name.split(".")[0] for name in sys.modules} & heavy)
    sys.stderr.write("heavy modules: [" + " ".join(held) + "]\\n")

atexit.register(report)
sys.exit(main(sys.argv[1:]))
"""


def heavy_modules_held(
    workdir: Path, extra_args: list[str], call: bool, env: dict[str, str] | None = None
) -> set[str]:
    """Run the gateway, optionally answer one echo call, stop it; the heavy modules it held."""
    with GatewayProcess(
        workdir, program=[sys.executable, "-c", PROBE], extra_args=extra_args, extra_env=env
    ) as gateway:
        if call:
            asyncio.run(_one_call(gateway.address))
        assert gateway.stop() == 0, gateway.log_tail()
        found = gateway.wait_log(r"heavy modules: \[(?P<held>[^\]]*)\]")
    return set(found["held"].split())


async def _one_call(address: tuple[str, int]) -> None:
    phone = Phone(address)
    try:
        answer = await phone.invite()
        assert answer.status == 200
        phone.start_audio()
        await phone.wait_heard(0.0, loud=False)  # the echo flows
        await phone.stop_audio()
        assert (await phone.bye()).status == 200
    finally:
        phone.close()


def test_an_echo_gateway_without_admin_webhooks_or_lookups_loads_neither(
    tmp_path: Path,
) -> None:
    assert heavy_modules_held(tmp_path, [], call=True) == set()


def test_the_admin_server_loads_aiohttp_and_still_no_dnspython(tmp_path: Path) -> None:
    held = heavy_modules_held(tmp_path, ["--admin-port", str(free_port())], call=False)
    assert held == {"aiohttp"}


def test_a_webhook_url_loads_aiohttp_for_the_delivery(tmp_path: Path) -> None:
    env = {"SIPGW_WEBHOOK_URL": f"http://127.0.0.1:{free_port()}/events",
           "SIPGW_WEBHOOK_SECRET": "a webhook secret of 32 bytes or more",
           "SIPGW_WEBHOOK_DB": str(tmp_path / "outbox.db")}  # fmt: skip
    assert heavy_modules_held(tmp_path, [], call=False, env=env) == {"aiohttp"}


def test_an_otlp_endpoint_loads_opentelemetry_and_nothing_else(tmp_path: Path) -> None:
    env = {"OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{free_port()}"}
    assert heavy_modules_held(tmp_path, [], call=True, env=env) == {"opentelemetry"}
