"""The caller's wait for the model (agent/s2s/waiting.py): the policy's watchdog, the timeout."""

from __future__ import annotations

import asyncio

from sipgw.agent.resilience.policy import FailurePolicySettings
from sipgw.agent.resilience.watch import FailureWatch
from sipgw.agent.s2s.scope import SessionScope
from sipgw.agent.s2s.waiting import ReplyWait
from tests.agent.parts import RecordingObserver, make_scope
from tests.agent.resilience.test_watch import Taker
from tests.agent.s2s.parts import ScriptedSession

HOLD = FailurePolicySettings(hold_line_after=0.1, hold_reminder_every=60.0)


class Owner:
    """Whoever gives the reply up (the agent's recovery)."""

    def __init__(self) -> None:
        self.expired = 0
        self.gave_up = asyncio.Event()

    def no_reply(self) -> None:
        self.expired += 1
        self.gave_up.set()


def waiting(
    timeout: float = 0.3, hold: FailurePolicySettings = HOLD
) -> tuple[ReplyWait, Taker, Owner]:
    base = make_scope(RecordingObserver())
    scope = SessionScope(base.log_id, base.record, base.loop, ScriptedSession())
    watch, taker = FailureWatch(scope, hold, None, transfer_available=False), Taker()
    watch.bind(taker)
    wait, owner = ReplyWait(scope, watch, timeout), Owner()
    wait.bind(owner.no_reply)
    return wait, taker, owner


async def test_one_moment_counts_from_the_last_speech_then_the_reply_is_given_up() -> None:
    wait, taker, owner = waiting()
    now = asyncio.get_running_loop().time()
    wait.turn_ended(now - 0.2)  # the service said so 0.2 s after the caller's last word
    assert [name for name, _ in taker.taken] == ["hold_line"]  # 0.1 s had passed: at once
    assert wait.waiting
    await asyncio.sleep(0.15)
    assert owner.expired == 1 and not wait.waiting  # 0.3 s after the last word


async def test_an_audible_reply_ends_the_wait() -> None:
    wait, taker, owner = waiting()
    wait.turn_ended(None)
    wait.reply_audible()
    await asyncio.sleep(0.4)
    assert taker.taken == [] and owner.expired == 0


async def test_the_replys_first_audio_ends_the_wait_before_it_plays() -> None:
    """Audio from the model ends the wait on it, though the playout may hold it (paused
    over speech): neither "one moment" nor the timeout for a reply that is there."""
    wait, taker, owner = waiting()
    wait.turn_ended(None)
    wait.reply_ready()
    assert not wait.waiting
    await asyncio.sleep(0.4)
    assert taker.taken == [] and owner.expired == 0


async def test_a_cut_ends_the_wait_and_the_next_turn_counts_from_no_earlier() -> None:
    """A barge-in cut the reply off: nobody waits for it. The turn after it waits anew,
    from its last loud frame but not from before the cut (the room's speech leaves the
    caller's last loud frame where their own turn ended); a slow model still gets the line
    and, later, the timeout."""
    loop = asyncio.get_running_loop()
    hold = FailurePolicySettings(hold_line_after=0.4, hold_reminder_every=60.0)
    wait, taker, owner = waiting(timeout=1.0, hold=hold)
    last_word = loop.time()
    wait.turn_ended(last_word)
    await asyncio.sleep(0.3)
    wait.reply_cut()
    cut = loop.time()
    assert not wait.waiting
    wait.turn_ended(last_word)  # the room's turn: no loud frame of the caller since
    assert wait.waiting
    await asyncio.sleep(max(0.0, last_word + 0.5 - loop.time()))
    assert taker.taken == []  # 0.4 s after the caller's words, but not after the cut
    await asyncio.sleep(max(0.0, cut + 0.55 - loop.time()))
    assert [name for name, _ in taker.taken] == ["hold_line"]  # 0.4 s after the cut
    await asyncio.wait_for(owner.gave_up.wait(), 5.0)
    assert loop.time() - cut >= 1.0


async def test_a_tool_run_does_not_count_but_the_reply_to_its_result_does() -> None:
    """The timeout (1 s, so that a loaded machine's late wake-ups stay well inside it;
    CI once slept 0.1 s past a 0.2 s one) counts again from the tool's answer."""
    loop = asyncio.get_running_loop()
    wait, taker, owner = waiting(timeout=1.0)
    wait.turn_ended(None)
    wait.tool_running()
    await asyncio.sleep(1.2)
    assert owner.expired == 0  # the tool ran longer than the timeout
    answered = loop.time()
    wait.tool_answered()
    await asyncio.sleep(0.1)
    assert owner.expired == 0
    await asyncio.wait_for(owner.gave_up.wait(), 5.0)
    assert owner.expired == 1 and loop.time() - answered >= 1.0


async def test_the_caller_speaking_again_or_the_calls_end_stops_the_timeout() -> None:
    wait, _, owner = waiting(timeout=0.1)
    wait.turn_ended(None)
    wait.stop()
    wait.turn_ended(None)
    wait.close()
    await asyncio.sleep(0.2)
    assert owner.expired == 0


async def test_the_owner_is_held_weakly() -> None:
    wait, _, owner = waiting(timeout=0.05)
    del owner  # the agent went away: nothing to call, nothing kept alive
    wait.turn_ended(None)
    await asyncio.sleep(0.1)
    assert not wait.waiting


async def test_a_hold_stops_the_timeout_and_the_resume_goes_on_where_it_was() -> None:
    wait, _, owner = waiting(timeout=0.4)
    loop = asyncio.get_running_loop()
    wait.turn_ended(loop.time())
    await asyncio.sleep(0.2)
    wait.hold(True)
    assert not wait.waiting
    await asyncio.sleep(0.5)  # longer than the whole timeout: nothing is given up
    assert owner.expired == 0
    resumed = loop.time()
    wait.hold(False)
    assert wait.waiting
    await asyncio.wait_for(owner.gave_up.wait(), 1)
    assert 0.15 <= loop.time() - resumed <= 0.35  # the 0.2 s that were left
    wait.hold(True)
    wait.hold(False)  # a hold with no wait running arms nothing
    assert not wait.waiting
