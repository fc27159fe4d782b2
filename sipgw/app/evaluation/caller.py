"""The caller's side of an evaluation: one scenario played over a real SIP call.

The phone is :class:`sipgw.app.evaluation.phone.Phone` (the UAC and RTP endpoint that
``bench.latency`` drives too). Each turn is sent as 20 ms μ-law frames: the turn's WAV, or,
with the fakes and no WAV, a 300 Hz tone as long as the words would take to say (the fake
STT hears energy, not words, and emits the turn's ``transcript``). Between turns the phone
sends silence; it waits for the agent's reply to end (``pause_ms`` later it speaks), or talks
over it ``interrupt_after_ms`` after the reply began.
"""

from __future__ import annotations

import asyncio
import random
import string
import time
from dataclasses import dataclass, field

from sipgw.app.evaluation.audio import FRAME_SAMPLES, encode, read_wav, tone_frame
from sipgw.app.evaluation.fakes.assemblyai import FakeAssemblyAI
from sipgw.app.evaluation.phone import Phone
from sipgw.app.evaluation.scenario import Scenario, ScenarioError, Turn

__all__ = ["CallResult", "TurnTiming", "play_scenario", "turn_frames"]

FRAME_S = 0.020
SPEECH_FRAME = tone_frame(300.0, -15.0)
GAP_FRAME = tone_frame(300.0, -55.0)
"""A speech-like gap: every :data:`GAP_EVERY`-th frame of a tone voice. Speech always has
quieter moments; a steady tone 2 s long would become the gateway's noise floor
(media/voice/vad.py), its end of speech heard inside the turn."""
GAP_EVERY = 10
MS_PER_CHAR = 60
"""Rough speaking pace for a turn without a WAV (about 160 words a minute)."""
QUIET_S = 0.5
"""The agent's reply has ended when the phone heard nothing loud for this long."""


def turn_frames(turn: Turn, where: str) -> list[bytes]:
    """The caller's voice for ``turn``: its WAV (8 kHz mono 16-bit PCM) or a tone."""
    if turn.wav is None:
        count = max(30, round(len(turn.transcript) * MS_PER_CHAR / 1000 / FRAME_S))
        return [GAP_FRAME if i % GAP_EVERY == GAP_EVERY - 1 else SPEECH_FRAME for i in range(count)]
    try:
        samples, rate = read_wav(turn.wav)
    except (OSError, ValueError) as exc:
        raise ScenarioError(f"{where}: wav: {exc}") from None
    if rate != 8000:
        raise ScenarioError(f"{where}: wav: {turn.wav} is {rate} Hz; 8000 Hz is needed")
    data = encode(samples)
    data += b"\xff" * (-len(data) % FRAME_SAMPLES)
    return [data[i : i + FRAME_SAMPLES] for i in range(0, len(data), FRAME_SAMPLES)]


@dataclass
class TurnTiming:
    """When the caller stopped talking in a turn and the agent was first heard after it."""

    speech_end: float
    first_audio: float | None


@dataclass
class CallResult:
    """What the phone saw of one scenario's call (times on ``time.monotonic``)."""

    call_id: str
    turns: list[TurnTiming] = field(default_factory=list)
    greeting_heard: bool = False
    hung_up_by_agent: bool = False
    error: str | None = None


async def play_scenario(
    scenario: Scenario,
    gateway: tuple[str, int],
    *,
    user: str = "eval",
    stt: FakeAssemblyAI | None = None,
    reply_within: float = 15.0,
) -> CallResult:
    """Call the gateway, play every turn, hang up; ``stt``: the fake STT to feed transcripts."""
    frames = [
        turn_frames(turn, f"{scenario.path}: turns[{n}]")
        for n, turn in enumerate(scenario.turns, 1)
    ]
    # Letters only: redaction (SIPGW_REDACT) would mask a long run of digits in the id.
    call_id = "eval-" + "".join(random.choices(string.ascii_lowercase, k=16))
    phone = Phone(gateway, user=user, call_id=call_id, answer_requests=True)
    result = CallResult(call_id)
    try:
        ok = await phone.invite(within=15.0)
        if ok.status != 200:
            result.error = f"INVITE answered {ok.status} {ok.reason}"
            return result
        phone.start_audio()
        result.greeting_heard = await _greeting(phone)
        previous_reply: float | None = None
        for n, (turn, speech) in enumerate(zip(scenario.turns, frames, strict=True), 1):
            if turn.interrupt_after_ms is not None and previous_reply is not None:
                start = previous_reply + turn.interrupt_after_ms / 1000
                await asyncio.sleep(max(0.0, start - time.monotonic()))
            else:
                await phone.wait_until_quiet(QUIET_S, within=60.0)
                await asyncio.sleep(turn.pause_ms / 1000)
            if stt is not None:
                stt.default_transcript = turn.transcript
            phone.say(speech, n)
            last = await phone.wait_said(n, within=len(speech) * FRAME_S + 5.0)
            end = phone.sent_at[last]
            try:
                heard = phone.heard[await phone.wait_heard(end, loud=True, within=reply_within)]
                previous_reply = heard.at
            except TimeoutError:
                previous_reply = None
            result.turns.append(TurnTiming(end, previous_reply))
            if phone.bye_received:
                break
        if not phone.bye_received:
            await phone.wait_until_quiet(1.0, within=60.0)  # the last reply plays out
    except (TimeoutError, ValueError) as exc:
        result.error = f"{type(exc).__name__}: {exc}"
    finally:
        result.hung_up_by_agent = phone.bye_received
        await phone.stop_audio()
        if not phone.bye_received:
            try:
                await phone.hang_up()
            except (TimeoutError, ValueError) as exc:
                result.error = result.error or f"hang-up: {exc}"
        phone.close()
    return result


async def _greeting(phone: Phone) -> bool:
    """Wait for the greeting (if any) to play out; False when none came within 5 s."""
    assert phone.answered_at is not None
    try:
        await phone.wait_heard(phone.answered_at, loud=True, within=5.0)
    except TimeoutError:
        return False
    await phone.wait_until_quiet(QUIET_S, within=60.0)
    return True


def scenario_wavs_missing(scenario: Scenario) -> list[str]:
    """The turns without a WAV (real services need the caller's real voice)."""
    return [f"{scenario.path}: turns[{n}]" for n, t in enumerate(scenario.turns, 1) if not t.wav]
