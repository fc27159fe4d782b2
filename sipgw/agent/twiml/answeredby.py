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

``fax`` is never said: the detector does not tell fax tones apart. Sans-IO: the agent feeds
frames and times (:mod:`sipgw.agent.twiml.agent`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final
from urllib.parse import urlsplit

from sipgw.agent.amd import (
    AmdEvent,
    AnswerClassified,
    AnsweringMachineDetector,
    AnswerKind,
    ReadyForMessage,
)

__all__ = [
    "ANSWERED_BY",
    "MODES",
    "PARAMETERS",
    "AnsweredByDetector",
    "MachineDetection",
    "machine_detection",
]

MODES: Final = ("Enable", "DetectMessageEnd")
"""``MachineDetection``'s values."""
PARAMETERS: Final = frozenset({
    "MachineDetection", "MachineDetectionTimeout", "AsyncAmd", "AsyncAmdStatusCallback",
    "AsyncAmdStatusCallbackMethod",
})  # fmt: skip
"""Twilio's parameters of ``Calls.create`` read here."""
ANSWERED_BY: Final = (
    "human", "machine_start", "machine_end_beep", "machine_end_silence", "machine_end_other",
    "fax", "unknown",
)  # fmt: skip
"""Twilio's ``AnsweredBy`` values (``fax`` is never said here)."""
HUMAN_HOLD: Final = 1.2
"""Seconds a person's decision must stand before it is said (Twilio's default
``MachineDetectionSpeechEndThreshold``, 1200 ms)."""
_END: Final = {"beep": "machine_end_beep", "silence": "machine_end_silence"}


@dataclass(frozen=True, slots=True)
class MachineDetection:
    """What a call asks: the mode, the time limit and, when asynchronous, where to post."""

    mode: str
    timeout: float = 30.0
    callback: str = ""
    """``AsyncAmdStatusCallback``: "" = synchronous (``AnsweredBy`` in the first webhook)."""
    asynchronous: bool = False


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
    if params.get("AsyncAmdStatusCallbackMethod", "POST").upper() != "POST":
        raise ValueError("AsyncAmdStatusCallbackMethod: only POST is supported here")
    callback = params.get("AsyncAmdStatusCallback", "")
    if callback:
        parts = urlsplit(callback)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"AsyncAmdStatusCallback {callback!r} is not an http(s) URL")
    return MachineDetection(mode, float(raw), callback, asynchronous == "true")


class AnsweredByDetector:
    """The detector of one answered call, saying Twilio's ``AnsweredBy`` once.

    Args:
        request: the call's :class:`MachineDetection`.
        started_at: when the call was answered (the clock of every ``now`` given).
        detector: the detector (default: one started at ``started_at``).
    """

    def __init__(
        self,
        request: MachineDetection,
        started_at: float,
        detector: AnsweringMachineDetector | None = None,
    ) -> None:
        self.request = request
        self.started_at = started_at
        self.detector = detector or AnsweringMachineDetector(started_at)
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
            now - self._human_at >= HUMAN_HOLD or self.detector.done
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
