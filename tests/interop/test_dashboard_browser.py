"""The dashboard in a real headless Chromium, following a live baresip call to the assistant.

``sipgw serve --agent assistant`` runs as a subprocess against the fake cloud services
with the admin server on (a token set) and recording on. Chromium logs in through the
form, then watches baresip's call: the caller, the transcript line the fake STT makes of
the caller's first tone burst (pushed while the call runs), the turn's latency waterfall.
Then the call's own page, opened while the call runs, follows it live: the second burst
(baresip switches to it once the page is open) gets its transcript line and its turn's
latency bars pushed to it; after the hang-up it shows the
outcome, transcript, tool call, quality, waveform and audio player. Last the dashboard's
recent-calls row with the outcome. Screenshots go to ``SIPGW_TEST_ARTIFACTS``
(default ``test-artifacts/`` at the repository root).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from sipgw.agent.amd.settings import AmdMode, AmdRequest
from sipgw.app.admin.server import AdminServer
from sipgw.app.admin.settings import AdminSettings
from sipgw.app.evaluation.audio import write_pattern
from sipgw.app.evaluation.fakes.openai import FakeResponse, FakeToolCall
from sipgw.app.evaluation.gateway_process import GatewayProcess
from sipgw.app.evaluation.ports import free_port
from sipgw.app.gateway import Gateway
from tests.interop.test_amd_assistant_peers import words
from tests.interop.test_amd_peers import greeting_wav
from tests.sipgw.app.refusing_peer import refusing_peer
from tests.toolkit.browser import Browser
from tests.toolkit.canaries import ADMIN_TOKEN
from tests.toolkit.fakes.threaded import fakes_in_threads
from tests.toolkit.gateway_in_process import running_gateway
from tests.toolkit.peers.baresip import Baresip

pytestmark = [pytest.mark.timeout(180), pytest.mark.usefixtures("nothing_left_running")]

ROOT = Path(__file__).resolve().parents[2]
SAID = "Where is my order 1234? <img src=x onerror=alert(1)>"
"""What the fake STT hears: markup a page must show as text."""
SAID_LATER = "Can I change the delivery address?"
"""What it hears of the second burst, while the call's page is open."""
REPLY = "Your order has shipped and arrives tomorrow."
VOICEMAIL = "You've reached Ana. Leave a message after the tone."
"""What a placed call's callee answers with (then a beep)."""
AMD_MESSAGE = "Please call us back."
ANSWERED_BY = "document.querySelector('#summary dd[data-key=\"answered by\"]')?.textContent"
"""The call page's "answered by" (answering-machine detection's answer)."""
LIVE = "document.getElementById('status')?.textContent === 'live'"
"""The dashboard's push connection is up."""


def artifacts() -> Path:
    """Where screenshots go: ``SIPGW_TEST_ARTIFACTS`` or ``test-artifacts/`` (gitignored)."""
    return Path(os.environ.get("SIPGW_TEST_ARTIFACTS") or ROOT / "test-artifacts")


@pytest.fixture
def cloud(tmp_workdir: Path) -> Iterator[dict[str, str]]:
    """The three fake AI services, scripted for one turn with a tool call; their env."""
    with fakes_in_threads(tmp_workdir, {"Hi there": 500, "shipped": 700}) as fakes:
        fakes.stt.script([SAID, SAID_LATER])
        fakes.llm.script(
            [
                FakeResponse(
                    tool_calls=[  # the caller said the order's postcode: it is theirs
                        FakeToolCall(
                            "get_order_status", {"order_id": "1234", "verification": "10001"}
                        )
                    ]
                ),
                FakeResponse(text=REPLY),
                FakeResponse(text="Yes, from the order page."),
            ]
        )
        yield fakes.env


@asynccontextmanager
async def live_dashboard(tmp_workdir: Path, gateway: Gateway) -> AsyncIterator[tuple[Browser, str]]:
    """An admin server on ``gateway`` (no token: loopback) and Chromium on its dashboard,
    once it is live; yields the browser and the server's address."""
    server = AdminServer(gateway, AdminSettings(port=free_port(), token=""))
    await server.start()
    try:
        async with Browser(tmp_workdir) as browser:
            await browser.navigate(server.url + "/dashboard")
            await browser.wait_for(LIVE, 10)
            yield browser, server.url
    finally:
        await server.stop()


