"""Answering offered calls (sipgw/app/calls/inbound.py): RTP port, 180, ring time, agent, 200, ACK.

The gateway runs in-process on real loopback sockets; a scripted phone calls it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from pathlib import Path

import pytest

from sipgw.agent.base import CallControl
from sipgw.agent.echo.agent import EchoAgent
from sipgw.app.evaluation.ports import free_port_range
from sipgw.app.security.passports import CertificateFetcher, PassportVerifier
from sipgw.media import g711
from sipgw.sip.message import SipRequest, SipResponse
from sipgw.sip.passportcheck import load_trust_anchors
from tests.toolkit.gateway_in_process import running_gateway
from tests.toolkit.metrics import sample_value
from tests.toolkit.passport import shaken
from tests.toolkit.sti import StiPki, identity_value, jws_part

pytestmark = pytest.mark.timeout(30)


class FailingAgent(EchoAgent):
    async def prepare(self) -> None:
        raise ConnectionError("speech service unreachable")


async def test_ring_then_prepare_then_answer() -> None:
    """180 at once; the agent is built and prepared only after the ring time; then 200."""
    prepared: list[float] = []

    class TimedAgent(EchoAgent):
        async def prepare(self) -> None:
            prepared.append(asyncio.get_running_loop().time())

    async with running_gateway(lambda call: TimedAgent(call), ring_time=0.3) as (_, new_phone):
        caller = await new_phone()
        sent = asyncio.get_running_loop().time()
        caller.send(caller.request("INVITE", caller.sdp()))
        ringing = await caller.expect(lambda m: isinstance(m, SipResponse) and m.status == 180)
        assert isinstance(ringing, SipResponse) and not prepared
        ok = await caller.expect(lambda m: isinstance(m, SipResponse) and m.status == 200)
        assert isinstance(ok, SipResponse) and len(prepared) == 1
        assert prepared[0] - sent >= 0.3  # not during the ring time
        caller.to_tag = ok.to.tag
        caller.send(caller.request("ACK"))
        await caller.bye()


async def test_first_rtp_packet_leaves_at_the_ack_not_before() -> None:
    """No RTP before the dialog is confirmed (issue 21): a 200 OK's SDP names whatever
    address the INVITE gave, and only the ACK shows the caller is there. The first packet
    goes out as the ACK arrives, at once rather than at the next tick: behind a NAT that
    filters by address and port, the caller's RTP gets in only through the mapping our own
    RTP opens (docs/nat.md)."""
    async with running_gateway() as (_, new_phone):
        caller = await new_phone()
        ok = await caller.invite()
        assert ok.status == 200 and caller.answered_at is not None
        for _ in range(100):  # the RTP socket's reader may not have run yet
            if caller.heard:
                break
            await asyncio.sleep(0.01)
        assert caller.heard, "no RTP from the gateway"
        assert caller.heard[0].at > caller.answered_at, (caller.heard[0].at, caller.answered_at)
        assert caller.heard[0].at - caller.answered_at < 0.5
        first = caller.heard[0].packet
        assert first.marker and first.payload == g711.silence_frame("PCMU")
        await caller.hang_up()


async def test_an_invite_never_acked_gets_no_rtp() -> None:
    """The 200 is retransmitted until the ACK (RFC 3261 §13.3.1.4), but no media goes to
    the SDP's address meanwhile: one INVITE cannot aim a stream at someone else."""
    async with running_gateway(sip_t1=0.05) as (gateway, new_phone):
        caller = await new_phone()
        caller.send(caller.request("INVITE", caller.sdp()))
        await caller.expect(lambda m: isinstance(m, SipResponse) and m.status == 200)
        await caller.expect(lambda m: isinstance(m, SipRequest) and m.method == "BYE", 10.0)
        assert caller.heard == []
        assert not gateway.handles


async def test_agent_prepare_failure_rejects_with_503() -> None:
    async with running_gateway(FailingAgent) as (gateway, new_phone):
        caller = await new_phone()
        response = await caller.invite()
        assert response.status == 503
        assert gateway.ports.in_use == 0


async def test_rtp_port_exhaustion_rejects_with_503() -> None:
    async with running_gateway(rtp_ports=tuple(free_port_range(3))) as (gateway, new_phone):
        first = await new_phone()
        assert (await first.invite()).status == 200  # the range's one port pair
        second = await new_phone()
        assert (await second.invite()).status == 503
        await first.bye()


