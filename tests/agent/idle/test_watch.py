"""What both agents' idle watches share: the looks, the records, the hang-up after the goodbye."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from sipgw.agent.idle.policy import CheckIn, IdleSettings
from sipgw.agent.idle.watch import LOOK_EVERY, IdleWatchBase
from tests.agent.parts import RecordingObserver, make_scope


@dataclass
class Actions:
    acting: bool = False
    hung_up: list[str] = field(default_factory=list)

    def hang_up(self, reason: str = "") -> None:
        self.hung_up.append(reason)


class Watch(IdleWatchBase):
    __slots__ = ("agent_busy", "goodbye", "said")

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.agent_busy = False
        self.said: list[str] = []
        self.goodbye: asyncio.Future[None] | None = None

    def busy(self) -> bool:
        return self.agent_busy

    def check_in(self, step: CheckIn) -> None:
        self.said.append(f"check {step.number}")

    def give_up(self) -> None:
        self.said.append("goodbye")
        self.goodbye = asyncio.get_running_loop().create_future()
        self._scope.spawn(self.hang_up_after(self.goodbye))


def looks(watch: Watch, start: float, end: float, **state: bool) -> None:
    now = start
    while now <= end:
        watch.look(now, held=state.get("held", False),
                   transferring=state.get("transferring", False))  # fmt: skip
        now += LOOK_EVERY


async def test_silence_counts_only_while_nothing_makes_the_caller_wait() -> None:
    observer = RecordingObserver()
    scope = make_scope(observer)
    actions = Actions()
    watch = Watch(scope, IdleSettings(after=1.0, checks=1), actions, 0.05)
    watch.look(0.0, held=False)  # not answered yet: nothing counts
    watch.start(0.0)
    watch.agent_busy = True
    looks(watch, 0.0, 3.0)
    assert watch.said == []  # the agent talks all along
    watch.agent_busy = False
    looks(watch, 3.0, 5.0, held=True)
    looks(watch, 5.0, 7.0, transferring=True)
    actions.acting = True
    looks(watch, 7.0, 9.0)
    assert watch.said == []
    actions.acting = False
    looks(watch, 9.0, 10.25)
    assert watch.said == ["check 1"]
    looks(watch, 10.3, 11.35)
    assert watch.said == ["check 1", "goodbye"]
    steps = [
        (line["step"], line.get("by")) for line in scope.record.lines if line["type"] == "idle"
    ]
    assert steps == [("check_in", "line"), ("hang_up", None)]
    assert observer.events == [("idle", "check_in"), ("idle", "hang_up")]
    assert watch.goodbye is not None
    watch.goodbye.set_result(None)  # heard
    await asyncio.sleep(0.01)
    assert actions.hung_up == ["idle"] and watch.hung_up


async def test_the_hang_up_comes_after_the_line_timeout_and_not_on_an_ended_call() -> None:
    scope = make_scope()
    actions = Actions()
    watch = Watch(scope, IdleSettings(after=1.0, checks=0), actions, 0.05)
    never: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    await watch.hang_up_after(never)  # the goodbye never heard: the timeout
    assert actions.hung_up == ["idle"]
    scope.closed = True
    other = Watch(scope, IdleSettings(after=1.0, checks=0), actions, 0.05)
    await other.hang_up_after(asyncio.sleep(0))
    assert actions.hung_up == ["idle"] and not other.hung_up
