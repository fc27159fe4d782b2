"""What the HD-voice benches share (``bench.hd_voice``, ``bench.s2s_hd_voice``): the buzz
they speak, a call's playout and media session, and the variants measured in turn.

Each bench times one call's audio per 20 ms tick in the gateway's own objects; its variants
run ``repeats`` times, alternating within each repeat (a busy machine's noise falls on all
of them), and each variant's figures are taken against the first's.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from typing import Any

from sipgw.agent.playout import Playout
from sipgw.app.evaluation.audio import tone_samples
from sipgw.media.codecs import AudioFormat, Codec
from sipgw.media.liveness import LivenessConfig
from sipgw.media.session import MediaSession, StreamParams

__all__ = ["TICK_US", "buzz", "call_audio", "measure_alternating"]

TICK_US = 20_000
"""A tick's µs: a call's share of a core is its µs per tick over this."""


def buzz(rate: int, seconds: float) -> bytes:
    """A voice-like buzz (200 Hz and four harmonics), s16le at ``rate``."""
    parts = [tone_samples(200 * k, seconds, -18.0 - 3 * k, rate) for k in range(1, 6)]
    return b"".join(
        max(-32768, min(32767, sum(column))).to_bytes(2, "little", signed=True)
        for column in zip(*parts, strict=True)
    )


def call_audio(k: int, codec: Codec, agent_format: AudioFormat) -> tuple[Playout, MediaSession]:
    """Call ``k``'s playout (speaking, reply "r1") and its media session in ``codec``, the
    agent's frames in ``agent_format``; the session never pauses for a silent peer."""
    params = StreamParams(("127.0.0.1", 40000 + 2 * k), codec=codec,
                          payload_type=codec.payload_type or 0)  # fmt: skip
    never_pause = LivenessConfig(pause_after=0.0)
    media = MediaSession(params, 0.0, liveness=never_pause, agent_format=agent_format)
    playout = Playout(format=agent_format)
    playout.held = False
    playout.begin("r1")
    return playout, media


def measure_alternating(
    names: Sequence[str],
    run: Callable[[int], float],
    repeats: int,
    against_first: Callable[[list[float], float], dict[str, float]],
) -> dict[str, Any]:
    """``run(i)`` (µs of CPU per call per tick of variant ``i``) for every variant in turn,
    ``repeats`` times; each variant's runs, median, ``against_first(runs, first's median)``
    and its share of a core per call, with this process's media path."""
    from sipgw.media import _accel

    runs: dict[str, list[float]] = {name: [] for name in names}
    for _ in range(repeats):
        for i, name in enumerate(names):
            runs[name].append(run(i))
    base = statistics.median(runs[names[0]])
    return {
        "path": _accel.PATH,
        "path_reason": _accel.REASON,
        "variants": {
            name: {
                "us_per_call_per_tick_runs": [round(r, 3) for r in values],
                "us_per_call_per_tick_median": round(statistics.median(values), 3),
                **against_first(values, base),
                "core_percent_per_call": round(statistics.median(values) / TICK_US * 100, 4),
            }
            for name, values in runs.items()
        },
    }
