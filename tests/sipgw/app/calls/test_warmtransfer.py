"""Warm transfers, the gateway's side (sipgw/app/calls/warmtransfer.py): consult, then join.

An in-process gateway answers a scripted phone (the caller) with :class:`Transferring`,
an agent that asks its call for a consultation call and then to join; the person is a
second scripted phone that answers the gateway's INVITE itself, saying what it supports.
Both phones send a tone, so each can tell whether it hears the other (the bridge). The
real phones are in tests/interop/test_warm_transfer_peers.py.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import pytest

from sipgw.agent.amd.settings import AmdMode
from sipgw.agent.base import Agent, CallControl
from sipgw.agent.dialpolicy import DialRefused
from sipgw.agent.transfer.settings import JoinHow
from sipgw.agent.transfer.warm import JoinFailed, LegEnded, LegProgress, WarmTransferCall
from sipgw.agent.twiml.dial.bridge import LegPlacingCall
from sipgw.app.calls import warmtransfer
from sipgw.app.evaluation.audio import tone_frames
from sipgw.app.evaluation.phone import Phone, sdp_audio_port
from sipgw.app.gateway import Gateway
from sipgw.app.startup import outbound_config
from sipgw.app.upstream.dialout import OutboundConfig
from sipgw.app.upstream.settings import AccountSection, OutboundSection
from sipgw.foundation.settings import Sources, load
from sipgw.sip.auth import DigestServer, Verdict
from sipgw.sip.headers import NameAddr
from sipgw.sip.message import SipMessage, SipRequest, SipResponse, make_response
from tests.toolkit.gateway_in_process import running_gateway

pytestmark = pytest.mark.timeout(30)

CALLER_HZ, PERSON_HZ = 700, 1100
ALLOW_REFER = "Allow: INVITE, ACK, CANCEL, BYE, REFER, NOTIFY"


class Person(Agent):
    """The consultation call's agent here: says nothing, reports the answer."""

    def __init__(self, answered: asyncio.Event) -> None:
        self.answered = answered

    def on_answered(self) -> None:
        self.answered.set()

    def on_caller_frame(self, frame: bytes | None) -> None:
        pass

    def next_frame(self) -> bytes | None:
        return None


@dataclass
class Plan:
    target: str
    how: JoinHow = "auto"
    login: tuple[str, str] | None = None
    """Placed as a TwiML ``<Sip username password>`` leg, with its own login."""
    person_answered: asyncio.Event = field(default_factory=asyncio.Event)
    result: asyncio.Future[str | Exception] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


class Transferring(Agent):
    """The caller's agent: consults ``plan.target`` as soon as the call is answered, then
    joins once the person answered."""

    def __init__(self, call: CallControl, plan: Plan) -> None:
        self.call, self.plan = call, plan
        self.task: asyncio.Task[None] | None = None

    def on_answered(self) -> None:
        self.task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        call, plan = self.call, self.plan
        assert isinstance(call, WarmTransferCall)
        try:
            person = lambda c: Person(plan.person_answered)  # noqa: E731
            if plan.login is not None:
                assert isinstance(call, LegPlacingCall)
                leg = await call.place_leg(plan.target, person, 5.0, login=plan.login)
            else:
                leg = await call.consult(plan.target, person, 5.0)
            await plan.person_answered.wait()
            plan.result.set_result(await call.join(leg, plan.how))
        except (DialRefused, JoinFailed) as exc:
            plan.result.set_result(exc)

    def on_caller_frame(self, frame: bytes | None) -> None:
        pass

    def next_frame(self) -> bytes | None:
        return None


async def call_in(caller: Phone, allow_refer: bool) -> SipResponse:
    """The caller's INVITE (with REFER in its Allow, or no Allow at all), ACKed."""
    data = caller.request("INVITE", caller.sdp())
    if allow_refer:
        data = data.replace(b"Content-Type:", ALLOW_REFER.encode() + b"\r\nContent-Type:")
    caller.send(data)
    ok = await caller.expect(lambda m: isinstance(m, SipResponse) and m.status >= 200)
    assert isinstance(ok, SipResponse) and ok.status == 200
    caller.to_tag = ok.to.tag
    caller.send(caller.request("ACK", cseq=1))
    caller.acked = True
    caller.remote_rtp = (caller.gateway[0], sdp_audio_port(ok))
    return ok


