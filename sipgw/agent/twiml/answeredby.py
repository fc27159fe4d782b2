"""Twilio's answering-machine detection (``MachineDetection``) from sipgw's detector.

A call created through the REST subset with ``MachineDetection`` (``Enable`` or
``DetectMessageEnd``) carries Twilio's parameters in its details
(:attr:`~sipgw.agent.base.CallDetails.machine_detection`); :func:`machine_detection` reads
them, and :class:`AnsweredByDetector` runs :class:`~sipgw.agent.amd.AnsweringMachineDetector`
on the callee's audio and says Twilio's ``AnsweredBy`` once:

- ``Enable``: the first decision. A person: ``human``, once :data:`HUMAN_HOLD` has passed
  without a revision (about half the voicemail greetings start like a person, "Hi, it's
  Nina!", and are revised when they go on: ``AnsweredBy`` is said once, so a person's is
  held for Twilio's ``MachineDetectionSpeechEndThreshold``); a voicemail, an announcement or
  a call screener: ``machine_start``; silence until the detector's deadline: ``unknown``.
- ``DetectMessageEnd``: a person and silence as with ``Enable``; a machine once its greeting
  is over and it records (:class:`~sipgw.agent.amd.ReadyForMessage`): ``machine_end_beep``
  (a beep), ``machine_end_silence`` (silence after the greeting), ``machine_end_other``
  (anything else, an announcement included, at the detector's end or the time limit).
- ``MachineDetectionTimeout`` (3 to 59 s, default 30): nothing decided by then is
  ``unknown`` (a machine whose message end was not heard: ``machine_end_other``).
- The tuning parameters, each onto the detector's setting that does the same
  (:meth:`MachineDetection.amd_config`): ``MachineDetectionSpeechThreshold`` (1000 to 6000
  ms) is the longest greeting a person's is (``AmdConfig.max_human_greeting``, 1.8 s when not
  given); ``MachineDetectionSpeechEndThreshold`` (500 to 5000 ms, default 1200) is how long
  a person's decision must stand before ``human`` is said (:data:`HUMAN_HOLD`);
  ``MachineDetectionSilenceTimeout`` (2000 to 10000 ms) is the detector's deadline, silence
  until then being ``unknown`` (``AmdConfig.deadline``, 4 s when not given).
- ``fax``: a fax machine's answer tone (CED, 2100 Hz: :mod:`sipgw.media.tones.faxtone`) heard
  within :data:`FAX_WINDOW` of the answer, before any other decision was said.

Sans-IO: the agent feeds frames and times (:mod:`sipgw.agent.twiml.agent`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final
from urllib.parse import urlsplit

from sipgw.agent.amd import (
    AmdConfig,
    AmdEvent,
    AnswerClassified,
    AnsweringMachineDetector,
    AnswerKind,
    ReadyForMessage,
)
from sipgw.media.tones.faxtone import FaxToneDetector

__all__ = [
    "ANSWERED_BY",
    "FAX_WINDOW",
    "HUMAN_HOLD",
    "MODES",
    "PARAMETERS",
    "AnsweredByDetector",
    "MachineDetection",
    "machine_detection",
]

MODES: Final = ("Enable", "DetectMessageEnd")
"""``MachineDetection``'s values."""
PARAMETERS: Final = frozenset({
    "MachineDetection", "MachineDetectionTimeout", "MachineDetectionSpeechThreshold",
    "MachineDetectionSpeechEndThreshold", "MachineDetectionSilenceTimeout", "AsyncAmd",
    "AsyncAmdStatusCallback", "AsyncAmdStatusCallbackMethod",
})  # fmt: skip
"""Twilio's parameters of ``Calls.create`` read here."""
ANSWERED_BY: Final = (
    "human", "machine_start", "machine_end_beep", "machine_end_silence", "machine_end_other",
    "fax", "unknown",
)  # fmt: skip
"""Twilio's ``AnsweredBy`` values."""
HUMAN_HOLD: Final = 1.2
"""Seconds a person's decision must stand before it is said (Twilio's default
``MachineDetectionSpeechEndThreshold``, 1200 ms)."""
FAX_WINDOW: Final = 10.0
"""Seconds after the answer a fax's answer tone is looked for (T.30's called terminal sends
CED within a few seconds of answering)."""
_TUNING: Final = {
    "MachineDetectionSpeechThreshold": (1000, 6000),
    "MachineDetectionSpeechEndThreshold": (500, 5000),
    "MachineDetectionSilenceTimeout": (2000, 10000),
}
"""Twilio's tuning parameters and their ranges (ms)."""
_END: Final = {"beep": "machine_end_beep", "silence": "machine_end_silence"}


@dataclass(frozen=True, slots=True)
class MachineDetection:
    """What a call asks: the mode, the time limit and, when asynchronous, where to post."""

    mode: str
    timeout: float = 30.0
    callback: str = ""
    """``AsyncAmdStatusCallback``: "" = synchronous (``AnsweredBy`` in the first webhook)."""
    asynchronous: bool = False
    callback_method: str = "POST"
    """``AsyncAmdStatusCallbackMethod``: ``POST`` or ``GET``."""
    speech_threshold: float | None = None
    """``MachineDetectionSpeechThreshold`` in seconds (None: the detector's own)."""
    speech_end_threshold: float = HUMAN_HOLD
    """``MachineDetectionSpeechEndThreshold`` in seconds."""
    silence_timeout: float | None = None
    """``MachineDetectionSilenceTimeout`` in seconds (None: the detector's own deadline)."""

    def amd_config(self, base: AmdConfig | None = None) -> AmdConfig:
        """The detector's settings with the tuning parameters given (``base``: the
        defaults)."""
        config = base or AmdConfig()
        if self.speech_threshold is not None:
            config = dataclasses.replace(config, max_human_greeting=self.speech_threshold)
        if self.silence_timeout is not None:
            settle = max(config.settle, self.silence_timeout)
            config = dataclasses.replace(config, deadline=self.silence_timeout, settle=settle)
        return config


