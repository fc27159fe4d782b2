"""bench.room: the room's transcripts, answered with the energy detector, not with the
model detector; the caller's turns answered with both."""

from __future__ import annotations

import math

import pytest

from bench.room import ANSWERS, REPLY_S, Agent, measure, voiced_spans
from sipgw.agent.services.stt.base import SttTurnEnded
from sipgw.agent.turns.machine import CommitBargeIn, StartReply, TurnAction, TurnTaker
from sipgw.media import g711
from tests.toolkit.amdset.speech import Voice
from tests.toolkit.noisy_audio import room_voices
from tests.toolkit.voice_identity import same_audio

pytestmark = pytest.mark.timeout(120)


def test_a_tv_is_answered_only_without_the_room_gate() -> None:
    figures = measure("tv", 10.0, 20.0, ["energy", "model"])
    assert figures["energy"]["room_turns"] >= 2
    assert figures["energy"]["answered_per_min"] > 0
    assert figures["model"]["answered_per_min"] == 0
    assert figures["model"]["heard_from_room_per_min"] > 0
    for pipeline in ("energy", "model"):
        assert figures[pipeline]["caller_answered"] == figures[pipeline]["caller_turns"] >= 2


def test_the_fake_stt_turns_are_the_rooms_voiced_stretches() -> None:
    track = [0] * 8000 + [3000, -3000] * 8000 + [0] * 16000 + [3000, -3000] * 4000
    spans = voiced_spans(track)
    assert [(round(a, 1), round(b, 1)) for a, b in spans] == [(1.0, 3.0), (5.0, 6.0)]


def test_the_callers_answers_are_in_voices_of_their_own_and_no_rooms() -> None:
    """By their samples (this espeak-ng ignores the variants of ``en-gb``)."""
    answers = [Voice(name) for name, _ in ANSWERS]
    assert same_audio(answers) == []
    rooms = list(room_voices().values())
    assert same_audio([*answers, *rooms]) == same_audio(rooms)


def test_the_fake_agents_reply_starts_when_it_plays() -> None:
    """Speech heard before a reply started (the run the reply answers, going on over the
    room) does not cut it off; speech that began over it does, once it is long enough."""
    tone = b"".join(
        round(8000 * math.sin(2 * math.pi * 300 * n / 8000)).to_bytes(2, "little", signed=True)
        for n in range(160)
    )
    loud = g711.linear_to_ulaw(tone)
    quiet = b"\xff" * 160
    agent = Agent(greeting_s=0.0)
    turns = TurnTaker(agent)
    cuts: list[float] = []

    def feed(frame: bytes, seconds: float) -> None:
        for _ in range(round(seconds / 0.02)):
            agent.now = round(agent.now + 0.02, 2)
            take(turns.receive_audio(frame, agent.now))

    def take(actions: tuple[TurnAction, ...]) -> None:
        for action in actions:
            if isinstance(action, StartReply):
                agent.play(agent.now, REPLY_S)
            elif isinstance(action, CommitBargeIn):
                cuts.append(agent.now)
                agent.until = agent.now

    feed(quiet, 1.0)
    feed(loud, 1.0)  # the caller's turn, from 1 s
    take(turns.receive_stt(SttTurnEnded("Yes.", 0, (), agent.now, None), agent.now))
    assert agent.pending and agent.active_reply_started_at() == 2.0
    feed(loud, 1.0)  # the same run goes on over the reply: it began before it
    assert cuts == []
    feed(quiet, 0.5)
    feed(loud, 1.0)  # speech that began over the reply: a barge-in
    assert cuts and cuts[0] > 3.5