async def answer(person: Phone, supported: str = "") -> SipRequest:
    """The person's phone answers the gateway's INVITE (Supported as given) and takes the ACK."""
    invite = await person.expect(lambda m: isinstance(m, SipRequest) and m.method == "INVITE")
    assert isinstance(invite, SipRequest)
    ok = make_response(invite, 200, to_tag="person-tag")
    ok.headers.add("Contact", f"<sip:person@127.0.0.1:{person.sip_port}>")
    ok.headers.add("Allow", "INVITE, ACK, BYE, CANCEL")
    if supported:
        ok.headers.add("Supported", supported)
    ok.headers.add("Content-Type", "application/sdp")
    ok.body = person.sdp().encode()
    person.send(ok.serialize())
    await person.expect(lambda m: isinstance(m, SipRequest) and m.method == "ACK")
    person.remote_rtp = ("127.0.0.1", sdp_audio_port(invite))
    return invite


def notify(caller: Phone, cseq: int, status_line: str) -> bytes:
    data = caller.request("NOTIFY", cseq=cseq)
    extra = (
        "Event: refer\r\nSubscription-State: terminated;reason=noresource\r\n"
        "Content-Type: message/sipfrag;version=2.0\r\n"
    )
    body = status_line + "\r\n"
    data = data.replace(
        b"Content-Length: 0\r\n\r\n", f"{extra}Content-Length: {len(body)}\r\n\r\n{body}".encode()
    )
    return data


def allow(plan: Plan) -> dict[str, str]:
    """The dial allow-list with the person on it (their exact URI)."""
    return {"SIPGW_DIAL_ALLOW": plan.target}


async def hear_each_other(caller: Phone, person: Phone) -> None:
    caller.start_audio()
    person.start_audio()
    caller.say(tone_frames(CALLER_HZ, 1.5, -12.0))
    person.say(tone_frames(PERSON_HZ, 1.5, -12.0))
    await caller.wait_for_tone(PERSON_HZ, within=4.0)
    await person.wait_for_tone(CALLER_HZ, within=4.0)


def is_request(method: str) -> object:
    def check(message: SipMessage) -> bool:
        return isinstance(message, SipRequest) and message.method == method

    return check


@dataclass
class Scene:
    """The gateway, the caller's phone (its call answered) and the person's phone."""

    gateway: Gateway
    caller: Phone
    person: Phone
    plan: Plan


@asynccontextmanager
async def scene(
    *,
    allow_refer: bool,
    how: JoinHow = "auto",
    agent: type[Transferring] = Transferring,
    campaign: AmdMode = AmdMode.OFF,
) -> AsyncIterator[Scene]:
    """A caller calls a gateway whose agent will consult the person (a scripted phone
    answering the gateway's INVITE itself); ``campaign`` is ``SIPGW_AMD``."""
    person = Phone(("127.0.0.1", 9), user="person")
    plan = Plan(f"sip:person@127.0.0.1:{person.sip_port}", how=how)
    try:
        async with running_gateway(lambda call: agent(call, plan), env=allow(plan)) as (
            gw,
            new_phone,
        ):
            person.gateway = ("127.0.0.1", gw.sip.listening[0][2])
            gw.outbound.config = dataclasses.replace(gw.outbound.config, amd=campaign)
            caller = await new_phone()
            await call_in(caller, allow_refer)
            yield Scene(gw, caller, person, plan)
    finally:
        person.close()


async def test_the_gateway_bridges_a_caller_whose_phone_cannot_take_refer() -> None:
    async with scene(allow_refer=False) as s:
        await answer(s.person, supported="replaces")
        assert await asyncio.wait_for(s.plan.result, 5) == "bridge"
        await hear_each_other(s.caller, s.person)
        await s.caller.bye()
        await s.person.answer_bye()  # the person's call ends with the caller's


