"""A warm transfer's person heard through a listening session of the agent's service."""

from __future__ import annotations

import asyncio

import pytest

from sipgw.agent.s2s.ears import EARS_INSTRUCTIONS, SessionEars
from sipgw.agent.services.s2s.base import (
    CallerTranscript,
    ReplyStarted,
    S2sConnectError,
    SessionFailed,
)
from sipgw.agent.services.stt.base import SttConnectError, SttEvent, SttFailed, SttTurnEnded
from tests.agent.s2s.parts import LOUD, SILENCE, ScriptedSession


async def collect(ears: SessionEars, into: list[SttEvent]) -> None:
    async for event in ears.events():
        into.append(event)


async def test_the_person_s_turns_come_out_as_transcripts_and_no_reply_is_heard() -> None:
    session = ScriptedSession()
    ears = SessionEars(lambda: session)
    await ears.connect()
    assert session.config is not None and session.config.instructions == EARS_INSTRUCTIONS
    assert session.config.greeting == ""  # it never speaks first
    heard: list[SttEvent] = []
    task = asyncio.ensure_future(collect(ears, heard))
    ears.send_audio(LOUD)
    assert bytes(session.audio) == LOUD  # the person's audio, unchanged
    session.push(ReplyStarted("r1", 0.0), CallerTranscript("Yes, put them through."),
                 CallerTranscript("Thanks."))  # fmt: skip
    await asyncio.sleep(0.01)
    assert session.sent == [("cancel", "r1", 0)]  # the model's answer is cut as it starts
    assert [(e.text, e.turn_order) for e in heard if isinstance(e, SttTurnEnded)] == [
        ("Yes, put them through.", 0), ("Thanks.", 1)]  # fmt: skip
    await ears.close()
    await asyncio.wait_for(task, 1)
    assert session.closed


async def test_with_local_turn_taking_the_silence_after_speech_ends_the_turn() -> None:
    session = ScriptedSession(server_turns=False)
    ears = SessionEars(lambda: session, silence_ms=200)
    await ears.connect()
    for _ in range(15):
        ears.send_audio(SILENCE)  # the detector's calibration
    for _ in range(20):
        ears.send_audio(LOUD)
    for _ in range(9):
        ears.send_audio(SILENCE)
    assert ("end_turn",) not in session.sent  # the hangover and the silence still run
    for _ in range(20):
        ears.send_audio(SILENCE)
    assert session.sent.count(("end_turn",)) == 1
    await ears.close()


async def test_a_refused_or_failed_session_leaves_the_keys_only() -> None:
    ears = SessionEars(lambda: ScriptedSession(refuse=S2sConnectError("no", status=401)))
    with pytest.raises(SttConnectError) as refused:
        await ears.connect()
    assert refused.value.status == 401
    ears.send_audio(LOUD)  # ignored: nothing is open

    session = ScriptedSession()
    ears = SessionEars(lambda: session)
    await ears.connect()
    heard: list[SttEvent] = []
    task = asyncio.ensure_future(collect(ears, heard))
    session.push(SessionFailed("gone"))
    await asyncio.wait_for(task, 1)  # the events end
    assert [type(e) for e in heard] == [SttFailed]
    await ears.close()
