"""The fakes' tally: what a gateway asked the AI-service fakes for, pruned records included."""

from __future__ import annotations

from sipgw.app.evaluation.fakes.assemblyai import FakeAssemblyAI, FakeSession
from sipgw.app.evaluation.fakes.elevenlabs import (
    FakeElevenLabs,
    RecordedContext,
    RecordedSocket,
    Utterance,
)
from sipgw.app.evaluation.fakes.elevenlabs import RecordedRequest as TtsRequest
from sipgw.app.evaluation.fakes.openai import FakeOpenAI, RecordedRequest
from sipgw.app.evaluation.fakes.services import FakeServices
from sipgw.app.evaluation.fakes.tally import Tally, tally


def request(chunks_sent: int, disconnected: bool, finished: bool = True) -> RecordedRequest:
    return RecordedRequest(
        path="/v1/chat/completions", headers={}, body={}, chunks_sent=chunks_sent,
        disconnected=disconnected, finished=finished,
    )  # fmt: skip


def context(sent_ms: int) -> RecordedContext:
    audio = b"\xff" * 8 * 500
    utterance = Utterance(key="r", text="Hi.", freq=440.0, audio=audio, bytes_sent=sent_ms * 8)
    return RecordedContext(socket=0, context_id="r", serial=0, first_message={},
                           utterances=[utterance])  # fmt: skip


def session(sizes: list[int], ended: bool = True) -> FakeSession:
    record = FakeSession(index=0, session_id="s", path="/v3/ws", query="", params={}, headers={},
                         started_at=0.0, chunk_sizes=sizes)  # fmt: skip
    record.ended_at = 1.0 if ended else None
    return record


def test_requests_cut_before_and_after_their_first_chunk_are_told_apart() -> None:
    counts = tally(
        [request(0, True), request(3, True), request(3, False), request(0, False, False)],
        [context(500), context(0)],
        [session([800, 800, 400]), session([2000])],
    )
    assert counts["llm_requests"] == 4
    assert counts["llm_cut_before_first_chunk"] == 1
    assert counts["llm_cut_after_first_chunk"] == 1
    assert counts["tts_contexts"] == 2 and counts["tts_audio_ms"] == 500
    assert counts["stt_messages"] == 4 and counts["stt_audio_ms"] == 500
    assert counts["stt_messages_by_ms"] == {100: 2, 50: 1, 250: 1}


def test_what_a_prune_forgets_stays_counted() -> None:
    running = Tally()
    before = tally([request(0, True), request(3, False)], [], [session([800, 800])])
    after = tally([request(3, False)], [], [])
    running.forget(before, after)
    now = tally([request(3, False), request(3, False)], [], [session([400])])
    total = running.total(now)
    assert total["llm_requests"] == 3
    assert total["llm_cut_before_first_chunk"] == 1
    assert total["stt_messages"] == 3
    assert total["stt_messages_by_ms"] == {50: 1, 100: 2}


def test_the_services_tally_outlives_their_prune() -> None:
    services = FakeServices(FakeAssemblyAI(), FakeOpenAI(), FakeElevenLabs())
    services.llm._requests += [request(0, True), request(3, False, finished=False)]
    services.stt._records.append(session([800, 400]))
    socket = RecordedSocket(index=0, request=TtsRequest("GET", "/", "v", {}, {}), closed=True)
    socket.contexts.append(context(500))
    services.tts.sockets.append(socket)
    first = services.tally()
    assert services.prune() == 3  # the finished request, the ended session, the closed socket
    assert services.tally() == first
    assert services.llm.requests and not services.stt.sessions and not services.tts.sockets
