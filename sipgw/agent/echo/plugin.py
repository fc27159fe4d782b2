"""The ``echo`` plug-in, beside its agent and its section: its factory and what it can do.

Registered by name in :data:`sipgw.app.agents.BUILTIN_AGENTS` (``--agent echo``) and found
exactly as ``package.module:factory`` is; it declares its
:class:`~sipgw.agent.capabilities.AgentCapabilities` like any plug-in.
"""

from __future__ import annotations

from sipgw.agent.base import AgentFactory, CallControl
from sipgw.agent.capabilities import AgentCapabilities, declare
from sipgw.agent.echo.agent import EchoAgent
from sipgw.agent.echo.settings import EchoSection, EchoSettings
from sipgw.media.codecs.base import PCM16_16K, ULAW_8K

__all__ = ["ECHO_CAPABILITIES", "echo_agent", "echo_factory"]


def echo_factory(settings: EchoSettings) -> AgentFactory:
    """Echo agents with ``settings``."""
    delay = settings.delay_ms

    def echo(call: CallControl) -> EchoAgent:
        return EchoAgent(call, delay_ms=delay)

    return echo


ECHO_CAPABILITIES = AgentCapabilities(paid=False, audio=frozenset({ULAW_8K, PCM16_16K}))
"""What the echo agent declares: it spends nothing per call (a gateway with only it may take
calls from this host and private networks with no access configured); no callbacks, no
transfers, no keypad (digits are logged, not given to it), no routes-file keys; it hears the
caller after the playout buffer only; every leg, μ-law 8 kHz, or 16 kHz linear on an HD-voice
call.

It keeps ``amd=True``, deliberately: echo is the line check, and a placed call asking for
answering-machine detection (``sipgw call --amd``, ``POST /api/calls``, ``SIPGW_AMD``, a
line's ``amd``) must be checkable end to end without AI keys. It runs no detector of its
own: the request reaches it as ``call.amd`` and is ignored, and whoever answers (a person
or a voicemail) hears themselves played back, which is what a line check wants and greets
no voicemail with a pitch. Refusing it (``amd=False``, as the ``twiml`` and ``stream``
agents declare because their app hears the callee itself) would stop those checks and buy
nothing."""


@declare(ECHO_CAPABILITIES)
def echo_agent(settings: EchoSection) -> AgentFactory:
    """The ``echo`` plug-in: echo agents with the ``echo`` section's delay."""
    return echo_factory(EchoSettings(delay_ms=settings.delay_ms))
