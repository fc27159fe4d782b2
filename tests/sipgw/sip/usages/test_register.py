"""REGISTER as a client through the user agent core, against a scripted registrar (fake clock)."""

from __future__ import annotations

import random
import re

import pytest

from sipgw.sip.addressing import Flow
from sipgw.sip.auth import Credentials, DigestServer, Verdict
from sipgw.sip.errors import InvalidState, LocalProtocolError
from sipgw.sip.events import RegistrationChanged, RegistrationState
from sipgw.sip.message import SipRequest, make_response, parse_message
from sipgw.sip.registration import RegistrationPolicy
from sipgw.sip.usages.register import KEEPALIVE
from sipgw.sip.useragent import RegistrationConfig, UserAgent, UserAgentConfig

AOR = "sip:1001@pbx.example.com"
PBX = Flow("UDP", ("pbx.example.com", 5060))
CHALLENGE = 'Digest realm="pbx.example.com", nonce="n1", qop="auth", algorithm=MD5'


class Registrar:
    """The user agent under test and what it sent, with a clock that only moves when told."""

    def __init__(self, seed: int = 3, user_agent: str = "") -> None:
        config = UserAgentConfig(public_host="192.0.2.1", sip_port=5070, user_agent=user_agent)
        self.ua = UserAgent(config, random.Random(seed))
        self.now = 1000.0
        self.keepalives: list[tuple[float, Flow]] = []
        self.events: list[RegistrationChanged] = []
        self._pending: list[tuple[bytes, Flow]] = []

    def register(self, aor: str = AOR, password: str | None = "secret", **kwargs: object) -> None:
        creds = Credentials("1001", password) if password is not None else None
        self.ua.register(RegistrationConfig(aor, credentials=creds, **kwargs), self.now)  # type: ignore[arg-type]

    def requests(self) -> list[tuple[SipRequest, Flow]]:
        """REGISTERs sent since the last call (retransmissions dropped); keep-alives recorded."""
        out: list[tuple[SipRequest, Flow]] = []
        seen: set[str] = set()
        self._collect()
        pending, self._pending = self._pending, []
        for data, flow in pending:
            message = parse_message(data)
            assert isinstance(message, SipRequest)
            branch = message.top_via.branch or ""
            if branch not in seen:
                seen.add(branch)
                out.append((message, flow))
        self._drain()
        return out

    def one(self) -> tuple[SipRequest, Flow]:
        sent = self.requests()
        assert len(sent) == 1, [str(r.cseq) for r, _ in sent]
        return sent[0]

    def reply(
        self, request: SipRequest, status: int, headers: tuple[tuple[str, str], ...] = ()
    ) -> None:
        response = make_response(request, status, to_tag="reg-tag" if status > 100 else None)
        for name, value in headers:
            response.headers.add(name, value)
        self.ua.receive_datagram(response.serialize(), PBX, self.now)
        self._drain()

    def ok(self, request: SipRequest, expires: int | None = None) -> None:
        contact = request.headers.get("Contact") or ""
        if expires is not None:
            contact = re.sub(r"expires=\d+", f"expires={expires}", contact)
        self.reply(request, 200, (("Contact", contact),))

    def advance(self, until: float) -> None:
        """Run every timer due up to ``until``, in order, collecting what is sent."""
        while (deadline := self.ua.get_timer()) is not None and deadline <= until:
            self.now = max(self.now, deadline)
            self.ua.handle_timer(self.now)
            self._collect()
            self._drain()
        self.now = until

    def _collect(self) -> None:
        for data, flow in self.ua.datagrams_to_send():
            if data == KEEPALIVE:
                self.keepalives.append((self.now, flow))
            else:
                self._pending.append((data, flow))

    def _drain(self) -> None:
        while (event := self.ua.next_event()) is not None:
            assert isinstance(event, RegistrationChanged)
            self.events.append(event)

    def states(self) -> list[RegistrationState]:
        return [e.state for e in self.events]


@pytest.fixture
def reg() -> Registrar:
    return Registrar()


