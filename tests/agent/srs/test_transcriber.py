"""A recording session's agent (sipgw.agent.srs.transcriber): one speech-to-text session per
stream, each utterance written with the participant who said it.

Through sipgw's AssemblyAI fake and the real client: its scripted sentences go out in the
order turns end, so each names the stream that spoke then.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from functools import partial

import pytest

from sipgw.agent.record import CallRecord
from sipgw.agent.services.assemblyai.stt import AssemblyAISTTService
from sipgw.agent.services.assemblyai.stt_options import AssemblyAISettings
from sipgw.agent.services.stt.base import SttConnectError
from sipgw.agent.srs.transcriber import RecordedParty, SrsAgent
from sipgw.app.evaluation.fakes.assemblyai import FakeAssemblyAI
from tests.agent.parts import FakeCall, ScriptedLlm, Turn, speech_frames, wait_for

KEY = "srs-stt-key"
ALICE = RecordedParty("96", "p-alice", "sip:alice@atlanta.example.com", "Alice")
BOB = RecordedParty("97", "p-bob", "sip:bob@biloxy.example.com", "Bob")


@pytest.fixture
async def stt() -> AsyncIterator[FakeAssemblyAI]:
    fake = await FakeAssemblyAI(api_key=KEY).start()
    yield fake
    await fake.aclose()


def transcriber(fake: FakeAssemblyAI, key: str = KEY, llm: ScriptedLlm | None = None) -> SrsAgent:
    open_stt = partial(AssemblyAISTTService, AssemblyAISettings(api_key=key, url=fake.url))
    assist = None if llm is None else (lambda: llm, "Help the agent.")
    return SrsAgent(FakeCall(), open_stt, CallRecord(None, "rs@test"), assist)


async def feed(agent: SrsAgent, talking: str, seconds: float) -> None:
    """``seconds`` of ticks: speech on the stream ``talking``, nothing on the others."""
    import asyncio

    frames = speech_frames(seconds) + [None] * 40  # then 0.8 s with no packet at all
    for frame in frames:
        for label in agent.sessions:
            agent.on_stream_frame(label, frame if label == talking else None)
        await asyncio.sleep(0.02)


async def test_each_utterance_is_written_with_its_streams_participant(
    stt: FakeAssemblyAI,
) -> None:
    stt.script(["Hello, this is Alice.", "Hi Alice, Bob here."])
    agent = transcriber(stt)
    await agent.prepare()
    await agent.open_streams([ALICE, BOB])
    assert len(stt.sessions) == 2  # one session per stream
    await feed(agent, "96", 1.0)
    await wait_for(lambda: agent.utterances == 1, within=5)
    await feed(agent, "97", 1.0)
    await wait_for(lambda: agent.utterances == 2, within=5)
    await agent.close("remote-bye")
    lines = agent.record.lines
    assert lines[0]["type"] == "call" and lines[0]["recording_session"] is True
    assert lines[1]["type"] == "participants" and [s["label"] for s in lines[1]["streams"]] == [
        "96", "97",
    ]  # fmt: skip
    said = [(x["label"], x["name"], x["aor"], x["participant_id"], x["text"])
            for x in lines if x["type"] == "speech"]  # fmt: skip
    assert said == [
        ("96", "Alice", "sip:alice@atlanta.example.com", "p-alice", "Hello, this is Alice."),
        ("97", "Bob", "sip:bob@biloxy.example.com", "p-bob", "Hi Alice, Bob here."),
    ]
    assert lines[-1] == {**lines[-1], "type": "end", "reason": "remote-bye", "utterances": 2}


async def test_new_metadata_renames_the_speaker_from_then_on(stt: FakeAssemblyAI) -> None:
    stt.script(["First.", "Second."])
    agent = transcriber(stt)
    await agent.open_streams([ALICE, BOB])
    await feed(agent, "96", 0.8)
    await wait_for(lambda: agent.utterances == 1, within=5)
    agent.update_parties([RecordedParty("96", "p-alice", "sip:alice@atlanta.example.com",
                                        "Alice B.")])  # fmt: skip
    await feed(agent, "96", 0.8)
    await wait_for(lambda: agent.utterances == 2, within=5)
    await agent.close()
    names = [x["name"] for x in agent.record.lines if x["type"] == "speech"]
    assert names == ["Alice", "Alice B."]
    assert any(x["type"] == "participants_updated" for x in agent.record.lines)


async def test_a_session_that_cannot_open_refuses_the_recording(stt: FakeAssemblyAI) -> None:
    agent = transcriber(stt, key="wrong")
    with pytest.raises(SttConnectError):
        await agent.open_streams([ALICE, BOB])
    assert not agent.sessions
    await agent.close()  # nothing left to close; the record ends
    assert agent.record.lines[-1]["type"] == "end"


async def test_with_assist_each_utterance_may_bring_a_suggestion(stt: FakeAssemblyAI) -> None:
    stt.script(["My card was charged twice."])
    llm = ScriptedLlm([Turn(text="Offer a refund.")])
    agent = transcriber(stt, llm=llm)
    await agent.open_streams([ALICE, BOB])
    await feed(agent, "96", 1.0)
    await wait_for(lambda: llm.finished == 1, within=5)
    await agent.close()
    kinds = [x["type"] for x in agent.record.lines]
    assert kinds.index("speech") < kinds.index("suggestion") < kinds.index("end")
    (suggestion,) = [x for x in agent.record.lines if x["type"] == "suggestion"]
    assert (suggestion["text"], suggestion["utterances"]) == ("Offer a refund.", 1)
    assert "Alice (sip:alice@atlanta.example.com) [96]: My card was charged twice." in str(
        llm.requests[0][1]["content"]
    )


async def test_a_stream_added_then_closed_keeps_its_last_words(stt: FakeAssemblyAI) -> None:
    """RFC 7866 §8.1: Carol joins (a session of her own), speaks, and her stream is removed
    while she is still speaking: the words heard so far are hers; Alice's stream goes on."""
    stt.script(["Carol here, joining.", "Alice again."])
    agent = transcriber(stt)
    await agent.open_streams([ALICE])
    carol = RecordedParty("98", "p-carol", "sip:carol@example.com", "Carol")
    assert await agent.add_streams([carol, ALICE]) == ["98"]  # 96 is in use: left out
    assert set(agent.sessions) == {"96", "98"} and len(stt.sessions) == 2
    for frame in speech_frames(0.8):  # no silence after: her turn is under way
        agent.on_stream_frame("98", frame)
        await asyncio.sleep(0.02)
    await asyncio.wait_for(agent.close_stream("98"), timeout=3)
    assert set(agent.sessions) == {"96"}
    await feed(agent, "96", 0.8)
    await wait_for(lambda: agent.utterances == 2, within=5)
    await agent.close()
    lines = agent.record.lines
    said = [(x["label"], x["name"], x["text"]) for x in lines if x["type"] == "speech"]
    assert said == [("98", "Carol", "Carol here, joining."), ("96", "Alice", "Alice again.")]
    kinds = [x["type"] for x in lines]
    assert kinds.index("streams_added") < kinds.index("stream_ended") < kinds.index("end")