def machine_detection(params: Mapping[str, str]) -> MachineDetection | None:
    """Twilio's parameters (:data:`PARAMETERS`) of a created call; None without
    ``MachineDetection``.

    Raises:
        ValueError: a value Twilio would refuse, naming the parameter.
    """
    mode = params.get("MachineDetection")
    if mode is None:
        extra = sorted(set(params) & (PARAMETERS - {"MachineDetection"}))
        if extra:
            raise ValueError(f"{extra[0]} needs MachineDetection")
        return None
    if mode not in MODES:
        raise ValueError(f"MachineDetection {mode!r}: must be Enable or DetectMessageEnd")
    raw = params.get("MachineDetectionTimeout", "30")
    if not raw.isdigit() or not 3 <= int(raw) <= 59:
        raise ValueError(f"MachineDetectionTimeout {raw!r}: must be 3 to 59 seconds")
    asynchronous = params.get("AsyncAmd", "false").lower()
    if asynchronous not in ("true", "false"):
        raise ValueError(f"AsyncAmd {params['AsyncAmd']!r}: must be true or false")
    method = params.get("AsyncAmdStatusCallbackMethod", "POST").upper() or "POST"
    if method not in ("GET", "POST"):
        raise ValueError(f"AsyncAmdStatusCallbackMethod {method[:20]!r}: must be GET or POST")
    tuning: dict[str, float] = {}
    for name, (low, high) in _TUNING.items():
        value = params.get(name)
        if value is None:
            continue
        if not value.isdigit() or not low <= int(value) <= high:
            raise ValueError(f"{name} {value[:20]!r}: must be {low} to {high} milliseconds")
        tuning[name] = int(value) / 1000
    callback = params.get("AsyncAmdStatusCallback", "")
    if callback:
        parts = urlsplit(callback)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"AsyncAmdStatusCallback {callback!r} is not an http(s) URL")
    return MachineDetection(
        mode, float(raw), callback, asynchronous == "true", method,
        speech_threshold=tuning.get("MachineDetectionSpeechThreshold"),
        speech_end_threshold=tuning.get("MachineDetectionSpeechEndThreshold", HUMAN_HOLD),
        silence_timeout=tuning.get("MachineDetectionSilenceTimeout"),
    )  # fmt: skip


class AnsweredByDetector:
    """The detector of one answered call, saying Twilio's ``AnsweredBy`` once.

    Args:
        request: the call's :class:`MachineDetection`.
        started_at: when the call was answered (the clock of every ``now`` given).
        detector: the detector (default: one started at ``started_at`` with the request's
            tuning, :meth:`MachineDetection.amd_config`).
    """

    def __init__(
        self,
        request: MachineDetection,
        started_at: float,
        detector: AnsweringMachineDetector | None = None,
    ) -> None:
        self.request = request
        self.started_at = started_at
        self.detector = detector or AnsweringMachineDetector(started_at, request.amd_config())
        self.fax = FaxToneDetector()
        self.answered_by: str | None = None
        """The ``AnsweredBy`` said (None until then)."""
        self.elapsed_ms = 0
        """``MachineDetectionDuration``: milliseconds from the answer to the result."""
        self._machine = False
        self._human_at: float | None = None

    def receive_audio(self, frame: bytes | None, now: float) -> str | None:
        """The callee's 20 ms of μ-law ending at ``now``: the ``AnsweredBy`` if it is now."""
        if self.answered_by is not None:
            return None
        if now - self.started_at <= FAX_WINDOW and self.fax.receive_frame(frame, now):
            return self._say("fax", now)
        return self._events(self.detector.receive_audio(frame, now), now)

    def handle_timer(self, now: float) -> str | None:
        """Time passed without audio (call every 100 ms or so): the ``AnsweredBy`` if now."""
        if self.answered_by is not None:
            return None
        return self._events(self.detector.handle_timer(now), now)

    def _events(self, events: tuple[AmdEvent, ...], now: float) -> str | None:
        for event in events:
            if isinstance(event, AnswerClassified):
                self._machine = event.kind.is_machine
                self._human_at = event.at if event.kind is AnswerKind.HUMAN else None
                if event.kind is AnswerKind.HUMAN:
                    continue  # said once it has stood for HUMAN_HOLD
                if not self._machine:
                    answer = "unknown"
                elif self.request.mode == "Enable":
                    answer = "machine_start"
                else:
                    continue  # DetectMessageEnd: wait for the end of the greeting
                return self._say(answer, now)
            if isinstance(event, ReadyForMessage) and self.request.mode == "DetectMessageEnd":
                return self._say(_END.get(event.cause, "machine_end_other"), now)
        if self._human_at is not None and (
            now - self._human_at >= self.request.speech_end_threshold or self.detector.done
        ):
            return self._say("human", now)
        if self.detector.done and self._machine:
            return self._say("machine_end_other", now)
        if now - self.started_at >= self.request.timeout:
            late = "human" if self._human_at is not None else "unknown"
            return self._say("machine_end_other" if self._machine else late, now)
        return None

    def _say(self, answer: str, now: float) -> str:
        self.answered_by = answer
        self.elapsed_ms = max(0, round((now - self.started_at) * 1000))
        return answer
