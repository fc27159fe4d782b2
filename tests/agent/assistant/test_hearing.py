"""The caller's audio at arrival (sipgw.agent.assistant.hearing): to the detectors, the
turn-taking machine and speech-to-text.

On the in-memory doubles of tests/agent/parts.py: the parts are an agent's own.
"""

from __future__ import annotations

import pytest

from sipgw.agent.assistant.hearing import SILENCE_FRAME, Hearing
from sipgw.agent.turns.machine import MarkSpeechEnd, TurnAction
from sipgw.media.codecs.base import PCM16_16K, ULAW_8K
from sipgw.media.codecs.convert import Reformat
from tests.agent.parts import assistant, speech_frames

pytestmark = pytest.mark.timeout(20)

QUIET = b"\xff" * 160


def hearing(wide: bool) -> tuple[Hearing, list[TurnAction], list[bytes]]:
    a = assistant()
    agent = a.agent
    carried: list[TurnAction] = []
    heard = Hearing(wide, agent.caller_audio, agent.turns, a.stt, agent.failures, agent.idle,
                    None, carried.extend)  # fmt: skip
    return heard, carried, a.stt.audio


async def test_speech_goes_through_the_machine_then_to_speech_to_text_as_it_came() -> None:
    heard, carried, stt = hearing(False)
    frames = [QUIET] * 10 + speech_frames(1.0) + [QUIET] * 5
    for n, frame in enumerate(frames):
        heard.arrive(frame, n * 0.02, held=False)
    assert stt == frames
    assert MarkSpeechEnd() in carried  # the machine heard the speech end
    assert heard.turns.last_loud_at is not None


async def test_a_16_khz_caller_is_heard_by_speech_to_text_as_it_comes_narrowed_for_the_rest() -> (
    None
):
    heard, carried, stt = hearing(True)
    widen = Reformat(ULAW_8K, PCM16_16K)
    frames = [widen.convert(frame) for frame in [QUIET] * 10 + speech_frames(1.0) + [QUIET] * 5]
    assert len(frames[0]) == PCM16_16K.frame_bytes
    for n, frame in enumerate(frames):
        heard.arrive(frame, n * 0.02, held=False)
    assert stt == frames
    assert MarkSpeechEnd() in carried  # the machine heard the 8 kHz speech end


@pytest.mark.parametrize(("wide", "silence"), [(False, SILENCE_FRAME), (True, bytes(640))])
async def test_while_held_speech_to_text_gets_silence_and_the_machine_only_counts(
    wide: bool, silence: bytes
) -> None:
    heard, carried, stt = hearing(wide)
    widen = Reformat(ULAW_8K, PCM16_16K)
    for n, frame in enumerate(speech_frames(0.4)):
        heard.arrive(widen.convert(frame) if wide else frame, n * 0.02, held=True)
    assert stt == [silence] * 20
    assert carried == [] and heard.turns.last_loud_at is None


async def test_receive_is_arrive_at_the_clocks_time_with_the_hold_kept_here() -> None:
    """The session's entry (``receive``: the agent's ``on_caller_audio``) hears each frame as
    ``arrive`` does at the clock's time, and as held while ``held`` is set."""
    frames = [QUIET] * 10 + speech_frames(1.0) + [QUIET] * 20 + speech_frames(0.4) + [QUIET] * 5
    holds = [10 + len(speech_frames(1.0)) + 20 <= n < len(frames) - 5 for n in range(len(frames))]
    by_arrive, carried_arrive, stt_arrive = hearing(False)
    for n, frame in enumerate(frames):
        by_arrive.arrive(frame, n * 0.02, held=holds[n])
    ticks = iter(n * 0.02 for n in range(len(frames)))
    a = assistant()
    carried: list[TurnAction] = []
    by_receive = Hearing(False, a.agent.caller_audio, a.agent.turns, a.stt, a.agent.failures,
                         a.agent.idle, None, carried.extend, lambda: next(ticks))  # fmt: skip
    for n, frame in enumerate(frames):
        by_receive.held = holds[n]
        by_receive.receive(frame)
    assert a.stt.audio == stt_arrive
    assert carried == carried_arrive and MarkSpeechEnd() in carried
    assert by_receive.turns.last_loud_at == by_arrive.turns.last_loud_at is not None
    assert SILENCE_FRAME in a.stt.audio  # the held frames went as silence


async def test_the_assistant_s_session_entry_is_its_hearing_s() -> None:
    """What the gateway hands the session (``agent.on_caller_audio``) is the compiled entry
    itself, and the agent's hold reaches it."""
    agent = assistant().agent
    assert agent.on_caller_audio == agent.hearing.receive
    agent.on_hold(True)
    assert agent.hearing.held
    agent.on_hold(False)
    assert not agent.hearing.held
