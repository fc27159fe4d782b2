"""The caller's audio stage (agent/conversation/caller_audio.py) and its settings."""

from __future__ import annotations

import importlib.util
import math
import threading
from collections.abc import Callable
from typing import Any, cast

import pytest

from sipgw.agent.conversation import caller_audio
from sipgw.agent.conversation.caller_audio import (
    CallerAudio,
    HeardInOrder,
    LoadsVoiceModel,
    NoiseSettings,
    load_echo_guard,
    with_voice_model,
)
from sipgw.agent.conversation.sections import AssistantSection, noise_settings
from sipgw.foundation.settings import ConfigError
from sipgw.media import g711
from sipgw.media.voice import silero as voice_model
from sipgw.media.voice.model_vad import ModelVoiceDetector
from sipgw.media.voice.vad import VadConfig, VoiceActivityDetector
from tests.toolkit.virtual_time import virtual_clock  # noqa: F401 - the fixture, by name


def test_the_model_detector_and_no_suppression_by_default() -> None:
    stage = CallerAudio(NoiseSettings())
    assert isinstance(stage.detector(VadConfig(), lambda: True), ModelVoiceDetector)
    frame = bytes(range(160))
    assert stage.process(frame) is frame


def test_the_energy_detector_when_asked() -> None:
    stage = CallerAudio(noise_settings(AssistantSection(voice_detector="energy")))
    assert isinstance(stage.detector(VadConfig(), lambda: True), VoiceActivityDetector)


def test_the_model_detector_and_suppression_when_asked() -> None:
    stage = CallerAudio(NoiseSettings(suppression=True, detector="model"))
    assert isinstance(stage.detector(VadConfig(), lambda: True), ModelVoiceDetector)
    frame = b"\x7f" * 160
    assert len(stage.process(frame)) == 160
    stage.close()


async def test_the_warm_up_loads_the_model_in_a_thread_with_the_factorys_own() -> None:
    """The model detector's packages and weights are loaded when the gateway starts (its
    factories' warm-up), off the event loop: loaded at a call, they stopped the media
    ticker for 0.3-0.8 s."""
    ran: list[str] = []

    async def lines() -> object:
        ran.append("lines")
        return "prepared"

    energy = NoiseSettings(detector="energy", echo_guard=False)
    assert with_voice_model(lines, energy) is lines
    assert with_voice_model(None, energy) is None
    # The echo guard's numpy is loaded off the loop too, with the energy detector.
    guarded = with_voice_model(lines, NoiseSettings(detector="energy"))
    assert isinstance(guarded, LoadsVoiceModel) and guarded.load is load_echo_guard
    warm_up = with_voice_model(lines, NoiseSettings(detector="model"))
    assert isinstance(warm_up, LoadsVoiceModel) and warm_up.then is lines
    threads: list[str] = []
    real = caller_audio.load_voice_model

    def load() -> None:  # the loader, not the model's class: mypyc binds that statically
        threads.append(threading.current_thread().name)
        real()

    voice_model._shared = None
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(caller_audio, "load_voice_model", load)
        assert await warm_up() == "prepared"
        loaded = voice_model._shared
        assert await LoadsVoiceModel()() is None
    assert ran == ["lines"] and loaded is not None
    assert voice_model._shared is loaded  # loaded once
    assert len(threads) == 2 and threading.main_thread().name not in threads


def test_the_settings_reach_the_stage() -> None:
    section = AssistantSection(voice_detector="model", noise_suppression=True)
    noise = noise_settings(section)
    assert noise.detector == "model" and noise.suppression
    assert (noise.model.threshold, noise.model.room_margin_db) == (0.5, 3.0)  # constants
    assert noise.model.caller_margin_db == 6.0 and not noise.model.low_band
    assert noise_settings(AssistantSection()) == NoiseSettings()


def test_the_model_detector_needs_neither_onnx_runtime_nor_silero_vad(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real = importlib.util.find_spec
    gone = {"onnxruntime", "silero_vad"}
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name in gone else real(name, *a)
    )
    assert noise_settings(AssistantSection(voice_detector="model")).detector == "model"


@pytest.mark.parametrize(
    ("asked", "gone", "named"),
    [({"noise_suppression": True}, "pyrnnoise", "SIPGW_NOISE_SUPPRESSION.*pyrnnoise")],
)
def test_a_missing_package_is_a_clear_error(
    monkeypatch: pytest.MonkeyPatch, asked: dict[str, object], gone: str, named: str
) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == gone else real(name, *a)
    )
    with pytest.raises(ConfigError, match=named):
        noise_settings(AssistantSection(**asked))  # type: ignore[arg-type]


