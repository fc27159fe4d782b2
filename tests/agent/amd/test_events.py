"""What the answer classifier reports (sipgw/agent/amd/events.py)."""

from __future__ import annotations

import dataclasses

import pytest

from sipgw.agent.amd import classifier
from sipgw.agent.amd.events import AnswerClassified, AnswerKind, Evidence


def test_machines_are_the_voicemail_the_announcement_and_the_screener() -> None:
    machines = {kind for kind in AnswerKind if kind.is_machine}
    assert machines == {AnswerKind.VOICEMAIL, AnswerKind.ANNOUNCEMENT, AnswerKind.SCREENER}


def test_evidence_is_ordered_weakest_first() -> None:
    assert sorted(Evidence, reverse=True)[0] is Evidence.TONE
    assert Evidence.DEADLINE < Evidence.CADENCE < Evidence.LENGTH < Evidence.WORDS


def test_a_decision_is_frozen_and_still_importable_from_the_classifier() -> None:
    decision = AnswerClassified(AnswerKind.HUMAN, 1.0, 1.0, "short greeting", Evidence.CADENCE, 0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        decision.revision = 1  # type: ignore[misc]
    assert classifier.AnswerClassified is AnswerClassified
