"""The admin login throttle shared by two gateways (sipgw/app/admin/sharedthrottle.py), on
both engines (``backing``)."""

from __future__ import annotations

from sipgw.app.admin.sharedthrottle import SharedThrottle
from sipgw.app.admin.throttle import LoginThrottle
from sipgw.app.security.trust import TrustStore
from tests.toolkit.engines import Backing


async def test_the_admin_login_throttle_is_one_for_the_cluster(backing: Backing) -> None:
    """A source's 5 wrong tokens to gateway one leave it none on gateway two (429 there),
    another source still has its own; the total over all sources is shared too."""
    one, two = LoginThrottle(total_per_minute=8), LoginThrottle(total_per_minute=8)
    one.shared = SharedThrottle(TrustStore(backing.engine()))
    two.shared = SharedThrottle(TrustStore(backing.engine()))
    for _ in range(5):
        assert await one.charge("198.51.100.7", 0.0) == 0  # 401
    assert await two.charge("198.51.100.7", 0.0) > 0  # 429 on the other gateway
    assert await two.charge("198.51.100.8", 0.0) == 0
    assert await one.charge("198.51.100.9", 0.0) == 0
    assert await two.charge("198.51.100.10", 0.0) == 0  # 8 wrong tries in all
    assert await one.charge("198.51.100.11", 0.0) > 0  # the total's, from a fresh source
    assert two.refused == 1 and one.refused == 1