async def test_the_consultation_call_is_no_campaign_call() -> None:
    """``SIPGW_AMD`` is the default of the calls the gateway places for campaigns; the
    consultation call does not take it (its agent, sipgw.agent.transfer.consult, detects who
    answered itself): no detection of the gateway's on it, none in its record or outcome."""
    async with scene(allow_refer=False, campaign=AmdMode.LEAVE_MESSAGE) as s:
        await answer(s.person, supported="replaces")
        assert await asyncio.wait_for(s.plan.result, 5) == "bridge"
        placed = [h for h in s.gateway.handles.values() if h.call.outbound]
        assert len(placed) == 1 and placed[0].amd is None
        await s.caller.bye()
        await s.person.answer_bye()


async def test_an_attended_transfer_where_both_phones_can() -> None:
    async with scene(allow_refer=True) as s:
        consult = await answer(s.person, supported="replaces, timer")
        refer = await s.caller.expect(is_request("REFER"))  # type: ignore[arg-type]
        assert isinstance(refer, SipRequest)
        refer_to = refer.headers.get("Refer-To") or ""
        assert refer_to.startswith(f"<sip:person@127.0.0.1:{s.person.sip_port}?Replaces=")
        assert consult.call_id.replace("@", "%40") in refer_to
        assert "to-tag%3Dperson-tag%3Bfrom-tag%3D" in refer_to
        s.caller.send(make_response(refer, 202).serialize())
        s.caller.send(notify(s.caller, 2, "SIP/2.0 200 OK"))
        await s.caller.answer_bye()  # the caller's phone talks to the person now
        assert await asyncio.wait_for(s.plan.result, 5) == "refer"
        await s.person.answer_bye(within=warmtransfer.REPLACED_GRACE + 3)  # never replaced here


@pytest.mark.parametrize("fails_by", ["rejected", "notify"])
async def test_an_attended_transfer_that_fails_falls_back_to_the_bridge(fails_by: str) -> None:
    async with scene(allow_refer=True) as s:
        await answer(s.person, supported="replaces")
        refer = await s.caller.expect(is_request("REFER"))  # type: ignore[arg-type]
        assert isinstance(refer, SipRequest)
        if fails_by == "rejected":
            s.caller.send(make_response(refer, 603).serialize())
        else:
            s.caller.send(make_response(refer, 202).serialize())
            s.caller.send(notify(s.caller, 2, "SIP/2.0 486 Busy Here"))
        assert await asyncio.wait_for(s.plan.result, 5) == "bridge"
        await hear_each_other(s.caller, s.person)
        await s.caller.bye()
        await s.person.answer_bye()


async def test_only_refer_when_the_caller_cannot_is_a_failure_both_calls_survive() -> None:
    async with scene(allow_refer=False, how="refer") as s:
        await answer(s.person, supported="replaces")
        failed = await asyncio.wait_for(s.plan.result, 5)
        assert isinstance(failed, JoinFailed) and "does not list REFER" in str(failed)
        assert len(s.gateway.handles) == 2


async def test_a_target_off_the_allow_list_is_never_dialled() -> None:
    plan = Plan(f"sip:person@127.0.0.1:{random.randint(20000, 30000)}")
    async with running_gateway(lambda call: Transferring(call, plan)) as (gw, new_phone):
        caller = await new_phone()
        await call_in(caller, allow_refer=False)
        refused = await asyncio.wait_for(plan.result, 5)
        assert isinstance(refused, DialRefused) and refused.action == "transfer"
        assert len(gw.handles) == 1 and gw.counters().dial_refused == 1


class Consulting(Transferring):
    """Consults the person and writes down how that call ended."""

    ended: list[LegEnded] = []

    async def _run(self) -> None:
        call = self.call
        assert isinstance(call, WarmTransferCall)
        leg = await call.consult(self.plan.target, lambda c: Person(asyncio.Event()), 5.0)
        self.ended.append(await leg.ended())


