"""The gateway as an extension of a real Asterisk 22 (PJSIP), the PBX most users run (directly
or as FreePBX): registration with ``remove_existing``, qualify OPTIONS, a call whose media a
re-INVITE moves (direct media), a session-timer refresh, and a transfer (REFER) to another
extension carrying the call's X- header and the agent's summary as User-to-User.

Asterisk is built once per machine from ../shared/pbx/asterisk (tests.toolkit.peers.asterisk).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from sipgw.app.evaluation.audio import write_pattern
from sipgw.app.evaluation.fakes.openai import FakeResponse, FakeToolCall
from sipgw.app.evaluation.gateway_process import GatewayProcess
from tests.interop.services import fake_services
from tests.interop.test_outbound_call import sipgw_call
from tests.toolkit.canaries import SIP_PASSWORD
from tests.toolkit.fakes.threaded import ThreadedFakes
from tests.toolkit.peers.asterisk import Asterisk
from tests.toolkit.peers.baresip import Baresip

pytestmark = [pytest.mark.timeout(240), pytest.mark.usefixtures("nothing_left_running")]

PHONE_PW = "phone-pw"
GREETING_HZ, HANDOFF_HZ, SPEECH_HZ = 500, 900, 300
HANDOFF = (
    "Caller wants a refund for order 1234, charged twice on 3 May; the order and the two "
    "charges were checked, the refund needs a supervisor's approval."
)
"""The call's summary the model gives with ``transfer_to_human`` (147 octets)."""
HANDOFF_SEEN = (
    "Caller wants a refund for order 1234, charged twice on 3 May; the order and the two "
    "charges were checked, the refund needs a…"
)
"""What the human's PBX gets: at most 128 octets (RFC 7434 §6), cut after a whole word."""


def extension(number: str, password: str, *, qualify: bool = False) -> str:
    """A PJSIP extension that registers (an AOR of one contact; a new registration replaces
    the old one: ``remove_existing``), direct media, session timers always."""
    return f"""
[{number}]
type = endpoint
context = from-internal
disallow = all
allow = ulaw
auth = {number}-auth
aors = {number}
direct_media = yes
dtmf_mode = rfc4733
timers = always
timers_sess_expires = 90

[{number}-auth]
type = auth
auth_type = userpass
username = {number}
password = {password}

[{number}]
type = aor
max_contacts = 1
remove_existing = yes
{"qualify_frequency = 2" if qualify else ""}
"""


PJSIP = (
    extension("1001", SIP_PASSWORD, qualify=True)
    + extension("2000", PHONE_PW)
    + extension("3000", PHONE_PW)
)
DIALPLAN = """
[from-internal]
; The gateway's extension: the PBX passes a ticket number to the agent, and asks Asterisk to
; keep the headers of a REFER from it (res_pjsip_refer: GET_TRANSFERRER_DATA).
exten => 1001,1,Set(GET_TRANSFERRER_DATA=*)
 same => n,Dial(PJSIP/1001,30,b(sipgw-headers^s^1))
; A human's extension; a transferred call says what it carried.
exten => 2000,1,Set(TICKET=${HASH(TRANSFER_DATA,X-Ticket-Id)})
 same => n,Set(UUI=${HASH(TRANSFER_DATA,User-to-User)})
 same => n,Verbose(0,SIPGW-XFER ticket=${TICKET} uui=${UUI})
 same => n,Dial(PJSIP/2000,30)

[sipgw-headers]
exten => s,1,Set(PJSIP_HEADER(add,X-Ticket-Id)=T-42)
 same => n,Return()
"""


@pytest.fixture
def services(tmp_workdir: Path) -> Iterator[ThreadedFakes]:
    tones = {"Hi there": GREETING_HZ, "connect you": HANDOFF_HZ}
    with fake_services(tmp_workdir, tones) as fakes:
        yield fakes


def gateway(workdir: Path, ast: Asterisk, name: str, env: dict[str, str]) -> GatewayProcess:
    return GatewayProcess(
        workdir, name=name, agent="assistant",
        # the caller stays quiet past the session refresh (45 s): no idle check-in meanwhile
        extra_env={**env, "SIPGW_AUTH_PASSWORD": SIP_PASSWORD, "SIPGW_IDLE_AFTER": "0"},
        extra_args=["--register", ast.uri("1001"), "--allow-from", "127.0.0.1"],
    )  # fmt: skip


def phone(workdir: Path, ast: Asterisk, number: str, source: Path) -> Baresip:
    account = (
        f"<{ast.uri(number)}>;auth_pass={PHONE_PW};regint=60;answermode=auto;audio_codecs=pcmu"
    )
    # No jitter buffer in the phones behind Asterisk: Asterisk starts a call's stream with a
    # packet or two of one SSRC and goes on with another, whose sequence numbers may be
    # lower. baresip 1.0.0 flushes its jitter buffer on an SSRC change only once it has
    # played from it (src/stream.c, rtp_handler), while libre 1.1.0's buffer counts as
    # running from its first packet (src/jbuf/jbuf.c, jbuf_put): every packet of the new
    # SSRC is then "too late" (ETIMEDOUT, "stream: audio: dropping 172 bytes") and the
    # phone hears nothing for the whole call (seen in fresh-clone runs: the phone's
    # recording empty while the gateway's RTCP said Asterisk received everything).
    # Loopback delivers in order, so the phone loses nothing by decoding on arrival.
    return Baresip(
        workdir, f"ext{number}", user=number, source_wav=source, account=account,
        extra_config={"jitter_buffer_delay": "0-0"},
    )  # fmt: skip


