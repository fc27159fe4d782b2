"""A placed call with a goal gets through a real Asterisk 22 phone menu (docs/ivr.md).

Asterisk (built once per machine from ../shared/pbx/asterisk: tests.toolkit.peers.asterisk)
answers extension 500 with a menu made of ``Background`` and ``WaitExten``: a main menu and
a nested billing menu whose balance option reaches a person (who hangs up once the caller
has spoken for a second, or after 15 s of silence). Its prompts are spoken by espeak-ng and
converted with sox to 8 kHz WAV at test time. Each menu the call enters writes a
``SIPGW-IVR`` line to Asterisk's log: what Asterisk did with the digits the gateway sent
(RFC 4733) is read there.

The gateway runs in-process with the assistant on the three fake AI services (real
sockets, in threads). The fake speech recognizer hears Asterisk's audio: each stretch
of speech becomes the next scripted transcript, scripted as the prompts of the path the
test expects; Asterisk's log then shows that the call went that way (a wrong digit would
take it elsewhere, whatever the transcripts said). The fake model answers the navigator
from what it is sent (the menu's words: a table of the prompts).

A menu the call is stuck in (a dead end's silence, a loop back to the main menu) needs no
PBX: the navigator's rules (tests/agent/ivr/test_navigator.py, the silence, the same prompt
three times, a loop between two menus) and the assistant hanging up on them
(tests/agent/assistant/test_navigating.py).
"""

from __future__ import annotations

import asyncio
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sipgw.app.evaluation.fakes.openai import FakeResponse
from tests.interop.test_assistant_peers import call_record
from tests.toolkit.fakes.threaded import ThreadedFakes, fakes_in_threads
from tests.toolkit.gateway_in_process import running_gateway
from tests.toolkit.peers.asterisk import Asterisk

pytestmark = [pytest.mark.timeout(240), pytest.mark.usefixtures("nothing_left_running")]

PROMPTS = {
    "main": "Welcome to Acme. For billing, press 1. For technical support, press 2. "
    "For sales, press 3.",
    "billing": "Billing. To hear your balance, press 1. To pay a bill, press 2.",
    "agent": "Billing department, this is Sam speaking. How can I help you?",
}
NAVIGATOR = "Answer with one JSON object and nothing else"
"""In the instructions of the navigator's questions (sipgw.agent.ivr.decider.INSTRUCTIONS)."""
OPENING = "Hi Sam, I am calling about the balance of account 42."
OPENING_HZ = 1300

PJSIP = """
[gateway]
type = endpoint
context = incoming
disallow = all
allow = ulaw
dtmf_mode = rfc4733
direct_media = no

[gateway]
type = identify
endpoint = gateway
match = 127.0.0.1
"""


def dialplan(sounds: Path) -> str:
    """Extension 500: the menu (see the module docstring)."""
    s = str(sounds)
    return f"""
[incoming]
exten => 500,1,Answer()
 same => n,Wait(0.5)
 same => n,Goto(ivr-main,s,1)

[ivr-main]
exten => s,1,Verbose(0,SIPGW-IVR main)
 same => n,Background({s}/main)
 same => n,WaitExten(15)
exten => 1,1,Goto(ivr-billing,s,1)
exten => i,1,Goto(ivr-main,s,1)
exten => t,1,Goto(ivr-main,s,1)

[ivr-billing]
exten => s,1,Verbose(0,SIPGW-IVR billing)
 same => n,Background({s}/billing)
 same => n,WaitExten(15)
exten => 1,1,Goto(ivr-agent,s,1)
exten => 2,1,Verbose(0,SIPGW-IVR pay)
 same => n,Hangup()
exten => i,1,Goto(ivr-billing,s,1)
exten => t,1,Goto(ivr-billing,s,1)

[ivr-agent]
exten => s,1,Verbose(0,SIPGW-IVR agent)
 same => n,Playback({s}/agent)
 same => n,WaitForNoise(1000,1,15)
 same => n,Hangup()
"""


def speak_prompts(folder: Path) -> Path:
    """Every prompt as ``NAME.wav`` (8 kHz, 16-bit, mono: what Asterisk's format_wav
    plays), spoken by espeak-ng at 240 words a minute (a recorded menu's brisk pace: the
    main menu in 5 s)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in PROMPTS.items():
        raw = folder / f"{name}-raw.wav"
        subprocess.run(["espeak-ng", "-v", "en-us", "-s", "240", "-w", str(raw), text],
                       check=True, capture_output=True)  # fmt: skip
        subprocess.run(["sox", str(raw), "-r", "8000", "-c", "1", "-b", "16",
                        str(folder / f"{name}.wav")], check=True, capture_output=True)  # fmt: skip
    return folder


def words(text: str) -> str:
    """A prompt as the recognizer sends it: no final full stop, so the fake ends the turn
    after a second of silence, not at the pauses between the prompt's sentences."""
    return text.rstrip(".?!")