async def test_a_consultation_call_that_is_refused_ends_busy() -> None:
    Consulting.ended = []
    async with scene(allow_refer=False, agent=Consulting) as s:
        invite = await s.person.expect(is_request("INVITE"))  # type: ignore[arg-type]
        assert isinstance(invite, SipRequest)
        s.person.send(make_response(invite, 486, to_tag="busy-tag").serialize())
        for _ in range(100):
            if Consulting.ended:
                break
            await asyncio.sleep(0.05)
        (ended,) = Consulting.ended
        assert (ended.kind, ended.status) == ("busy", 486)


class PlacingLegs(Transferring):
    """Places a second leg as a TwiML ``<Dial>`` does (``place_leg``, with a caller id and a
    1 s ring timeout) and writes down its progress and how it ended."""

    ended: list[LegEnded] = []
    progress: list[LegProgress] = []

    async def _run(self) -> None:
        call = self.call
        leg = await call.place_leg(  # type: ignore[attr-defined]
            self.plan.target, lambda c: Person(self.plan.person_answered), 1.0, "+15557654321",
            on_progress=self.progress.append,
        )  # fmt: skip
        self.ended.append(await leg.ended())


async def test_a_second_leg_carries_the_caller_id_asked_and_ends_no_answer_when_unanswered() -> (
    None
):
    PlacingLegs.ended, PlacingLegs.progress = [], []
    async with scene(allow_refer=False, agent=PlacingLegs) as s:
        invite = await s.person.expect(is_request("INVITE"))  # type: ignore[arg-type]
        assert isinstance(invite, SipRequest)
        assert "sip:+15557654321@" in (invite.headers.get("From") or "")  # the caller id asked
        assert [p.event for p in PlacingLegs.progress] == ["initiated"]  # the INVITE went out
        s.person.send(make_response(invite, 180, to_tag="ring-tag").serialize())
        s.person.send(make_response(invite, 180, to_tag="ring-tag").serialize())  # told once
        # the 1 s ring timeout: our CANCEL
        cancel = await s.person.expect(is_request("CANCEL"), within=4)  # type: ignore[arg-type]
        assert isinstance(cancel, SipRequest)
        s.person.send(make_response(cancel, 200, to_tag="ring-tag").serialize())
        s.person.send(make_response(invite, 487, to_tag="ring-tag").serialize())
        for _ in range(100):
            if PlacingLegs.ended:
                break
            await asyncio.sleep(0.05)
        (ended,) = PlacingLegs.ended
        assert ended.kind == "no-answer"
        initiated, ringing = PlacingLegs.progress  # the plumbing of <Number statusCallback>
        assert (ringing.event, ringing.status) == ("ringing", 180)
        assert "+15557654321" in initiated.caller and initiated.called == s.plan.target


class EndingLegs(PlacingLegs):
    """Places a second leg, hangs it up once answered and writes down how it ended."""

    async def _run(self) -> None:
        call = self.call
        leg = await call.place_leg(  # type: ignore[attr-defined]
            self.plan.target, lambda c: Person(self.plan.person_answered), 5.0
        )
        await self.plan.person_answered.wait()
        leg.hangup()
        self.ended.append(await leg.ended())


async def until_ended(agent: type[PlacingLegs]) -> LegEnded:
    for _ in range(100):
        if agent.ended:
            break
        await asyncio.sleep(0.05)
    (ended,) = agent.ended
    return ended


async def test_a_second_leg_refused_reports_the_x_headers_of_the_refusal() -> None:
    """The final response's X- headers (a TwiML ``<Dial><Sip>``'s ``DialSipHeader_<name>``):
    those of the 486, names as sent, first value of each; no other header."""
    PlacingLegs.ended, PlacingLegs.progress = [], []
    async with scene(allow_refer=False, agent=PlacingLegs) as s:
        invite = await s.person.expect(is_request("INVITE"))  # type: ignore[arg-type]
        assert isinstance(invite, SipRequest)
        busy = make_response(invite, 486, to_tag="busy-tag")
        busy.headers.add("X-Agent-State", "on-break")
        busy.headers.add("x-queue", "sales")
        busy.headers.add("X-Agent-State", "second")  # the first value is kept
        busy.headers.add("Warning", '399 pbx.example "away"')
        s.person.send(busy.serialize())
        ended = await until_ended(PlacingLegs)
        assert (ended.kind, ended.status, ended.call_id) == ("busy", 486, invite.call_id)
        assert ended.custom == (("X-Agent-State", "on-break"), ("x-queue", "sales"))