@contextmanager
def pbx_scene(
    workdir: Path,
    env: dict[str, str],
    caller_audio: Path,
    person_audio: Path,
    pjsip: str = PJSIP,
    dialplan: str = DIALPLAN,
    target: str = "2000",
) -> Iterator[tuple[Asterisk, GatewayProcess, Baresip, Baresip]]:
    """Asterisk with the gateway (1001, its transfers to ``target``), a caller (3000) and a
    person (2000) registered; the caller has called the gateway and is answered."""
    with Asterisk(workdir, pjsip=pjsip, extensions=dialplan) as ast:
        env = {**env, "SIPGW_TRANSFER_TARGET": ast.uri(target)}
        with (
            gateway(workdir, ast, "gateway", env) as gw,
            phone(workdir, ast, "3000", caller_audio) as caller,
            phone(workdir, ast, "2000", person_audio) as person,
        ):
            gw.wait_log(r"registered sip:1001@", 10)
            ast.wait_contact("2000", None)
            ast.wait_contact("3000", None)
            caller.dial(ast.uri("1001"))
            caller.wait_event("CALL_ESTABLISHED", 15)
            yield ast, gw, caller, person


def sip_messages(log: str) -> list[str]:
    """The SIP messages of Asterisk's log (``pjsip set logger on``), each from its first line."""
    blocks = re.split(
        r"^\[[^\]]+\] VERBOSE\[\d+\] res_pjsip_logger\.c: <--- .*--->$", log, flags=re.M
    )
    return [block.strip("\n") for block in blocks[1:]]


def test_registration_replaces_a_stale_contact_and_answers_qualify(
    tmp_workdir: Path, services: ThreadedFakes
) -> None:
    """A gateway that died without unregistering leaves its contact behind; the next one
    registering the same extension replaces it (``remove_existing``; with ``max_contacts =
    1`` alone Asterisk would refuse it) and answers Asterisk's qualify OPTIONS."""
    with Asterisk(tmp_workdir, pjsip=PJSIP, extensions=DIALPLAN) as ast:
        with gateway(tmp_workdir, ast, "first", services.env) as first:
            first.wait_log(r"registered sip:1001@", 10)
            stale = ast.wait_contact("1001")
            first.stop(signal=9)  # no unregister
        with gateway(tmp_workdir, ast, "second", services.env) as second:
            second.wait_log(r"registered sip:1001@", 10)
            deadline = time.monotonic() + 15
            while True:
                contacts = [c for c in ast.contacts() if c.aor == "1001"]
                if len(contacts) == 1 and contacts[0].uri != stale.uri:
                    break
                assert time.monotonic() < deadline, contacts
                time.sleep(0.2)
            fresh = ast.wait_contact("1001", "Avail")  # qualify OPTIONS answered 200
            assert fresh.rtt_ms is not None and fresh.rtt_ms < 1000
            assert second.stop() == 0
    options = ast.log_text().count("OPTIONS sip:")
    assert options >= 2, "Asterisk sent no qualify OPTIONS"