async def test_a_call_cancelled_while_it_rings_builds_no_agent() -> None:
    """No AI session before the answer: the agent is built after the ring time, not during it."""
    built: list[EchoAgent] = []

    def factory(call: CallControl) -> EchoAgent:
        agent = EchoAgent(call)
        built.append(agent)
        return agent

    async with running_gateway(factory, ring_time=1.0) as (gateway, new_phone):
        caller = await new_phone()
        branch = "z9hG4bKringcancel"
        caller.send(caller.request("INVITE", caller.sdp(), branch=branch))
        await caller.expect(lambda m: isinstance(m, SipResponse) and m.status == 180)
        caller.send(caller.request("CANCEL", branch=branch))
        final = await caller.expect(
            lambda m: isinstance(m, SipResponse) and m.cseq.method == "INVITE" and m.status >= 200
        )
        assert isinstance(final, SipResponse) and final.status == 487
        await asyncio.sleep(1.2)  # past the ring time
        assert built == [] and gateway.counters().calls_total == 1 and not gateway.handles
        answered = await new_phone()
        assert (await answered.invite()).status == 200 and len(built) == 1
        await answered.bye()


ROUTES = """\
[lines.slow]
max_calls = 1
[lines.slow.settings]
SIPGW_ECHO_DELAY_MS = 1000
[lines.quick]
[[routes]]
called = "+15550100"
line = "slow"
[[routes]]
called = "+1555020[0-9]"
line = "quick"
"""


async def test_routes_give_each_number_its_line_and_refuse_the_rest(tmp_path: Path) -> None:
    routes = tmp_path / "routes.toml"
    routes.write_text(ROUTES)
    async with running_gateway(routes=routes) as (gateway, new_phone):
        unknown = await new_phone(user="+4420")
        assert (await unknown.invite()).status == 404  # no route, no default line
        slow = await new_phone(user="+15550100")
        assert (await slow.invite()).status == 200
        quick = await new_phone(user="+15550203")
        assert (await quick.invite()).status == 200
        by_line = {h.line: h for h in gateway.handles.values()}
        assert set(by_line) == {"slow", "quick"}
        slow_agent, quick_agent = by_line["slow"].agent, by_line["quick"].agent
        assert isinstance(slow_agent, EchoAgent) and isinstance(quick_agent, EchoAgent)
        assert (slow_agent.delay_frames, quick_agent.delay_frames) == (50, 10)
        assert gateway.line_calls() == {"slow": 1, "quick": 1}
        second = await new_phone(user="+15550100")
        assert (await second.invite()).status == 486  # the line holds its one call
        text, _ = gateway.metrics.render()
        refusals = "sipgw_route_refusals_total"
        assert sample_value(text, refusals, line="", why="no-route") == 1
        assert sample_value(text, refusals, line="slow", why="line-busy") == 1
        assert sample_value(text, "sipgw_line_calls", line="slow") == 1
        await slow.bye()
        await quick.bye()
        text, _ = gateway.metrics.render()
        ended = {"direction": "inbound", "leg": "sip", "outcome": "remote-bye"}
        assert sample_value(text, "sipgw_calls_total", **ended, line="slow") == 1
        assert sample_value(text, "sipgw_calls_total", **ended, line="quick") == 1
        assert gateway.counters().calls_total == 4  # offered: refused ones too


async def test_a_line_may_turn_recording_off(tmp_path: Path) -> None:
    routes = tmp_path / "routes.toml"
    routes.write_text(
        "[lines.private]\nrecording = false\n[lines.kept]\n"
        '[[routes]]\ncalled = "+15550100"\nline = "private"\n'
        '[[routes]]\ncalled = "+15550200"\nline = "kept"\n'
    )
    records = tmp_path / "recordings"
    async with running_gateway(routes=routes, record_dir=str(records)) as (gateway, new_phone):
        private = await new_phone(user="+15550100")
        assert (await private.invite()).status == 200
        kept = await new_phone(user="+15550200")
        assert (await kept.invite()).status == 200
        by_line = {h.line: h for h in gateway.handles.values()}
        assert by_line["private"].recorder is None and by_line["kept"].recorder is not None
        await private.bye()
        await kept.bye()
    assert len(list(records.glob("*.wav"))) == 1


