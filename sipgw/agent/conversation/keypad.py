"""Keypad digits for the model: collected until a pause or ``#``, then handed over at once.

The caller's digits (RFC 4733 or SIP INFO) are gathered while they keep
coming; ``dtmf_timeout`` seconds after the last one, or at once on ``#``, they
are handed over together (the wait stops while the caller holds the call:
:meth:`Keypad.hold`; a reply to their digits would wait unheard): the
assistant adds them to the conversation as one user message
(:meth:`sipgw.agent.assistant.responder.Responder.reply_to_keypad`) and replies; the
speech-to-speech agent sends them to its session as text. A digit also cuts
off agent audio that is playing (the turn-taking machine's rule, :mod:`sipgw.agent.turns.machine`).

:class:`KeypadBuffer` decides when the digits are due (sans-IO: digits and the
time in); :class:`Keypad` keeps the timer and hands them over.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from sipgw.agent.callscope import CallScope

__all__ = ["Keypad", "KeypadBuffer"]


class KeypadBuffer:
    """Digits waiting for the end of the caller's input (sans-IO).

    Args:
        timeout: seconds after the last digit that the input is over.
    """

    __slots__ = ("_digits", "timeout")

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self._digits: list[str] = []

    def press(self, digit: str, now: float) -> float:
        """A digit arrived at ``now``; returns when the input is over (now, on ``#``)."""
        self._digits.append(digit)
        return now if digit == "#" else now + self.timeout

    def take(self) -> str:
        """The digits entered, in order; the buffer starts empty again."""
        digits, self._digits = "".join(self._digits), []
        return digits


class Keypad:
    """One call's keypad input (see the module docstring).

    Args:
        scope: the call's clock.
        timeout: seconds after the last digit that the input is over.
        on_digits: receives the digits entered, in order, once the input is over.
    """

    __slots__ = ("_buffer", "_due", "_held_since", "_on_digits", "_scope", "_timer")

    def __init__(self, scope: CallScope, timeout: float, on_digits: Callable[[str], None]) -> None:
        self._scope = scope
        self._buffer = KeypadBuffer(timeout)
        self._on_digits: Callable[[str], None] | None = on_digits
        self._timer: asyncio.TimerHandle | None = None
        self._due: float | None = None  # when the digits are handed over
        self._held_since: float | None = None

    def press(self, digit: str) -> None:
        """A digit from the caller: the input goes on (or ends, on ``#``)."""
        self._due = self._buffer.press(digit, self._scope.now())
        self._arm()

    def hold(self, held: bool) -> None:
        """The caller put the call on hold (True) or resumed it: the wait for more digits
        stops meanwhile and goes on from where it was."""
        now = self._scope.now()
        if held and self._held_since is None:
            self._held_since = now
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
        elif not held and self._held_since is not None:
            if self._due is not None:
                self._due += now - self._held_since
            self._held_since = None
            self._arm()

    def _arm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._due is not None and self._held_since is None and self._on_digits is not None:
            self._timer = self._scope.loop.call_at(self._due, self._flush)

    def close(self) -> None:
        """The call ended: digits still waiting are dropped (and the receiver let go)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._on_digits = None

    def _flush(self) -> None:
        self._timer = None
        self._due = None
        digits = self._buffer.take()
        if digits and self._on_digits is not None:
            self._on_digits(digits)