async def test_a_second_leg_answered_reports_the_x_headers_of_its_200() -> None:
    EndingLegs.ended, EndingLegs.progress = [], []
    async with scene(allow_refer=False, agent=EndingLegs) as s:
        invite = await s.person.expect(is_request("INVITE"))  # type: ignore[arg-type]
        assert isinstance(invite, SipRequest)
        ok = make_response(invite, 200, to_tag="person-tag")
        ok.headers.add("Contact", f"<sip:person@127.0.0.1:{s.person.sip_port}>")
        ok.headers.add("X-Desk", "7")
        ok.headers.add("Content-Type", "application/sdp")
        ok.body = s.person.sdp().encode()
        s.person.send(ok.serialize())
        await s.person.answer_bye()  # our agent hung up once it answered
        ended = await until_ended(EndingLegs)
        assert (ended.kind, ended.call_id, ended.custom) == (
            "answered",
            invite.call_id,
            (("X-Desk", "7"),),
        )


async def test_a_second_leg_off_the_allow_list_is_never_dialled() -> None:
    plan = Plan(f"sip:person@127.0.0.1:{random.randint(20000, 30000)}")
    refused: list[DialRefused] = []

    class Refused(Transferring):
        async def _run(self) -> None:
            try:
                await self.call.place_leg(plan.target, lambda c: Person(asyncio.Event()), 1.0)  # type: ignore[attr-defined]
            except DialRefused as exc:
                refused.append(exc)

    async with running_gateway(lambda call: Refused(call, plan)) as (gw, new_phone):
        caller = await new_phone()
        await call_in(caller, allow_refer=False)
        for _ in range(100):
            if refused:
                break
            await asyncio.sleep(0.05)
        assert refused and refused[0].action == "transfer"
        assert len(gw.handles) == 1 and gw.counters().dial_refused == 1


NUMBER, CALLER_ID = "+15551234567", "+15550001111"


def trunk_config(trunk: Phone) -> OutboundConfig:
    """The outbound settings as ``sipgw serve`` reads them, ``trunk`` the outbound proxy
    (the trunk): numbers go to its host, our caller id in the From and P-Asserted-Identity,
    and its 407 answered with our credentials."""
    sources = Sources(
        {"SIPGW_OUTBOUND_PROXY": f"sip:127.0.0.1:{trunk.sip_port}", "SIPGW_CALLER_ID": CALLER_ID,
         "SIPGW_CALLER_ID_HEADER": "pai", "SIPGW_AUTH_USERNAME": "agent",
         "SIPGW_AUTH_PASSWORD": "s3cret"}
    )  # fmt: skip
    return outbound_config(load(OutboundSection, sources), load(AccountSection, sources))


@asynccontextmanager
async def trunk_scene(target: str, login: tuple[str, str] | None = None) -> AsyncIterator[Scene]:
    """A caller calls a gateway whose agent will consult ``target``, a phone number, with
    ``+1555*`` as the dial allow-list; the scene's person is the trunk (a scripted phone)."""
    trunk = Phone(("127.0.0.1", 9), user="trunk")
    plan = Plan(target, login=login)
    env = {"SIPGW_DIAL_ALLOW": "+1555*"}
    try:
        async with running_gateway(lambda call: Transferring(call, plan), env=env) as (
            gw,
            new_phone,
        ):
            trunk.gateway = ("127.0.0.1", gw.sip.listening[0][2])
            gw.outbound.config = trunk_config(trunk)
            caller = await new_phone()
            await call_in(caller, allow_refer=False)
            yield Scene(gw, caller, trunk, plan)
    finally:
        trunk.close()


