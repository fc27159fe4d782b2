"""The connection to AssemblyAI (sipgw/agent/services/assemblyai/stt_connection.py), on its own
against the fake server over loopback: a session opened, terminated, refused. Serving,
reconnecting and the sender are exercised through the service in test_assemblyai.py."""

from __future__ import annotations

import asyncio

import pytest

from sipgw.agent.services.assemblyai.stt_connection import AssemblyAIConnection, terminate
from sipgw.agent.services.assemblyai.stt_options import (
    MAX_CHUNK_MS,
    MIN_CHUNK_MS,
    AssemblyAISettings,
)
from sipgw.agent.services.assemblyai.stt_session import StreamState
from sipgw.agent.services.stt.base import SttConnectError, SttSessionBegan
from sipgw.agent.services.stt.outlet import EventOutlet
from sipgw.agent.services.stt.uplink import AudioFormat, AudioUplink
from sipgw.app.evaluation.fakes.assemblyai import FakeAssemblyAI
from tests.toolkit.canaries import ASSEMBLYAI_KEY

pytestmark = pytest.mark.timeout(20)

KEY = ASSEMBLYAI_KEY


def connection(settings: AssemblyAISettings) -> tuple[AssemblyAIConnection, EventOutlet]:
    audio_format = AudioFormat(settings.encoding, settings.sample_rate)
    uplink = AudioUplink(audio_format, chunk_ms=settings.chunk_ms, min_chunk_ms=MIN_CHUNK_MS,
                         max_chunk_ms=MAX_CHUNK_MS, max_backlog_seconds=1.0, burst=0.2)  # fmt: skip
    outlet = EventOutlet()
    state = StreamState(audio_format.bytes_per_second)
    return AssemblyAIConnection(settings, {}, uplink, state, outlet, asyncio.sleep), outlet


async def test_a_session_opens_on_its_begin_and_terminate_ends_it() -> None:
    async with FakeAssemblyAI(api_key=KEY) as fake:
        link, outlet = connection(AssemblyAISettings(api_key=KEY, url=fake.url))
        ws = await link.open()
        assert link.state.sessions == 1
        await terminate(ws)
        outlet.end()
        assert [type(e) async for e in outlet.events()] == [SttSessionBegan]
        (session,) = fake.sessions
        assert session.received_of_type("Terminate") == [{"type": "Terminate"}]
        await ws.close()
        await fake.wait_for(lambda: not fake.sessions[0].open)


async def test_a_refused_key_is_a_final_connect_error() -> None:
    async with FakeAssemblyAI(api_key=KEY) as fake:
        link, _ = connection(AssemblyAISettings(api_key="wrong", url=fake.url))
        with pytest.raises(SttConnectError) as refused:
            await link.open()
        assert not refused.value.retryable
