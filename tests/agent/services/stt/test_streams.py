"""One call's speech-to-text sessions by stream (sipgw.agent.services.stt.streams)."""

from __future__ import annotations

import asyncio
from typing import cast

from sipgw.agent.services.stt.base import SpeechToText
from sipgw.agent.services.stt.streams import StreamSessions


class Session:
    """What of a session the streams use: its turn ended now, its close."""

    def __init__(self, streams: StreamSessions, name: str, ends_after: float | None) -> None:
        self.streams, self.name, self.ends_after = streams, name, ends_after
        self.ended_now = False
        self.closed = False

    def end_turn_now(self) -> None:
        self.ended_now = True
        if self.ends_after is not None:  # its final comes, and the turn ends
            asyncio.get_running_loop().call_later(
                self.ends_after, self.streams.turn, self.name, False
            )

    async def close(self) -> None:
        self.closed = True


def streams_of(**ends_after: float | None) -> tuple[StreamSessions, dict[str, Session]]:
    streams = StreamSessions()
    made = {name: Session(streams, name, after) for name, after in ends_after.items()}
    streams.sessions.update({name: cast(SpeechToText, s) for name, s in made.items()})
    return streams, made


async def test_a_stop_ends_the_turns_under_way_and_waits_for_their_ends() -> None:
    streams, made = streams_of(inbound=0.05, outbound=0.05)
    streams.turn("inbound", True)
    streams.turn("outbound", True)
    streams.turn("outbound", False)  # said and ended
    assert streams.under_way == {"inbound"}
    pump = asyncio.get_running_loop().create_task(asyncio.sleep(10))
    streams.pumps = [pump]
    loop = asyncio.get_running_loop()
    began = loop.time()
    await streams.stop(1.0)
    assert made["inbound"].ended_now and not made["outbound"].ended_now
    assert all(s.closed for s in made.values()) and streams.under_way == frozenset()
    assert pump.cancelled()
    assert loop.time() - began < 1.0 + 0.5  # the readers wait within the same bound


async def test_a_turn_whose_end_never_comes_holds_the_stop_no_longer_than_its_bound() -> None:
    streams, made = streams_of(inbound=None)
    streams.turn("inbound", True)
    loop = asyncio.get_running_loop()
    began = loop.time()
    await streams.stop(0.2)
    assert 0.2 <= loop.time() - began < 1.0
    assert made["inbound"].closed and streams.under_way == {"inbound"}
