"""The admin login throttle's buckets shared by the gateways of a cluster (or the workers of
one ``serve --workers N``), in the trust store (:mod:`sipgw.app.security.trust`, table
``admin_throttle``): a guesser of the admin token spread over the gateways gets one
gateway's tries (:mod:`sipgw.app.admin.throttle` says the rule)."""

from __future__ import annotations

import time

from sipgw.app.admin.throttle import LoginThrottle
from sipgw.app.security.trust import TrustStore

__all__ = ["SharedThrottle"]


_ALL = "*"
"""The bucket of all sources together (no address is written so)."""


class SharedThrottle:
    """The admin login throttle's buckets in ``store`` (:attr:`LoginThrottle.shared`): a
    wrong token is charged in one transaction under a lock, on wall-clock time; a source's
    row is deleted once its bucket would be full again."""

    def __init__(self, store: TrustStore) -> None:
        self.store = store

    async def wrong(self, throttle: LoginThrottle, source: str) -> int:
        """See :meth:`LoginThrottle.wrong`."""
        now = time.time()
        async with self.store.engine.atomic(lock="sipgw-admin-throttle") as tx:
            rows = (await tx.run(
                "SELECT bucket, tries, stamp FROM admin_throttle WHERE bucket IN (?, ?)",
                (source, _ALL),
            )).rows  # fmt: skip
            found = {str(row[0]): (float(row[1]), float(row[2])) for row in rows}
            throttle.set_buckets(source, found.get(source), found.get(_ALL))
            wait = throttle.wrong(source, now)
            if wait:
                return wait
            mine, total = throttle.buckets(source)
            for bucket, (tries, stamp) in ((source, mine or (0.0, now)), (_ALL, total)):
                await tx.run(
                    "INSERT INTO admin_throttle (bucket, tries, stamp) VALUES (?, ?, ?)"
                    " ON CONFLICT (bucket) DO UPDATE SET tries = excluded.tries,"
                    " stamp = excluded.stamp",
                    (bucket, tries, stamp),
                )
            full = throttle.burst * throttle.refill_seconds  # a bucket refilled from empty
            await tx.run(
                "DELETE FROM admin_throttle WHERE bucket <> ? AND stamp < ?", (_ALL, now - full)
            )
        return 0