async def test_a_consulted_number_is_called_through_the_trunk_as_placed_calls_are() -> None:
    """Issue 24: the consultation call goes through the same trunk rules as every placed
    call: a number becomes ``sip:NUMBER@`` the outbound proxy's host, with the proxy as a
    loose Route, our caller id in the From and P-Asserted-Identity, and the trunk's 407
    answered with the configured credentials."""
    async with trunk_scene(NUMBER) as s:
        trunk, port = s.person, s.person.sip_port
        first = await trunk.expect(is_request("INVITE"))  # type: ignore[arg-type]
        assert isinstance(first, SipRequest)
        assert first.headers.get("Proxy-Authorization") is None
        proxy = DigestServer("trunk.example", {"agent": "s3cret"}, random.Random(24))
        challenge = make_response(first, 407, to_tag="trunk-tag")
        challenge.headers.add("Proxy-Authenticate", proxy.challenge(0.0, "192.0.2.1"))
        trunk.send(challenge.serialize())
        invite = await answer(trunk)  # the INVITE again, with credentials
        assert proxy.verify(invite, 0.0, "192.0.2.1", proxy=True) is Verdict.OK
        assert invite.call_id == first.call_id
        for sent in (first, invite):
            assert sent.uri == f"sip:{NUMBER}@127.0.0.1:{port}"
            assert str(sent.to.uri) == sent.uri
            assert sent.headers.get_all("Route") == [f"<sip:127.0.0.1:{port};lr>"]
            assert str(sent.from_.uri) == f"sip:{CALLER_ID}@127.0.0.1"
            pai = NameAddr.parse(sent.headers.get("P-Asserted-Identity") or "")
            assert str(pai.uri) == f"sip:{CALLER_ID}@127.0.0.1"
        assert await asyncio.wait_for(s.plan.result, 5) == "bridge"
        placed = [h for h in s.gateway.handles.values() if h.call.outbound]
        assert [h.called for h in placed] == [invite.uri]
        await hear_each_other(s.caller, trunk)
        await s.caller.bye()
        await trunk.answer_bye()


async def test_a_legs_own_login_answers_its_challenge_in_place_of_the_accounts(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A TwiML ``<Sip username password>`` leg: the trunk's 407 is answered with that
    login, not the configured account's, and the password is never logged."""
    caplog.set_level(logging.DEBUG)
    async with trunk_scene(NUMBER, login=("desk7", "s3cret-Pass")) as s:
        trunk = s.person
        first = await trunk.expect(is_request("INVITE"))  # type: ignore[arg-type]
        assert isinstance(first, SipRequest)
        proxy = DigestServer("trunk.example", {"desk7": "s3cret-Pass"}, random.Random(7))
        challenge = make_response(first, 407, to_tag="trunk-tag")
        challenge.headers.add("Proxy-Authenticate", proxy.challenge(0.0, "192.0.2.1"))
        trunk.send(challenge.serialize())
        invite = await answer(trunk)
        assert proxy.verify(invite, 0.0, "192.0.2.1", proxy=True) is Verdict.OK
        assert 'username="desk7"' in (invite.headers.get("Proxy-Authorization") or "")
        assert await asyncio.wait_for(s.plan.result, 5) == "bridge"
        await s.caller.bye()
        await trunk.answer_bye()
    assert caplog.records  # the call was logged, at every level
    assert "s3cret-Pass" not in caplog.text


async def test_a_number_off_the_allow_list_is_never_dialled_through_the_trunk() -> None:
    """The number is judged as dialled (not the trunk's Request-URI it would become):
    off ``+1555*``, nothing reaches the trunk."""
    async with trunk_scene("+44 20 7946 0000") as s:
        refused = await asyncio.wait_for(s.plan.result, 5)
        assert isinstance(refused, DialRefused) and refused.action == "transfer"
        assert refused.target == "+44 20 7946 0000"
        assert s.gateway.counters().dial_refused == 1 and len(s.gateway.handles) == 1
        with pytest.raises(TimeoutError):
            await s.person.expect(is_request("INVITE"), within=0.5)  # type: ignore[arg-type]
        assert not s.person.received