HD_ROUTES = """
[lines.hd]
codecs = ["G722", "PCMU"]
[lines.wideband_only]
codecs = ["G722"]
[lines.plain]
[[routes]]
called = "+15550100"
line = "hd"
[[routes]]
called = "+15550200"
line = "wideband_only"
[[routes]]
called = "+15550300"
line = "plain"
"""


async def test_a_lines_codecs_choose_the_answer_and_an_offer_without_them_gets_488(
    tmp_path: Path,
) -> None:
    """Issue 43: the gateway allows G.722 after G.711 (SIPGW_CODECS); a line listing it first
    answers an offer of PCMU and G.722 with G.722, and its echo takes 16 kHz; a line without
    codecs of its own answers PCMU; a line that only takes G.722 refuses a PCMU offer with
    488 before it rings."""
    routes = tmp_path / "routes.toml"
    routes.write_text(HD_ROUTES)
    allowed = ("PCMU", "PCMA", "G722")
    async with running_gateway(routes=routes, codecs=allowed) as (gateway, new_phone):
        hd = await new_phone(user="+15550100")
        ok = await hd.invite("0 9 101")  # PCMU first in the offer
        assert ok.status == 200 and "m=audio" in ok.body.decode()
        assert "a=rtpmap:9 G722/8000" in ok.body.decode()
        plain = await new_phone(user="+15550300")
        ok = await plain.invite("9 0 101")  # G.722 first in the offer: ours wins
        assert ok.status == 200 and "a=rtpmap:0 PCMU/8000" in ok.body.decode()
        by_line = {h.line: h for h in gateway.handles.values()}
        assert by_line["hd"].details.sample_rate == 16000
        assert by_line["plain"].details.sample_rate == 8000
        hd_agent = by_line["hd"].agent
        assert hd_agent is not None and hd_agent.audio_format.sample_rate == 16000
        narrow = await new_phone(user="+15550200")
        refused = await narrow.invite("0 101")
        assert refused.status == 488
        text, _ = gateway.metrics.render()
        refusals = "sipgw_route_refusals_total"
        assert sample_value(text, refusals, line="wideband_only", why="no-codec") == 1
        await hd.bye()
        await plain.bye()


class ServedChain(CertificateFetcher):
    """Serves one chain after a short wait (the HTTPS fetch itself is tested in
    tests/sipgw/app/security/test_passports.py)."""

    def __init__(self, chain: bytes) -> None:
        super().__init__()
        self.chain = chain

    async def _get(self, url: str) -> bytes:
        await asyncio.sleep(0.05)
        return self.chain


async def test_a_passport_is_checked_before_the_call_is_routed() -> None:
    """An INVITE from a trusted source with a signed PASSporT: the certificate is fetched,
    the signature verified, and only then the agent is built, which sees ``verified``; one
    whose signature was forged sees ``failed``."""
    pki = StiPki.make()
    seen: list[Mapping[str, object]] = []

    def factory(call: CallControl) -> EchoAgent:
        seen.append(call.details.caller_verification)
        return EchoAgent(call)

    async with running_gateway(factory) as (gateway, new_phone):
        gateway.inbound.passports = PassportVerifier(
            load_trust_anchors(pki.root_pem), ServedChain(pki.chain_pem)
        )
        url = "https://sti.test/sp.pem"
        payload = {**shaken("A", orig="15551234567", dest="15550100"), "iat": int(time.time())}
        token = pki.sign(payload, x5u=url)
        head, _, signature = token.split(".")
        forged = f"{head}.{jws_part({**payload, 'attest': 'B'})}.{signature}"
        for sent in (token, forged):
            caller = await new_phone(user="15550100")
            extra = ("P-Asserted-Identity: <tel:+15551234567>",
                     f"Identity: {identity_value(sent, url)}")  # fmt: skip
            ok = await caller.invite(extra=extra)
            assert ok.status == 200
            await caller.hang_up()
    assert [(s["status"], s["signature"]) for s in seen] == [
        ("passed", "verified"), ("failed", "failed"),
    ]  # fmt: skip
    assert seen[0]["attestation"] == "A"
