"""Twilio's status callbacks of every call on a line (sipgw/app/twilio/api/linestatus.py):
the line's keys read, the subscription made from a call's line, and an inbound call to an
in-process gateway whose line asks for them, the callbacks checked by the ``twilio`` SDK's
RequestValidator (tests/sipgw/app/twilio/api/receiver.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from sipgw.agent.twiml.webhook import call_sid_of
from sipgw.app.admin.server import AdminServer
from sipgw.app.admin.settings import AdminSettings
from sipgw.app.calls.callfeed import CallEntry
from sipgw.app.evaluation.ports import free_port
from sipgw.app.lines.routesfile import parse_routes_file
from sipgw.app.twilio.api.linestatus import line_subscriber, number_of
from sipgw.app.twilio.api.settings import TwilioApiSection
from sipgw.foundation.settings import ConfigError
from tests.sipgw.app.twilio.api.receiver import status_receiver
from tests.toolkit.gateway_in_process import running_gateway

pytestmark = pytest.mark.timeout(60)

ACCOUNT = "AC" + "7" * 32
TOKEN = "0a1b2c3d4e5f60718293a4b5c6d7e8f9"


def test_the_number_of_an_address() -> None:
    assert number_of("sip:+15551230001@10.0.0.1:5060") == "+15551230001"
    assert number_of("<sip:5551230001@carrier.example;user=phone>") == "5551230001"
    assert number_of("sip:alice@example.com") == "sip:alice@example.com"


def test_a_lines_keys(tmp_path: Path) -> None:
    table = parse_routes_file(_write(tmp_path, (
        'default = "d"\n[lines.a]\nstatus_callback = "https://app.example/status"\n'
        'status_callback_events = ["initiated", "answered", "completed"]\n'
        '[lines.b]\nstatus_callback = "https://app.example/b"\n'
        '[lines.c]\nstatus_callback = "https://app.example/c"\n'
        'status_callback_events = "ringing completed"\n[lines.d]\n'
    )))  # fmt: skip
    specs = table.lines
    assert specs["a"].status_callback == "https://app.example/status"
    assert specs["a"].status_callback_events == {"initiated", "answered", "completed"}
    assert specs["b"].status_callback_events == {"completed"}  # Twilio's default
    assert specs["c"].status_callback_events == {"ringing", "completed"}
    assert specs["d"].status_callback == ""
    settings_file = _write(tmp_path, '[lines.s]\nstatus_callback = "https://app.example/s"\n'
                                     '[[routes]]\nline = "s"\n')  # fmt: skip
    in_settings = parse_routes_file(settings_file, settings_file=True).lines["s"]
    assert in_settings.status_callback == "https://app.example/s"  # the settings file's too
    for bad, words in [
        ('status_callback = "ftp://x"\n', "must be an http"),
        ('status_callback = "https://x/"\nstatus_callback_events = ["hangup"]\n', "hangup"),
        ('status_callback_events = ["completed"]\n', "needs status_callback"),
    ]:
        with pytest.raises(ConfigError, match=words):
            parse_routes_file(_write(tmp_path, f'default = "x"\n[lines.x]\n{bad}'))


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "routes.toml"
    path.write_text(text)
    return path


def test_no_line_no_subscription() -> None:
    entry = CallEntry(id="x", call_id="c@h", caller="sip:+1@h", caller_name=None,
                      called="sip:+2@h", direction="inbound", started=0.0)  # fmt: skip
    assert line_subscriber(None, ACCOUNT)(entry) is None


ROUTES = """
[lines.support]
status_callback = "{url}"
status_callback_events = ["initiated", "ringing", "answered", "completed"]
[lines.quiet]
[[routes]]
called = "+15550100"
line = "support"
[[routes]]
called = "+15550200"
line = "quiet"
"""


async def test_an_inbound_call_on_the_line_posts_its_status_callbacks(tmp_path: Path) -> None:
    async with status_receiver(TOKEN) as receiver:
        routes = _write(tmp_path, ROUTES.format(url=receiver.url))
        async with running_gateway(routes=routes) as (gateway, new_phone):
            settings = TwilioApiSection(twilio_api_account_sid=ACCOUNT,
                                        twilio_api_auth_token=TOKEN)  # fmt: skip
            admin = AdminSettings(port=free_port(), token="admin-t" * 4)
            server = AdminServer(gateway, admin, twilio_api=settings,
                                 status_db=tmp_path / "hooks.sqlite3")  # fmt: skip
            await server.start()
            try:
                quiet = await new_phone(user="+15550200")
                assert (await quiet.invite()).status == 200
                await quiet.bye()
                phone = await new_phone(user="+15550100")
                assert (await phone.invite()).status == 200
                (handle,) = gateway.handles.values()
                call_id = handle.call.call_id
                await phone.bye()
                forms = await receiver.until(3)
            finally:
                await server.stop()
    statuses = [f["CallStatus"] for f in forms]
    assert statuses == ["initiated", "in-progress", "completed"], forms  # no 180 inbound
    assert [f["SequenceNumber"] for f in forms] == ["0", "1", "2"]
    for form in forms:
        assert form["CallSid"] == call_sid_of(call_id) and form["AccountSid"] == ACCOUNT
        assert form["Direction"] == "inbound" and form["To"] == "+15550100"
        assert form["Timestamp"]
    assert int(forms[-1]["CallDuration"]) >= 0 and forms[-1]["SipResponseCode"] == "200"
    assert len(receiver.got) == 3  # the quiet line's call posted nothing


async def test_a_call_placed_on_the_line_posts_its_status_callbacks(tmp_path: Path) -> None:
    async with status_receiver(TOKEN) as receiver:
        routes = _write(tmp_path, ROUTES.format(url=receiver.url))
        async with (
            running_gateway(ring_time=0.3) as (callee, _),
            running_gateway(routes=routes) as (gateway, _),
        ):
            settings = TwilioApiSection(twilio_api_account_sid=ACCOUNT,
                                        twilio_api_auth_token=TOKEN)  # fmt: skip
            admin = AdminSettings(port=free_port(), token="admin-t" * 4)
            server = AdminServer(gateway, admin, twilio_api=settings,
                                 status_db=tmp_path / "hooks.sqlite3")  # fmt: skip
            await server.start()
            try:
                target = f"sip:+15557650002@127.0.0.1:{callee.ua.config.sip_port}"
                placed = await gateway.originate(target, line="support")
                assert placed.handle is not None
                call_id = placed.handle.call.call_id
                forms = await receiver.until(3)  # initiated, ringing, answered
                placed.handle.hangup(by="operator")
                forms = await receiver.until(4)
            finally:
                await server.stop()
    assert [f["CallStatus"] for f in forms] == ["initiated", "ringing", "in-progress", "completed"]
    for form in forms:
        assert form["CallSid"] == call_sid_of(call_id) and form["Direction"] == "outbound-api"
        assert form["To"] == "+15557650002"
