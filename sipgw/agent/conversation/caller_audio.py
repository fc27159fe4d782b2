"""The caller's audio before the agent hears it: the echo guard, noise suppression, then the
voice detector.

One call's :class:`CallerAudio` takes each 20 ms μ-law frame as it arrives
(after the jitter buffer) and gives back the frame that the turn-taking machine
and speech-to-text both get: RNNoise's (:mod:`sipgw.media.voice.denoise`) when
suppression is on, else the frame unchanged. With the echo guard on
(:mod:`sipgw.media.voice.echo`, fed each frame the agent sent: :meth:`CallerAudio.sent`), a
frame that holds nothing but the agent's own voice returned by the line is replaced by noise
at the line's floor (:attr:`CallerAudio.echo` says so): the detector does not hear it as
speech (no pause, duck or barge-in, nor the room's level learned from it), and neither does
speech-to-text (its words are the agent's, not the caller's turn). :meth:`CallerAudio.detector` is
the voice detector the turn-taking machine runs: Silero's
(:mod:`sipgw.media.voice.model_vad`) or the energy one (:mod:`sipgw.media.voice.vad`), as
:class:`NoiseSettings` say.

Given a :class:`ModelBatcher` (one for the event loop, :func:`shared_batcher`),
the model detector's steps of every call are batched: a call's frame is fed at
arrival (:meth:`CallerAudio.feed`), and when it completes a model chunk the rest
of its handling waits (:meth:`CallerAudio.after_batch`) until the batcher runs,
once per wake-up of the loop (``call_soon``) and before each tick of the media
ticker (:meth:`ModelBatcher.flush` is the ticker's ``heard``): every call whose
chunk came in that wake-up in one model run, and no tick sends the agent's audio
before the frames that came before it were judged. A call's first frame puts its model
chunks on the batcher's cycle (:meth:`ModelBatcher.lead`), so calls that started on
different ticks complete their chunks on the same ticks and share the runs.

The model detector's packages (numpy) and weights are loaded when the gateway starts,
in a worker thread (:func:`with_voice_model`: the agent factories' warm-up), not at
the first call that uses them: loaded there, on the event loop, they stopped the media
ticker, and with it every call's outbound audio, for 0.3 s (0.8 s on a loaded
machine); the ticker then skips what it cannot catch up (:mod:`sipgw.media.pacer`).
"""

from __future__ import annotations

import asyncio
import importlib.util
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any, Final, Literal, Protocol

from sipgw.media.voice.vad import (
    FRAME_MS,
    ModelVadConfig,
    VadConfig,
    VoiceActivityDetector,
    VoiceDetector,
)

if TYPE_CHECKING:  # numpy and onnxruntime: imported when the model detector is used
    from sipgw.media.voice.echo import EchoGuard
    from sipgw.media.voice.model_vad import ModelVoiceDetector
    from sipgw.media.voice.silero import SileroBatch

__all__ = [
    "CallerAudio",
    "DetectorKind",
    "HeardInOrder",
    "INSTALL",
    "LoadsVoiceModel",
    "ModelBatcher",
    "NoiseSettings",
    "WaitsForBatch",
    "load_echo_guard",
    "load_voice_model",
    "shared_batcher",
    "with_voice_model",
]

log = logging.getLogger("sipgw.agent")

DetectorKind = Literal["model", "energy"]
FRAME_SAMPLES: Final = 8 * FRAME_MS  # 8 kHz
TICK_WAIT_S: Final = 0.025
"""The longest a frame whose decision may wait waits for the media ticker's run of the batch
(a tick is 20 ms; without a ticker, the batch runs then)."""
CHUNK_SAMPLES: Final = 256
"""A model chunk (:data:`sipgw.media.voice.silero.CHUNK`, not imported here: numpy)."""
INSTALL: Final = "pip install --no-deps pyrnnoise"
"""How to install what suppression needs (docs/quality.md); the model detector needs
nothing more than sipgw (numpy and its weights come with it)."""


@dataclass(frozen=True, slots=True)
class NoiseSettings:
    """How the caller's audio is cleaned and judged (docs/quality.md, "Noisy callers").

    Attributes:
        suppression: RNNoise on the caller's audio (for the detector and the STT).
        detector: ``model`` (Silero: speech, not noise, music or the room's voices)
            or ``energy`` (level above an adaptive floor).
        model: the model detector's threshold and margin over the room's voices.
        echo_guard: frames that hold only the agent's own voice returned by the line are
            heard as the line's noise (:mod:`sipgw.media.voice.echo`).
    """

    suppression: bool = False
    detector: DetectorKind = "model"
    model: ModelVadConfig = field(default_factory=ModelVadConfig)
    echo_guard: bool = True

    def missing(self) -> str | None:
        """What is not installed for these settings (a sentence), or None."""
        if not self.suppression:
            return None  # the model detector's weights and numpy come with sipgw
        if importlib.util.find_spec("pyrnnoise") is None:
            return f"noise suppression needs the pyrnnoise package ({INSTALL})"
        return None


