"""``/metrics`` scraped from a real ``sipgw serve`` while baresip calls it through Kamailio.

The gateway registers at Kamailio; baresip calls its AOR there and the echo agent
answers. During the call the exposition shows one active call, the registration up, RTP
flowing and the media ticker's lateness histogram filling; after the hangup, no active
call and the ended call counted by direction and outcome, with its quality figures.
"""

from __future__ import annotations

import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest

from sipgw.app.evaluation.gateway_process import GatewayProcess
from sipgw.app.evaluation.ports import free_port
from tests.toolkit.canaries import SIP_PASSWORD
from tests.toolkit.metrics import sample_value
from tests.toolkit.peers.baresip import Baresip
from tests.toolkit.peers.kamailio import Kamailio

pytestmark = [pytest.mark.timeout(90), pytest.mark.usefixtures("nothing_left_running")]

ToneWav = Callable[..., Path]


def scrape(port: int) -> bytes:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        assert response.headers["Content-Type"].startswith("text/plain")
        body: bytes = response.read()
        return body


def value(exposition: bytes, name: str, **labels: str) -> float:
    found = sample_value(exposition, name, **labels)
    assert found is not None, f"no sample {name}{labels} in:\n{exposition.decode()}"
    return found


def test_metrics_during_and_after_a_call_through_kamailio(
    tmp_workdir: Path, tone_wav: ToneWav
) -> None:
    port = free_port()
    with Kamailio(tmp_workdir, users={"sipgw": SIP_PASSWORD}, transports=("udp",)) as kam:
        aor = kam.aor("sipgw")
        with (
            GatewayProcess(
                tmp_workdir,
                extra_args=["--register", aor, "--admin-port", str(port)],
                extra_env={"SIPGW_AUTH_PASSWORD": SIP_PASSWORD},
            ) as gw,
            Baresip(tmp_workdir, "a", user="a", source_wav=tone_wav(1000, 30, -9.0)) as caller,
        ):
            gw.wait_log(r"admin listening on", 5)
            kam.wait_registered("sipgw")
            idle = scrape(port)
            assert value(idle, "sipgw_active_calls") == 0
            assert value(idle, "sipgw_registration_up", aor=aor) == 1

            caller.dial(aor)
            caller.wait_event("CALL_ESTABLISHED", 10)
            time.sleep(2.0)
            during = scrape(port)
            assert value(during, "sipgw_active_calls") == 1
            assert value(during, "sipgw_rtp_ports_in_use") == 1
            assert value(during, "sipgw_calls_offered_total") == 1
            assert value(during, "sipgw_rtp_packets_received_total") >= 75  # 50 per second
            assert value(during, "sipgw_rtp_packets_sent_total") >= 75
            assert value(during, "sipgw_rtp_packets_lost_total") == 0  # loopback
            assert value(during, "sipgw_concealed_frames_total") >= 0
            assert value(during, "sipgw_tick_lateness_seconds_count") >= 75
            assert value(during, "sipgw_tick_lateness_seconds_bucket", le="+Inf") == value(
                during, "sipgw_tick_lateness_seconds_count"
            )
            assert value(during, "sipgw_ticks_total") >= 75
            assert value(during, "sipgw_registration_up", aor=aor) == 1
            ended = {"direction": "inbound", "leg": "sip", "outcome": "remote-bye", "line": ""}
            assert sample_value(during, "sipgw_calls_total", **ended) in (None, 0.0)
            assert value(during, "sipgw_call_jitter_seconds_count") == 0  # per ended call

            caller.hangup()
            caller.wait_event("CALL_CLOSED", 5)
            gw.wait_log(r"call ended: remote-bye", 5)
            after = scrape(port)
            assert value(after, "sipgw_active_calls") == 0
            assert value(after, "sipgw_rtp_ports_in_use") == 0
            assert value(after, "sipgw_calls_total", **ended) == 1
            assert value(after, "sipgw_call_jitter_seconds_count") == 1
            assert value(after, "sipgw_call_jitter_seconds_bucket", le="0.005") == 1  # loopback
            assert value(after, "sipgw_call_loss_ratio_count") == 1
            assert value(after, "sipgw_call_mos_count") == 1
            assert value(after, "sipgw_call_mos_sum") > 4.0  # G.711, no loss
            assert value(after, "sipgw_rtp_packets_received_total") >= value(
                during, "sipgw_rtp_packets_received_total"
            )
            assert gw.stop() == 0
    assert "Traceback" not in gw.log_text()
