"""Answering-machine detection on a ``<Dial>``'s leg (``<Number machineDetection>``,
``<Sip>``'s), as Twilio's ``<Sip>`` and ``<Number>`` pages give it.

Once the leg answers, :class:`LegDetection` runs the detector of calls created through the
REST subset (:class:`~sipgw.agent.twiml.answeredby.AnsweredByDetector`: the same modes,
``machineDetectionTimeout`` and tuning) on the called party's audio, the caller hearing ring
tone meanwhile; its ``AnsweredBy`` ("as soon as the called party is identified", or
``unknown`` at the time limit) then goes with the leg's screening ``url`` request (with
``MachineDetectionDuration``) and to ``amdStatusCallback`` (:func:`amd_form`), and the leg
goes on: screened, or bridged. Sans-IO but for the future the relay awaits.
"""

from __future__ import annotations

import asyncio

from sipgw.agent.twiml.answeredby import AnsweredByDetector, machine_detection
from sipgw.twilio.document import DialTarget

__all__ = ["LegDetection", "amd_form"]


class LegDetection:
    """Who answered one leg (see the module docstring).

    Args:
        target: the ``<Number>`` or ``<Sip>`` (its :attr:`~DialTarget.amd`, not empty).
        started_at: when the leg answered (the loop's clock, as every ``now`` given).

    Raises:
        ValueError: a value Twilio would refuse, naming the attribute's parameter.
    """

    def __init__(self, target: DialTarget, started_at: float) -> None:
        params = dict(target.amd)
        if params.get("MachineDetectionTimeout") == "60":  # the <Number> page's highest
            params["MachineDetectionTimeout"] = "59"  # the Calls parameter's
        request = machine_detection(params)
        assert request is not None  # target.amd names MachineDetection (the parser's rule)
        self.detector = AnsweredByDetector(request, started_at)
        self.deadline = started_at + request.timeout + 1.0
        self.decided: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    def frame(self, frame: bytes | None, now: float) -> None:
        """The called party's 20 ms ending at ``now`` (None: nothing came)."""
        if self.decided.done():
            return
        answer = self.detector.receive_audio(frame, now)
        if answer is None and now >= self.deadline:
            answer = self.detector.answered_by or "unknown"
        if answer is not None:
            self.decided.set_result(answer)

    @property
    def elapsed_ms(self) -> int:
        """``MachineDetectionDuration``."""
        return self.detector.elapsed_ms


def amd_form(account_sid: str, leg_sid: str, answered_by: str, elapsed_ms: int) -> dict[str, str]:
    """What ``amdStatusCallback`` gets (the fields of Twilio's asynchronous AMD callback)."""
    return {
        "AccountSid": account_sid,
        "CallSid": leg_sid,
        "AnsweredBy": answered_by,
        "MachineDetectionDuration": str(elapsed_ms),
    }
