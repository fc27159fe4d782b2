"""The caller holding the agent from behind a real Asterisk 22.

A phone on hold talks to its PBX, not to us: Asterisk passes the hold on to the gateway's
leg as a re-INVITE only with ``moh_passthrough = yes`` on the gateway's endpoint (else it
plays its own music on hold into our call, and we hear a caller who seems to talk:
docs/assistant.md "Hold"). With it, extension 3000 holding its call to the gateway (1001)
pauses the agent's reply (nothing is sent: the gateway's stereo recording has the agent
silent meanwhile), which goes on when 3000 resumes. The phone is a baresip, whose hold (a
re-INVITE with sendonly) Asterisk passes on: this is also the softphone's hold, which sends no
audio; a holding side that plays its own music is tests/interop/test_hold_music_sipp.py.
"""

from __future__ import annotations

import array
import time
import wave
from collections.abc import Iterator
from pathlib import Path

import pytest

from sipgw.app.evaluation.audio import AudioReport, analyse_samples
from sipgw.app.evaluation.fakes.openai import FakeResponse
from tests.interop.services import fake_services
from tests.interop.test_asterisk import PJSIP, pbx_scene
from tests.interop.test_warm_transfer_peers import (
    SPEECH_HZ,
    heard,
    record_lines,
    wait_heard,
    wait_record,
    wav,
)
from tests.toolkit.fakes.threaded import ThreadedFakes

pytestmark = [pytest.mark.timeout(240), pytest.mark.usefixtures("nothing_left_running")]

LONG_HZ = 900
LONG = "Our shop opens at nine and closes at six on weekdays, and ten to four on Saturdays. " * 2


def agent_side(recording: Path) -> AudioReport:
    """The agent's channel (right) of the gateway's stereo call recording."""
    with wave.open(str(recording)) as w:
        frames = w.readframes(w.getnframes())
    samples = array.array("h", frames)
    return analyse_samples(samples.tolist()[1::2], 8000)


PASSTHROUGH = PJSIP.replace(
    "[1001]\ntype = endpoint\n", "[1001]\ntype = endpoint\nmoh_passthrough = yes\n"
)
"""The extensions, the gateway's with its callers' hold passed on as a re-INVITE; Asterisk
in the media path (no direct-media re-INVITEs, which restart baresip's recording)."""


@pytest.fixture
def services(tmp_workdir: Path) -> Iterator[ThreadedFakes]:
    with fake_services(tmp_workdir, {"opens at nine": LONG_HZ}) as fakes:
        yield fakes


def test_the_caller_holding_through_the_pbx_pauses_the_agent(
    tmp_workdir: Path, services: ThreadedFakes
) -> None:
    services.stt.script(["When are you open?"])
    services.llm.script([FakeResponse(text=LONG)])
    caller_wav = wav(tmp_workdir, "caller", (None, 3.0), (SPEECH_HZ, 0.6))
    quiet = wav(tmp_workdir, "quiet")
    recordings = tmp_workdir / "recordings"
    env = {**services.env, "SIPGW_GREETING": "", "SIPGW_RTP_TIMEOUT": "0",
           "SIPGW_RECORD_DIR": str(recordings)}  # fmt: skip
    pjsip = PASSTHROUGH.replace("direct_media = yes", "direct_media = no")
    with pbx_scene(tmp_workdir, env, caller_wav, quiet, pjsip) as (_, gw, caller, _):
        wait_heard(caller, LONG_HZ, 0.5)  # the reply plays
        caller.command("hold")
        gw.wait_log(r"media updated: (recvonly|inactive)", 10)  # Asterisk passed the hold on
        wait_record(tmp_workdir, lambda r: r.get("type") == "hold" and r.get("held"))
        time.sleep(4.0)  # on hold: what is listened to
        caller.command("resume")
        gw.wait_log(r"media updated: sendrecv", 10)
        wait_record(tmp_workdir, lambda r: r.get("type") == "hold" and not r.get("held"))
        time.sleep(4.0)  # the rest of the reply
        caller.hangup()
        gw.wait_log(r"recorded [0-9.]+ s", 10)
    record = record_lines(tmp_workdir)
    assert [r["held"] for r in record if r["type"] == "hold"] == [True, False]
    assert not [r for r in record if r["type"] == "barge_in"]
    (recording,) = recordings.glob("*.wav")
    said = heard(agent_side(recording), LONG_HZ)
    assert len(said) >= 2, said  # paused by the hold, then resumed
    assert said[1][0] - said[0][1] >= 3.0, said  # the whole hold: nothing sent
    assert sum(end - start for start, end in said) >= len(LONG) * 0.020 * 0.8, said
