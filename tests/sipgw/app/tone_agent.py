"""A plug-in agent for the tests of ``--agent package.module:factory`` (``test_plugin.py``).

It plays a tone from the answer on, its pitch and level its own settings; ``#`` hangs
up. It uses only what ``sipgw.app.plugin`` offers a plug-in (and the test toolkit's tone).
"""

from __future__ import annotations

from dataclasses import dataclass

from sipgw.app.evaluation.audio import tone_frame
from sipgw.app.plugin import (
    Agent,
    AgentCapabilities,
    AgentFactory,
    CallControl,
    InvalidSettings,
    declare,
    parsers,
    section,
    setting,
)


@section(
    "tone",
    title="Tone agent (a test plug-in)",
    intro="Read when `--agent tests.sipgw.app.tone_agent:make`.",
)
@dataclass(frozen=True)
class ToneSection:
    """The tone's pitch and level, and a key it insists on."""

    hz: int = setting(
        400, env="TONE_HZ", flag="--tone-hz", metavar="HZ", parse=parsers.int_range(100, 3000),
        help="The tone's pitch, a multiple of 50 Hz.",
    )  # fmt: skip
    dbfs: float = setting(
        -12.0, env="TONE_DBFS", flag="--tone-dbfs", metavar="DB",
        parse=parsers.float_range(-60.0, 0.0), help="The tone's level.",
    )  # fmt: skip
    key: str = setting(
        "", env="TONE_KEY", flag="--tone-key", metavar="KEY", parse=parsers.text, required=True,
        secret=True, help="A key this agent insists on (any value).",
    )  # fmt: skip

    def check(self) -> None:
        """A whole number of periods per 20 ms frame, so repeated frames make a clean tone."""
        if self.hz % 50:
            raise InvalidSettings("{hz} must be a multiple of 50 Hz")


class ToneAgent(Agent):
    """Plays one frame over and over once answered; ``#`` hangs up."""

    def __init__(self, call: CallControl, frame: bytes) -> None:
        self.call = call
        self.frame = frame
        self.playing = False

    def on_answered(self) -> None:
        self.playing = True

    def on_caller_frame(self, frame: bytes | None) -> None:
        pass

    def next_frame(self) -> bytes | None:
        return self.frame if self.playing else None

    def on_dtmf(self, digit: str) -> None:
        if digit == "#":
            self.call.hangup()


@declare(AgentCapabilities(keypad=True))  # '#' hangs up
def make(settings: ToneSection) -> AgentFactory:
    """Tone agents with ``settings``."""
    frame = tone_frame(settings.hz, settings.dbfs)

    def agent(call: CallControl) -> ToneAgent:
        return ToneAgent(call, frame)

    return agent


def no_settings() -> AgentFactory:
    """A plug-in without settings: a 1000 Hz tone."""
    return make(ToneSection(hz=1000, key="unused"))
