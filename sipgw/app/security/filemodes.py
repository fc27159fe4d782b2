"""Files that hold secrets must be their owner's: checked once at start-up.

``.env`` (API keys, SIP passwords), the accounts file (``auth_password``), the inbound
users file (passwords) and the TLS private key are read by the gateway as they are;
on a machine with other users, a file others can read gives its secrets away, and one
others can write lets them change who may call (``SIPGW_ALLOW_FROM=any``) or where the
agent dials. :func:`check_secret_files` looks at each file's permission bits:

* writable by others (``o+w``): the start is refused, naming the file and the
  ``chmod`` that fixes it;
* readable by others (``o+r``): a warning naming the file and the fix (a file created
  with the usual umask is ``0644``: the Quickstart's ``cp .env.example .env`` too, so
  this warns rather than refuses).

Group bits are left alone: a key readable by a service's group (Debian's
``ssl-cert``) is a choice. The gateway's own files (call records, recordings, the
callback database) are created ``0600`` anyway (:mod:`sipgw.foundation.private_files`).
"""

from __future__ import annotations

import stat
from collections.abc import Iterable
from pathlib import Path

from sipgw.foundation.settings import ConfigError

__all__ = ["check_secret_files"]


def check_secret_files(files: Iterable[tuple[str, str]]) -> list[str]:
    """Check ``(what, path)`` pairs; returns the warnings (one line each).

    ``what`` names the setting as the user gave it (``--accounts``, ``SIPGW_TLS_KEY
    (.env line 4)``: :attr:`~sipgw.foundation.settings.Found.label`); each message starts with it.

    A path that is "" or does not exist is skipped (its setting reports that itself).

    Raises:
        ConfigError: a file others may write.
    """
    warnings: list[str] = []
    for what, name in files:
        if not name:
            continue
        try:
            mode = Path(name).stat().st_mode
        except OSError:
            continue
        bits = f"{stat.S_IMODE(mode):04o}"
        if mode & stat.S_IWOTH:
            raise ConfigError(
                f"{what}: {name} can be changed by any user of this machine (mode {bits}): "
                f"chmod o-rwx {name}"
            )
        if mode & stat.S_IROTH:
            warnings.append(
                f"{what}: {name} holds secrets and any user of this machine can read it "
                f"(mode {bits}): chmod o-rwx {name} (or chmod 600 {name})"
            )
    return warnings
