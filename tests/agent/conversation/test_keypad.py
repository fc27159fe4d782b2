"""Keypad input for the LLM (agent/conversation/keypad.py): digits until a pause or ``#``, then one
reply."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from sipgw.agent.conversation.keypad import Keypad, KeypadBuffer
from tests.agent.parts import make_scope, wait_for


def test_digits_are_due_a_timeout_after_the_last_one() -> None:
    buffer = KeypadBuffer(timeout=1.5)
    assert buffer.press("4", now=10.0) == 11.5
    assert buffer.press("2", now=11.0) == 12.5  # each digit moves the end of the input
    assert buffer.take() == "42"
    assert buffer.take() == ""  # taken: empty again


def test_the_pound_key_ends_the_input_at_once() -> None:
    buffer = KeypadBuffer(timeout=1.5)
    buffer.press("1", now=3.0)
    assert buffer.press("#", now=3.2) == 3.2
    assert buffer.take() == "1#"


@dataclass
class Listener:
    """Who receives the digits (the assistant's responder, the s2s agent's session)."""

    dtmf: list[str] = field(default_factory=list)

    @property
    def replies(self) -> int:
        return len(self.dtmf)

    def keyed(self, digits: str) -> None:
        self.dtmf.append(digits)


async def test_digits_in_a_row_make_one_message_and_one_reply() -> None:
    listener = Listener()
    keypad = Keypad(make_scope(), 0.3, listener.keyed)
    for digit in "123":
        keypad.press(digit)
        await asyncio.sleep(0.02)
    assert listener.dtmf == []  # still typing
    await wait_for(lambda: listener.replies == 1)
    assert listener.dtmf == ["123"]
    await asyncio.sleep(0.4)
    assert listener.replies == 1


async def test_pound_sends_without_waiting() -> None:
    listener = Listener()
    keypad = Keypad(make_scope(), 10.0, listener.keyed)
    keypad.press("7")
    keypad.press("#")
    await wait_for(lambda: listener.replies == 1)  # long before the 10 s timeout
    assert listener.dtmf == ["7#"]


async def test_digits_waiting_when_the_call_ends_are_dropped() -> None:
    listener = Listener()
    keypad = Keypad(make_scope(), 0.05, listener.keyed)
    keypad.press("9")
    keypad.close()
    await asyncio.sleep(0.12)
    assert listener.dtmf == [] and listener.replies == 0


async def test_the_wait_for_more_digits_stops_while_the_caller_holds() -> None:
    """A reply to their digits would wait unheard: the wait goes on after the hold, from
    where it was."""
    listener = Listener()
    scope = make_scope()
    keypad = Keypad(scope, 0.2, listener.keyed)
    pressed = scope.now()
    keypad.press("4")
    await asyncio.sleep(0.1)
    keypad.hold(True)
    waited = scope.now() - pressed  # about 0.1 s; more on a loaded machine
    await asyncio.sleep(0.3)  # past the timeout: nothing while held
    assert listener.dtmf == []
    resumed = scope.now()
    keypad.hold(False)
    await wait_for(lambda: listener.replies == 1)
    assert listener.dtmf == ["4"]
    # the rest of the wait (0.2 s less what had passed before the hold), not at once
    assert scope.now() - resumed >= 0.2 - waited - 0.02
