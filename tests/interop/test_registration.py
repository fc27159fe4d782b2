"""The gateway registers to a real Kamailio and is called through it (RFC 3261 §10).

Kamailio is the registrar (digest auth with ``qop=auth``, MD5 or SHA-256) and routes calls to
the gateway's AOR by its location table; baresip and linphonec call that AOR through it and
must hear the echo agent's echo. Also: a wrong password, the registrar going away and coming
back (the gateway backs off, then re-registers by itself), unregistering on shutdown.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from sipgw.app.evaluation.audio import analyse
from sipgw.app.evaluation.gateway_process import GatewayProcess
from tests.toolkit.canaries import SIP_PASSWORD, SIP_PASSWORD_2
from tests.toolkit.peers.baresip import Baresip
from tests.toolkit.peers.kamailio import Kamailio
from tests.toolkit.peers.linphonec import Linphonec

pytestmark = [pytest.mark.timeout(90), pytest.mark.usefixtures("nothing_left_running")]

ToneWav = Callable[..., Path]
USER = "sipgw"
PASSWORD = SIP_PASSWORD


def registering_gateway(
    workdir: Path, kam: Kamailio, *extra_args: str, password: str = PASSWORD
) -> GatewayProcess:
    """The gateway registering ``USER`` at ``kam``, its password in the environment."""
    return GatewayProcess(
        workdir,
        extra_args=["--register", kam.aor(USER), *extra_args],
        extra_env={"SIPGW_AUTH_PASSWORD": password},
    )


def registered_line(kam: Kamailio) -> str:
    aor = re.escape(kam.aor(USER))
    return rf"registered {aor} via 127\.0\.0\.1:{kam.sip_port} \(expires (\d+) s\)"


def call_and_hear_echo(caller: Baresip, kam: Kamailio, gw: GatewayProcess) -> None:
    """``caller`` (1 kHz) calls the gateway's AOR through Kamailio and hears its tone back."""
    caller.dial(kam.aor(USER))
    caller.wait_event("CALL_ESTABLISHED", 10)
    time.sleep(2.0)
    caller.hangup()
    caller.wait_event("CALL_CLOSED", 5)
    gw.wait_log(r"call ended: remote-bye", 5)
    heard, _ = caller.recordings()
    report = analyse(heard)
    desc = report.describe()
    assert report.dominant_hz is not None and abs(report.dominant_hz - 1000) <= 5, desc
    assert report.fraction_at(1000) > 0.9 and report.active_seconds >= 1.0, desc


@pytest.mark.parametrize(
    ("algorithm", "min_expires", "granted"),
    [("MD5", 0, 600), ("SHA-256", 900, 900)],  # SHA-256 also meets 423 Interval Too Brief
)
def test_gateway_registers_and_baresip_calls_it_through_kamailio(
    tmp_workdir: Path, tone_wav: ToneWav, algorithm: str, min_expires: int, granted: int
) -> None:
    with Kamailio(
        tmp_workdir,
        users={USER: PASSWORD},
        algorithm=algorithm,
        min_expires=min_expires,
        transports=("udp",),
    ) as kam:
        with (
            registering_gateway(tmp_workdir, kam) as gw,
            Baresip(tmp_workdir, "caller", user="caller", source_wav=tone_wav(1000)) as caller,
        ):
            found = gw.wait_log(registered_line(kam), 10)
            assert int(found[1]) == granted
            (contact,) = kam.wait_registered(USER)
            assert contact.contact.startswith(f"sip:{USER}@127.0.0.1:{gw.sip_port}")
            kam.wait_events(f"REGISTER challenge aor={USER}")
            if min_expires:  # 423 first, then the retry with Min-Expires
                kam.wait_events(f"REGISTER refused aor={USER}")
            call_and_hear_echo(caller, kam, gw)
            assert gw.stop() == 0
            gw.wait_log(rf"unregistered {re.escape(kam.aor(USER))}", 1)
            assert kam.registrations().get(USER, []) == []  # unregistered on shutdown
        log = gw.log_text()
        assert PASSWORD not in log
        assert len(re.findall(r"\bregistered sip:", log)) == 1  # one line per change


def test_linphonec_calls_the_registered_gateway_through_kamailio(
    tmp_workdir: Path, tone_wav: ToneWav
) -> None:
    with Kamailio(tmp_workdir, users={USER: PASSWORD}, transports=("udp",)) as kam:
        with (
            registering_gateway(tmp_workdir, kam) as gw,
            Linphonec(
                tmp_workdir, "lin", play=tone_wav(440, 30, -12.0, lead_silence=0.3), codecs=["PCMU"]
            ) as lin,
        ):
            gw.wait_log(registered_line(kam), 10)
            kam.wait_registered(USER)
            lin.call(kam.aor(USER))
            lin.wait_connected(10)
            time.sleep(3.0)
            lin.terminate()
            lin.wait_ended(5)
            gw.wait_log(r"call ended: remote-bye", 5)
            report = analyse(lin.recording())
    desc = report.describe()
    assert report.dominant_hz is not None and abs(report.dominant_hz - 440) <= 5, desc
    assert report.active_seconds >= 1.0, desc


