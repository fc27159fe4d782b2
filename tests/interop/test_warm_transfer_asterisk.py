"""Warm transfer behind a real Asterisk 22, the PBX most callers reach us through.

Extension 3000 (a baresip) calls the gateway's extension 1001 through Asterisk and asks for a
person; the gateway holds the caller with music, calls extension 2000 (a second baresip)
through the same Asterisk, and the person hears the summary and accepts with a key. The
caller's side is Asterisk (its INVITE allows REFER) and so is the person's (its 2xx supports
replaces), so the gateway sends Asterisk a REFER with Replaces (RFC 5589 §7): Asterisk finds
the replaced dialog among its own and joins its two channels (res_pjsip_refer's attended
transfer), ending both of the gateway's calls; the two phones then hear each other with the
gateway out of the media. (A person busy or away brings the caller back with the agent:
tests/agent/transfer/test_warm.py, the call's SIP failure the user agent's.)
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from sipgw.app.evaluation.audio import analyse
from sipgw.app.evaluation.gateway_process import GatewayProcess
from tests.interop.services import fake_services
from tests.interop.test_asterisk import PJSIP, pbx_scene, sip_messages
from tests.interop.test_warm_transfer_peers import (
    BACK_HZ,
    CALLER_HZ,
    INTRO_HZ,
    LINE_HZ,
    MUSIC_HZ,
    PERSON_HZ,
    SPEECH_HZ,
    SUMMARY_HZ,
    ask_for_a_person,
    heard,
    record_lines,
    wait_heard,
    wav,
)  # fmt: skip
from tests.toolkit.fakes.threaded import ThreadedFakes

CONVERSATION = {"SIPGW_GREETING": "", "SIPGW_TRANSFER_MODE": "warm", "SIPGW_RTP_TIMEOUT": "0"}

pytestmark = [pytest.mark.timeout(240), pytest.mark.usefixtures("nothing_left_running")]


ANCHORED = PJSIP.replace("direct_media = yes", "direct_media = no")
"""The extensions with Asterisk in the media path: a direct-media re-INVITE makes baresip
restart its audio stream, which ends the recording the test listens to."""


@pytest.fixture
def services(tmp_workdir: Path) -> Iterator[ThreadedFakes]:
    tones = {"connect you with a colleague": LINE_HZ, "caller for you": INTRO_HZ,
             "refund": SUMMARY_HZ, "nobody": BACK_HZ}  # fmt: skip
    with fake_services(tmp_workdir, tones) as fakes:
        yield fakes


def wait_ended(gw: GatewayProcess, calls: int, within: float) -> None:
    """Wait until the gateway logged the end of ``calls`` calls."""
    deadline = time.monotonic() + within
    while gw.log_text().count("call ended: ") < calls:
        assert time.monotonic() < deadline, gw.log_tail()
        time.sleep(0.1)


def test_asterisk_joins_the_caller_and_the_person_on_our_refer_with_replaces(
    tmp_workdir: Path, services: ThreadedFakes
) -> None:
    ask_for_a_person(services)
    caller_wav = wav(tmp_workdir, "caller", (None, 3.0), (SPEECH_HZ, 0.6), (None, 5.0),
                     (CALLER_HZ, 60.0))  # fmt: skip
    person_wav = wav(tmp_workdir, "person", (None, 0.5), (PERSON_HZ, 60.0))
    env = {**services.env, **CONVERSATION, "SIPGW_CONSULT_ANSWER_TIMEOUT": "10"}
    scene = pbx_scene(tmp_workdir, env, caller_wav, person_wav, ANCHORED)
    with scene as (ast, gw, caller, person):
        person.wait_event("CALL_ESTABLISHED", 30)  # the gateway calls 2000 through Asterisk
        wait_heard(person, SUMMARY_HZ, 0.4)  # who calls and why (the summary itself)
        person.send_dtmf("1")
        gw.wait_log(r"attended transfer done", 20)
        wait_ended(gw, 2, 15)  # ours to the caller and to the person: Asterisk took them over
        wait_heard(caller, PERSON_HZ, 1.5, within=20)  # the person, through Asterisk alone
        wait_heard(person, CALLER_HZ, 1.5, within=20)  # the caller, likewise
        caller.hangup()
        caller.wait_event("CALL_CLOSED", 10)
        person.wait_event("CALL_CLOSED", 10)
        to_caller = analyse(caller.all_recordings()[-1][0])
        to_person = analyse(person.all_recordings()[-1][0])
    line, music = heard(to_caller, LINE_HZ), heard(to_caller, MUSIC_HZ)
    assert line and music and line[0][0] < music[0][0], to_caller.describe()
    from_person = heard(to_caller, PERSON_HZ)
    assert from_person and from_person[0][0] > music[0][0], to_caller.describe()
    summary, from_caller = heard(to_person, SUMMARY_HZ), heard(to_person, CALLER_HZ)
    assert summary and from_caller and summary[0][0] < from_caller[0][0], to_person.describe()
    record = record_lines(tmp_workdir)
    stages = [r["stage"] for r in record if r["type"] == "warm_transfer"]
    assert stages == ["hold", "joined"], stages
    joined = next(r for r in record if r.get("stage") == "joined")
    assert joined["how"] == "refer", joined
    decided = next(r for r in record if r.get("stage") == "decided")
    assert (decided["decision"], decided["by"]) == ("accepted", "key 1")
    log = gw.log_text()
    assert "bridged with" not in log  # the gateway carried no media between them
    refer = next(m for m in sip_messages(ast.log_text()) if m.startswith("REFER "))
    assert re.search(r"^Refer-To: .*\?Replaces=", refer, re.M | re.I), refer
