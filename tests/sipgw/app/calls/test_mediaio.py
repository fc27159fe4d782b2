"""How a gateway reads its calls' RTP (sipgw.app.calls.mediaio), on each media path."""

from __future__ import annotations

import pytest

from sipgw.agent.conversation.caller_audio import shared_batcher
from sipgw.app.calls.mediaio import MediaIO
from sipgw.app.evaluation.ports import free_port_range
from sipgw.media import _accel
from sipgw.media.aio.ticker import Ticker
from sipgw.media.ports import PortAllocator


@pytest.mark.parametrize("path", ["native", "pure"])
async def test_each_path_reads_the_way_it_says(monkeypatch: pytest.MonkeyPatch, path: str) -> None:
    monkeypatch.setattr(_accel, "PATH", path)
    monkeypatch.setattr(_accel, "REASON", "why")
    io, ticker = MediaIO(read_window=0.002), Ticker()
    assert io.describe() == f"media path: {path} (why)" and io.path == path
    await io.start(ticker, "127.0.0.1")
    assert (ticker.receive is not None) is (path == "native")
    assert ticker.heard == shared_batcher().flush  # the model detector's batch, either path
    ports = free_port_range(4)
    endpoint = await io.open_endpoint("127.0.0.1", PortAllocator(ports.lo, ports.hi))
    assert endpoint is not None
    assert endpoint.is_open and (endpoint.rtp is None) is (path == "native")
    if io.batched is not None:
        assert len(io.batched.demux) == 1 and io.batched.window == 0.002
    endpoint.close()
    io.stop(ticker)
    assert ticker.receive is None and io.batched is None
    io.stop(ticker)  # twice: nothing