async def test_the_batcher_runs_once_a_wake_up_then_each_waiting_call_in_order() -> None:
    """Frames of two calls that complete a model chunk in the same wake-up of the loop wait
    for one model run (call_soon); the ticker's ``heard`` runs it sooner if it comes first;
    nothing waits: a flush is a no-op."""
    import asyncio
    from functools import partial

    from sipgw.agent.conversation.caller_audio import ModelBatcher

    batcher = ModelBatcher()
    stages = [
        CallerAudio(NoiseSettings(detector="model"), batcher),
        CallerAudio(NoiseSettings(detector="model"), batcher),
    ]
    detectors = [s.detector(VadConfig(), lambda: True) for s in stages]
    assert all(isinstance(d, ModelVoiceDetector) for d in detectors)
    # A 440 Hz tone at about -20 dBFS: 160 samples, a model chunk (256) most frames.
    tone = [round(3000 * math.sin(2 * math.pi * 440 * n / 8000)) for n in range(160)]
    frame = g711.linear_to_ulaw(b"".join(v.to_bytes(2, "little", signed=True) for v in tone))
    heard: list[tuple[int, float]] = []

    def then(call: int) -> None:
        assert detectors[call].push(frame) is not None
        heard.append((call, detectors[call].probability))  # type: ignore[attr-defined]

    assert not any(stage.feed(frame) for stage in stages)  # 160 samples: no chunk yet
    for call, stage in enumerate(stages):
        detectors[call].push(frame)
        assert stage.feed(frame)  # 320: a chunk each
        stage.after_batch(partial(then, call))
    assert heard == [] and batcher.batch.pending
    await asyncio.sleep(0)
    assert [call for call, _ in heard] == [0, 1] and batcher.flushes == 1
    assert batcher.batch.runs == 1 and batcher.batch.steps == 2
    # The ticker's hook, before the call_soon: the same run, once.
    stages[0].feed(frame)
    stages[0].feed(frame)
    stages[0].after_batch(lambda: heard.append((9, 0.0)))
    batcher.flush()
    assert heard[-1] == (9, 0.0) and batcher.flushes == 2
    await asyncio.sleep(0)
    batcher.flush()
    assert batcher.flushes == 2  # nothing waited: no-ops


def test_calls_that_start_on_different_ticks_share_the_models_runs() -> None:
    """Each call's first frame puts its model chunks on the batcher's cycle
    (``ModelBatcher.lead``): eight calls started on eight ticks in a row complete their
    chunks on the same 5 ticks in 8, one run each, where without it every tick has one."""
    from sipgw.agent.conversation.caller_audio import ModelBatcher

    frame = bytes(range(160))  # loud μ-law: every chunk stepped

    def ticks_with_chunks(aligned: bool) -> list[int]:
        batcher = ModelBatcher()
        stages: list[CallerAudio] = []
        ticks = []
        for tick in range(40):
            now = 1000.0 + 0.02 * tick + 0.003  # arrivals a few ms after each tick
            if tick < 8:  # a call starts on each of the first eight ticks
                stage = CallerAudio(NoiseSettings(detector="model"), batcher)
                stage.detector(VadConfig(), lambda: False)
                stages.append(stage)
            fed = [stage.feed(frame, now if aligned else None) for stage in stages]
            if any(fed):
                ticks.append(tick)
            batcher.batch.run()
            for stage in stages:
                model = stage._model  # noqa: SLF001 - the detector the stage feeds
                assert model is not None
                model.push(frame)
        return ticks

    aligned = [t for t in ticks_with_chunks(True) if t >= 8]
    assert len(aligned) == 20  # 5 ticks in 8 of ticks 8-39
    assert {t % 8 for t in aligned} == {t % 8 for t in aligned[:5]}  # the same 5 each cycle
    assert len([t for t in ticks_with_chunks(False) if t >= 8]) == 32  # every tick


def test_the_batchers_lead_counts_ticks_from_its_first_call() -> None:
    from sipgw.agent.conversation.caller_audio import CHUNK_SAMPLES, ModelBatcher
    from sipgw.media.voice.silero import CHUNK

    assert CHUNK_SAMPLES == CHUNK  # the model's chunk, not imported there (numpy)

    batcher = ModelBatcher()
    assert batcher.lead(50.0) == 0
    assert [batcher.lead(50.0 + 0.02 * k + 0.004) for k in range(1, 9)] == [
        160, 64, 224, 128, 32, 192, 96, 0,
    ]  # fmt: skip
    assert batcher.lead(50.0 + 0.02 * 3 - 0.008) == 224  # to the nearest tick