def test_register_request_follows_rfc3261_section_10_2(reg: Registrar) -> None:
    reg.register()
    req, flow = reg.one()
    assert flow == PBX
    assert req.method == "REGISTER" and req.uri == "sip:pbx.example.com"
    assert str(req.to.uri) == AOR and req.to.tag is None
    assert str(req.from_.uri) == AOR and req.from_.tag
    assert req.cseq.number == 1 and req.cseq.method == "REGISTER"
    (contact,) = req.contacts
    assert str(contact.uri) == "sip:1001@192.0.2.1:5070"
    assert contact.params["expires"] == "600"
    assert req.headers.get("Expires") == "600"
    assert req.top_via.transport == "UDP" and req.top_via.has_rport
    assert req.headers.get("Route") is None


@pytest.mark.parametrize("user_agent", ["", "acme-voice/2"])
def test_the_user_agent_header_is_the_configured_one_and_none_by_default(user_agent: str) -> None:
    """Issue 39: every REGISTER said ``User-Agent: sipgw/0.1.0`` to the registrar (and to
    whoever watches the path); a registrar that wants one gets SIPGW_USER_AGENT's."""
    reg = Registrar(user_agent=user_agent)
    reg.register()
    req, _ = reg.one()
    assert req.headers.get_all("User-Agent") == ([user_agent] if user_agent else [])


def test_registered_event_and_refresh_before_the_granted_expiry(reg: Registrar) -> None:
    reg.register()
    first, _ = reg.one()
    reg.ok(first, expires=300)
    assert reg.events == [
        RegistrationChanged(AOR, RegistrationState.REGISTERED, PBX, 300, 200, "OK")
    ]
    granted_at = reg.now
    reg.advance(granted_at + 239)
    assert reg.requests() == []
    reg.advance(granted_at + 270)
    refresh, _ = reg.one()
    assert 240 <= reg.now - granted_at <= 270
    assert refresh.call_id == first.call_id  # one Call-ID per binding
    assert refresh.cseq.number == first.cseq.number + 1
    assert refresh.from_.tag == first.from_.tag
    assert refresh.contacts[0].params["expires"] == "600"  # we ask again for what we want
    reg.ok(refresh, expires=300)
    assert reg.states() == [RegistrationState.REGISTERED]  # a refresh is not a state change


def test_expiry_from_the_expires_header_when_our_contact_carries_none(reg: Registrar) -> None:
    reg.register()
    req, _ = reg.one()
    reg.reply(
        req,
        200,
        (
            ("Contact", "<sip:other@198.51.100.7>;expires=30"),
            ("Contact", "<sip:1001@192.0.2.1:5070>"),
            ("Expires", "120"),
        ),
    )
    assert reg.events[-1].expires == 120


def test_expiry_defaults_to_what_we_asked_for(reg: Registrar) -> None:
    reg.register()
    req, _ = reg.one()
    reg.reply(req, 200)
    assert reg.events[-1].expires == 600


@pytest.mark.parametrize(
    ("status", "challenge", "answer"),
    [
        (401, "WWW-Authenticate", "Authorization"),
        (407, "Proxy-Authenticate", "Proxy-Authorization"),
    ],
)
def test_challenge_is_answered_with_credentials(
    reg: Registrar, status: int, challenge: str, answer: str
) -> None:
    reg.register()
    first, _ = reg.one()
    reg.reply(first, status, ((challenge, CHALLENGE),))
    second, _ = reg.one()
    assert second.call_id == first.call_id and second.cseq.number == first.cseq.number + 1
    assert second.top_via.branch != first.top_via.branch
    value = second.headers.get(answer) or ""
    assert value.startswith("Digest ") and 'username="1001"' in value and "nc=00000001" in value
    assert "secret" not in second.serialize().decode()
    reg.ok(second)
    assert reg.states() == [RegistrationState.REGISTERED]


