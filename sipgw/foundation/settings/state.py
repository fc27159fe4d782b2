"""The state directory: where the files a gateway keeps across restarts live.

Every setting declared with ``state=True`` (the SQLite stores of campaigns, webhooks and
callbacks, the call records, recordings, the fallback lines' cache) names a path; a relative
one, its default among them, is taken under the state directory, never under the directory
the gateway happened to be started from. An absolute path is used as given. The state
directory is ``SIPGW_STATE_DIR`` (``--state-dir``, ``[state] state_dir``), by default the
one systemd gives a unit with ``StateDirectory=`` (``$STATE_DIRECTORY``), else
``$XDG_STATE_HOME/sipgw`` (``~/.local/state/sipgw`` when ``XDG_STATE_HOME`` is unset, as the
XDG Base Directory Specification says); the Docker image sets ``/var/lib/sipgw``. The
stores make their directories ``0700`` and their files ``0600``
(:mod:`sipgw.foundation.private_files`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sipgw.foundation.settings.declare import section, setting

__all__ = ["STATE_DIR_ENV", "StateSection", "default_state_dir", "under"]

STATE_DIR_ENV = "SIPGW_STATE_DIR"


def directory_path(value: str) -> str:
    """A directory's path ("" for the default); never an existing file."""
    path = value.strip()
    if "\0" in path:
        raise ValueError("a path cannot hold a NUL character")
    if path and os.path.exists(path) and not os.path.isdir(path):
        raise ValueError("not a directory")
    return path


def default_state_dir() -> Path:
    """systemd's ``$STATE_DIRECTORY`` (a unit's ``StateDirectory=``: its first), else
    ``$XDG_STATE_HOME/sipgw``, else ``~/.local/state/sipgw`` (the XDG Base Directory
    Specification: a relative ``XDG_STATE_HOME`` is invalid and ignored)."""
    systemd = os.environ.get("STATE_DIRECTORY", "").split(":")[0]
    if systemd and os.path.isabs(systemd):
        return Path(systemd)
    xdg = os.environ.get("XDG_STATE_HOME", "")
    base = Path(xdg) if xdg and os.path.isabs(xdg) else Path.home() / ".local" / "state"
    return base / "sipgw"


@section(
    "state",
    title="State directory",
    intro="Where the files kept across restarts live: every store without a database URL "
    "(campaigns, webhooks, callbacks, the guessers' backoff), the call records, recordings and "
    "the fallback lines' cache, whose settings, when relative, are taken under it.",
)
@dataclass(frozen=True)
class StateSection:
    """The state directory."""

    state_dir: str = setting(
        "", env=STATE_DIR_ENV, flag="--state-dir", metavar="DIR", parse=directory_path,
        default_doc="$STATE_DIRECTORY (systemd), else $XDG_STATE_HOME/sipgw, else "
        "~/.local/state/sipgw",
        help="Directory of the files kept across restarts (made 0700 when first needed); the "
        "relative paths of the stores, call records, recordings and caches are under it. "
        "A relative value is taken from the directory sipgw starts in.",
    )  # fmt: skip

    def path(self) -> Path:
        """The directory, absolute."""
        return Path(self.state_dir).absolute() if self.state_dir else default_state_dir()


def under(value: Any, root: Path) -> Any:
    """A ``state=True`` setting's value with a relative path taken under ``root``, the state
    directory; anything else (an absolute path, "" or None: none at all) as it is."""
    if isinstance(value, Path):
        return value if value.is_absolute() else root / value
    if isinstance(value, str) and value and not os.path.isabs(value):
        return str(root / value)
    return value
