"""The operations settings sections: overload protection (``overload``).

The gateway's own draining, logging, stats and recordings are the ``operations`` section of
:mod:`sipgw.app.settings` (one of :class:`~sipgw.app.settings.GatewayConfig`'s three);
:mod:`sipgw.app.operations.overload` drives the detector these thresholds configure.
"""

from __future__ import annotations

from dataclasses import dataclass

from sipgw.foundation.settings import InvalidSettings, section, setting
from sipgw.foundation.settings.parsers import int_at_least, non_negative, positive

__all__ = ["OverloadConfig"]


@section(
    "overload",
    title="Overload",
    intro="Overload protection: while the media ticker runs late or the process's CPU is full, "
    "new INVITEs and OPTIONS probes get 503 with Retry-After (a dispatcher in front sends "
    "traffic elsewhere); running calls go on. See docs/operations.md. Every one is also a "
    "flag of `sipgw serve`.",
)
@dataclass(frozen=True)
class OverloadConfig:
    """Thresholds of :class:`~sipgw.app.operations.overload.OverloadDetector`; a threshold of 0
    turns that signal off."""

    lateness_ms: float = setting(
        10.0, env="SIPGW_OVERLOAD_LATENESS_MS", flag="--overload-lateness-ms", metavar="MS",
        parse=non_negative,
        help="Refuse new calls when the p99 lateness of the 20 ms media ticker over the window "
        "exceeds this many ms, with calls in progress (judged once the gateway is ready); 0 = "
        "do not watch lateness.",
    )  # fmt: skip
    recover_lateness_ms: float = setting(
        5.0, env="SIPGW_OVERLOAD_RECOVER_LATENESS_MS", flag="--overload-recover-lateness-ms",
        metavar="MS", parse=non_negative,
        help="Take calls again only once the p99 lateness stays below this many ms (for the "
        "hold time).",
    )  # fmt: skip
    cpu_percent: float = setting(
        90.0, env="SIPGW_OVERLOAD_CPU_PERCENT", flag="--overload-cpu-percent", metavar="PCT",
        parse=non_negative,
        help="Refuse new calls when the process's CPU over the CPU window exceeds this (% of "
        "one core); 0 = do not watch CPU.",
    )  # fmt: skip
    recover_cpu_percent: float = setting(
        75.0, env="SIPGW_OVERLOAD_RECOVER_CPU_PERCENT", flag="--overload-recover-cpu-percent",
        metavar="PCT", parse=non_negative,
        help="Take calls again only once the CPU stays below this (for the hold time).",
    )  # fmt: skip
    window: float = setting(
        5.0, env="SIPGW_OVERLOAD_WINDOW", flag="--overload-window", metavar="S", parse=positive,
        help="Seconds of ticker lateness each decision looks at (its p99).",
    )  # fmt: skip
    cpu_window: float = setting(
        1.0, env="SIPGW_OVERLOAD_CPU_WINDOW", flag="--overload-cpu-window", metavar="S",
        parse=positive,
        help="Seconds of CPU time each decision looks at (short: a burst of new calls shows "
        "before many more are let in).",
    )  # fmt: skip
    """Short, so that a burst of new calls is seen before many more are let in (a lateness
    p99 needs the longer window to ride out one stall; the CPU share does not)."""
    hold: float = setting(
        5.0, env="SIPGW_OVERLOAD_HOLD", flag="--overload-hold", metavar="S", parse=non_negative,
        help="Seconds both signals must stay below their recover thresholds before new calls "
        "are taken again.",
    )  # fmt: skip
    retry_after: int = setting(
        10, env="SIPGW_OVERLOAD_RETRY_AFTER", flag="--overload-retry-after", metavar="S",
        parse=int_at_least(1), help="Seconds in the Retry-After of an overload 503.",
    )  # fmt: skip

    def check(self) -> None:
        """A recover threshold must not be above its enter threshold (when that is on).

        Raises:
            InvalidSettings: one is.
        """
        if self.lateness_ms > 0 and self.recover_lateness_ms > self.lateness_ms:
            raise InvalidSettings("{recover_lateness_ms} must not exceed {lateness_ms}")
        if self.cpu_percent > 0 and self.recover_cpu_percent > self.cpu_percent:
            raise InvalidSettings("{recover_cpu_percent} must not exceed {cpu_percent}")

    @property
    def enabled(self) -> bool:
        """Whether any signal is watched."""
        return self.lateness_ms > 0 or self.cpu_percent > 0

    def describe(self) -> str:
        """One line for the start-up log."""
        if not self.enabled:
            return "overload protection off"
        late = f"p99 tick lateness > {self.lateness_ms:g} ms" if self.lateness_ms > 0 else ""
        cpu = f"CPU > {self.cpu_percent:g}%" if self.cpu_percent > 0 else ""
        enter = " or ".join(x for x in (late, cpu) if x)
        return (
            f"overload: new calls get 503 (Retry-After {self.retry_after}) when {enter} over "
            f"{self.window:g} s (CPU over {self.cpu_window:g} s); taken again after "
            f"{self.hold:g} s below "
            f"{self.recover_lateness_ms:g} ms / {self.recover_cpu_percent:g}%"
        )
