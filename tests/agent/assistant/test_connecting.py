"""Opening a call's speech-to-text session and TTS connection
(sipgw.agent.assistant.connecting): each outcome reported, a failure raised.
"""

from __future__ import annotations

import asyncio

import pytest

from sipgw.agent.assistant.connecting import connect_stt, connect_to_take_over, tts_connected
from sipgw.agent.services.tts.base import TtsError
from tests.agent.parts import (
    RecordingObserver,
    ScriptedStt,
    ScriptedTts,
    make_failures,
    make_scope,
    tts_refused,
)

pytestmark = pytest.mark.timeout(20)


async def test_both_connected_are_reported_working() -> None:
    observer = RecordingObserver()
    failures = make_failures(make_scope(observer))
    tts_connect = asyncio.ensure_future(ScriptedTts().connect())
    await connect_stt(ScriptedStt(), tts_connect, failures)
    await tts_connect
    tts_connected(tts_connect, failures)
    assert observer.oks == ["stt", "tts"]


async def test_a_refused_stt_session_cancels_the_tts_connection_and_is_raised() -> None:
    observer = RecordingObserver()
    failures = make_failures(make_scope(observer))
    tts_connect = asyncio.ensure_future(ScriptedTts(connect_delay=5.0).connect())
    refused = ConnectionRefusedError("no STT")
    with pytest.raises(ConnectionRefusedError):
        await connect_stt(ScriptedStt(connect_error=refused), tts_connect, failures)
    await asyncio.sleep(0)
    assert tts_connect.cancelled()
    assert observer.oks == []


async def test_a_refused_tts_connection_is_reported_and_raised() -> None:
    observer = RecordingObserver()
    failures = make_failures(make_scope(observer))
    tts_connect = asyncio.ensure_future(ScriptedTts(connect_error=tts_refused()).connect())
    await asyncio.wait({tts_connect})
    with pytest.raises(TtsError):
        tts_connected(tts_connect, failures)
    assert observer.statuses == [401] and observer.oks == []


@pytest.mark.parametrize("own_stt", [True, False])
async def test_a_line_taking_a_call_over_opens_its_own_session_only_if_it_keeps_none(
    own_stt: bool,
) -> None:
    observer = RecordingObserver()
    failures = make_failures(make_scope(observer))
    refused = ConnectionRefusedError("no STT")
    stt = ScriptedStt(connect_error=refused)  # connecting it fails: it was tried
    if own_stt:
        with pytest.raises(ConnectionRefusedError):
            await connect_to_take_over(stt, ScriptedTts(), failures, own_stt)
    else:
        await connect_to_take_over(stt, ScriptedTts(), failures, own_stt)
        assert observer.oks == ["tts"]
