"""Files only their owner can read: call records, the callback database, cached audio.

What the gateway writes about calls (transcripts, phone numbers, callback
reasons) is created owner-only, whatever the umask: files ``0600`` (opened with
``os.open(..., mode)``, so there is no moment a wider file exists), directories
``0700`` (each one this module creates, parents included). A umask can only
narrow these modes further.

Files that already exist with group or other permissions are tightened to
``0600`` (with a warning) when the gateway writes them; existing directories are
never changed (the callback database's directory is often the working
directory), but a group- or world-readable call record directory gets a
warning, once per path.
"""

from __future__ import annotations

import logging
import os
import secrets
import stat
from pathlib import Path
from typing import IO

__all__ = [
    "DIR_MODE",
    "FILE_MODE",
    "create_private",
    "make_private_dir",
    "prepare_private_database",
    "new_private_file",
    "tighten_file",
    "write_private_atomic",
]

FILE_MODE = 0o600
DIR_MODE = 0o700

log = logging.getLogger("sipgw.agent")

_warned: set[Path] = set()


def _warn_once(path: Path, message: str, *args: object) -> None:
    if path not in _warned:
        _warned.add(path)
        log.warning(message, path, *args)


def make_private_dir(directory: Path, *, warn_if_open: bool = True) -> None:
    """Create ``directory`` and its missing parents as ``0700``.

    An existing ``directory`` is left as it is; with ``warn_if_open``, a warning
    (once) says so when group or others may read it.

    Raises:
        OSError: it cannot be created.
    """
    missing: list[Path] = []
    current = directory
    while not current.exists():
        missing.append(current)
        if current.parent == current:
            break
        current = current.parent
    for path in reversed(missing):
        try:
            path.mkdir(mode=DIR_MODE)
        except FileExistsError:  # made by another process meanwhile
            pass
    if not missing and warn_if_open:
        mode = directory.stat().st_mode
        if mode & 0o077:
            _warn_once(
                directory,
                "%s is readable by others (mode %o): call data in it is private; chmod 700 it",
                stat.S_IMODE(mode),
            )


def tighten_file(path: Path) -> None:
    """Make an existing ``path`` ``0600`` if it has group or other permissions (warns)."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return
    if mode & 0o077:
        try:
            os.chmod(path, FILE_MODE)
        except OSError as exc:
            _warn_once(path, "%s is readable by others (mode %o) and cannot be changed: %s",
                       stat.S_IMODE(mode), exc)  # fmt: skip
        else:
            _warn_once(path, "%s was readable by others (mode %o): made 0600",
                       stat.S_IMODE(mode))  # fmt: skip


def create_private(path: Path) -> None:
    """Create ``path`` empty as ``0600`` unless it exists (then tighten it)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, FILE_MODE)
    except FileExistsError:
        tighten_file(path)
    else:
        os.close(fd)


def prepare_private_database(path: Path) -> None:
    """Make the SQLite file ``path`` owner-only before SQLite opens it: its directory, the
    file, and the journal files (``-journal``, ``-wal``, ``-shm``), which SQLite creates
    with the database file's permissions."""
    make_private_dir(path.parent, warn_if_open=False)
    create_private(path)
    for suffix in ("-journal", "-wal", "-shm"):
        tighten_file(path.with_name(path.name + suffix))


def new_private_file(directory: Path, stem: str, suffix: str) -> tuple[Path, IO[str]]:
    """A new file ``directory/<stem>_<random>.<suffix>``, created ``0600`` for writing text.

    The name holds nothing a peer chose, and the file is created anew
    (``O_EXCL``): it is never one that existed before, so nobody can make two
    calls share a file or add lines to another call's.

    Raises:
        OSError: it cannot be created.
    """
    for _ in range(8):
        path = directory / f"{stem}_{secrets.token_hex(6)}{suffix}"
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, FILE_MODE)
        except FileExistsError:
            continue
        return path, os.fdopen(fd, "w", encoding="utf-8")
    raise FileExistsError(f"no free file name in {directory}")


def write_private_atomic(path: Path, data: bytes) -> None:
    """Write ``path`` whole or not at all, ``0600``: a private temporary file in the
    same directory, flushed to disk, then renamed over ``path``.

    A crash leaves the old file or the new one, never a part (readers may rely on it),
    and at most a stray temporary file (``.<name>.<pid>.tmp``).

    Raises:
        OSError: it cannot be written.
    """
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, FILE_MODE)
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.chmod(tmp, FILE_MODE)  # an older stray temporary file kept its mode
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
