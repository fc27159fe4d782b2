"""What the parts of one speech-to-speech call share: the call's scope and its session now.

The parts of :class:`sipgw.agent.s2s.agent.SpeechToSpeechAgent` get a
:class:`SessionScope` instead of the agent: the call's record, observer, clock
and tasks (:class:`sipgw.agent.callscope.CallScope`), plus the session they talk to.
The session is read from here each time, because it changes: when a session
fails for good, :mod:`sipgw.agent.s2s.recovery` opens a new one and puts it here.
"""

from __future__ import annotations

import asyncio

from sipgw.agent.callscope import CallScope
from sipgw.agent.record import CallRecord
from sipgw.agent.services.s2s.base import SpeechToSpeech

__all__ = ["SessionScope"]


class SessionScope(CallScope):
    """One speech-to-speech call's scope.

    Attributes:
        session: the session the call talks to now.
    """

    __slots__ = ("session",)

    def __init__(
        self,
        call_id: str,
        record: CallRecord,
        loop: asyncio.AbstractEventLoop,
        session: SpeechToSpeech,
    ) -> None:
        super().__init__(call_id, record, loop)
        self.session = session
