"""A carrier redirects a placed call (302): ``sipgw call`` follows it to a baresip, or not.

The carrier is a SIPp scenario written from RFC 3261 §8.1.3.4 and §21.3.3: it takes the
INVITE, answers 100 Trying, then ``302 Moved Temporarily`` with a Contact, and takes the ACK
of the 302. The gateway follows the Contact only where the dial allow-list
(``SIPGW_DIAL_ALLOW``) allows it, also for the operator's own calls: a carrier's Contact is
a target nobody chose (a premium number, say).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from sipgw.app.evaluation.audio import analyse
from sipgw.app.evaluation.ports import free_port
from tests.interop.test_outbound_call import sipgw_call
from tests.toolkit.peers.baresip import Baresip
from tests.toolkit.peers.sipp import start_sipp

pytestmark = [pytest.mark.timeout(120), pytest.mark.usefixtures("nothing_left_running")]

ToneWav = Callable[..., Path]

CARRIER = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="a carrier that redirects the call">
  <recv request="INVITE"/>
  <send><![CDATA[
SIP/2.0 100 Trying
[last_Via:]
[last_From:]
[last_To:]
[last_Call-ID:]
[last_CSeq:]
Content-Length: 0

]]></send>
  <send><![CDATA[
SIP/2.0 302 Moved Temporarily
[last_Via:]
[last_From:]
[last_To:];tag=[pid]carrier
[last_Call-ID:]
[last_CSeq:]
Contact: CONTACTS
Content-Length: 0

]]></send>
  <recv request="ACK"/>
</scenario>
"""


def carrier(workdir: Path, contacts: str) -> Path:
    path = workdir / "carrier.xml"
    path.write_text(CARRIER.replace("CONTACTS", contacts))
    return path


def test_a_302_is_followed_to_the_allowed_contact(tmp_workdir: Path, tone_wav: ToneWav) -> None:
    """The Contact the allow-list names is called, and answers; the other is never tried
    and is named in the log."""
    source = tone_wav(1000, 30, -9.0, lead_silence=0.3)
    with Baresip(tmp_workdir, "b", user="b", answermode="auto", source_wav=source) as callee:
        premium = f"sip:+4420799900@127.0.0.1:{free_port()}"
        contacts = f"<{premium}>;q=0.9, <{callee.uri}>;q=0.5"
        args = ["-sf", str(carrier(tmp_workdir, contacts)), "-m", "1"]
        with start_sipp(args, timeout=30, cwd=tmp_workdir) as sipp:
            sipp.wait_ready()
            result = sipgw_call(
                tmp_workdir, f"sip:+15551230000@{sipp.target}", "--max-call-seconds", "3",
                env={"SIPGW_DIAL_ALLOW": callee.uri},
            )  # fmt: skip
            carrier_result = sipp.wait(10)
        callee.wait_event("CALL_CLOSED", 5)
        heard, _ = callee.recordings()
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert carrier_result.ok, carrier_result.describe()  # it got the ACK of its 302
    assert f"redirect: 302 Moved Temporarily, calling {callee.uri}" in output, output
    assert f"names {premium}, not in the dial allow-list" in output, output
    assert "answered" in result.stdout, output
    report = analyse(heard)  # the echo of the callee's tone: the call is up, both ways
    assert report.dominant_hz is not None and abs(report.dominant_hz - 1000) <= 5, report
    assert report.active_seconds >= 1.0, report.describe()


def test_a_302_to_targets_not_allowed_ends_the_call(tmp_workdir: Path) -> None:
    """With the default allow-list (empty) nothing a 3xx names is called: the call ends
    with the 302, as before redirects, and says why."""
    premium = f"sip:+4420799900@127.0.0.1:{free_port()}"
    args = ["-sf", str(carrier(tmp_workdir, f"<{premium}>")), "-m", "1"]
    with start_sipp(args, timeout=30, cwd=tmp_workdir) as sipp:
        sipp.wait_ready()
        result = sipgw_call(tmp_workdir, f"sip:+15551230000@{sipp.target}")
        carrier_result = sipp.wait(10)
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert carrier_result.ok, carrier_result.describe()
    assert f"names {premium}, not in the dial allow-list" in output, output
    assert "302 Moved Temporarily" in result.stdout, output
    assert len(carrier_result.received("INVITE")) == 1