def test_without_a_batcher_the_model_steps_at_the_push() -> None:
    stage = CallerAudio(NoiseSettings(detector="model"))
    stage.detector(VadConfig(), lambda: True)
    assert not stage.feed(b"\xff" * 160)  # no batch: nothing waits
    done: list[int] = []
    stage.after_batch(lambda: done.append(1))
    assert done == [1]


async def test_a_failed_model_run_is_logged_and_the_calls_go_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The model raising in the batch: logged; the waiting frames are heard (as no
    speech) and the next run works again."""
    import asyncio
    import logging

    from sipgw.agent.conversation.caller_audio import ModelBatcher
    from sipgw.media.voice.silero import SileroBatch, SileroModel

    model = SileroModel()
    forward = model._forward  # noqa: SLF001 - the fault goes in under the model's run
    failures = [RuntimeError("the model")]

    def flaky(samples: Any, state: Any) -> Any:
        if failures:
            raise failures.pop()
        return forward(samples, state)

    model._forward = flaky  # noqa: SLF001
    batcher = ModelBatcher()
    batcher._batch = SileroBatch(model)  # noqa: SLF001
    stage = CallerAudio(NoiseSettings(detector="model"), batcher)
    detector = stage.detector(VadConfig(), lambda: True)
    frame = bytes(range(160))  # loud μ-law: a model chunk most frames
    heard: list[float] = []
    with caplog.at_level(logging.ERROR, logger="sipgw.agent"):
        for _ in range(4):
            if stage.feed(frame):
                stage.after_batch(lambda: heard.append(float(detector.push(frame) is not None)))
            else:
                detector.push(frame)
            await asyncio.sleep(0)
    assert "the voice model's batch failed" in [r.message for r in caplog.records]
    assert heard and all(heard)
    assert batcher.batch.runs >= 1  # a later run went through


def test_frames_after_one_that_waits_for_the_batch_wait_too_then_are_heard_in_order() -> None:
    deferred: list[Callable[[], None]] = []

    hurried: list[int] = []

    class Batched:
        def after_batch(self, then: Callable[[], None]) -> None:
            deferred.append(then)

        def hurry(self) -> None:
            hurried.append(1)

    heard: list[tuple[bytes | None, bytes, float]] = []
    in_order = HeardInOrder(cast(CallerAudio, Batched()))

    def hear(*e: Any) -> None:
        heard.append(e)

    in_order.arrive(b"a", b"a", 1.0, True, hear)  # completes a model chunk
    in_order.arrive(None, b"", 2.0, False, hear)  # silence while held: after it all the same
    assert heard == [] and len(deferred) == 1
    assert hurried == [1]  # a frame behind a waiting one: the stage runs the batch if it must
    deferred.pop()()
    assert heard == [(b"a", b"a", 1.0), (None, b"", 2.0)]
    in_order.arrive(b"c", b"c", 3.0, False, hear)
    assert heard[-1] == (b"c", b"c", 3.0)
    in_order.arrive(b"d", b"d", 4.0, True, hear)
    in_order.clear()  # the call is over
    deferred.pop()()
    assert heard[-1] == (b"c", b"c", 3.0)


def test_the_batcher_asks_for_the_loop_once_a_wake_up_and_follows_a_new_loop(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Deferrals after a wake-up's first find the flush waiting on the running loop without
    asking for it; a flush left on a loop that closed before it ran is scheduled again on
    the next loop, with what waited on the old one."""
    import asyncio

    from sipgw.agent.conversation.caller_audio import ModelBatcher

    asked: list[int] = []
    running = asyncio.get_running_loop

    def counted() -> asyncio.AbstractEventLoop:
        asked.append(1)
        return running()

    monkeypatch.setattr(asyncio, "get_running_loop", counted)
    batcher = ModelBatcher()
    done: list[int] = []

    async def wake_up(first: int) -> None:
        for i in range(first, first + 5):
            batcher.defer(lambda i=i: done.append(i))  # type: ignore[misc]
        await asyncio.sleep(0)

    asyncio.run(wake_up(0))
    assert done == list(range(5)) and len(asked) == 1 and batcher.flushes == 1
    # A test's loop closed with a flush scheduled and frames waiting on it:
    closed = asyncio.new_event_loop()
    closed.close()
    batcher._scheduled = closed  # noqa: SLF001
    batcher._then.append(lambda: done.append(-1))  # noqa: SLF001
    asyncio.run(wake_up(5))
    assert done == [*range(5), -1, *range(5, 10)] and len(asked) == 2 and batcher.flushes == 2


