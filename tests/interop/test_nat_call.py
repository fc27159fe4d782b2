"""The gateway behind a real NAT registers to Kamailio and is called through it (docs/nat.md).

The gateway runs in the private namespace of :class:`~tests.toolkit.netns.NatHarness`
(10.0.0.2, masqueraded to 198.51.100.2); Kamailio and baresip listen on the public side
(198.51.100.1). The NAT only lets in replies to what the gateway sent (address- and
port-dependent filtering), so calls reach the gateway only through the mapping its
REGISTER opened, and the caller's audio only through the mapping its own RTP opened.

- With ``--public-ip`` set to the NAT's public address, the registered Contact, the Via and
  the SDP name it; a baresip calls the gateway's AOR through Kamailio and hears its own
  tone echoed back, and the gateway hears the caller (both directions cross the NAT).
- Without ``--public-ip`` the gateway announces its private address; the registration still
  works (Kamailio records the source address) and the gateway logs, from the registrar's
  ``200 OK``, the address the NAT gives it and the setting to fix.
"""

from __future__ import annotations

import re
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from sipgw.app.evaluation.audio import analyse, tone_frames
from sipgw.app.evaluation.gateway_process import GatewayProcess
from tests.toolkit.canaries import SIP_PASSWORD
from tests.toolkit.netns import NatHarness
from tests.toolkit.peers.baresip import Baresip
from tests.toolkit.peers.kamailio import Kamailio
from tests.toolkit.peers.sipp import SippProcess, scenario

pytestmark = [pytest.mark.timeout(90), pytest.mark.usefixtures("nothing_left_running")]

ToneWav = Callable[..., Path]
USER = "sipgw"
PASSWORD = SIP_PASSWORD


def gateway_behind(nat: NatHarness, workdir: Path, kam: Kamailio, public_ip: str) -> GatewayProcess:
    """The gateway in ``nat``'s private namespace, registering ``USER`` at ``kam``.

    ``public_ip`` "" leaves ``--public-ip`` empty: the gateway then announces its bind address.
    """
    return GatewayProcess(
        workdir,
        program=nat.wrap([sys.executable, "-m", "sipgw"]),
        bind=nat.private_ip,
        public_ip=public_ip,
        extra_args=["--register", kam.aor(USER)],
        extra_env={"SIPGW_AUTH_PASSWORD": PASSWORD},
    )


def registrar(nat: NatHarness, workdir: Path) -> Kamailio:
    """Kamailio (UDP) on the NAT's public side, knowing ``USER``."""
    return Kamailio(workdir, users={USER: PASSWORD}, host=nat.public_ip, transports=("udp",))


def registered_line(kam: Kamailio) -> str:
    aor = re.escape(kam.aor(USER))
    return rf"registered {aor} via {re.escape(kam.hostport())} \(expires \d+ s\)"


def test_gateway_behind_nat_with_public_ip_is_called_through_kamailio(
    tmp_workdir: Path, tone_wav: ToneWav
) -> None:
    with (
        NatHarness() as nat,
        registrar(nat, tmp_workdir) as kam,
    ):
        with (
            gateway_behind(nat, tmp_workdir, kam, nat.nat_public_ip) as gw,
            Baresip(
                tmp_workdir, "caller", user="caller", source_wav=tone_wav(1000), host=nat.public_ip
            ) as caller,
        ):
            gw.wait_log(registered_line(kam), 10)
            (contact,) = kam.wait_registered(USER)
            # announced and seen agree: masquerade kept the port, the Contact names the NAT
            assert contact.contact.startswith(f"sip:{USER}@{nat.nat_public_ip}:{gw.sip_port}"), (
                contact
            )
            assert "NAT:" not in gw.log_text()
            caller.dial(kam.aor(USER))
            caller.wait_event("CALL_ESTABLISHED", 10)
            gw.wait_log(r"incoming call from ", 5)
            time.sleep(2.5)
            caller.hangup()
            caller.wait_event("CALL_CLOSED", 5)
            gw.wait_log(r"call ended: remote-bye", 5)
            heard, _ = caller.recordings()
            assert gw.stop() == 0
            gw.wait_log(rf"unregistered {re.escape(kam.aor(USER))}", 1)
            assert kam.registrations().get(USER, []) == []
        log = gw.log_text()
    # the echo came back: the caller's RTP got in through the NAT, and ours got out
    report = analyse(heard)
    desc = report.describe()
    assert report.dominant_hz is not None and abs(report.dominant_hz - 1000) <= 5, desc
    assert report.fraction_at(1000) > 0.9 and report.active_seconds >= 1.5, desc
    assert PASSWORD not in log


def test_the_callers_rtp_gets_in_even_when_it_reaches_the_nat_before_the_ack(
    tmp_workdir: Path,
) -> None:
    """Issue 21 part A sent nothing before the ACK, and the gateway's first packet left only
    once the ACK had crossed Kamailio. A caller's RTP that reached the NAT before it left a
    (refused) connection entry for our public RTP port, so the NAT gave our stream another
    port, and the caller's audio, still sent to the SDP's port, never got in (baresip in
    the test above heard silence from a remapped port once, on a loaded machine; SIPp here
    sends its RTP 300 ms before its ACK, every time). Now one octet (a NUL, no RTP) leaves
    as the call is answered, before the 200 OK: the NAT maps our port first."""
    cwd = tmp_workdir / "sipp"
    cwd.mkdir(parents=True, exist_ok=True)
    (cwd / "tone1k.ulaw").write_bytes(b"".join(tone_frames(1000, 2.0)))
    with (
        NatHarness() as nat,
        registrar(nat, tmp_workdir) as kam,
        gateway_behind(nat, tmp_workdir, kam, nat.nat_public_ip) as gw,
    ):
        gw.wait_log(registered_line(kam), 10)
        kam.wait_registered(USER)
        args = ["-sf", scenario("uac_rtp_before_ack.xml"), kam.hostport(), "-s", USER,
                "-m", "1", "-d", "2000"]  # fmt: skip
        with SippProcess(args, timeout=30, cwd=cwd, local_ip=nat.public_ip) as sipp:
            result = sipp.wait()
        result.assert_ok(successful=1)
        gw.wait_log(r"call ended: remote-bye", 5)
        received = int(gw.wait_log(r"media stats: in (\d+)", 5)[1])
        assert gw.stop() == 0
    assert received >= 50, f"the caller's RTP did not get in: {received} packets"


def test_gateway_behind_nat_without_public_ip_says_what_to_set(tmp_workdir: Path) -> None:
    with (
        NatHarness() as nat,
        registrar(nat, tmp_workdir) as kam,
        gateway_behind(nat, tmp_workdir, kam, "") as gw,
    ):
        gw.wait_log(registered_line(kam), 10)
        (contact,) = kam.wait_registered(USER)
        # we announced the private address; Kamailio keeps where the REGISTER came from
        assert contact.contact.startswith(f"sip:{USER}@{nat.private_ip}:{gw.sip_port}"), contact
        assert contact.received.startswith(f"sip:{nat.nat_public_ip}:"), contact
        found = gw.wait_log(
            rf"NAT: {re.escape(kam.hostport())} sees us at {re.escape(nat.nat_public_ip)}:(\d+), "
            rf"but we announce {re.escape(nat.private_ip)}:{gw.sip_port} in Via, Contact and SDP: "
            rf"set SIPGW_PUBLIC_IP={re.escape(nat.nat_public_ip)}",
            5,
        )
        assert int(found[1]) == gw.sip_port
        assert gw.stop() == 0
        assert len(re.findall(r"NAT: ", gw.log_text())) == 1  # said once, not per refresh