class ModelBatcher:
    """The model detector's steps of every call on one event loop, run together.

    :meth:`defer` a call's continuation once its frame queued a chunk; the first
    deferral of a wake-up schedules :meth:`flush` (``call_soon``), which runs the
    batch, then every continuation in the order deferred. The media ticker calls
    :meth:`flush` too, before its calls tick: a frame in the middle of a caller's speech
    waits for it (``soon`` False), so that every call's such chunks share one run a tick
    (at ten calls a run of one or two streams costs most of what one of ten does).

    Attributes:
        flushes: runs that found work (for the figures).
    """

    __slots__ = (
        "_batch",
        "_epoch",
        "_fallback",
        "_fallback_loop",
        "_scheduled",
        "_then",
        "flushes",
    )

    def __init__(self) -> None:
        self._batch: SileroBatch | None = None
        self._epoch: float | None = None  # the first call's first frame: tick 0
        self._then: list[Callable[[], None]] = []
        # The loop a flush is scheduled on (a test's loop may close before it runs).
        self._scheduled: asyncio.AbstractEventLoop | None = None
        self.flushes = 0
        self._fallback: asyncio.TimerHandle | None = None  # a flush should no tick come
        self._fallback_loop: asyncio.AbstractEventLoop | None = None  # ... and its loop

    @property
    def batch(self) -> SileroBatch:
        """The chunks waiting (made on first use: it imports the model's packages)."""
        if self._batch is None:
            from sipgw.media.voice.silero import SileroBatch

            self._batch = SileroBatch()
        return self._batch

    def lead(self, now: float) -> int:
        """Samples of silence before a call's first frame, come at ``now``, that put its
        model chunks on the batch's cycle: a chunk is 256 samples and a frame 160, so a
        stream completes chunks at 5 frames in 8, and streams that started on different
        ticks at different ones (a run every tick, each of a few streams: a run's cost is
        mostly its own, not its streams'). Every call so delayed completes its chunks on
        the same 5 ticks in 8 (ticks counted from the first call's first frame, to the
        nearest 20 ms), which share the runs."""
        epoch = self._epoch
        if epoch is None:
            epoch = self._epoch = now
        ticks = round((now - epoch) * 1000 / FRAME_MS)
        return ticks * FRAME_SAMPLES % CHUNK_SAMPLES

    def defer(self, then: Callable[[], None], soon: bool = True) -> None:
        """Call ``then`` once the batch has run (on the running loop): ``soon``, on this
        wake-up; else at the media ticker's next tick, or :data:`TICK_WAIT_S` from now at
        the latest (no ticker: a test's loop)."""
        self._then.append(then)
        if soon:
            self.hurry()
        elif (
            self._fallback is None or self._fallback_loop is None or self._fallback_loop.is_closed()
        ):
            # (A test's loop may close before its fallback fires: one on the new loop.)
            loop = self._fallback_loop = asyncio.get_running_loop()
            self._fallback = loop.call_later(TICK_WAIT_S, self.flush)

    def hurry(self) -> None:
        """Run what waits on this wake-up (a no-op when nothing waits)."""
        if not self._then:
            return
        scheduled = self._scheduled
        if scheduled is not None and scheduled.is_running():
            return  # the flush waits on the running loop (the calls' one loop)
        # Asked only for a wake-up's first deferral: Python 3.11 asks the kernel for the
        # process id on every get_running_loop().
        loop = asyncio.get_running_loop()
        if scheduled is not loop:
            self._scheduled = loop
            loop.call_soon(self.flush)

    def flush(self) -> None:
        """Run what waits, then the continuations (a no-op when nothing waits)."""
        self._scheduled = None
        fallback = self._fallback
        if fallback is not None:
            self._fallback = None
            fallback.cancel()
        if not self._then:
            return
        self.flushes += 1
        batch = self._batch
        if batch is not None and batch.pending:
            try:
                batch.run()
            except Exception:  # its frames are heard as no speech (model_vad.py)
                log.exception("the voice model's batch failed")
        then, self._then = self._then, []
        for continuation in then:
            try:
                continuation()
            except Exception:  # one call's failure must not stall the others
                log.exception("handling a caller frame after the voice model failed")