def test_stale_nonce_is_retried_without_counting_a_failure(reg: Registrar) -> None:
    reg.register()
    first, _ = reg.one()
    reg.reply(first, 401, (("WWW-Authenticate", CHALLENGE),))
    second, _ = reg.one()
    stale = CHALLENGE.replace('nonce="n1"', 'nonce="n2"') + ", stale=true"
    reg.reply(second, 401, (("WWW-Authenticate", stale),))
    third, _ = reg.one()
    assert 'nonce="n2"' in (third.headers.get("Authorization") or "")
    reg.ok(third)
    assert reg.states() == [RegistrationState.REGISTERED]


def test_wrong_password_fails_and_backs_off(reg: Registrar) -> None:
    reg.register(password="wrong")
    first, _ = reg.one()
    reg.reply(first, 401, (("WWW-Authenticate", CHALLENGE),))
    second, _ = reg.one()
    reg.reply(second, 401, (("WWW-Authenticate", CHALLENGE.replace("n1", "n3")),))
    assert reg.requests() == []  # the same credentials are not sent again
    (failed,) = reg.events
    assert failed.state is RegistrationState.FAILED and failed.status == 401
    assert "credentials refused" in failed.reason
    assert failed.retry_in is not None and 30 <= failed.retry_in <= 60
    failed_at = reg.now
    reg.advance(failed_at + failed.retry_in - 0.01)
    assert reg.requests() == []
    reg.advance(failed_at + failed.retry_in)
    retry, _ = reg.one()
    assert retry.headers.get("Authorization") is None and retry.call_id == first.call_id


def test_challenge_without_credentials_is_a_failure(reg: Registrar) -> None:
    reg.register(password=None)
    req, _ = reg.one()
    reg.reply(req, 401, (("WWW-Authenticate", CHALLENGE),))
    assert reg.requests() == []
    assert reg.events[-1].state is RegistrationState.FAILED
    assert "no credentials configured" in reg.events[-1].reason


def test_refusal_backs_off_more_each_time_then_recovers(reg: Registrar) -> None:
    reg.register()
    delays = []
    for failures in range(1, 5):
        req, _ = reg.one()
        reg.reply(req, 403)
        event = reg.events[-1]
        assert event.state is RegistrationState.FAILED and event.status == 403
        assert event.reason == "Forbidden"
        assert event.retry_in is not None
        ceiling = 30 * 2**failures
        assert ceiling / 2 <= event.retry_in <= ceiling
        delays.append(event.retry_in)
        reg.advance(reg.now + event.retry_in)
    req, _ = reg.one()
    reg.ok(req)
    assert reg.states() == [RegistrationState.FAILED] * 4 + [RegistrationState.REGISTERED]


def test_silence_is_a_failure_with_408(reg: Registrar) -> None:
    reg.register()
    reg.one()
    reg.advance(reg.now + 32.0)  # Timer F = 64·T1
    event = reg.events[-1]
    assert event.state is RegistrationState.FAILED and event.status == 408
    assert event.reason == "no response"
    assert event.retry_in is not None and 30 <= event.retry_in <= 60


def test_retry_after_is_honoured(reg: Registrar) -> None:
    reg.register()
    req, _ = reg.one()
    reg.reply(req, 503, (("Retry-After", "300 (maintenance)"),))
    assert reg.events[-1].retry_in == 300.0


def test_423_retries_at_once_with_min_expires(reg: Registrar) -> None:
    reg.register(policy=RegistrationPolicy(expires=60))
    first, _ = reg.one()
    reg.reply(first, 423, (("Min-Expires", "1800"),))
    second, _ = reg.one()
    assert second.headers.get("Expires") == "1800"
    assert second.contacts[0].params["expires"] == "1800"
    assert second.cseq.number == first.cseq.number + 1
    reg.ok(second)
    assert reg.states() == [RegistrationState.REGISTERED]
    assert reg.events[-1].expires == 1800


def test_423_without_a_longer_min_expires_is_a_failure(reg: Registrar) -> None:
    reg.register()
    req, _ = reg.one()
    reg.reply(req, 423, (("Min-Expires", "60"),))
    assert reg.requests() == []
    assert reg.events[-1].state is RegistrationState.FAILED and reg.events[-1].status == 423


