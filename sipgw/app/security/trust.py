"""Trust state several gateways (or ``--workers``) share: one store, written once.

What decides who may call is kept where every process of the service sees it: the cluster's
PostgreSQL (``SIPGW_DATABASE_URL``) or, for the workers of one ``serve --workers N`` without
a database, one SQLite file their supervisor names (``SIPGW_TRUST_DB``). The SQL is the
stores' seam (:mod:`sipgw.foundation.stores.sql`); the PostgreSQL tables are migration
``0003_shared_trust.sql``.

* **Digest users' guessing state** (:mod:`sipgw.sip.guessing`: the per-user count, the lanes
  per network, the networks known): one row per configured user, a JSON record.
* **Secrets** (the digest nonces' HMAC key; the stream tokens' key): rows per name, each with
  the time it becomes the one new nonces are made under.
* **Stream tokens taken**: one row per Call SID whose stream opened (its token used up), so
  a token the webhook on one gateway issued opens one stream on any
  (:func:`sipgw.app.twilio.sharedtokens.share_stream_tokens`).
* **The admin login throttle's buckets** (:mod:`sipgw.app.admin.throttle`): one row per
  source charged lately and one for all sources, so a guesser of the admin token spread
  over the gateways gets one gateway's tries
  (:class:`sipgw.app.admin.sharedthrottle.SharedThrottle`).

How the SIP core stays sans-IO, and the consistency it gets
------------------------------------------------------------
The guessing rule stays in the core (:class:`~sipgw.sip.auth.DigestServer`); only its state
moves. Two designs were weighed:

* replicating each process's state through the store (write what changed, read the others'
  every *s* seconds) keeps verification synchronous, but a guesser who sends one answer to
  each of N gateways within *s* gets each of them checked: N times the bound the rule gives
  one process, which is the figure this store exists to keep;
* the chosen one: the core *asks*. With :attr:`~sipgw.sip.auth.DigestServer.shared`, a
  request whose credentials name a configured user whose state the core does not hold is
  not checked (:attr:`~sipgw.sip.auth.Verdict.PENDING`: nothing counted, its nonce not
  used); the user agent hands it out (:meth:`~sipgw.sip.useragent.UserAgent.awaiting_users`),
  and the endpoint (:class:`~sipgw.aio.endpoint.SipEndpoint`) calls :meth:`TrustStore.holding`:
  one transaction takes the user's lock (PostgreSQL: an advisory lock on the user name;
  SQLite: ``BEGIN IMMEDIATE``, one writer), reads the row, installs the state in the
  core, hands the request to the core again *without awaiting* (so nothing else of this
  process touches the state meanwhile), takes the state back, writes it if it changed, and
  commits.

Consistency: exact. Every checked answer of a user, on any gateway, is counted in the row
before the next answer of that user is checked anywhere (the checks of one user are
serialised by the lock), so the cluster checks no more answers per user than one process
does (docs/security.md, "Guessing passwords"). What it costs: one transaction (about four
round trips) per answer that reaches the check: a request from outside the allow list, with
credentials naming a configured user, on a nonce it may use (an expired or replayed nonce is
answered ``stale`` before, without the store). If the store cannot be reached, the answer is
not checked (dropped; the phone retransmits): fail closed.

Times in the rows are epoch seconds; the core runs on the loop's monotonic clock, so the
state is moved by ``epoch`` (wall minus monotonic time, :attr:`DigestServer.epoch`) on the
way in and out, and the nonces carry epoch issue times: any gateway of the cluster checks a
nonce another issued, if their clocks agree within a second or so (NTP).

Secrets and their rotation (:meth:`TrustStore.secrets`): a secret becomes current at its
``active_from``; the next one is written ``lead`` seconds before it becomes current, so every
gateway refreshing more often than that knows it before anybody makes a nonce under it, and
the two before it stay accepted (a nonce lives minutes; a rotation is daily).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets as random_secrets
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from sipgw.aio.endpoint import SipEndpoint
from sipgw.foundation.stores.sql import Engine, Statements
from sipgw.foundation.stores.sqlite import SqliteEngine, executescript
from sipgw.sip.auth import DigestServer
from sipgw.sip.guessing import Guessing

__all__ = [
    "NONCE_SECRET",
    "REFRESH",
    "SQLITE_SCHEMA",
    "STREAM_SECRET",
    "Rotation",
    "TRUST_DB_ENV",
    "SharedUserStates",
    "TrustStore",
    "share_digest",
    "trust_store",
]

log = logging.getLogger("sipgw.access")

SQLITE_SCHEMA = """
CREATE TABLE IF NOT EXISTS trust_secrets (
    name TEXT NOT NULL,
    secret TEXT NOT NULL,
    active_from REAL NOT NULL,
    PRIMARY KEY (name, active_from)
);
CREATE TABLE IF NOT EXISTS digest_guessing (
    username TEXT PRIMARY KEY,
    record TEXT NOT NULL,
    updated REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS stream_tokens_taken (
    call_sid TEXT PRIMARY KEY,
    expires REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS stream_tokens_taken_expires ON stream_tokens_taken (expires);
CREATE TABLE IF NOT EXISTS admin_throttle (
    bucket TEXT PRIMARY KEY,
    tries REAL NOT NULL,
    stamp REAL NOT NULL
);
"""
"""The tables in a SQLite file (the same as PostgreSQL's migration 0003)."""

NONCE_SECRET = "digest-nonce"
"""The secret the digest nonces' HMAC is keyed with."""
STREAM_SECRET = "stream-token"
"""The secret the stream tokens' HMAC is keyed with."""

_KEPT = 3
"""Secrets of a name accepted: the next one (not current yet), the current, the one before."""


@dataclass(frozen=True, slots=True)
class Rotation:
    """When secrets change."""

    every: float = 86_400.0
    """Seconds a secret is current."""
    lead: float = 600.0
    """The next secret is written this long before it becomes current (gateways must
    refresh more often: :data:`REFRESH`)."""


REFRESH = 60.0
"""Seconds between a gateway's readings of the secrets."""


class TrustStore:
    """The shared trust state (see the module docstring) on ``engine``: a SQLite file (a
    path: made on first use, owner-only) or the cluster's database."""

    def __init__(self, engine: Engine | Path, timeout: float = 5.0) -> None:
        if isinstance(engine, Path):
            engine = SqliteEngine(engine, executescript(SQLITE_SCHEMA), timeout=timeout, wal=True)
        self.engine = engine

    # -- secrets ------------------------------------------------------------------------

    async def secrets(
        self, name: str, now: float, rotation: Rotation = Rotation()
    ) -> tuple[bytes, tuple[bytes, ...]]:
        """The secret ``name`` current at ``now`` (epoch seconds) and the others accepted
        (the next one, the one before); the first gateway to need a secret or its successor
        writes it."""
        async with self.engine.atomic(lock=f"sipgw-secret:{name}") as tx:
            rows = (await tx.run(
                "SELECT secret, active_from FROM trust_secrets WHERE name = ?"
                " ORDER BY active_from DESC LIMIT ?", (name, _KEPT),
            )).rows  # fmt: skip
            active = [row for row in rows if row[1] <= now]
            if not active:
                await self._add(tx, name, now)
            elif not any(row[1] > now for row in rows):
                due = float(active[0][1]) + rotation.every
                if due - rotation.lead <= now:
                    await self._add(tx, name, max(due, now + rotation.lead))
            rows = (await tx.run(
                "SELECT secret, active_from FROM trust_secrets WHERE name = ?"
                " ORDER BY active_from DESC LIMIT ?", (name, _KEPT + 1),
            )).rows  # fmt: skip
            at = next(i for i, row in enumerate(rows) if row[1] <= now)  # the current one
            rows = rows[: at + 2]  # the next ones, the current one, the one before it
            await tx.run(
                "DELETE FROM trust_secrets WHERE name = ? AND active_from < ?", (name, rows[-1][1])
            )
        keys = [bytes.fromhex(secret) for secret, _ in rows]
        return keys[at], tuple(key for i, key in enumerate(keys) if i != at)

    @staticmethod
    async def _add(tx: Statements, name: str, active_from: float) -> None:
        await tx.run(
            "INSERT INTO trust_secrets (name, secret, active_from) VALUES (?, ?, ?)",
            (name, random_secrets.token_hex(32), active_from),
        )

    # -- digest users' guessing state ------------------------------------------------

    @contextlib.asynccontextmanager
    async def holding(self, digest: DigestServer, username: str) -> AsyncIterator[None]:
        """Hold ``username``'s row: its state installed in ``digest`` for the block (which
        must not await), written back after it if it changed (see the module docstring).

        Raises:
            ValueError: the row holds no guessing state (never taken as a clean slate).
        """
        async with self.engine.atomic(lock=f"sipgw-guessing:{username}") as tx:
            found = (await tx.run(
                f"SELECT record FROM digest_guessing WHERE username = ?{tx.dialect.for_update}",
                (username,),
            )).rows  # fmt: skip
            before = found[0][0] if found else None
            offset = digest.epoch
            if before is None:
                state = Guessing(digest.backoff)
            else:
                state = Guessing.from_record(digest.backoff, json.loads(before), -offset)
            digest.install(username, state)
            try:
                yield
            finally:
                taken = digest.take(username)
            if taken is None:
                return
            after = json.dumps(taken.record(offset), separators=(",", ":"))
            if after != before:
                await tx.run(
                    "INSERT INTO digest_guessing (username, record, updated) VALUES (?, ?, ?)"
                    " ON CONFLICT (username) DO UPDATE SET record = excluded.record,"
                    " updated = excluded.updated",
                    (username, after, time.time()),
                )

    async def guessing(self, username: str) -> str | None:
        """``username``'s stored record (JSON), for tests and the operator's eye."""
        rows = (await self.engine.run(
            "SELECT record FROM digest_guessing WHERE username = ?", (username,)
        )).rows  # fmt: skip
        return str(rows[0][0]) if rows else None

    # -- stream tokens ----------------------------------------------------------------

    async def take_token(self, call_sid: str, expires: float, now: float) -> bool:
        """Mark ``call_sid``'s stream token used (it expires at ``expires``, epoch
        seconds); False if it was used already, here or on another gateway. Rows of
        tokens expired a minute ago are deleted on the way (they are refused anyway)."""
        async with self.engine.atomic() as tx:
            await tx.run("DELETE FROM stream_tokens_taken WHERE expires < ?", (now - 60.0,))
            taken = await tx.run(
                "INSERT INTO stream_tokens_taken (call_sid, expires) VALUES (?, ?)"
                " ON CONFLICT (call_sid) DO NOTHING RETURNING call_sid",
                (call_sid, expires),
            )
        return bool(taken.rows)


class SharedUserStates:
    """The endpoint's :class:`~sipgw.aio.endpoint.UserStates` over a :class:`TrustStore`
    for one digest server."""

    def __init__(self, store: TrustStore, digest: DigestServer) -> None:
        self.store = store
        self.digest = digest

    def holding(self, username: str) -> contextlib.AbstractAsyncContextManager[None]:
        """See :meth:`TrustStore.holding`."""
        return self.store.holding(self.digest, username)


TRUST_DB_ENV = "SIPGW_TRUST_DB"
"""The SQLite file the workers of ``serve --workers N`` share their trust state in, without
a shared database (their supervisor sets it: ``trust.sqlite3`` in the working directory
unless it is set already)."""


def trust_store(database: Engine | None, environ: Mapping[str, str]) -> TrustStore | None:
    """The trust store of this gateway: the cluster's ``database``, else the file
    :data:`TRUST_DB_ENV` names, else None (the state stays in this process's memory)."""
    if database is not None:
        return TrustStore(database)
    path = environ.get(TRUST_DB_ENV, "")
    return TrustStore(Path(path)) if path else None


async def share_digest(
    store: TrustStore | None, endpoint: SipEndpoint, refresh: float = REFRESH
) -> asyncio.Task[None] | None:
    """Make ``endpoint``'s digest server one of the cluster's (see the module docstring):
    its nonce secret and its users' guessing state from ``store``. Returns the task that
    reads the secrets again every ``refresh`` seconds (a rotation); None without a store
    or without digest users (nothing to share)."""
    digest = endpoint.ua.access.digest
    if store is None or digest is None:
        return None
    loop = asyncio.get_running_loop()
    digest.epoch = time.time() - loop.time()
    current, others = await store.secrets(NONCE_SECRET, time.time())
    digest.set_secrets(current, others)
    digest.share()
    endpoint.users = SharedUserStates(store, digest)
    log.info("access: digest nonces and wrong answers shared in %s", store.engine.where)

    async def rotate() -> None:
        while True:
            await asyncio.sleep(refresh)
            try:
                digest.set_secrets(*await store.secrets(NONCE_SECRET, time.time()))
            except Exception as exc:  # the store is away: the secrets known stay in force
                log.warning("trust: the nonce secrets not read again (%s)", exc)

    return loop.create_task(rotate(), name="trust-secrets")
