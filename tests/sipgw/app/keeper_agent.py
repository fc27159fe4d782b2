"""A third-party agent that takes every feature a built-in gets (``test_third_party_agent.py``).

It declares what it can do (:class:`~sipgw.agent.capabilities.AgentCapabilities`): it acts on a
placed call's ``amd`` (it runs sipgw's answering-machine detector on the callee's audio as it
arrives, which it declares too), it stores callbacks (``serve`` dials them), it takes the
keypad, and a routes file's line may set its ``greeting``. It plays a tone pitched by its
greeting's length (on a call placed with detection, once the detector has decided and only
to a person), and remembers what each call told it; ``5`` on the keypad stores a callback to
the caller in sipgw's callback store (``SIPGW_CALLBACK_DB``), ``#`` hangs up; a voicemail on
a call placed with ``amd`` ``hang_up`` is hung up on once it is ready for a message. It uses
only what ``sipgw.app.plugin`` offers a plug-in, sipgw's own tools section, the detector and
the callback store of the agent layer, and the test toolkit's tone.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from sipgw.agent.amd import AnswerClassified, AnsweringMachineDetector, AnswerKind, ReadyForMessage
from sipgw.agent.amd.settings import AmdCall, AmdMode, AmdRequest
from sipgw.agent.conversation.sections import BuiltinToolsSection
from sipgw.agent.tools.callback_store import CallbackStore
from sipgw.app.evaluation.audio import tone_frame
from sipgw.app.plugin import (
    Agent,
    AgentCapabilities,
    AgentFactory,
    CallControl,
    CallPurpose,
    declare,
    parsers,
    section,
    setting,
)


@section(
    "keeper",
    title="Keeper agent (a test plug-in)",
    intro="Read when `--agent tests.sipgw.app.keeper_agent:make`.",
)
@dataclass(frozen=True)
class KeeperSection:
    """What it says first."""

    greeting: str = setting(
        "Hello.", env="KEEPER_GREETING", flag="--keeper-greeting", metavar="TEXT",
        parse=parsers.text, help="What it says first (a routes-file line's greeting).",
    )  # fmt: skip


@dataclass(slots=True)
class Seen:
    """What one call told its agent, and who its detector said answered."""

    direction: str
    greeting: str
    amd: AmdRequest | None
    purpose: CallPurpose | None
    answered_by: AnswerKind | None = None


SEEN: list[Seen] = []
"""Every call's :class:`Seen`, in order (for the test)."""


class KeeperAgent(Agent):
    def __init__(self, call: CallControl, greeting: str, store: CallbackStore) -> None:
        self.call = call
        self.greeting = greeting
        self.store = store
        self.frame = tone_frame(200 + 50 * min(len(greeting), 40), -12.0)
        amd = call.amd if isinstance(call, AmdCall) else None
        self.seen = Seen(call.direction, greeting, amd, call.purpose)
        SEEN.append(self.seen)
        self.detecting = amd is not None and amd.mode is not AmdMode.OFF
        self.detector: AnsweringMachineDetector | None = None
        self.speaking = not self.detecting
        self.storing: set[asyncio.Task[int]] = set()

    def on_caller_audio(self, frame: bytes) -> None:
        """The callee's audio at arrival (declared ``arrival_audio``): detection's input."""
        if not self.detecting:
            return
        now = asyncio.get_running_loop().time()
        if self.detector is None:
            self.detector = AnsweringMachineDetector(now - 0.02)
        for event in self.detector.receive_audio(frame, now):
            if isinstance(event, AnswerClassified):
                self.seen.answered_by = event.kind
                self.speaking = event.kind is AnswerKind.HUMAN
            elif isinstance(event, ReadyForMessage) and self.seen.amd is not None:
                self.detecting = False
                if self.seen.amd.mode is AmdMode.HANG_UP:
                    self.call.hangup()

    def on_caller_frame(self, frame: bytes | None) -> None:
        pass

    def next_frame(self) -> bytes | None:
        return self.frame if self.speaking else None

    def on_dtmf(self, digit: str) -> None:
        if digit == "5":  # the store's methods are coroutines: stored in a task of its own
            now = time.time()
            task = asyncio.get_running_loop().create_task(self.store.add(
                call_id=self.call.call_id, phone=self.call.caller, requested_time="now",
                reason="your keeper", notes="", due_at=now, now=now,
            ))  # fmt: skip
            self.storing.add(task)
            task.add_done_callback(self.storing.discard)
        elif digit == "#":
            self.call.hangup()


@declare(
    AgentCapabilities(
        amd=True,
        callbacks=True,
        keypad=True,
        arrival_audio=True,
        line_keys={"greeting": (KeeperSection, "greeting")},
    )
)
def make(settings: KeeperSection, tools: BuiltinToolsSection) -> AgentFactory:
    store = CallbackStore(tools.callback_path)

    def agent(call: CallControl) -> KeeperAgent:
        return KeeperAgent(call, settings.greeting, store)

    return agent
