"""The official ``twilio`` Node SDK against the REST subset, as docs/twilio-api.md shows it.

A real peer nobody here wrote: ``twilio`` from npm (installed by scripts/test in
``$SIPGW_TWILIO_NODE``, default ``~/.cache/sipgw-twilio-node-<version>``) runs the docs'
snippet (tests/interop/apps/twilio_node_calls.js): ``client.api.baseUrl`` set to the admin
server, ``calls.create`` with inline TwiML, ``calls(sid).fetch`` until ``in-progress``,
``calls(sid).update({status: "completed"})``, and a missing call raised as Twilio's 404
``20404``. The call goes to a second in-process gateway that answers (the set-up of
tests/sipgw/app/twilio/api/test_endpoints.py).
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from pathlib import Path

import pytest

from tests.sipgw.app.twilio.api.test_endpoints import ACCOUNT, TOKEN, TWIML, api

pytestmark = pytest.mark.timeout(90)

TWILIO_NODE_VERSION = "6.2.0"
"""The npm package scripts/test installs (keep the two in step)."""
SCRIPT = Path(__file__).parent / "apps" / "twilio_node_calls.js"


def node_modules() -> Path:
    default = Path.home() / ".cache" / f"sipgw-twilio-node-{TWILIO_NODE_VERSION}"
    modules = Path(os.environ.get("SIPGW_TWILIO_NODE", default)) / "node_modules"
    if shutil.which("node") is None or not (modules / "twilio" / "package.json").is_file():
        pytest.fail(f"node and the twilio npm package in {modules} are needed: scripts/test "
                    f"installs them (npm install twilio@{TWILIO_NODE_VERSION})")  # fmt: skip
    return modules


async def test_the_node_sdk_creates_a_call_and_ends_it(tmp_path: Path) -> None:
    modules = node_modules()
    async with api(tmp_path) as (server, _, callee):
        env = {**os.environ, "NODE_PATH": str(modules), "ACCOUNT_SID": ACCOUNT,
               "AUTH_TOKEN": TOKEN, "GATEWAY_URL": server.url, "TO": callee,
               "FROM": "+15551230001", "TWIML": TWIML}  # fmt: skip
        node = await asyncio.create_subprocess_exec(
            "node", str(SCRIPT), env=env, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        out, err = await asyncio.wait_for(node.communicate(), 60)
        assert node.returncode == 0, (out.decode(), err.decode()[-2000:])
        assert not server.gateway.handles  # the update ended the call
    steps = {line["step"]: line for line in map(json.loads, out.decode().splitlines())}
    created = steps["created"]
    assert created["status"] == "queued" and created["accountSid"] == ACCOUNT
    assert created["sid"].startswith("CA") and len(created["sid"]) == 34
    assert (created["to"], created["from"]) == (callee, "+15551230001")
    assert steps["fetched"]["status"] == "in-progress"
    assert steps["updated"]["status"] == "completed" and steps["updated"]["endTime"]
    assert (steps["error"]["status"], steps["error"]["code"]) == (404, 20404)