def test_unregister_sends_expires_zero_and_ends_the_binding(reg: Registrar) -> None:
    reg.register()
    first, _ = reg.one()
    reg.ok(first)
    reg.ua.unregister(AOR, reg.now)
    bye, _ = reg.one()
    assert bye.headers.get("Expires") == "0" and bye.contacts[0].params["expires"] == "0"
    assert bye.call_id == first.call_id and bye.cseq.number == first.cseq.number + 1
    assert reg.ua.busy  # a clean shutdown waits for it
    reg.reply(bye, 401, (("WWW-Authenticate", CHALLENGE),))
    authed, _ = reg.one()
    assert authed.headers.get("Expires") == "0" and authed.headers.get("Authorization")
    reg.ok(authed)
    assert reg.states() == [RegistrationState.REGISTERED, RegistrationState.UNREGISTERED]
    assert not reg.ua.busy and reg.ua.registrations == []
    reg.advance(reg.now + 3600)
    assert reg.requests() == [] and reg.keepalives == []


def test_unregister_before_any_binding_sends_nothing(reg: Registrar) -> None:
    reg.register()
    req, _ = reg.one()
    reg.reply(req, 403)
    reg.ua.unregister(AOR, reg.now)
    assert reg.requests() == []
    assert reg.states() == [RegistrationState.FAILED, RegistrationState.UNREGISTERED]
    reg.advance(reg.now + 3600)
    assert reg.requests() == []


def test_unregister_while_the_first_register_is_in_flight(reg: Registrar) -> None:
    reg.register()
    first, _ = reg.one()
    reg.ua.unregister(None, reg.now)
    bye, _ = reg.one()
    assert bye.headers.get("Expires") == "0"
    reg.ok(first)  # the late answer to the first REGISTER changes nothing
    assert reg.states() == []
    reg.ok(bye, expires=0)
    assert reg.states() == [RegistrationState.UNREGISTERED]


def test_unregister_that_gets_no_answer_still_ends(reg: Registrar) -> None:
    reg.register()
    first, _ = reg.one()
    reg.ok(first)
    reg.ua.shutdown(reg.now)
    reg.one()
    assert reg.ua.busy
    reg.advance(reg.now + 32.0)
    assert reg.states()[-1] is RegistrationState.UNREGISTERED and not reg.ua.busy


def test_keepalives_go_to_the_registrar_while_registered(reg: Registrar) -> None:
    reg.register(policy=RegistrationPolicy(keepalive_interval=25.0))
    req, _ = reg.one()
    reg.ok(req)
    start = reg.now
    reg.advance(start + 100)
    reg.requests()
    times = [t - start for t, _ in reg.keepalives]
    assert {flow for _, flow in reg.keepalives} == {PBX}
    assert 4 <= len(times) <= 5
    gaps = [b - a for a, b in zip([0.0, *times], times, strict=False)]
    assert all(20.0 <= gap <= 25.0 for gap in gaps), gaps


def test_no_keepalives_when_disabled(reg: Registrar) -> None:
    reg.register(policy=RegistrationPolicy(keepalive_interval=0))
    req, _ = reg.one()
    reg.ok(req)
    reg.advance(reg.now + 100)
    reg.requests()
    assert reg.keepalives == []


def test_outbound_proxy_and_transport(reg: Registrar) -> None:
    reg.register(outbound_proxy="sip:proxy.example.net:5080", transport="tcp")
    req, flow = reg.one()
    assert flow == Flow("TCP", ("proxy.example.net", 5080))
    assert req.uri == "sip:pbx.example.com"
    assert req.headers.get("Route") == "<sip:proxy.example.net:5080;lr;transport=tcp>"
    assert req.top_via.transport == "TCP"
    assert str(req.contacts[0].uri) == "sip:1001@192.0.2.1:5070;transport=tcp"


def test_registrar_given_explicitly(reg: Registrar) -> None:
    reg.register(registrar="sip:203.0.113.5:5062")
    req, flow = reg.one()
    assert req.uri == "sip:203.0.113.5:5062"
    assert flow == Flow("UDP", ("203.0.113.5", 5062))
    assert str(req.to.uri) == AOR


