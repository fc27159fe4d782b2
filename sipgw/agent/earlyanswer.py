"""Answering later: an agent that runs while its call still rings (TwiML's
``<Dial answerOnBridge>``).

By default the gateway answers an incoming call (200 OK) once its agent is prepared, and the
agent starts (:meth:`~sipgw.agent.base.Agent.on_answered`). An agent that says so after
:meth:`~sipgw.agent.base.Agent.prepare` (:class:`DefersAnswer`: ``answer_deferred``) is
started with the call unanswered instead: the gateway sends 183 Session Progress with its
SDP (early media, RFC 3960's gateway model), so the caller hears what the agent sends,
and answers the call when the agent asks (:class:`AnswersLater`: ``answer_now()``). Until
then the call is not answered: hanging it up refuses the INVITE (a final error status),
it is no BYE. A call that cannot wait (not one of the gateway's incoming SIP calls) is no
:class:`AnswersLater`: the agent then runs answered, as always.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, runtime_checkable

__all__ = ["AnswersLater", "DefersAnswer"]


@runtime_checkable
class DefersAnswer(Protocol):
    """An agent that may ask to run before its call is answered."""

    @property
    def answer_deferred(self) -> bool:
        """Read once :meth:`~sipgw.agent.base.Agent.prepare` returns: True to be started
        with the call unanswered (early media)."""
        ...


@runtime_checkable
class AnswersLater(Protocol):
    """A call that can stay unanswered, with early media, while its agent runs."""

    answer_now: Callable[[], None] | None
    """Answers the call (200 OK) while it waits in early media (once); None: it does not
    wait (it was answered, or its agent did not defer the answer)."""
