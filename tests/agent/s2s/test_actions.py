"""Speak before acting: the transfer or hang-up waits for the words around the tool call."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from sipgw.agent.conversation.settings import AssistantSettings
from sipgw.agent.dialpolicy import DialRefused
from sipgw.agent.playout import Playout
from sipgw.agent.record import CallRecord
from sipgw.agent.resilience.policy import FailurePolicySettings
from sipgw.agent.resilience.watch import FailureWatch
from sipgw.agent.s2s.actions import S2sActions
from sipgw.agent.s2s.replies import Reply, Speaking
from sipgw.agent.s2s.scope import SessionScope


@dataclass
class Owner:
    """The call, its session and its playout as the actions see them (a real record)."""

    loop: asyncio.AbstractEventLoop
    settings: AssistantSettings = field(default_factory=AssistantSettings)
    playout: Playout = field(default_factory=Playout)
    call_id: str = "c"
    hung_up: int = 0
    refuse: bool = False
    accept: bool = True
    told: list[str] = field(default_factory=list)
    summaries: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.speaking = Speaking(self.playout)
        self.playout.held = False
        self.record = CallRecord(None, "c")
        self.scope = SessionScope("c", self.record, self.loop, self)  # type: ignore[arg-type]
        self.watch = FailureWatch(
            self.scope, FailurePolicySettings(), None, transfer_available=False
        )
        self.actions = S2sActions(self.scope, self, self.settings, self.speaking, self.watch)  # type: ignore[arg-type]
        self.watch.bind(self.actions)

    def hangup(self) -> None:
        self.hung_up += 1

    async def transfer(self, target: str, summary: str = "") -> bool:
        self.summaries.append(summary)
        if self.refuse:
            raise DialRefused("transfer", target, "not allowed")
        return self.accept

    def add_caller_text(self, text: str) -> None:
        self.told.append(text)

    def line(self) -> dict[str, Any]:
        (action,) = [line for line in self.record.lines if line["type"] == "action"]
        return action


def start(owner: Owner, reply_id: str, frames: int) -> Reply:
    reply = Reply(reply_id, 1, owner.loop.time(), None, finished=owner.loop.create_future())
    owner.speaking.add(reply)
    if frames:
        reply.first_audio_at = owner.loop.time()
        owner.playout.push_audio(reply_id, bytes(160 * frames))
    return reply


def finish(owner: Owner, reply: Reply) -> None:
    reply.done = True
    owner.playout.finish(reply.id)
    assert reply.finished is not None
    reply.finished.set_result(None)


async def test_the_action_waits_for_the_reply_to_the_tool_result_to_be_heard() -> None:
    owner = Owner(asyncio.get_running_loop())
    actions = owner.actions
    calling = start(owner, "r1", 2)  # "let me end the call" and the tool call
    actions.hangup_after_reply()
    actions.transfer_after_reply("sip:x@y")  # the first one asked for wins
    finish(owner, calling)
    await asyncio.sleep(0.01)
    goodbye = start(owner, "r2", 3)
    actions.reply_started(goodbye)
    finish(owner, goodbye)
    for _ in range(4):
        owner.playout.next_frame(0.0)
        await asyncio.sleep(0.01)
    assert owner.hung_up == 0  # one frame of the goodbye still to go
    owner.playout.next_frame(0.0)
    await asyncio.sleep(0.01)
    assert owner.hung_up == 1 and owner.line()["line"] == "reply"


async def test_without_a_following_reply_the_action_comes_after_the_wait(monkeypatch: Any) -> None:
    monkeypatch.setattr("sipgw.agent.s2s.actions.REPLY_START_WAIT", 0.05)
    owner = Owner(asyncio.get_running_loop())
    actions = owner.actions
    actions.hangup_after_reply()
    await asyncio.sleep(0.1)
    assert owner.hung_up == 1 and owner.line()["line"] == "none"


async def test_a_barge_in_makes_it_act_at_once_and_a_timeout_bounds_the_wait() -> None:
    owner = Owner(asyncio.get_running_loop())
    actions = owner.actions
    reply = start(owner, "r1", 50)
    actions.hangup_after_reply()
    await asyncio.sleep(0.01)
    owner.playout.cancel("r1")
    finish(owner, reply)
    actions.barged_in()
    await asyncio.sleep(0.01)
    assert owner.hung_up == 1 and owner.line()["line"] == "interrupted"

    slow = Owner(asyncio.get_running_loop(), AssistantSettings(action_line_timeout=0.05))
    actions = slow.actions
    start(slow, "r1", 10)  # never finishes
    actions.hangup_after_reply()
    await asyncio.sleep(0.1)
    assert slow.hung_up == 1 and slow.line()["line"] == "timeout"


async def test_a_refused_or_unaccepted_transfer_is_told_to_the_model(monkeypatch: Any) -> None:
    monkeypatch.setattr("sipgw.agent.s2s.actions.REPLY_START_WAIT", 0.01)
    for refuse, accept, why in ((True, True, "refused (not allowed)"),
                                (False, False, "not accepted by the caller's phone"),
                                (False, True, None)):  # fmt: skip
        owner = Owner(asyncio.get_running_loop(), refuse=refuse, accept=accept)
        actions = owner.actions
        actions.transfer_after_reply("sip:human@pbx", "wants a refund")
        await asyncio.sleep(0.05)
        assert owner.summaries == ["wants a refund"]  # goes with the REFER
        expected = [] if why is None else [
            f"[The transfer was {why}. Tell the caller and offer other help.]"
        ]  # fmt: skip
        assert owner.told == expected
        actions.transfer_after_reply("sip:human@pbx")  # may be asked for again
        await asyncio.sleep(0.05)
        assert len([line for line in owner.record.lines if line["type"] == "action"]) == 2


async def test_a_target_that_does_not_answer_is_told_with_a_message_or_callback_offered() -> None:
    """Blind transfer's NOTIFY with a non-2xx sipfrag: the model is told, with the same
    offer as the assistant makes (a message or a callback; issue 24), and the call stays."""
    owner = Owner(asyncio.get_running_loop())
    owner.actions.on_transfer_failed(486, "Busy Here")
    assert owner.told == [
        "[The transfer failed: 486 Busy Here. The caller is still with you. Tell them, and "
        "offer to take a message or to schedule a callback.]"
    ]
    failed = [line for line in owner.record.lines if line["type"] == "transfer_failed"]
    assert [(line["status"], line["reason"]) for line in failed] == [(486, "Busy Here")]
    assert owner.hung_up == 0


async def test_hold_stops_the_wait_for_the_line_and_resume_goes_on_from_where_it_was() -> None:
    """The caller holds the call: the line cannot be heard, so its wait stops (the other
    clocks do too); on resume it has what was left, not a new full wait."""
    owner = Owner(asyncio.get_running_loop(), AssistantSettings(action_line_timeout=0.2))
    actions = owner.actions
    start(owner, "r1", 10)  # the line never plays out (the playout waits while held)
    actions.hangup_after_reply()
    await asyncio.sleep(0.1)
    actions.hold(True)
    await asyncio.sleep(0.3)  # past the deadline, held all along
    assert owner.hung_up == 0
    actions.hold(False)
    await asyncio.sleep(0.05)
    assert owner.hung_up == 0  # about 0.1 s left
    await asyncio.sleep(0.15)
    assert owner.hung_up == 1 and owner.line()["line"] == "timeout"
    assert owner.line()["waited_ms"] >= 450


async def test_an_action_asked_for_while_held_waits_from_the_resume() -> None:
    owner = Owner(asyncio.get_running_loop(), AssistantSettings(action_line_timeout=0.1))
    actions = owner.actions
    actions.hold(True)
    start(owner, "r1", 10)
    actions.hangup_after_reply()
    await asyncio.sleep(0.2)
    assert owner.hung_up == 0
    actions.hold(False)
    await asyncio.sleep(0.2)
    assert owner.hung_up == 1 and owner.line()["line"] == "timeout"


@dataclass
class Warm:
    """The warm transfer as the actions see it."""

    refuse: bool = False
    runs: list[tuple[str, str]] = field(default_factory=list)
    closed: list[str] = field(default_factory=list)
    active: bool = False

    async def run(self, target: str, summary: str) -> bool:
        self.runs.append((target, summary))
        if self.refuse:
            raise DialRefused("transfer", target, "not allowed")
        return True

    def close(self, reason: str = "") -> None:
        self.closed.append(reason)


async def test_with_warm_transfers_the_transfer_after_the_line_is_the_warm_one(
    monkeypatch: Any,
) -> None:
    monkeypatch.setattr("sipgw.agent.s2s.actions.REPLY_START_WAIT", 0.01)
    for refuse in (False, True):
        owner = Owner(asyncio.get_running_loop())
        warm = Warm(refuse=refuse)
        owner.actions.warm = warm  # type: ignore[assignment]
        owner.actions.transfer_after_reply("sip:human@pbx", "wants a refund")
        await asyncio.sleep(0.05)
        assert warm.runs == [("sip:human@pbx", "wants a refund")]
        assert owner.summaries == []  # no REFER of the caller
        told = ["[The transfer was refused (not allowed). Tell the caller and offer other help.]"]
        assert owner.told == (told if refuse else [])
        refused = [line for line in owner.record.lines if line["type"] == "dial_refused"]
        assert len(refused) == (1 if refuse else 0)
        assert not owner.actions.acting
        warm.active = True  # the caller on hold for it: the idle policy's silence stops
        assert owner.actions.acting and owner.actions.transferring
        owner.actions.close("bridged")
        assert warm.closed == ["bridged"]
