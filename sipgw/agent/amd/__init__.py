"""Answering-machine and call-screening detection for outbound calls (``docs/amd.md``).

:class:`AnsweringMachineDetector` is the entry point; :mod:`sipgw.agent.amd.classifier`
holds the rules, :mod:`sipgw.agent.amd.events` what they report,
:mod:`sipgw.agent.amd.cadence` the speech's stretches and greetings they measure (on the
callee's own timeline, :mod:`sipgw.agent.amd.heard_clock`),
:mod:`sipgw.agent.amd.transcripts` the recognizer's words they keep and
:mod:`sipgw.agent.amd.phrases` the words they look for.
"""

from sipgw.agent.amd.classifier import AnswerClassifier
from sipgw.agent.amd.detector import AnsweringMachineDetector
from sipgw.agent.amd.events import (
    AmdEvent,
    AnswerClassified,
    AnswerKind,
    Evidence,
    ReadyForMessage,
)
from sipgw.agent.amd.settings import (
    AMD_VAD,
    AmdCall,
    AmdConfig,
    AmdMode,
    AmdRequest,
    AnsweringSettings,
    parse_mode,
)

__all__ = [
    "AMD_VAD",
    "AmdCall",
    "AmdConfig",
    "AmdEvent",
    "AmdMode",
    "AmdRequest",
    "AnswerClassified",
    "AnswerClassifier",
    "AnswerKind",
    "AnsweringSettings",
    "AnsweringMachineDetector",
    "Evidence",
    "ReadyForMessage",
    "parse_mode",
]
