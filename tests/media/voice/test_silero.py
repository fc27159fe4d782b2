"""The model's streams (media/voice/silero.py): a stream's chunks put later by ``delay``.

Stepping, batching and a missing model are tested with the detector, in
tests/media/voice/test_model_vad.py and tests/media/voice/test_silero_math.py."""

from __future__ import annotations

import pytest

from sipgw.media.voice.model_vad import ModelVoiceDetector
from sipgw.media.voice.silero import CHUNK, CONTEXT, SileroBatch, SileroStream, shared_model

SILENCE = b"\xff"  # μ-law zero


def loud(frames: int) -> bytes:
    """``frames`` 20 ms frames of loud μ-law (every octet value in turn)."""
    return bytes(range(256)) * (frames * 160 // 256) + bytes(range(frames * 160 % 256))


def test_a_delayed_stream_completes_its_chunks_that_many_samples_sooner() -> None:
    plain, delayed = SileroStream(), SileroStream()
    delayed.delay(96)
    frame = loud(1)
    assert plain.feed(frame) == []
    (chunk,) = delayed.feed(frame)  # 96 + 160 = 256: a chunk at the first frame
    assert chunk == SILENCE * (CONTEXT + 96) + frame
    assert len(plain.feed(frame)) == 1  # 320: its first chunk a frame later


def test_delay_is_a_no_op_once_samples_were_fed_and_refuses_a_chunk_or_more() -> None:
    stream = SileroStream()
    stream.feed(loud(1))
    stream.delay(96)
    assert len(stream.feed(loud(1))) == 1  # 320 samples: no silence went in
    with pytest.raises(ValueError, match="0 to 255"):
        SileroStream().delay(CHUNK)
    after_a_chunk = SileroStream()
    after_a_chunk.feed(loud(2)[: 2 * CHUNK])  # two chunks, nothing pending
    after_a_chunk.delay(64)
    assert len(after_a_chunk.feed(loud(2)[:CHUNK])) == 1  # still on its own chunks


def test_an_aligned_detector_hears_what_a_stream_fed_the_silence_hears() -> None:
    """``align`` is silence before the first frame: the model's probabilities are those of
    a stream fed that silence first, and steps come as its chunks complete."""
    audio = loud(20)
    detector = ModelVoiceDetector(batch=SileroBatch())
    detector.align(224)
    reference = SileroStream()
    chunks = reference.feed(SILENCE * 224 + audio)
    model = shared_model()
    expected = [model.step(reference, c) for c in chunks]
    batch = detector._batch  # noqa: SLF001 - the batch it queues its chunks on
    assert batch is not None
    stepped = []
    for i in range(20):
        frame = audio[160 * i : 160 * (i + 1)]
        if detector.feed(frame):
            batch.run()
            stepped.append(i)
        detector.push(frame)
    # 224 + 3200 samples: 13 chunks, the first at the first frame (224 + 160 >= 256)
    assert len(expected) == 13 and batch.steps == 13 and stepped[0] == 0
    assert abs(detector.probability - expected[-1]) < 1e-6  # the latest chunk's, as alone