_batcher: ModelBatcher | None = None


def shared_batcher() -> ModelBatcher:
    """The process's batcher (one event loop runs the calls)."""
    global _batcher
    if _batcher is None:
        _batcher = ModelBatcher()
    return _batcher


def load_voice_model() -> None:
    """Import the model detector and load the process's model (:func:`shared_model
    <sipgw.media.voice.silero.shared_model>`), if not done yet."""
    from sipgw.media.voice import model_vad  # noqa: F401 - numpy, the detector's module
    from sipgw.media.voice.silero import shared_model

    shared_model()
    load_echo_guard()


def load_echo_guard() -> None:
    """Import the echo guard (and numpy with it), if not done yet."""
    from sipgw.media.voice import echo  # noqa: F401 - numpy


WarmUp = Callable[[], Awaitable[object]]
"""A factory's work when the gateway starts (:data:`sipgw.agent.factory.WarmUp`)."""


@dataclass(frozen=True, slots=True)
class LoadsVoiceModel:
    """A factory's warm-up that loads the voice model (:func:`load_voice_model`, or what
    ``load`` says, in a worker thread: no call's media waits for it) while it does ``then``,
    if any; returns what ``then`` returns."""

    then: WarmUp | None = None
    load: Callable[[], None] | None = None
    """What it loads (None: :func:`load_voice_model`)."""

    async def __call__(self) -> object:
        loading = asyncio.to_thread(self.load or load_voice_model)
        if self.then is None:
            await loading
            return None
        # Any: gather's result is a list where typeshed says a tuple, and the compiled
        # module checks the type it is told
        gathering: Any = asyncio.gather(loading, self.then())
        done: Any = await gathering
        return done[1]


def with_voice_model(warm_up: WarmUp | None, settings: NoiseSettings) -> WarmUp | None:
    """``warm_up`` that also loads the voice model when ``settings`` choose the model
    detector, or the echo guard's numpy when they turn it on; ``warm_up`` as it is
    otherwise."""
    if settings.detector == "model":
        return LoadsVoiceModel(warm_up)
    return LoadsVoiceModel(warm_up, load_echo_guard) if settings.echo_guard else warm_up


