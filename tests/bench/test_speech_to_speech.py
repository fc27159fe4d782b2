"""Smoke test of ``bench.speech_to_speech``: one short call per agent, the JSON's fields;
and how the bench reads a barge-in's stop from a phone's recording (``stop_after``).

No figure is judged: every agent answered every turn, and each figure is there.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.speech_to_speech import AGENTS, ANSWER_HZ, SHORT_HZ, stop_after
from sipgw.app.evaluation.audio import tone_frames
from sipgw.app.evaluation.phone import Heard
from sipgw.media.rtp import RtpPacket
from tests.bench.test_smoke import run_bench

pytestmark = pytest.mark.timeout(180)


FRAME_MS = 20


RUN_AGENTS = ("pipeline", "voice-agent", "realtime-early")
"""One agent per path of the bench: the pipeline, the Voice Agent's fake, the Realtime fake
(``realtime-early``: its local turn-taking and its own stated delay; ``realtime`` and
``realtime-local`` differ from it only in the settings the gateway is given, whose calls
tests/interop/test_s2s_peers.py makes)."""


def test_the_side_by_side_bench_runs_every_agent(tmp_path: Path) -> None:
    assert set(RUN_AGENTS) <= set(AGENTS)
    data = run_bench(
        tmp_path, "speech_to_speech", "--calls", "1", "--rounds", "1", "--model-ms", "300",
        "--agents", ",".join(RUN_AGENTS), timeout=150,
    )  # fmt: skip
    assert data["bench"] == "speech_to_speech" and data["params"]["model_ms"] == 300
    assert list(data["agents"]) == list(RUN_AGENTS)
    for name, agent in data["agents"].items():
        assert agent["failures"] == [], name
        for figure in ("first_audio_ms", "tool_turn_ms", "barge_in_ms", "tool_round_trip_ms"):
            assert agent[figure]["count"] == 1, (name, figure, agent)
        # The figures are reported beside the fakes' stated delays, not judged against them:
        # the end of speech is when the phone sent its last loud packet, which a loaded
        # machine sends late against its 20 ms deadline (a whole run measured the voice
        # agent's first audio 44 ms under its stated 600 ms).
        assert agent["stated_first_audio_ms"] > 0 and agent["stated_tool_turn_ms"] > 0, agent


# --------------------------------------------------------------------------- the barge-in's stop

SILENCE = b"\xff" * 160


def received(*runs: tuple[float, int, bytes] | tuple[float, int, bytes, float]) -> list[Heard]:
    """A phone's recording: each run is ``count`` packets of ``frame`` from ``start`` s,
    ``step`` s apart (20 ms unless given; a tone frame is loud, silence is not)."""
    heard: list[Heard] = []
    for start, count, frame, *rest in runs:
        step = rest[0] if rest else FRAME_MS / 1000
        for n in range(count):
            packet = RtpPacket(payload_type=0, sequence_number=len(heard), payload=frame)
            at = start + n * step
            heard.append(Heard(at, at, packet, frame != SILENCE))
    return heard


ANSWER_FRAME = tone_frames(ANSWER_HZ, 0.02)[0]


def test_the_stop_is_the_first_packet_after_the_answers_last_one() -> None:
    heard = received((0.0, 43, ANSWER_FRAME), (0.86, 10, SILENCE))  # the caller at 0.8 s
    assert stop_after(heard, ANSWER_HZ, onset=0.8) == 0.86


def test_an_answer_cut_in_a_stall_stopped_when_the_gateway_went_on() -> None:
    """The loop stalled from 0.74 s: the gateway's frames owed came in a burst just before
    the caller's (onset 0.8 s, 60 ms of speech at once) and its next frame, 0.3 ms after,
    was already paused. The answer's last packet came before the onset, yet it had not
    stopped before it: nothing else came in between (the suite's failure: None)."""
    heard = received((0.0, 38, ANSWER_FRAME), (0.7996, 3, ANSWER_FRAME, 0.0001),
                     (0.8003, 10, SILENCE))  # fmt: skip
    assert heard[40].at < 0.8
    assert stop_after(heard, ANSWER_HZ, onset=0.8) == 0.8003
    # The same with no packet at all during the stall: the first after it is the stop.
    heard = received((0.0, 38, ANSWER_FRAME), (0.803, 10, SILENCE))
    assert stop_after(heard, ANSWER_HZ, onset=0.8) == 0.803


def test_an_answer_over_before_the_caller_spoke_has_no_stop() -> None:
    heard = received((0.0, 30, ANSWER_FRAME), (0.6, 20, SILENCE))
    assert stop_after(heard, ANSWER_HZ, onset=0.8) is None
    # Silence just before the onset is a stop before it, however close.
    heard = received((0.0, 39, ANSWER_FRAME), (0.7999, 10, SILENCE))
    assert stop_after(heard, ANSWER_HZ, onset=0.8) is None


def test_no_stop_until_a_packet_follows_the_answer() -> None:
    assert stop_after(received((0.0, 50, ANSWER_FRAME)), ANSWER_HZ, onset=0.8) is None
    assert stop_after(received((0.0, 50, SILENCE)), ANSWER_HZ, onset=0.8) is None
    # Another reply's tone after the answer is a packet after it like any other.
    short = tone_frames(SHORT_HZ, 0.02)[0]
    heard = received((0.0, 45, ANSWER_FRAME), (0.9, 5, short))
    assert stop_after(heard, ANSWER_HZ, onset=0.8) == 0.9
