"""The call page in a real headless Chromium: a browser calls the echo agent and the assistant.

``sipgw serve`` runs as a subprocess with the admin server on (a token set); Chromium signs
in through the dashboard's form, opens ``/dashboard/phone`` and presses "Call". Its
microphone is a WAV file (``--use-fake-device-for-media-stream``,
``--use-file-for-fake-audio-capture``); the page measures the agent's audio with WebAudio
(an ``AnalyserNode`` on the remote track: level and strongest frequency every 50 ms), so the
test reads what the browser heard. The media go over the real path: WebRTC (ICE, DTLS-SRTP)
between Chromium and aiortc, our jitter buffer, the ticker.

- The echo agent, the page behind an HTTPS reverse proxy (``tests.toolkit.https_proxy``:
  TLS with a test CA's certificate, ``X-Forwarded-Proto``) on a name that is not loopback
  (``gw.sipgw.test``, mapped to 127.0.0.1 by Chromium's host resolver rules; the certificate
  pinned by its key), as an operator serves it: the page is a secure context there, the
  session cookie is ``Secure``; a 440 Hz tone in, the same tone heard back at its level; the
  hang-up button ends the call (``remote-hangup``), and the call was a ``browser`` call with
  the page's values as its variables.
- The assistant, against the fake AI services: the greeting's tone is heard, the caller's
  speech reaches the fake STT (its turn is transcribed), the transcript of both sides and
  the turn's latency bars appear on the page, the reply's tone is heard.
- Firefox (Debian's ``firefox-esr``, driven over Marionette: ``tests.toolkit.firefox``), its
  fake microphone a 1 kHz tone (``media.navigator.streams.fake``): calls the echo agent, hears
  its tone back, and gets the gateway's RTCP receiver reports.

In the test's private network namespace 127.0.0.2 is added to ``lo`` (aioice leaves 127.0.0.1
out) and Chromium is allowed loopback candidates; Firefox, which gathers nothing on ``lo``,
gets a veth interface with a default route for the test (``webrtc_interface``). Screenshots go
to ``SIPGW_TEST_ARTIFACTS`` (default ``test-artifacts/``).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from sipgw.app.admin.dashboard import COOKIE
from sipgw.app.evaluation.audio import write_pattern
from sipgw.app.evaluation.fakes.openai import FakeResponse
from sipgw.app.evaluation.gateway_process import GatewayProcess
from sipgw.app.evaluation.ports import free_port
from tests.toolkit.browser import Browser, fake_microphone
from tests.toolkit.canaries import ADMIN_TOKEN
from tests.toolkit.fakes.threaded import ThreadedFakes, fakes_in_threads
from tests.toolkit.firefox import Firefox
from tests.toolkit.https_proxy import HttpsProxy
from tests.toolkit.netns import add_ice_address, webrtc_interface
from tests.toolkit.tls import make_ca, make_server_cert

pytestmark = [pytest.mark.timeout(180), pytest.mark.usefixtures("nothing_left_running")]

ROOT = Path(__file__).resolve().parents[2]
GREETING_HZ, REPLY_HZ = 500, 700
SAID = "Where is my order 1234?"
REPLY = "Your order has shipped and arrives tomorrow."


def artifacts() -> Path:
    """Where screenshots go: ``SIPGW_TEST_ARTIFACTS`` or ``test-artifacts/`` (gitignored)."""
    return Path(os.environ.get("SIPGW_TEST_ARTIFACTS") or ROOT / "test-artifacts")


@pytest.fixture(autouse=True)
def ice_address() -> None:
    add_ice_address()


@pytest.fixture
def services(tmp_workdir: Path) -> Iterator[ThreadedFakes]:
    with fakes_in_threads(tmp_workdir, {"Hi there": GREETING_HZ, "shipped": REPLY_HZ}) as fakes:
        fakes.stt.script([SAID])
        fakes.llm.script([FakeResponse(text=REPLY)])
        yield fakes


def admin_env() -> dict[str, str]:
    return {"SIPGW_ADMIN_PORT": str(free_port()), "SIPGW_ADMIN_TOKEN": ADMIN_TOKEN}


async def call_from_the_page(browser: Browser | Firefox, url: str, query: str) -> None:
    """Sign in (the page is refused without a session), open the call page, call."""
    await browser.navigate(url + "/dashboard/phone")  # no session yet: the sign-in form
    await browser.evaluate(
        f"document.getElementById('token').value = {json.dumps(ADMIN_TOKEN)};"
        "document.getElementById('login').submit()"
    )
    await browser.wait_for("document.getElementById('status')?.textContent === 'live'")
    await browser.navigate(f"{url}/dashboard/phone?{query}")
    await browser.evaluate("document.getElementById('call').click()")
    await browser.wait_for("window.sipgwPhone.state === 'connected'", 20)


def heard(hz: float, level: float = -35.0) -> str:
    """JavaScript: how many of the page's 50 ms measurements heard ``hz`` (±1 FFT bin)."""
    return (
        f"window.sipgwPhone.samples.filter(s => s.dbfs > {level} && Math.abs(s.hz - {hz}) < 25)"
        ".length"
    )