def js(value: str) -> str:
    """``value`` as a JavaScript string literal."""
    return json.dumps(value)


async def test_dashboard_follows_a_live_call_in_chromium(
    tmp_workdir: Path, cloud: dict[str, str]
) -> None:
    env = {
        **cloud,
        "SIPGW_ADMIN_PORT": str(free_port()),
        "SIPGW_ADMIN_TOKEN": ADMIN_TOKEN,
        "SIPGW_RECORD_DIR": str(tmp_workdir / "recordings"),
    }
    speech = write_pattern(
        tmp_workdir / "audio" / "turn.wav", [(None, 1.0), (300, 0.8), (None, 90.0)], -12.0
    )
    # the second burst, played when the call's page is open
    later = write_pattern(
        tmp_workdir / "audio" / "later.wav", [(None, 0.3), (300, 0.8), (None, 30.0)], -12.0
    )
    shots = artifacts()
    gw = GatewayProcess(tmp_workdir, agent="assistant", allow_from="127.0.0.0/8", extra_env=env)
    caller = Baresip(tmp_workdir, "a", user="a", source_wav=speech)
    with gw, caller:
        url = gw.wait_log(r"admin listening on (\S+)", 10).group(1)
        async with Browser(tmp_workdir) as browser:
            # no cookie yet: the page is refused with the login form
            await browser.navigate(url + "/dashboard")
            assert await browser.evaluate("document.getElementById('active-calls')") is None
            await browser.evaluate(
                f"document.getElementById('token').value = {js(ADMIN_TOKEN)};"
                "document.getElementById('login').submit()"
            )
            await browser.wait_for(LIVE)
            assert not await browser.evaluate("document.cookie")  # HttpOnly: scripts see none

            caller.dial(gw.uri("agent"))
            caller.wait_event("CALL_ESTABLISHED", 5)
            await browser.wait_for(
                "[...document.querySelectorAll('.call .caller')]"
                ".some(a => a.textContent.startsWith('sip:a@'))",
                10,
            )
            assert await browser.evaluate("document.querySelector('.call .agent').textContent") == (
                "assistant"
            )
            # the caller's turn is pushed while the call runs, shown as text, not markup
            await browser.wait_for(
                f"[...document.querySelectorAll('.call .line-user .text')]"
                f".some(n => n.textContent === {js(SAID)})",
                15,
            )
            assert await browser.evaluate("document.querySelectorAll('.call img').length") == 0
            await browser.wait_for(
                "document.querySelectorAll('.call .line-tool_call').length > 0", 10
            )
            await browser.wait_for(
                "document.querySelectorAll('.call .waterfall .bar').length >= 3", 15
            )
            stages = await browser.evaluate(
                "[...document.querySelectorAll('.call .waterfall .bar')]"
                ".map(b => [b.className, Number(b.dataset.ms), b.getBoundingClientRect().width])"
            )
            names = {name for name, _, _ in stages}
            assert {"bar stage-stt_end_of_turn", "bar stage-llm_first_token",
                    "bar stage-tts_first_byte"} <= names, stages  # fmt: skip
            assert all(ms >= 0 and width > 0 for _, ms, width in stages), stages
            assert await browser.evaluate("document.getElementById('active-count').textContent")
            await browser.screenshot(shots / "dashboard-live-call.png")

            # the call's own page, opened while the call runs, follows it live
            link = await browser.evaluate("document.querySelector('.call a.caller').href")
            await browser.navigate(link)
            assert await browser.wait_for("document.body.dataset.loaded", 10) == "true"
            assert await browser.evaluate("document.body.dataset.state") == "active"
            assert (
                await browser.evaluate(
                    "document.querySelector('#summary dd[data-key=outcome]').textContent"
                )
                == "in progress"
            )
            assert await browser.evaluate("document.querySelectorAll('#turns .turn').length") == 1
            caller.play(later)
            await browser.wait_for(
                "[...document.querySelectorAll('#transcript .line-user[data-live] .text')]"
                f".some(n => n.textContent === {js(SAID_LATER)})",
                15,
            )
            await browser.wait_for(
                "document.querySelectorAll('#turns .turn').length === 2"
                " && document.querySelectorAll('#turns .turn')[1].querySelectorAll('.bar')"
                ".length >= 3",
                15,
            )
            assert await browser.evaluate("document.getElementById('status').textContent") == (
                "live"
            )
            await browser.screenshot(shots / "dashboard-call-page-live.png")

            caller.hangup()
            caller.wait_event("CALL_CLOSED", 5)
            gw.wait_log(r"call ended:", 5)
            assert await browser.wait_for("document.body.dataset.ended", 10) == "true"
            assert (
                await browser.evaluate(
                    "document.querySelector('#summary dd[data-key=outcome]').textContent"
                )
                == "remote-bye"
            )
            assert await browser.evaluate("document.body.dataset.state") == "ended"
            transcript = await browser.evaluate(
                "[...document.querySelectorAll('#transcript .text')].map(n => n.textContent)"
            )
            assert SAID in transcript and SAID_LATER in transcript, transcript
            assert any("get_order_status" in t for t in transcript), transcript
            assert any("shipped" in t for t in transcript), transcript
            mos = await browser.evaluate(
                "document.querySelector('#quality dd[data-key=mos]')?.textContent"
            )
            assert mos is not None and 1.0 <= float(mos) <= 5.0
            # What the caller lived through, once the agent's record closed: the greeting
            # came first, then the two bursts' replies.
            talk = await browser.wait_for(
                "document.querySelector('#talk dd[data-key=\"first word\"]')?.textContent", 10
            )
            assert talk.endswith(" s") and 0 <= float(talk.removesuffix(" s")) < 5, talk
            spoke = await browser.evaluate(
                "document.querySelector('#talk dd[data-key=\"caller spoke\"]').textContent"
            )
            assert float(spoke.removesuffix(" s")) >= 1.2, spoke  # two bursts of 0.8 s
            assert await browser.evaluate("document.querySelectorAll('#turns .bar').length") >= 6
            assert (
                int(await browser.evaluate("document.getElementById('waveform').dataset.buckets"))
                > 0
            )
            audio = await browser.evaluate(
                "fetch(document.getElementById('player').src)"
                ".then(r => r.status + ' ' + r.headers.get('content-type'))"
            )
            assert audio == "200 audio/wav"
            await browser.screenshot(shots / "dashboard-call-page.png")

            await browser.navigate(url + "/dashboard")
            outcome = await browser.wait_for(
                "document.querySelector('#recent-calls tbody tr .outcome')?.textContent", 10
            )
            assert outcome == "remote-bye"
            assert await browser.evaluate("document.querySelectorAll('.call').length") == 0
            await browser.screenshot(shots / "dashboard-recent-calls.png")
            assert not [line for line in browser.console if "exception" in line], browser.console
        assert gw.stop() == 0
    assert (shots / "dashboard-live-call.png").stat().st_size > 10_000
    assert (shots / "dashboard-call-page-live.png").stat().st_size > 10_000