def test_a_call_through_the_pbx_reinvite_session_refresh_and_transfer(
    tmp_workdir: Path, services: ThreadedFakes
) -> None:
    """Extension 3000 calls the gateway (1001): Asterisk moves the media to the phone with a
    re-INVITE (direct media), refreshes the session timer (90 s, at half time), and when the
    caller asks for a person the agent transfers them to extension 2000 with REFER: the X-
    header the PBX gave the call comes back on the REFER, and the agent's reason for the
    transfer rides in the Refer-To as User-to-User (RFC 7433): the call's summary the model
    gave with the transfer, cut after a whole word to the 128 octets ISDN carries."""
    services.stt.script(["I want a refund, can I talk to a person?"])
    handoff = {"reason": "refund 1234", "summary": HANDOFF}
    services.llm.script([
        FakeResponse(tool_calls=[FakeToolCall("transfer_to_human", handoff)]),
        FakeResponse(text="Let me connect you with a colleague."),
    ])  # fmt: skip
    env = {
        **services.env,
        "SIPGW_TRANSFER_LINE": "Let me connect you with a colleague.",
        "SIPGW_PASS_HEADERS": "X-Ticket-Id",
        "SIPGW_TRANSFER_SUMMARY": "on",
        "SIPGW_RTP_TIMEOUT": "0",
    }
    asking = write_pattern(
        tmp_workdir / "audio" / "ask.wav", [(None, 0.5), (SPEECH_HZ, 0.8), (None, 60.0)], -12.0
    )
    quiet = write_pattern(tmp_workdir / "audio" / "quiet.wav", [(None, 120.0)], -12.0)
    with pbx_scene(tmp_workdir, env, quiet, quiet) as (ast, gw, caller, human):
        answered = time.monotonic()
        # direct media: Asterisk's re-INVITE points our RTP at the phone's
        gw.wait_log(r"media updated: sendrecv to 127\.0\.0\.1:\d+", 15)
        ast.wait_log(r"^UPDATE sip:1001@", 60)  # the session refresh, at half of 90 s
        caller.play(asking)  # then the caller asks for a person
        human.wait_event("CALL_ESTABLISHED", 30)  # the transfer reached 2000
        transferred = time.monotonic()
        gw.wait_log(r"transfer succeeded: 200", 15)
        gw.wait_log(r"call ended: local-bye", 10)
        human.hangup()
    log = ast.log_text()
    assert transferred - answered >= 45, "the transfer came before the session refresh"
    messages = sip_messages(log)
    to_gateway = [m for m in messages if m.startswith(("INVITE sip:1001@", "UPDATE sip:1001@"))]
    assert len(to_gateway) >= 3, to_gateway  # the call, direct media, the session refresh
    refresh = next(m for m in messages if m.startswith("UPDATE sip:1001@"))
    cseq = re.search(r"^CSeq: (\d+) UPDATE", refresh, re.M)
    assert cseq, refresh
    assert any(m.startswith("SIP/2.0 200") and f"CSeq: {cseq[1]} UPDATE" in m for m in messages)
    refer = next(m for m in messages if m.startswith("REFER "))
    assert "X-Ticket-Id: T-42" in refer and "?User-to-User=" in refer, refer
    xfer = next(line for line in log.splitlines() if "SIPGW-XFER" in line)
    assert "ticket=T-42" in xfer, xfer
    uui = xfer.split("uui=")[1].split(";")[0]
    assert bytes.fromhex(uui).decode() == HANDOFF_SEEN, xfer
    records = [json.loads(line) for path in (tmp_workdir / "calls").glob("*.jsonl")
               for line in path.read_text().splitlines()]  # fmt: skip
    call = next(r for r in records if r.get("type") == "call")
    assert call["sip_headers"] == {"X-Ticket-Id": "T-42"}, call


RELIABLE_PJSIP = extension("1001", SIP_PASSWORD).replace(
    "timers_sess_expires = 90\n", "timers_sess_expires = 90\n100rel = required\n", 1
)
"""The gateway's extension, which requires reliable provisional responses (RFC 3262): an
INVITE from it without ``100rel`` support gets 421 Extension Required."""
RELIABLE_DIALPLAN = """
[from-internal]
; Early media first (a 183, sent reliably to an endpoint with 100rel), then the answer.
exten => 4000,1,Progress()
 same => n,Wait(1)
 same => n,Answer()
 same => n,Wait(5)
 same => n,Hangup()
"""


@pytest.mark.parametrize("reliable", ["supported", "off"])
def test_an_endpoint_that_requires_100rel_gets_its_prack_or_refuses(
    tmp_workdir: Path, reliable: str
) -> None:
    """The gateway (extension 1001, ``100rel = required``) calls 4000, which sends early media
    before answering: Asterisk sends its 183 reliably, the gateway PRACKs it and the call is
    answered. With ``SIPGW_100REL=off`` the INVITE does not support 100rel: Asterisk refuses
    it with 421."""
    with Asterisk(tmp_workdir, pjsip=RELIABLE_PJSIP, extensions=RELIABLE_DIALPLAN) as ast:
        result = sipgw_call(
            tmp_workdir, ast.uri("4000"), "--caller-id", ast.uri("1001"), "--auth-username", "1001",
            "--max-call-seconds", "2",
            env={"SIPGW_AUTH_PASSWORD": SIP_PASSWORD, "SIPGW_100REL": reliable},
        )  # fmt: skip
        messages = sip_messages(ast.log_text())
    output = result.stdout + result.stderr
    if reliable == "off":
        assert result.returncode != 0 and "421 Extension Required" in output, output
        assert not any(m.startswith("PRACK ") for m in messages)
        return
    assert result.returncode == 0, output
    reliable_183 = [m for m in messages if m.startswith("SIP/2.0 183")]
    assert reliable_183 and re.search(r"^Require: .*100rel", reliable_183[0], re.M | re.I), messages
    rseq = re.search(r"^RSeq: (\d+)", reliable_183[0], re.M)
    assert rseq, reliable_183[0]
    (prack,) = {m for m in messages if m.startswith("PRACK ")}  # once, however often the 183 came
    assert re.search(rf"^RAck: {rseq[1]} \d+ INVITE", prack, re.M), prack
    assert any(m.startswith("SIP/2.0 200") and " PRACK" in m.split("CSeq:")[1].split("\n")[0]
               for m in messages if "CSeq:" in m), messages  # fmt: skip