@pytest.mark.usefixtures("virtual_clock")  # waits judged on the loop's clock
async def test_a_frame_that_may_wait_is_heard_at_the_tick_or_soon_after() -> None:
    """``defer(soon=False)``: not on this wake-up but at the ticker's flush, or
    TICK_WAIT_S later without one; a deferral that cannot wait takes the waiting along."""
    import asyncio

    from sipgw.agent.conversation.caller_audio import TICK_WAIT_S, ModelBatcher

    batcher = ModelBatcher()
    done: list[int] = []
    batcher.defer(lambda: done.append(1), soon=False)
    for _ in range(3):
        await asyncio.sleep(0)
    assert done == []
    batcher.flush()  # the ticker's hook
    assert done == [1]
    batcher.defer(lambda: done.append(2), soon=False)
    await asyncio.sleep(TICK_WAIT_S * 2)  # no ticker
    assert done == [1, 2] and batcher.flushes == 2
    batcher.defer(lambda: done.append(3), soon=False)
    batcher.defer(lambda: done.append(4))
    await asyncio.sleep(0)
    assert done == [1, 2, 3, 4]
    await asyncio.sleep(TICK_WAIT_S * 2)
    assert batcher.flushes == 3  # the run that took 3 and 4 cancelled 3's own


def test_a_frame_left_waiting_on_a_closed_loop_is_run_on_the_next_one() -> None:
    """A test's loop closed with a frame waiting for a fallback that never fired: the next
    loop's deferral schedules its own, and both frames are heard."""
    import asyncio

    from sipgw.agent.conversation.caller_audio import TICK_WAIT_S, ModelBatcher

    batcher = ModelBatcher()
    done: list[int] = []

    async def defer(n: int, wait: float) -> None:
        batcher.defer(lambda: done.append(n), soon=False)
        await asyncio.sleep(wait)

    asyncio.run(defer(1, 0.0))  # closed before its fallback fired
    assert done == []
    asyncio.run(defer(2, TICK_WAIT_S * 2))
    assert done == [1, 2]


@pytest.mark.usefixtures("virtual_clock")  # waits judged on the loop's clock
async def test_the_callers_speech_ends_on_the_wake_up_its_frame_came() -> None:
    """A sentence's frames one per wake-up through the stage and HeardInOrder, no ticker:
    frames inside the caller's speech wait for a later run, but the start and the end are
    decided on the wake-up their frames came (a frame that may end the speech runs the
    batch at once, with the frames before it); each frame is heard once, in order."""
    import asyncio

    from sipgw.agent.conversation.caller_audio import ModelBatcher
    from sipgw.media.voice.vad import VadEvent
    from tests.toolkit.noisy_audio import mix, speech

    said = [0] * 4000 + list(speech("Sorry, can I stop you there for a second?")) + [0] * 8000
    pcm = b"".join(v.to_bytes(2, "little", signed=True) for v in mix(said, [0] * len(said), 200))
    ulaw = g711.linear_to_ulaw(pcm)
    audio = [ulaw[i : i + 160] for i in range(0, len(ulaw) - 159, 160)]
    stage = CallerAudio(NoiseSettings(echo_guard=False), ModelBatcher())
    detector = stage.detector(VadConfig(start_ms=60, hangover_ms=300), lambda: False)
    in_order = HeardInOrder(stage)
    heard: list[tuple[int, int, VadEvent]] = []  # (frame, the latest come, its event)
    arrived = 0

    def hear(frame: bytes | None, _heard: bytes, now: float) -> None:
        heard.append((int(now), arrived, detector.push(frame)))

    for arrived, frame in enumerate(audio):
        in_order.arrive(frame, frame, float(arrived), stage.feed(frame, float(arrived)), hear)
        await asyncio.sleep(0)
    await asyncio.sleep(0.1)
    assert [i for i, _, _ in heard] == list(range(len(audio)))
    decided = [(i, came, e) for i, came, e in heard if e is not VadEvent.NONE]
    assert [e for _, _, e in decided] == [VadEvent.STARTED, VadEvent.ENDED]
    assert all(i == came for i, came, _ in decided), decided
    waited = [i for i, came, _ in heard if came > i]
    start, end = decided[0][0], decided[1][0]
    assert waited and all(start < i < end for i in waited)
    assert len(waited) > (end - start) // 2  # most of the speech's frames shared a later run