def test_wrong_password_is_logged_and_retried_later(tmp_workdir: Path) -> None:
    with Kamailio(tmp_workdir, users={USER: PASSWORD}, transports=("udp",)) as kam:
        with registering_gateway(tmp_workdir, kam, password="not-it") as gw:
            found = gw.wait_log(
                rf"registration of {re.escape(kam.aor(USER))} failed: 401 \S.*"
                r"\(credentials refused\); retrying in (\d+) s",
                10,
            )
            assert 30 <= int(found[1]) <= 60
            kam.wait_events(f"REGISTER challenge aor={USER}", count=2)
            time.sleep(1.0)
            challenges = [e for e in kam.events() if f"REGISTER challenge aor={USER}" in e]
            assert len(challenges) == 2, kam.events()  # no third try with the same password
            assert kam.registrations().get(USER, []) == []
            assert gw.stop() == 0
        assert "not-it" not in gw.log_text()


@pytest.mark.timeout(200)
def test_registrar_outage_and_recovery(tmp_workdir: Path, tone_wav: ToneWav) -> None:
    """Kamailio stops: the refresh goes unanswered (Timer F, 64*T1), the gateway logs it and
    backs off (a random 1-2 times the retry base); Kamailio comes back (empty location table):
    the gateway registers by itself and a call through Kamailio works again.

    T1 and the retry base are set short (--sip-t1, --register-retry-base) so the outage lasts
    seconds, not the 32 s + 30-60 s of the defaults (whose backoff the wrong-password test
    checks); what happens is the same."""
    t1, retry_base = 0.1, 2
    with Kamailio(tmp_workdir, users={USER: PASSWORD}, transports=("udp",)) as kam:
        with registering_gateway(
            tmp_workdir, kam, "--register-expires", "5", "--sip-t1", str(t1),
            "--register-retry-base", str(retry_base),
        ) as gw:  # fmt: skip
            gw.wait_log(registered_line(kam), 10)
            kam.wait_registered(USER)
            kam.stop()
            failed = gw.wait_log(
                rf"registration of {re.escape(kam.aor(USER))} failed: 408 no response; "
                r"retrying in (\d+) s",
                4.5 + 64 * t1 + 5,
            )
            assert retry_base <= int(failed[1]) <= 2 * retry_base
            kam.start()  # same ports, empty location table
            start = len(gw.log_lines())
            gw.wait_log(registered_line(kam), int(failed[1]) + 10, start=start)
            kam.wait_registered(USER)
            # The caller starts now, not at the start: an idle baresip is no part of the test.
            with Baresip(tmp_workdir, "caller", user="caller", source_wav=tone_wav(1000)) as caller:
                call_and_hear_echo(caller, kam, gw)
            assert gw.stop() == 0


def test_several_accounts_from_a_file(tmp_workdir: Path, tone_wav: ToneWav) -> None:
    """Two accounts in an accounts file register side by side, a call to the second reaches
    its agent, and both are unregistered on shutdown."""
    users = {USER: PASSWORD, "desk": SIP_PASSWORD_2}
    with Kamailio(tmp_workdir, users=users, transports=("udp",)) as kam:
        accounts = tmp_workdir / "accounts.toml"
        accounts.write_text(
            f'[accounts.main]\naor = "{kam.aor(USER)}"\nauth_password = "{PASSWORD}"\n\n'
            f'[accounts.desk]\naor = "{kam.aor("desk")}"\nauth_password = "{SIP_PASSWORD_2}"\n'
            'agent = "echo"\nexpires = 300\n'
        )
        with (
            GatewayProcess(tmp_workdir, extra_args=["--accounts", str(accounts)]) as gw,
            Baresip(tmp_workdir, "caller", user="caller", source_wav=tone_wav(1000)) as caller,
        ):
            gw.wait_log(registered_line(kam), 10)
            desk = re.escape(kam.aor("desk"))
            gw.wait_log(rf"registered {desk} via .* \(expires 300 s\)", 10)
            kam.wait_registered(USER)
            kam.wait_registered("desk")
            caller.dial(kam.aor("desk"))
            caller.wait_event("CALL_ESTABLISHED", 10)
            gw.wait_log(rf"incoming call from .* to {desk} \(account desk\)", 5)
            time.sleep(1.0)
            caller.hangup()
            caller.wait_event("CALL_CLOSED", 5)
            assert gw.stop() == 0
            assert kam.registrations() == {}
        assert SIP_PASSWORD_2 not in gw.log_text() and PASSWORD not in gw.log_text()


def test_auth_username_of_its_own(tmp_workdir: Path, tone_wav: ToneWav) -> None:
    """3CX and FreeSWITCH style: the extension authenticates with an auth ID that is not its
    user part (--auth-username), and is called at its extension."""
    with Kamailio(
        tmp_workdir, users={"auth-id-77": PASSWORD}, transports=("udp",),
        auth_user_must_match=False,
    ) as kam:  # fmt: skip
        with (
            registering_gateway(tmp_workdir, kam, "--auth-username", "auth-id-77") as gw,
            Baresip(tmp_workdir, "caller", user="caller", source_wav=tone_wav(1000)) as caller,
        ):
            gw.wait_log(registered_line(kam), 10)
            kam.wait_registered(USER)
            call_and_hear_echo(caller, kam, gw)
            assert gw.stop() == 0
