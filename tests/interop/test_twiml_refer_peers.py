"""``<Dial referUrl>`` between real phones: a baresip caller, ``sipgw serve --agent twiml`` (a
subprocess) following an app on the official ``twilio`` SDK, a baresip called party (agent A)
that transfers the caller with a SIP REFER (baresip's ``transfer``), and a third baresip (agent
B), the transfer target (docs/twilio-apps.md, ``<Dial>``).

The gateway accepts agent A's REFER (202, NOTIFYs), posts ``referUrl`` with
``ReferTransferTarget`` (signed: the SDK's RequestValidator accepts it), runs the TwiML the
app returns (a ``<Dial><Sip>`` to the target) for the caller, and hangs agent A up: the caller
and agent B then hear each other.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from twilio.twiml.voice_response import Dial, VoiceResponse

from tests.interop.test_twiml_dial_peers import gateway, tone
from tests.interop.test_twiml_peers import CALLER_HZ, TOKEN, record
from tests.interop.test_warm_transfer_peers import wait_heard
from tests.toolkit.peers.baresip import Baresip
from tests.toolkit.twilio_app import TwilioSdkApp, WebhookRequest

pytestmark = [pytest.mark.timeout(60), pytest.mark.usefixtures("nothing_left_running")]

AGENT_A_HZ = 600
AGENT_B_HZ = 900


@pytest.fixture
def app() -> Iterator[TwilioSdkApp]:
    peer = TwilioSdkApp(TOKEN).start_in_thread()
    try:
        yield peer
    finally:
        peer.stop_thread()


def test_the_called_party_transfers_the_caller_with_refer(
    tmp_workdir: Path, app: TwilioSdkApp
) -> None:
    with (
        Baresip(tmp_workdir, "agenta", user="agenta", answermode="auto",
                source_wav=tone(tmp_workdir, "agenta", AGENT_A_HZ)) as agent_a,
        Baresip(tmp_workdir, "agentb", user="agentb", answermode="auto",
                source_wav=tone(tmp_workdir, "agentb", AGENT_B_HZ)) as agent_b,
    ):  # fmt: skip

        def build(app_: TwilioSdkApp, request: WebhookRequest) -> VoiceResponse:
            response = VoiceResponse()
            if request.path == "/refer":  # the target from Refer-To, as Twilio's page shows
                target = request.params["ReferTransferTarget"].strip("<>").split("?")[0]
                response.dial().sip(target)
                return response
            dial = Dial(refer_url="/refer")
            dial.sip(agent_a.uri)
            response.append(dial)
            return response

        app.twiml = build
        allow = f"{agent_a.uri},{agent_b.uri}"
        with (
            gateway(tmp_workdir, app, allow) as gw,
            Baresip(tmp_workdir, "a", user="a",
                    source_wav=tone(tmp_workdir, "caller", CALLER_HZ)) as caller,
        ):  # fmt: skip
            caller.dial(gw.uri("bot"))
            caller.wait_event("CALL_ESTABLISHED", 10)
            agent_a.wait_event("CALL_ESTABLISHED", 10)
            wait_heard(caller, AGENT_A_HZ, 0.5)  # bridged with agent A
            agent_a.command("transfer", agent_b.uri)  # a REFER in agent A's call
            agent_b.wait_event("CALL_ESTABLISHED", 10)  # the app's <Dial> to the target
            agent_a.wait_event("CALL_CLOSED", 10)  # agent A is out of the call
            wait_heard(agent_b, CALLER_HZ, 0.5)
            wait_heard(caller, AGENT_B_HZ, 0.5)  # the caller talks to agent B now
            refers = [r for r in app.requests if r.path == "/refer"]
            caller.hangup()
            agent_b.wait_event("CALL_CLOSED", 10)
            assert gw.stop() == 0
    (refer,) = refers
    assert refer.valid, "RequestValidator refused the referUrl request's signature"
    assert agent_b.uri.split(";")[0] in refer.params["ReferTransferTarget"]
    assert refer.params["CallStatus"] == "in-progress"
    kinds = [line["type"] for line in record(tmp_workdir)]
    assert "twiml_dial_refer" in kinds and "twiml_dial_referred" in kinds
