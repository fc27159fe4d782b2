"""Session timers (RFC 4028) as the UAS decides them: pure functions, no state.

Theory of operation
-------------------
A UAC may ask for a session timer with ``Session-Expires: N[;refresher=...]``.
Table 2 of RFC 4028 §9 fixes who refreshes: the UAC when it asked for ``uac``,
the UAS when it asked for ``uas``, the UAS's choice when it asked for neither
(we let the UAC refresh: it already sends re-INVITE/UPDATE on its own).

We refresh with UPDATE (RFC 3311) only: when we would have to refresh and
the peer does not allow UPDATE, we leave the session timer off for that call
(no Session-Expires in our answer), which is what a UAS that does not
support the extension does, and is always allowed.

Deadlines (§10): the refresher refreshes at half the interval; the other side
ends the session (BYE) ``min(32, N/3)`` seconds before it would expire.
:mod:`sipgw.sip.usages.sessiontimer` arms those deadlines and acts on them.
"""

from __future__ import annotations

from dataclasses import dataclass

from sipgw.sip.errors import RemoteProtocolError
from sipgw.sip.message import Headers

__all__ = ["SessionTimer", "negotiate", "parse_session_expires"]


@dataclass(frozen=True, slots=True)
class SessionTimer:
    """The session timer agreed for a call.

    Attributes:
        interval: the session interval, seconds.
        we_refresh: True when we send the refreshes (``refresher=uas``).
    """

    interval: int
    we_refresh: bool

    @property
    def header(self) -> str:
        """Our Session-Expires value."""
        return f"{self.interval};refresher={'uas' if self.we_refresh else 'uac'}"

    @property
    def refresh_after(self) -> float:
        """When we refresh, as the refresher (§10: half the interval)."""
        return self.interval / 2

    @property
    def expire_after(self) -> float:
        """When we end the session if no refresh came (§10)."""
        return self.interval - min(32.0, self.interval / 3)


def parse_session_expires(value: str) -> tuple[int, str | None]:
    """``"1800;refresher=uac"`` → ``(1800, "uac")``.

    Raises:
        RemoteProtocolError: 400 for a value that is not a delta-seconds.
    """
    delta, *params = value.split(";")
    try:
        seconds = int(delta.strip())
    except ValueError:
        raise RemoteProtocolError("bad Session-Expires", 400) from None
    refresher = None
    for param in params:
        name, _, param_value = param.partition("=")
        if name.strip().lower() == "refresher":
            refresher = param_value.strip().lower() or None
    return seconds, refresher


def negotiate(request: Headers, allow: list[str]) -> SessionTimer | None:
    """The session timer for a request's 2xx, or None for none (RFC 4028 §9).

    Args:
        request: the INVITE's or UPDATE's headers.
        allow: the peer's Allow values (from its INVITE), to know whether it
            takes UPDATE refreshes.
    """
    value = request.get("Session-Expires")
    if value is None:
        return None
    supported = {tag.strip().lower() for tag in request.get_all("Supported")}
    if "timer" not in supported:
        return None  # the UAC would not refresh nor understand ours: no timer
    seconds, refresher = parse_session_expires(value)
    if refresher == "uas":
        if "UPDATE" not in {method.strip().upper() for method in allow}:
            return None  # we could only refresh with re-INVITE, which we do not send
        return SessionTimer(seconds, we_refresh=True)
    return SessionTimer(seconds, we_refresh=False)