MODEL_ANSWERS = {
    words(PROMPTS["main"]): {"action": "press", "digits": "1", "reason": "billing"},
    words(PROMPTS["billing"]): {"action": "press", "digits": "1", "reason": "the balance"},
    words(PROMPTS["agent"]): {"action": "reached", "reason": "Sam of billing answers"},
}
"""What the fake model answers about each menu, for the goal of the first test."""


def menu_model(body: dict[str, Any]) -> FakeResponse:
    """The fake model: the navigator's questions are answered from the last menu words
    they carry; the assistant's own request (its opening) gets the opening line."""
    messages = body["messages"]
    if NAVIGATOR not in str(messages[0]["content"]):
        return FakeResponse(text=OPENING)
    heard = str(messages[-1]["content"]).rsplit("The menu said: ", 1)[-1]
    return FakeResponse(text=json.dumps(MODEL_ANSWERS.get(heard, {"action": "wait"})))


@pytest.fixture
def services(tmp_workdir: Path) -> Iterator[ThreadedFakes]:
    with fakes_in_threads(tmp_workdir, {"calling about": OPENING_HZ}, caller="speech") as fakes:
        yield fakes


async def call_menu(
    tmp_workdir: Path, services: ThreadedFakes, goal: str, path: list[str]
) -> tuple[Any, list[dict[str, Any]], str]:
    """Place a call to the menu with ``goal``, the recognizer scripted with the prompts of
    ``path``; returns its outcome, its call record and Asterisk's log."""
    sounds = speak_prompts(tmp_workdir / "sounds")
    services.stt.script([words(PROMPTS[name]) for name in path])
    env = {**services.env, "SIPGW_DIAL_ALLOW": "[0-9]*", "SIPGW_IDLE_AFTER": "0"}
    with Asterisk(tmp_workdir, pjsip=PJSIP, extensions=dialplan(sounds)) as ast:
        async with running_gateway(agent="assistant", env=env) as (gateway, _):
            outcome = await asyncio.wait_for(gateway.place_call(ast.uri("500"), ivr_goal=goal), 120)
        log = ast.log_text()
    return outcome, call_record(tmp_workdir), log


def menus_entered(log: str) -> list[str]:
    """The menus the call entered, in order (the ``Verbose`` lines' output, not their
    ``Executing`` lines)."""
    return [line.split("SIPGW-IVR ", 1)[1].strip() for line in log.splitlines()
            if "app_verbose.c: SIPGW-IVR " in line]  # fmt: skip


async def test_the_call_gets_through_the_menu_to_billing_and_the_agent_takes_over(
    tmp_workdir: Path, services: ThreadedFakes
) -> None:
    services.llm.responder = menu_model
    outcome, record, log = await call_menu(
        tmp_workdir, services, "reach billing and ask for the balance",
        ["main", "billing", "agent"],
    )  # fmt: skip
    assert menus_entered(log) == ["main", "billing", "agent"], log[-3000:]
    ivr = outcome.ivr
    assert ivr is not None and ivr["outcome"] == "reached", (ivr, record)
    assert ivr["digits"] == "11" and ivr["steps"] == 2, ivr
    steps = [r for r in record if r["type"] == "ivr_step"]
    assert [(s["decision"], s.get("digits"), s["by"]) for s in steps] == [
        ("press", "1", "model"), ("press", "1", "model"), ("reached", None, "model"),
    ], steps  # fmt: skip
    assert [r["digits"] for r in record if r["type"] == "dtmf_sent"] == ["1", "1"]
    # the model was sent what Asterisk played (as the recognizer heard it)
    asked = [str(r.messages[-1]["content"]) for r in services.llm.requests
             if NAVIGATOR in str(r.messages[0]["content"])]  # fmt: skip
    assert words(PROMPTS["main"]) in asked[0] and words(PROMPTS["agent"]) in asked[-1], asked
    # then the line's agent spoke: its opening, written after the menu's note
    kinds = [r["type"] for r in record]
    assert "assistant" in kinds[kinds.index("ivr_result") :], kinds
    assert outcome.reason == "remote-bye", outcome  # Sam's side hangs up