def test_several_accounts_register_independently(reg: Registrar) -> None:
    other = "sip:2002@sip.example.org"
    reg.register()
    reg.register(other, password=None)
    sent = reg.requests()
    assert len(sent) == 2
    by_aor = {str(r.to.uri): r for r, _ in sent}
    assert by_aor[AOR].call_id != by_aor[other].call_id
    assert {f for _, f in sent} == {PBX, Flow("UDP", ("sip.example.org", 5060))}
    reg.ok(by_aor[AOR])
    reg.reply(by_aor[other], 404)
    assert [(e.aor, e.state) for e in reg.events] == [
        (AOR, RegistrationState.REGISTERED),
        (other, RegistrationState.FAILED),
    ]
    assert sorted(reg.ua.registrations) == sorted([AOR, other])
    reg.ua.unregister(other, reg.now)
    assert reg.requests() == []
    assert reg.ua.registrations == [AOR]
    reg.ua.shutdown(reg.now)
    bye, _ = reg.one()
    assert str(bye.to.uri) == AOR and bye.headers.get("Expires") == "0"


def test_bad_accounts_are_refused(reg: Registrar) -> None:
    with pytest.raises(LocalProtocolError, match="no user part"):
        reg.register("sip:pbx.example.com")
    with pytest.raises(LocalProtocolError, match="not a sip"):
        reg.register("tel:+15551234567")
    with pytest.raises(LocalProtocolError, match="transport"):
        reg.register(transport="sctp")
    reg.register()
    with pytest.raises(InvalidState):
        reg.register()


def test_password_never_in_reprs() -> None:
    config = RegistrationConfig(AOR, credentials=Credentials("1001", "hunter2"))
    assert "hunter2" not in repr(config)


@pytest.mark.parametrize("algorithm", ["MD5", "SHA-256"])
def test_digest_answers_verify_and_refreshes_reuse_the_nonce(
    reg: Registrar, algorithm: str
) -> None:
    users = {"1001": "secret"}
    server = DigestServer("pbx.example.com", users, random.Random(5), algorithm, nonce_lifetime=150)

    verdicts: list[Verdict] = []

    def answer(request: SipRequest) -> None:
        verdict = server.verify(request, reg.now, "192.0.2.10")
        verdicts.append(verdict)
        if verdict is Verdict.OK:
            reg.ok(request)
        else:
            challenge = server.challenge(reg.now, "192.0.2.10", stale=verdict is Verdict.STALE)
            reg.reply(request, 401, (("WWW-Authenticate", challenge),))

    reg.register(policy=RegistrationPolicy(expires=120))
    first, _ = reg.one()
    answer(first)
    second, _ = reg.one()
    assert f"algorithm={algorithm}" in (second.headers.get("Authorization") or "")
    answer(second)
    assert verdicts == [Verdict.MISSING, Verdict.OK]
    assert reg.states() == [RegistrationState.REGISTERED]
    reg.advance(reg.now + 110)  # the refresh, within the nonce's lifetime
    refresh, _ = reg.one()
    answer(refresh)
    assert verdicts[-1] is Verdict.OK  # nc=2 on the same nonce: no round trip
    reg.advance(reg.now + 110)  # the next one: the nonce has expired (stale), not a failure
    late, _ = reg.one()
    answer(late)
    again, _ = reg.one()
    answer(again)
    assert verdicts[-2:] == [Verdict.STALE, Verdict.OK]
    assert reg.states() == [RegistrationState.REGISTERED]


def test_via_and_contact_name_our_port_for_the_transport_used() -> None:
    config = UserAgentConfig(
        public_host="192.0.2.1", sip_port=5070, listeners=(("UDP", 5070), ("TLS", 5071))
    )
    ua = UserAgent(config, random.Random(1))
    ua.register(RegistrationConfig(AOR, transport="TLS"), 0.0)
    ((data, flow),) = ua.datagrams_to_send()
    req = parse_message(data)
    assert isinstance(req, SipRequest)
    assert flow == Flow("TLS", ("pbx.example.com", 5061))
    assert req.top_via.transport == "TLS" and req.top_via.sent_by == ("192.0.2.1", 5071)
    assert str(req.contacts[0].uri) == "sip:1001@192.0.2.1:5071;transport=tls"


