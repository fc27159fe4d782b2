"""The echo agent's settings: its section (``--echo-delay-ms``), and what its agents are made
with."""

from __future__ import annotations

from dataclasses import dataclass

from sipgw.foundation.settings import section, setting
from sipgw.foundation.settings.parsers import milliseconds

__all__ = ["EchoSection", "EchoSettings"]


@section("echo", title="Echo agent", intro="Read when `--agent echo`.")
@dataclass(frozen=True)
class EchoSection:
    """The echo agent's delay."""

    delay_ms: int = setting(
        500, env="SIPGW_ECHO_DELAY_MS", flag="--echo-delay-ms", metavar="MS",
        parse=milliseconds,
        help="How long the echo agent waits before playing the caller back, ms.",
    )  # fmt: skip


@dataclass(frozen=True, slots=True)
class EchoSettings:
    """The echo agent (the line check).

    Attributes:
        delay_ms: how long the caller's audio waits before it is played back.
    """

    delay_ms: int = 500
