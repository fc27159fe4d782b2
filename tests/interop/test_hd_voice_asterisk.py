"""HD voice (issue 43) through a real Asterisk 22: an extension offering G.722 first reaches
the gateway's extension (``allow = g722,ulaw`` on both endpoints) and the call is G.722 end to
end: the gateway answers G722/9 and its assistant's speech-to-text gets 16 kHz
``pcm_s16le``. The gateway registers through an accounts file whose account lists
``codecs = ["G722", "PCMU"]`` (an account's calls keep G.711 first unless it says so).

Asterisk is built once per machine from ../shared/pbx/asterisk (tests.toolkit.peers.asterisk).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from sipgw.app.evaluation.gateway_process import GatewayProcess
from tests.interop.services import fake_services
from tests.interop.test_hd_voice_peers import WIDEBAND_STT, wideband_speech
from tests.toolkit.canaries import SIP_PASSWORD
from tests.toolkit.fakes.threaded import ThreadedFakes
from tests.toolkit.peers.asterisk import Asterisk
from tests.toolkit.peers.baresip import Baresip

pytestmark = [pytest.mark.timeout(240), pytest.mark.usefixtures("nothing_left_running")]

PHONE_PW = "phone-pw"


def extension(number: str, password: str) -> str:
    """A PJSIP extension that registers, G.722 first, then μ-law."""
    return f"""
[{number}]
type = endpoint
context = from-internal
disallow = all
allow = g722,ulaw
auth = {number}-auth
aors = {number}
dtmf_mode = rfc4733

[{number}-auth]
type = auth
auth_type = userpass
username = {number}
password = {password}

[{number}]
type = aor
max_contacts = 1
remove_existing = yes
"""


PJSIP = extension("1001", SIP_PASSWORD) + extension("3000", PHONE_PW)
DIALPLAN = "[from-internal]\nexten => 1001,1,Dial(PJSIP/1001,30)\n"


@pytest.fixture
def services(tmp_workdir: Path) -> Iterator[ThreadedFakes]:
    with fake_services(tmp_workdir, {"Hi there": 500}) as fakes:
        yield fakes


def test_an_asterisk_extension_offering_g722_gets_g722_to_the_stt(
    tmp_workdir: Path, services: ThreadedFakes
) -> None:
    services.stt.required_params = dict(WIDEBAND_STT)
    source = wideband_speech(tmp_workdir / "audio" / "wide.wav")
    with Asterisk(tmp_workdir, pjsip=PJSIP, extensions=DIALPLAN) as ast:
        accounts = tmp_workdir / "accounts.toml"
        accounts.write_text(
            f'[accounts.pbx]\naor = "{ast.uri("1001")}"\nauth_password = "{SIP_PASSWORD}"\n'
            'codecs = ["G722", "PCMU"]\n'
        )
        account = (
            f"<{ast.uri('3000')}>;auth_pass={PHONE_PW};regint=60;audio_codecs=g722/16000/1,pcmu"
        )
        gw = GatewayProcess(
            tmp_workdir, agent="assistant", extra_env=services.env,
            extra_args=["--accounts", str(accounts), "--allow-from", "127.0.0.1",
                        "--codecs", "G722,PCMU,PCMA"],
        )  # fmt: skip
        phone = Baresip(
            tmp_workdir, "ext3000", user="3000", source_wav=source, account=account,
            modules=["g722.so"], extra_config={"jitter_buffer_delay": "0-0"},
        )  # fmt: skip
        with gw, phone:
            gw.wait_log(r"registered sip:1001@", 10)
            ast.wait_contact("3000", None)
            phone.dial(ast.uri("1001"))
            phone.wait_event("CALL_ESTABLISHED", 15)
            gw.wait_log(r"media: G722/9 to ", 5)
            services.stt.wait_for_blocking(
                lambda: any(s.audio_bytes > 8000 for s in services.stt.sessions), 10
            )
            phone.hangup()
            gw.wait_log(r"call ended:", 10)
            assert gw.stop() == 0
    assert "(account pbx)" in gw.log_text()
    (session,) = services.stt.sessions
    assert session.params["encoding"] == "pcm_s16le" and session.params["sample_rate"] == "16000"
