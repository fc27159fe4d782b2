"""The caller's audio at arrival (sipgw.agent.assistant.hearing): to the detectors, the
turn-taking machine and speech-to-text.

On the in-memory doubles of tests/agent/parts.py: the parts are an agent's own.
"""

from __future__ import annotations

import pytest

from sipgw.agent.assistant.hearing import SILENCE_FRAME, Hearing
from sipgw.agent.turns import MarkSpeechEnd, TurnAction
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