def spki_pin(cert: Path) -> str:
    """The certificate's public key as Chromium's ``--ignore-certificate-errors-spki-list``
    takes it: base64 of the SHA-256 of its SubjectPublicKeyInfo."""
    key = x509.load_pem_x509_certificate(cert.read_bytes()).public_key()
    der = key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(hashlib.sha256(der).digest()).decode()


async def test_the_page_calls_the_echo_agent_through_an_https_proxy_and_hears_itself(
    tmp_workdir: Path,
) -> None:
    """The page, served by a TLS proxy on a public name as an operator deploys it, calls the
    echo agent with a call variable and hears its own tone back at its level."""
    microphone = write_pattern(tmp_workdir / "audio" / "tone.wav", [(440, 60.0)], -12.0)
    ca = make_ca(tmp_workdir / "pki")
    cert = make_server_cert(ca, tmp_workdir / "pki", "gw", dns_names=("gw.sipgw.test",))
    with GatewayProcess(tmp_workdir, agent="echo", extra_env=admin_env()) as gw:
        admin = gw.wait_log(r"admin listening on (\S+)", 10).group(1)
        async with HttpsProxy(admin, cert.cert, cert.key) as proxy:
            switches = (
                *fake_microphone(microphone), "--host-resolver-rules=MAP gw.sipgw.test 127.0.0.1",
                f"--ignore-certificate-errors-spki-list={spki_pin(cert.cert)}",
            )  # fmt: skip
            async with Browser(tmp_workdir, extra_args=switches) as browser:
                url = f"https://gw.sipgw.test:{proxy.port}"
                await call_from_the_page(browser, url, "audio=raw&customer=Ann")
                assert await browser.evaluate("window.isSecureContext && location.origin") == url
                gw.wait_log(r"incoming browser call from browser:", 5)
                detail = await browser.evaluate(
                    "fetch('/api/calls/' + window.sipgwPhone.id).then(r => r.json())"
                )
                assert detail["leg"] == "browser" and detail["variables"] == {"customer": "Ann"}
                assert await browser.wait_for(f"{heard(440)} >= 20", 15)  # a second of it
                samples: list[dict[str, Any]] = await browser.evaluate("window.sipgwPhone.samples")
                echoed = [s for s in samples if s["dbfs"] > -35]
                tone = [s for s in echoed if abs(s["hz"] - 440) < 25]
                # a measurement may straddle the echo's first frame or a concealed one: 90 %
                assert len(tone) >= 0.9 * len(echoed), echoed
                level = sorted(s["dbfs"] for s in tone)[len(tone) // 2]
                assert -16 < level < -8, tone  # the caller's -12 dBFS, through G.711 twice
                await browser.screenshot(artifacts() / "phone-echo.png")
                await browser.evaluate("document.getElementById('hangup').click()")
                gw.wait_log(r"call ended: remote-hangup", 10)
                assert await browser.evaluate("window.sipgwPhone.state") == "ended"
        gw.wait_log(r"media: transport WebRTC, codec PCMU", 5)  # logged just after the end
        # the cookie was set Secure (the proxy said https), and the page's POSTs went through it
        assert ("POST", "/api/phone/calls", 201) in proxy.requests, proxy.requests
        (session,) = [c for c in proxy.set_cookies if c.startswith(f"{COOKIE}=")]
        assert "Secure" in session and "SameSite=Strict" in session, session
        assert "incoming browser call from browser:127.0.0.1" in gw.log_text()  # the proxy's
        assert gw.stop() == 0


async def test_firefox_calls_the_echo_agent_and_hears_itself(tmp_workdir: Path) -> None:
    with webrtc_interface(), GatewayProcess(tmp_workdir, agent="echo", extra_env=admin_env()) as gw:
        url = gw.wait_log(r"admin listening on (\S+)", 10).group(1)
        async with Firefox(tmp_workdir) as browser:
            await call_from_the_page(browser, url, "audio=raw&customer=Ann")
            gw.wait_log(r"incoming browser call from browser:", 5)
            # Firefox's fake microphone is a steady 1 kHz tone: a second of it heard back
            assert await browser.wait_for(f"{heard(1000)} >= 20", 15)
            samples: list[dict[str, Any]] = await browser.evaluate("window.sipgwPhone.samples")
            echoed = [s for s in samples if s["dbfs"] > -35]
            assert len([s for s in echoed if abs(s["hz"] - 1000) < 25]) >= 0.9 * len(echoed)
            # the gateway's receiver reports reach Firefox (aiortc's RTCP, fed by our tap)
            await browser.wait_for(
                "window.sipgwPhone.rtpStats().then(s => s.some(r => r.type === "
                "'remote-inbound-rtp' && r.packetsReceived > 0))", 10,
            )  # fmt: skip
            await browser.screenshot(artifacts() / "phone-firefox-echo.png")
            await browser.evaluate("document.getElementById('hangup').click()")
            gw.wait_log(r"call ended: remote-hangup", 10)
        gw.wait_log(r"media: transport WebRTC, codec PCMU", 5)  # logged just after the end
        assert gw.stop() == 0


async def test_the_page_talks_to_the_assistant(tmp_workdir: Path, services: ThreadedFakes) -> None:
    microphone = write_pattern(
        tmp_workdir / "audio" / "turn.wav", [(None, 3.0), (300, 0.8), (None, 60.0)], -12.0
    )
    env = {**services.env, **admin_env()}
    with GatewayProcess(tmp_workdir, agent="assistant", extra_env=env) as gw:
        url = gw.wait_log(r"admin listening on (\S+)", 10).group(1)
        async with Browser(tmp_workdir, extra_args=fake_microphone(microphone)) as browser:
            await call_from_the_page(browser, url, "audio=raw")
            assert await browser.wait_for(f"{heard(GREETING_HZ)} >= 2", 15)
            # the caller's burst became a turn at the fake STT, and its transcript is on the page
            await browser.wait_for(
                "[...document.querySelectorAll('#transcript .line-user .text')]"
                f".some(n => n.textContent === {json.dumps(SAID)})",
                20,
            )
            turns = [m for s in services.stt.sessions for m in s.sent if m.get("type") == "Turn"]
            assert any(m.get("end_of_turn") and m.get("transcript") == SAID for m in turns)
            await browser.wait_for(
                "[...document.querySelectorAll('#transcript .line-assistant .text')]"
                f".some(n => n.textContent === {json.dumps(REPLY)})",
                15,
            )
            assert await browser.wait_for(f"{heard(REPLY_HZ)} >= 2", 15)
            await browser.wait_for("document.querySelectorAll('#turns .bar').length >= 3", 15)
            stages = await browser.evaluate(
                "[...document.querySelectorAll('#turns .bar')].map(b => b.className)"
            )
            assert {"bar stage-stt_end_of_turn", "bar stage-llm_first_token",
                    "bar stage-tts_first_byte"} <= set(stages), stages  # fmt: skip
            await browser.screenshot(artifacts() / "phone-assistant.png")
            await browser.evaluate("document.getElementById('hangup').click()")
            gw.wait_log(r"call ended: remote-hangup", 10)
        record = [
            json.loads(line)
            for path in (tmp_workdir / "calls").glob("*.jsonl")
            for line in path.read_text().splitlines()
        ]
        call = next(line for line in record if line["type"] == "call")
        assert call["leg"] == "browser" and call["caller"].startswith("browser:")
        assert gw.stop() == 0
