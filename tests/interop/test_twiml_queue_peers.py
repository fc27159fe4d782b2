"""Call queues between real phones: baresip callers, ``sipgw serve --agent twiml`` (a
subprocess) following an app on the official ``twilio`` SDK (``VoiceResponse().enqueue``,
``Dial().queue``, ``leave``), its wait music a WAV served beside it (docs/twilio-apps.md,
call queues).

A caller enqueued hears the ``waitUrl``'s music; another caller's ``<Dial><Queue>`` takes
them and the two hear each other; when the dequeuing caller hangs up, the ``<Enqueue
action>`` gets ``QueueResult=bridged``. A second caller finds the queue full
(``queue-full``); a ``<Leave>`` in the wait document goes on after the ``<Enqueue>``; a
caller hanging up while waiting posts ``QueueResult=hangup``.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler
from pathlib import Path

import pytest
from twilio.twiml.voice_response import Dial, VoiceResponse

from sipgw.app.evaluation.audio import write_pattern
from sipgw.app.evaluation.gateway_process import GatewayProcess
from tests.interop.test_twiml_dial_peers import app, gateway, tone
from tests.interop.test_twiml_peers import CALLER_HZ
from tests.interop.test_warm_transfer_peers import wait_heard
from tests.toolkit.httpapp import serving
from tests.toolkit.peers.baresip import Baresip
from tests.toolkit.twilio_app import TwilioSdkApp, WebhookRequest

__all__ = ["app"]

pytestmark = [pytest.mark.timeout(60), pytest.mark.usefixtures("nothing_left_running")]

MUSIC_HZ, AGENT_HZ, AFTER_HZ = 800, 600, 1300


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002  # the base's name
        pass


@pytest.fixture
def files(tmp_workdir: Path) -> Iterator[str]:
    """The wait music (``/music.wav``, 2 s of 800 Hz) and ``/after.wav`` (1300 Hz), served
    over HTTP; their base URL."""
    folder = tmp_workdir / "files"
    write_pattern(folder / "music.wav", [(MUSIC_HZ, 2.0)], -12.0)
    write_pattern(folder / "after.wav", [(AFTER_HZ, 2.0)], -12.0)
    handler = functools.partial(_Quiet, directory=str(folder))
    with serving(handler) as port:
        yield f"http://127.0.0.1:{port}"


def queue_app(files: str, **enqueue: object) -> object:
    """Phones ``a``/``c`` are enqueued in ``support`` (``/wait``: the music; ``/queued``:
    ``<Hangup/>``); phone ``b`` dials the queue."""

    def build(app_: TwilioSdkApp, request: WebhookRequest) -> VoiceResponse:
        response = VoiceResponse()
        caller = request.params.get("From", "")
        if request.path == "/queued":
            response.hangup()
        elif request.path == "/wait":
            response.play(f"{files}/music.wav")
        elif "b@" in caller:
            dial = Dial()
            dial.queue("support")
            response.append(dial)
        else:
            response.enqueue("support", wait_url="/wait", action="/queued", **enqueue)
        return response

    return build


def form(app: TwilioSdkApp, path: str, within: float = 10.0) -> dict[str, str]:
    app.wait_until(lambda: any(r.path == path for r in app.requests), within)
    request = next(r for r in app.requests if r.path == path)
    assert request.valid, "RequestValidator refused the signature"
    return request.params


def phone(workdir: Path, name: str, hz: float) -> Baresip:
    return Baresip(workdir, name, user=name, source_wav=tone(workdir, name, hz))


def queue_gateway(workdir: Path, app: TwilioSdkApp) -> GatewayProcess:
    return gateway(workdir, app, "sip:nobody@127.0.0.1")


def test_the_waiting_caller_hears_the_music_then_talks_with_the_dequeuing_caller(
    tmp_workdir: Path, app: TwilioSdkApp, files: str
) -> None:
    app.twiml = queue_app(files)  # type: ignore[assignment]
    with (
        queue_gateway(tmp_workdir, app) as gw,
        phone(tmp_workdir, "a", CALLER_HZ) as waiting,
        phone(tmp_workdir, "b", AGENT_HZ) as agent,
    ):
        waiting.dial(gw.uri("support"))
        waiting.wait_event("CALL_ESTABLISHED", 10)
        wait_heard(waiting, MUSIC_HZ, 1.0, within=8)  # the waitUrl's <Play>
        wait = form(app, "/wait")
        assert wait["QueuePosition"] == "1" and wait["CurrentQueueSize"] == "1"
        agent.dial(gw.uri("desk"))
        agent.wait_event("CALL_ESTABLISHED", 10)
        wait_heard(agent, CALLER_HZ, 1.0, within=8)  # the waiting caller, through the bridge
        wait_heard(waiting, AGENT_HZ, 1.0, within=8)  # and the agent, back
        agent.hangup()
        queued = form(app, "/queued")
        waiting.wait_event("CALL_CLOSED", 10)  # the action's <Hangup/>
        assert gw.stop() == 0
    assert queued["QueueResult"] == "bridged" and queued["QueueSid"] == wait["QueueSid"]


def test_a_full_queue_turns_the_next_caller_away(
    tmp_workdir: Path, app: TwilioSdkApp, files: str
) -> None:
    app.twiml = queue_app(files, max_queue_size=1)  # type: ignore[assignment]
    with (
        queue_gateway(tmp_workdir, app) as gw,
        phone(tmp_workdir, "a", CALLER_HZ) as first,
        phone(tmp_workdir, "c", AGENT_HZ) as second,
    ):
        first.dial(gw.uri("support"))
        first.wait_event("CALL_ESTABLISHED", 10)
        form(app, "/wait")
        second.dial(gw.uri("support"))
        second.wait_event("CALL_ESTABLISHED", 10)
        full = form(app, "/queued")
        second.wait_event("CALL_CLOSED", 10)
        first.hangup()
        app.wait_until(lambda: len([r for r in app.requests if r.path == "/queued"]) == 2)
        assert gw.stop() == 0
    assert full["QueueResult"] == "queue-full" and "c@" in full["From"]
    hung_up = [r.params for r in app.requests if r.path == "/queued"][1]
    assert hung_up["QueueResult"] == "hangup" and hung_up["QueueSid"].startswith("QU")


def test_leave_in_the_wait_music_goes_on_after_the_enqueue(
    tmp_workdir: Path, app: TwilioSdkApp, files: str
) -> None:
    def build(app_: TwilioSdkApp, request: WebhookRequest) -> VoiceResponse:
        response = VoiceResponse()
        if request.path == "/wait":
            response.play(f"{files}/music.wav")
            response.leave()
        else:
            response.enqueue("support", wait_url="/wait")
            response.play(f"{files}/after.wav")
            response.hangup()
        return response

    app.twiml = build
    with queue_gateway(tmp_workdir, app) as gw, phone(tmp_workdir, "a", CALLER_HZ) as caller:
        caller.dial(gw.uri("support"))
        caller.wait_event("CALL_ESTABLISHED", 10)
        wait_heard(caller, MUSIC_HZ, 1.0, within=8)
        wait_heard(caller, AFTER_HZ, 1.0, within=8)  # the verb after the <Enqueue>
        caller.wait_event("CALL_CLOSED", 10)
        assert gw.stop() == 0
