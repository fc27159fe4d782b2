"""Trust state shared by gateways (sipgw/app/security/trust.py), on both engines
(``backing``): two digest servers, each on its own store of the same rows and on a
monotonic clock of its own, act as one: a nonce one issued is taken by the other, wrong
answers to either count for both, and the guesses checked per user across them are what one
process checks; the secrets rotate; a stream token is taken once."""

from __future__ import annotations

import random

from sipgw.app.security.trust import NONCE_SECRET, Rotation, TrustStore
from sipgw.sip.auth import DigestServer, Verdict
from sipgw.sip.message import SipRequest
from tests.sipgw.sip.test_auth import _answer
from tests.toolkit.engines import Backing

WALL = 1_790_000_000.0
"""Epoch seconds the tests start at."""


class Gateway:
    """One gateway's digest server on its own store and its own monotonic clock."""

    def __init__(self, backing: Backing, boot: float, seed: int) -> None:
        self.store = TrustStore(backing.engine())
        self.digest = DigestServer("sipgw", {"alice": "secret"}, random.Random(seed))
        self.digest.share()
        self.digest.epoch = WALL - boot  # this gateway's clock reads ``boot`` at WALL
        self.boot = boot

    async def start(self, wall: float = WALL) -> None:
        self.digest.set_secrets(*await self.store.secrets(NONCE_SECRET, wall))

    def clock(self, t: float) -> float:
        """This gateway's monotonic time ``t`` seconds after WALL."""
        return self.boot + t

    async def verify(self, request: SipRequest, t: float, source: str) -> Verdict:
        """What the endpoint does: verify; the user's state pending, load it and again."""
        now = self.clock(t)
        verdict = self.digest.verify(request, now, source)
        if verdict is Verdict.PENDING:
            async with self.store.holding(self.digest, "alice"):
                verdict = self.digest.verify(request, now, source)
        assert verdict is not Verdict.PENDING
        assert self.digest.take("alice") is None  # nothing held between requests
        return verdict

    def answer(self, password: str, t: float, source: str) -> SipRequest:
        """An answer to a challenge this gateway issued at ``t``."""
        return _answer(self.digest, password, self.clock(t), source=source)


async def pair(backing: Backing) -> tuple[Gateway, Gateway]:
    one, two = Gateway(backing, 1_000.0, 1), Gateway(backing, 987_654.0, 2)
    await one.start()
    await two.start()
    return one, two


async def test_a_nonce_one_gateway_issued_is_checked_by_the_other(backing: Backing) -> None:
    one, two = await pair(backing)
    assert await two.verify(one.answer("secret", 0.0, "192.0.2.7"), 1.0, "192.0.2.7") is Verdict.OK
    replayed_elsewhere = one.answer("secret", 2.0, "192.0.2.7")
    assert await two.verify(replayed_elsewhere, 3.0, "192.0.2.8") is Verdict.STALE  # its address
    assert await one.verify(one.answer("secret", 0.0, "192.0.2.7"), 400.0, "192.0.2.7") is (
        Verdict.STALE
    )  # expired on its own clock


async def test_the_operators_case_one_worker_locked_the_other_refuses_the_same_network(
    backing: Backing,
) -> None:
    """8 wrong answers to gateway one from 8 addresses of one /24, each a 403 (checked, or
    held once the backoff began); then the right password: refused by gateway two from that
    network (the backoff is the user's, wherever it was earned), accepted from another."""
    one, two = await pair(backing)
    verdicts = []
    for i in range(8):
        source = f"203.0.113.{i + 10}"
        verdicts.append(await one.verify(one.answer("wrong", i, source), i, source))
    assert verdicts[:6] == [Verdict.BAD] * 6 and set(verdicts) == {Verdict.BAD, Verdict.BACKOFF}
    source = "203.0.113.99"
    assert await two.verify(two.answer("secret", 7.5, source), 7.5, source) is Verdict.BACKOFF
    assert await one.verify(one.answer("secret", 7.6, source), 7.6, source) is Verdict.BACKOFF
    home = "198.51.100.4"
    assert await two.verify(two.answer("secret", 7.7, home), 7.7, home) is Verdict.OK
    stored = await two.store.guessing("alice")
    assert stored is not None and "203.0.113.0/24" in stored and "198.51.100.0/24" in stored


async def test_guesses_checked_across_gateways_are_one_processs(backing: Backing) -> None:
    """A guesser alternating between two gateways, every 2 s for an hour from one network,
    gets what one process checks (18: tests/sipgw/sip/test_auth.py) and not twice that;
    alone, each gateway would have checked 18."""
    gateways = await pair(backing)
    checked, t, i = 0, 0.0, 0
    while t < 3600.0:
        gateway = gateways[i % 2]
        source = "192.0.2.50"
        verdict = await gateway.verify(gateway.answer("wrong", t, source), t, source)
        checked += verdict is Verdict.BAD
        t += 2.0
        i += 1
    assert checked == 5 + 10 + 3


async def test_secrets_are_shared_and_rotate_with_a_lead(backing: Backing) -> None:
    rotation = Rotation(every=1_000.0, lead=100.0)
    one, two = TrustStore(backing.engine()), TrustStore(backing.engine())
    first, others = await one.secrets(NONCE_SECRET, WALL, rotation)
    assert others == () and await two.secrets(NONCE_SECRET, WALL + 1, rotation) == (first, ())
    # within the lead before it is due: the next secret is written, accepted, not current
    current, accepted = await two.secrets(NONCE_SECRET, WALL + 950.0, rotation)
    assert current == first and len(accepted) == 1
    (following,) = accepted
    # current a full lead after it was written (1050 s), not at 1000 s
    assert await one.secrets(NONCE_SECRET, WALL + 1_049.0, rotation) == (first, (following,))
    # due: the next is current, the first still accepted (its nonces live on), then gone
    assert await one.secrets(NONCE_SECRET, WALL + 1_050.0, rotation) == (following, (first,))
    # long after (every gateway stopped): the current one stays until its successor,
    # written now, becomes current a lead later; then the first one is gone
    assert (await two.secrets(NONCE_SECRET, WALL + 5_000.0, rotation))[0] == following
    later = await two.secrets(NONCE_SECRET, WALL + 5_100.0, rotation)
    assert later[0] not in (first, following) and later[1] == (following,)


async def test_a_stream_token_is_taken_once_across_gateways(backing: Backing) -> None:
    one, two = TrustStore(backing.engine()), TrustStore(backing.engine())
    assert await one.take_token("CA123", WALL + 30.0, WALL)
    assert not await two.take_token("CA123", WALL + 30.0, WALL + 1.0)
    assert await two.take_token("CA456", WALL + 30.0, WALL + 1.0)
    assert not await one.take_token("CA456", WALL + 30.0, WALL + 2.0)