class CallerAudio:
    """One call's caller-side audio stage (sans-IO: one :meth:`process` per frame).

    Args:
        settings: suppression, detector and echo guard.
        batcher: batch the model detector's steps with other calls' (None: each frame
            steps the model on its own).
        linear_reference: the agent's frames (:meth:`sent`) are 16-bit samples (an
            HD-voice call's), not μ-law.

    Attributes:
        echo: the last frame :meth:`process` took held only the agent's echo (it gave
            back the line's noise instead).
        retracted: with the last frame the guard found the line's echo, and what the
            caller's side sounded before it in the agent's speech was all echo
            (:meth:`~sipgw.media.voice.echo.EchoGuard.take_retraction`).
    """

    __slots__ = (
        "_aligned", "_batcher", "_guard", "_model", "_suppressor", "echo", "retracted", "settings",
    )  # fmt: skip

    def __init__(
        self,
        settings: NoiseSettings,
        batcher: ModelBatcher | None = None,
        linear_reference: bool = False,
    ) -> None:
        self.settings = settings
        self._batcher = batcher
        self._aligned = False  # the model's chunks put on the batcher's cycle
        self._model: ModelVoiceDetector | None = None
        self.echo = self.retracted = False
        self._guard: EchoGuard | None = None
        if settings.echo_guard:
            from sipgw.media.voice.echo import EchoGuard  # numpy

            self._guard = EchoGuard(linear_reference)
        self._suppressor = None
        if settings.suppression:
            from sipgw.media.voice.denoise import NoiseSuppressor

            self._suppressor = NoiseSuppressor()

    def detector(
        self,
        vad: VadConfig,
        agent_audible: Callable[[], bool],
        agent_pending: Callable[[], bool] | None = None,
    ) -> VoiceDetector:
        """The voice detector for this call, with the energy settings ``vad``;
        ``agent_audible`` says whether the agent's audio plays (the model detector
        learns the room's voices then), ``agent_pending`` whether it has audio queued,
        playing or paused (when not, the model detector learns the caller's level)."""
        if self.settings.detector == "model":
            from sipgw.media.voice.model_vad import ModelVoiceDetector  # numpy, onnxruntime

            batcher = self._batcher
            self._model = ModelVoiceDetector(
                vad, self.settings.model, agent_audible=agent_audible,
                agent_pending=agent_pending, batch=batcher.batch if batcher else None,
            )  # fmt: skip
            return self._model
        return VoiceActivityDetector(vad)

    def feed(self, frame: bytes, now: float | None = None) -> bool:
        """At arrival (``now``: the first frame's time puts the model's chunks on the
        batcher's cycle, :meth:`ModelBatcher.lead`; None: not), before the detector's push:
        whether the frame must wait for the batch (:meth:`after_batch`); always False
        unless the model detector batches."""
        model = self._model
        batcher = self._batcher
        if model is None or batcher is None:
            return False
        if not self._aligned:
            self._aligned = True
            if now is not None:
                model.align(batcher.lead(now))
        return model.feed(frame)

    def after_batch(self, then: Callable[[], None]) -> None:
        """Call ``then`` once the batch holding the frames fed so far has run: on this
        wake-up, or at the next tick when the latest frame's decision may wait
        (``ModelVoiceDetector.may_wait`` in media/voice/model_vad.py)."""
        batcher = self._batcher
        if batcher is None:
            then()
        else:
            model = self._model
            batcher.defer(then, soon=model is None or model.urgent)

    def hurry(self) -> None:
        """A frame came behind frames waiting for the batch: if its decision cannot wait,
        the batch runs on this wake-up."""
        model = self._model
        if self._batcher is not None and (model is None or model.urgent):
            self._batcher.hurry()

    @classmethod
    def of(cls, settings: NoiseSettings, linear_reference: bool = False) -> CallerAudio:
        """A call's stage, the model detector's steps on the process's batcher."""
        batcher = shared_batcher() if settings.detector == "model" else None
        return cls(settings, batcher, linear_reference)

    @property
    def guard(self) -> EchoGuard | None:
        """The echo guard (None: off)."""
        return self._guard

    def sent(self, frame: bytes | None) -> None:
        """The agent's frame sent to the caller this tick (None: silence): the echo guard's
        reference."""
        guard = self._guard
        if guard is not None:
            guard.sent(frame)

    def process(self, frame: bytes) -> bytes:
        """The caller's frame as the agent hears it: the line's noise for an echo-only
        frame (:attr:`echo`), then through suppression when it is on."""
        guard = self._guard
        if guard is not None:
            self.echo = guard.heard(frame)
            self.retracted = guard.take_retraction()
            if self.echo:
                frame = guard.comfort_noise()
        suppressor = self._suppressor
        return frame if suppressor is None else suppressor.process(frame)

    def close(self) -> None:
        """Free the suppressor's state."""
        if self._suppressor is not None:
            self._suppressor.close()


class WaitsForBatch(Protocol):
    """What :class:`HeardInOrder` asks of its call's audio stage (a :class:`CallerAudio`)."""

    def after_batch(self, then: Callable[[], None]) -> None:
        """Call ``then`` once the batch holding the frames fed so far has run."""

    def hurry(self) -> None:
        """The latest frame came behind waiting ones: run the batch soon if it must."""


Heard = Callable[[bytes | None, bytes, float], None]
"""An agent's hearing of one caller frame: (its frame, or None for silence; the frame as
the detectors take it; when it arrived)."""


class HeardInOrder:
    """A call's caller frames heard in arrival order across the model detector's batch:
    a frame that must wait for the batch (:meth:`CallerAudio.feed` said so), and every
    frame after it until the batch has run, wait; then they are heard in turn. ``hear`` is
    the agent's, given with each frame: kept only while the batch runs, so the agent and
    this make no reference cycle."""

    __slots__ = ("_audio", "_waiting")

    def __init__(self, audio: WaitsForBatch) -> None:
        self._audio = audio
        self._waiting: deque[tuple[bytes | None, bytes, float]] = deque()

    def arrive(
        self, frame: bytes | None, heard: bytes, now: float, waits: bool, hear: Heard
    ) -> None:
        """A frame at arrival; ``waits``: it completes a model chunk (``feed``'s answer)."""
        waiting = self._waiting
        if waiting:
            waiting.append((frame, heard, now))
            self._audio.hurry()
        elif waits:
            waiting.append((frame, heard, now))
            self._audio.after_batch(partial(self._drain, hear))
        else:
            hear(frame, heard, now)

    def clear(self) -> None:
        """Frames still waiting are dropped (the call is over: no one listens)."""
        self._waiting.clear()

    def _drain(self, hear: Heard) -> None:
        waiting = self._waiting
        while waiting:
            hear(*waiting.popleft())