async def test_a_refused_call_shows_the_carriers_words_in_chromium(tmp_workdir: Path) -> None:
    """Issue 22: the recent-calls row showed a placed call's refusal only as a tooltip, so
    nobody read it. The row now shows the far end's words (Telnyx's ``403 Caller
    Origination Number is Invalid D35``, its Reason) and our hint as text."""
    reason = ("Reason", 'Q.850;cause=21;text="Call Rejected"')
    async with (
        refusing_peer(403, "Caller Origination Number is Invalid D35", (reason,)) as carrier,
        running_gateway() as (gateway, _),
    ):
        async with live_dashboard(tmp_workdir, gateway) as (browser, _):
            await gateway.place_call(f"sip:+15557654321@127.0.0.1:{carrier.port}")
            shown = await browser.wait_for(
                "document.querySelector('#recent-calls tbody tr .outcome .refusal')?.textContent",
                10,
            )
            visible = await browser.evaluate(
                "document.querySelector('#recent-calls .refusal').getBoundingClientRect()"
                ".height > 0"
            )
            await browser.screenshot(artifacts() / "dashboard-refused-call.png")
    assert shown.startswith(
        "SIP 403 Caller Origination Number is Invalid D35 [Reason: Q.850 cause 21: Call Rejected]"
        " - refused: most often the caller id"
    ), shown
    assert visible is True


