"""Placing calls through Kamailio as the outbound proxy (407 challenge), to registered baresips."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from sipgw.app.agents import find_agent
from sipgw.app.evaluation.audio import analyse
from sipgw.app.evaluation.ports import free_port_range
from sipgw.app.gateway import Gateway, GatewayParts
from sipgw.app.settings import GatewayConfig
from sipgw.app.upstream.dialout import OutboundConfig
from sipgw.foundation.settings import Sources
from tests.toolkit.canaries import SIP_PASSWORD
from tests.toolkit.peers.baresip import Baresip
from tests.toolkit.peers.kamailio import Kamailio

pytestmark = [pytest.mark.timeout(120), pytest.mark.usefixtures("nothing_left_running")]

ToneWav = Callable[..., Path]
USERS = {"agent": SIP_PASSWORD, "bob": "bob-pw"}


def gateway_via(kam: Kamailio, max_call_seconds: float) -> Gateway:
    config = GatewayConfig(
        bind="127.0.0.1",
        sip_port=0,
        public_ip="127.0.0.1",
        rtp_ports=tuple(free_port_range(20)),  # type: ignore[arg-type]
        rtp_timeout=0.0,
        max_call_seconds=max_call_seconds,
    )
    outbound = OutboundConfig(
        proxy=kam.uri(),
        caller_id=f"sip:agent@{kam.hostport()}",
        username="agent",
        password=USERS["agent"],
    )
    factory = find_agent("echo").build(Sources())
    return Gateway(config, factory, GatewayParts(outbound=outbound))


async def test_call_through_kamailio_with_407(tmp_workdir: Path, tone_wav: ToneWav) -> None:
    source = tone_wav(700, 30, -9.0, lead_silence=0.3)
    with (
        Kamailio(tmp_workdir, users=USERS, challenge_invites=True) as kam,
        Baresip(
            tmp_workdir, "bob", user="bob", source_wav=source,
            account=kam.account_line("bob", params="answermode=auto;audio_codecs=pcmu"),
        ) as bob,
    ):  # fmt: skip
        kam.wait_registered("bob")
        gateway = gateway_via(kam, max_call_seconds=4.0)
        await gateway.start()
        try:
            outcome = await asyncio.wait_for(gateway.place_call(kam.aor("bob")), 30)
        finally:
            await gateway.stop()
        bob.wait_event("CALL_CLOSED", 5)
        heard, _ = bob.recordings()
        kam.wait_events("INVITE challenge from=agent")  # its log may lag the call
        kam.wait_events("INVITE authorized au=agent")
    assert outcome.answered and outcome.kind == "answered", outcome
    assert 3.5 <= outcome.duration <= 6.0, outcome
    report = analyse(heard)  # bob's tone went through the agent and came back
    assert report.dominant_hz is not None and abs(report.dominant_hz - 700) <= 5, report
    assert report.active_seconds >= 2.0, report.describe()


async def test_forked_call_answered_twice(tmp_workdir: Path, tone_wav: ToneWav) -> None:
    """Kamailio forks our INVITE to two auto-answering contacts of one AOR; when both answer,
    the extra fork gets our ACK, then our BYE at once (RFC 3261 §13.2.2.4).

    Whether both answer is a race the proxy decides: after the first 2xx it CANCELs the other
    branch, and a contact that had not answered yet is cancelled (correct, but not what this
    test is about). Such a round is accepted as correct and the call placed again, up to three
    times, until both forks answer.
    """
    source = tone_wav(700, 30, -9.0)
    params = "answermode=auto;audio_codecs=pcmu"
    with (
        Kamailio(tmp_workdir, users=USERS) as kam,
        Baresip(tmp_workdir, "bob1", user="bob", source_wav=source,
                account=kam.account_line("bob", params=params)) as bob1,
        Baresip(tmp_workdir, "bob2", user="bob", source_wav=source,
                account=kam.account_line("bob", params=params)) as bob2,
    ):  # fmt: skip
        deadline = time.monotonic() + 10
        while len(kam.registrations().get("bob", [])) < 2:
            assert time.monotonic() < deadline, kam.registrations()
            await asyncio.sleep(0.1)
        for _ in range(3):
            before = [len(bob.events) for bob in (bob1, bob2)]
            gateway = gateway_via(kam, max_call_seconds=3.0)
            await gateway.start()
            try:
                outcome = await asyncio.wait_for(gateway.place_call(kam.aor("bob")), 30)
            finally:
                await gateway.stop()
            assert outcome.answered and 2.5 <= outcome.duration <= 5.0, outcome
            closed = [bob.wait_event("CALL_CLOSED", 8) for bob in (bob1, bob2)]
            established = [
                any(e.get("type") == "CALL_ESTABLISHED" for e in bob.events[start:])
                for bob, start in zip((bob1, bob2), before, strict=True)
            ]
            assert any(established), closed
            if all(established):
                break
        else:
            pytest.fail("in three rounds the proxy never let both forks answer")
    # Both dialogs end with our BYE: the extra fork's at once, the call's at its 3 s limit.
    times = [event["received_at"] for event in closed]
    assert abs(times[0] - times[1]) >= 2.0, closed  # the extra fork did not last the call
