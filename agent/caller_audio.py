"""The caller's audio before the agent hears it: noise suppression, then the voice detector.

One call's :class:`CallerAudio` takes each 20 ms μ-law frame as it arrives
(after the jitter buffer) and gives back the frame that the turn-taking machine
and speech-to-text both get: RNNoise's (:mod:`sipgw.media.denoise`) when
suppression is on, else the frame unchanged. :meth:`CallerAudio.detector` is
the voice detector the turn-taking machine runs: Silero's
(:mod:`sipgw.media.model_vad`) or the energy one (:mod:`sipgw.media.vad`), as
:class:`NoiseSettings` say.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from sipgw.media.vad import ModelVadConfig, VadConfig, VoiceActivityDetector, VoiceDetector

__all__ = ["INSTALL", "CallerAudio", "DetectorKind", "NoiseSettings"]

DetectorKind = Literal["model", "energy"]
INSTALL = "pip install 'sipgw[noise]'; pip install --no-deps silero-vad pyrnnoise"
"""How to install what the model detector and suppression need (docs/quality.md)."""


@dataclass(frozen=True, slots=True)
class NoiseSettings:
    """How the caller's audio is cleaned and judged (docs/quality.md, "Noisy callers").

    Attributes:
        suppression: RNNoise on the caller's audio (for the detector and the STT).
        detector: ``model`` (Silero: speech, not noise, music or the room's voices)
            or ``energy`` (level above an adaptive floor).
        model: the model detector's threshold and margin over the room's voices.
    """

    suppression: bool = False
    detector: DetectorKind = "energy"
    model: ModelVadConfig = field(default_factory=ModelVadConfig)

    def missing(self) -> str | None:
        """What is not installed for these settings (a sentence), or None."""
        needed = []
        if self.detector == "model":
            needed += [("numpy", "numpy"), ("onnxruntime", "onnxruntime"),
                       ("silero_vad", "silero-vad")]  # fmt: skip
        if self.suppression:
            needed += [("numpy", "numpy"), ("pyrnnoise", "pyrnnoise")]
        for module, package in needed:
            if importlib.util.find_spec(module) is None:
                what = "the model detector" if self.detector == "model" else "noise suppression"
                if module == "pyrnnoise":
                    what = "noise suppression"
                return f"{what} needs the {package} package ({INSTALL})"
        return None


class CallerAudio:
    """One call's caller-side audio stage (sans-IO: one :meth:`process` per frame)."""

    __slots__ = ("_suppressor", "settings")

    def __init__(self, settings: NoiseSettings) -> None:
        self.settings = settings
        self._suppressor = None
        if settings.suppression:
            from sipgw.media.denoise import NoiseSuppressor

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
            from sipgw.media.model_vad import ModelVoiceDetector  # numpy, onnxruntime

            return ModelVoiceDetector(
                vad, self.settings.model, agent_audible=agent_audible, agent_pending=agent_pending
            )
        return VoiceActivityDetector(vad)

    def process(self, frame: bytes) -> bytes:
        """The caller's frame as the agent hears it."""
        suppressor = self._suppressor
        return frame if suppressor is None else suppressor.process(frame)

    def close(self) -> None:
        """Free the suppressor's state."""
        if self._suppressor is not None:
            self._suppressor.close()