async def test_who_answered_a_placed_call_shows_in_chromium(tmp_workdir: Path) -> None:
    """Issue 24: answering-machine detection's answer on the dashboard (docs/amd.md, "Where
    the result goes"). The gateway places a call with detection (``leave_message``) to a
    baresip that answers with a voicemail greeting and its beep. The call's page, opened
    once the call shows on the dashboard, shows "answered by" with the kind and the
    decision's time while the call runs (pushed as detection decides), then the result
    with what was done; the recent-calls row shows the kind beside the outcome."""
    played = greeting_wav(tmp_workdir / "voicemail.wav", VOICEMAIL, beep_hz=1000.0)
    with fakes_in_threads(tmp_workdir, {"call us back": 900}) as fakes:
        fakes.stt.script([words(VOICEMAIL)])
        env = {**fakes.env, "SIPGW_AMD_MESSAGE": AMD_MESSAGE}
        with Baresip(
            tmp_workdir, "callee", user="callee", answermode="auto", source_wav=played.wav
        ) as callee:
            async with (
                running_gateway(agent="assistant", env=env) as (gateway, _),
                live_dashboard(tmp_workdir, gateway) as (browser, url),
            ):
                placing = asyncio.ensure_future(
                    gateway.place_call(callee.uri, amd=AmdRequest(AmdMode.LEAVE_MESSAGE))
                )
                link = await browser.wait_for("document.querySelector('.call a.caller')?.href", 10)
                await browser.navigate(link)
                assert await browser.wait_for("document.body.dataset.loaded", 10) == "true"
                # decided while the call runs: pushed to the open page
                live = await browser.wait_for(
                    f"document.body.dataset.ended !== 'true'"
                    f" && ({ANSWERED_BY} ?? '').startsWith('voicemail') && {ANSWERED_BY}",
                    10,
                )
                outcome = await asyncio.wait_for(placing, 20)
                assert await browser.wait_for("document.body.dataset.ended", 10) == "true"
                ended = await browser.evaluate(ANSWERED_BY)
                transcript = await browser.wait_for(
                    "[...document.querySelectorAll('#transcript .text')]"
                    ".map(e => e.textContent).join(' | ')",
                    10,
                )
                await browser.screenshot(artifacts() / "dashboard-call-page-amd.png")
                await browser.navigate(url + "/dashboard")
                row = await browser.wait_for(
                    "document.querySelector('#recent-calls tbody tr .outcome')?.textContent",
                    10,
                )
                assert not [line for line in browser.console if "exception" in line], (
                    browser.console
                )
            callee.wait_event("CALL_CLOSED", 5)
    amd = outcome.amd
    assert amd is not None and (amd["kind"], amd["action"], amd["final"]) == (
        "voicemail",
        "message",
        True,
    ), amd
    assert re.fullmatch(r"voicemail \(.+, \d+\.\d s\)( …)?", live), live
    shown = re.fullmatch(r"voicemail \((.+), (\d+\.\d) s\) → message", ended)
    assert shown is not None and shown[1] == amd["reason"], (ended, amd)
    assert abs(float(shown[2]) - amd["elapsed_ms"] / 1000) <= 0.05, (ended, amd)
    assert row == f"{outcome.reason} (voicemail)", row
    # the opening held for detection was cut by the message, unheard: the agent's own cut,
    # not the callee's barge-in
    assert "caller interrupted" not in transcript, transcript
    # Unheard when detection decides within the hold; on a loaded machine its decision may
    # come up to hold_past_deadline late (docs/amd.md) and the opening's start is heard
    # (a fresh-clone run of the whole suite saw that once): the cut is the agent's either way.
    assert "agent stopped (notice)" in transcript, transcript
    if "This is the fake assistant." not in transcript:
        assert "agent stopped (notice): none of the reply was heard" in transcript, transcript
