"""The caller's audio stage (agent/caller_audio.py) and its settings."""

from __future__ import annotations

import importlib.util

import pytest

from sipgw.agent.assistant_sections import AssistantSection
from sipgw.agent.assistant_settings import noise_settings
from sipgw.agent.caller_audio import CallerAudio, NoiseSettings
from sipgw.agent.sections import ConfigError
from sipgw.media.model_vad import ModelVoiceDetector
from sipgw.media.vad import VadConfig, VoiceActivityDetector


def test_the_energy_detector_and_no_suppression_by_default() -> None:
    stage = CallerAudio(NoiseSettings())
    assert isinstance(stage.detector(VadConfig(), lambda: True), VoiceActivityDetector)
    frame = bytes(range(160))
    assert stage.process(frame) is frame


def test_the_model_detector_and_suppression_when_asked() -> None:
    stage = CallerAudio(NoiseSettings(suppression=True, detector="model"))
    assert isinstance(stage.detector(VadConfig(), lambda: True), ModelVoiceDetector)
    frame = b"\x7f" * 160
    assert len(stage.process(frame)) == 160
    stage.close()


def test_the_settings_reach_the_stage() -> None:
    section = AssistantSection(voice_detector="model", noise_suppression=True,
                               vad_model_threshold=0.6, vad_room_margin_db=4.0,
                               vad_caller_margin_db=None)  # fmt: skip
    noise = noise_settings(section)
    assert noise.detector == "model" and noise.suppression
    assert (noise.model.threshold, noise.model.room_margin_db) == (0.6, 4.0)
    assert noise.model.caller_margin_db is None
    assert noise_settings(AssistantSection()) == NoiseSettings()


@pytest.mark.parametrize(
    ("asked", "gone", "named"),
    [
        ({"voice_detector": "model"}, "silero_vad", "SIPGW_VOICE_DETECTOR.*silero-vad"),
        ({"voice_detector": "model"}, "onnxruntime", "SIPGW_VOICE_DETECTOR.*onnxruntime"),
        ({"noise_suppression": True}, "pyrnnoise", "SIPGW_NOISE_SUPPRESSION.*pyrnnoise"),
    ],
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