A = Flow("UDP", ("192.0.2.10", 5060))
B = Flow("UDP", ("192.0.2.20", 5080))
C = Flow("TCP", ("192.0.2.30", 5060))


def test_a_silent_registrar_fails_over_to_the_next_target(reg: Registrar) -> None:
    """RFC 3263 §4.3: no response at all sends the REGISTER again, new branch, to the next."""
    reg.register(targets=(A, B))
    first, flow = reg.one()
    assert flow == A
    reg.advance(reg.now + 32.0)  # Timer F: nobody answered at A
    second, flow = reg.requests()[-1]  # after A's retransmissions
    assert flow == B and second.top_via.branch != first.top_via.branch
    assert second.cseq.number == first.cseq.number + 1 and second.call_id == first.call_id
    assert reg.events == []  # not a failure yet
    reg.ok(second, expires=300)
    assert reg.states() == [RegistrationState.REGISTERED] and reg.events[0].registrar == B
    reg.advance(reg.now + 270)  # the refresh stays with the registrar that answered
    refresh, flow = reg.one()
    assert flow == B
    reg.ok(refresh, expires=300)
    assert len(reg.events) == 1  # a refresh at the same server is silent


def test_registered_at_another_server_is_reported(reg: Registrar) -> None:
    reg.register(targets=(A, B))
    first, _ = reg.one()
    reg.ok(first, expires=300)
    reg.advance(reg.now + 270)
    refresh, flow = reg.one()
    assert flow == A
    reg.reply(refresh, 503)  # A fails at a refresh: B takes it
    moved, flow = reg.one()
    assert flow == B
    reg.ok(moved, expires=300)
    assert [(e.state, e.registrar) for e in reg.events] == [
        (RegistrationState.REGISTERED, A), (RegistrationState.REGISTERED, B)
    ]  # fmt: skip


def test_a_503_fails_over_and_a_transport_error_too(reg: Registrar) -> None:
    reg.register(targets=(A, B, C))
    first, _ = reg.one()
    reg.reply(first, 503)
    second, flow = reg.one()
    assert flow == B
    reg.ua.transport_error(B, reg.now)
    third, flow = reg.one()
    assert flow == C and third.top_via.transport == "TCP"
    (contact,) = third.contacts
    assert contact.uri.params.get("transport") == "tcp"  # the Contact follows the transport
    reg.reply(third, 403)  # a real answer: no failover, a failure
    assert reg.states() == [RegistrationState.FAILED]


def test_when_every_target_failed_the_next_attempt_starts_over(reg: Registrar) -> None:
    reg.register(targets=(A, B))
    first, _ = reg.one()
    reg.reply(first, 503)
    second, _ = reg.one()
    reg.reply(second, 503, (("Retry-After", "40"),))
    assert reg.states() == [RegistrationState.FAILED] and reg.events[0].status == 503
    reg.advance(reg.now + 61.0)  # the backoff (at least Retry-After), not yet A's Timer F
    again, flow = reg.one()
    assert flow == A


def test_new_targets_keep_the_one_in_use(reg: Registrar) -> None:
    reg.register(targets=(A, B))
    first, _ = reg.one()
    reg.reply(first, 503)
    second, _ = reg.one()
    reg.ok(second, expires=300)
    reg.ua.retarget(AOR, (C, B), reg.now)  # B is still listed: it stays
    reg.advance(reg.now + 270)
    _, flow = reg.one()
    assert flow == B
    reg.ua.retarget(AOR, (C,), reg.now)  # B is gone: the first of the new list
    reg.ua.retarget("sip:nobody@pbx.example.com", (A,), reg.now)  # no such account: ignored
    reg.ua.unregister(AOR, reg.now)
    bye, flow = reg.one()
    assert flow == C and bye.headers.get("Expires") == "0"
