"""The whole RFC 4475 set in sequence, as a conformance runner sends it (issue 39).

Every message goes byte-exact to an in-process gateway with the defaults of ``sipgw serve``
(flood limits included), two a second, each followed by an OPTIONS probe, over UDP from one
source and over TCP from another (:mod:`tests.sipgw.sip.rfc4475_sequence`). The TCP pass follows
the UDP pass message by message: a message goes over TCP once its UDP copy has been answered
and probed, so each source sends at the runner's pace (the flood limits count per source
address), and every TCP copy arrives a few seconds after its UDP copy, while the transaction
that one made is still there (Timer J, 32 s). Every request gets its final response: the one
the UAS core gives it alone (tests/sipgw/sip/test_rfc4475_ua.py, tests/sipgw/sip/test_rfc4475_tcp.py
where a stream frames it differently), and the probe after it its 200; nothing goes unanswered
on a connection that stays open.

Who the runner is matters, and both defaults are run: with the echo agent (it spends
nothing) this host is allowed, and the set is answered as the UAS core answers it; with an
agent that costs money and nothing configured, nobody is, and the runner is a *stranger*
(sipgw/sip/usages/strangers.py): its malformed requests, responses and OPTIONS are answered as
an allowed source's, a request naming a dialog gets 481, and everything else that would
start something (INVITE, REGISTER, MESSAGE, unknown methods) 403.

The runner listens on the ports the messages' Vias name (5060 and a few), on addresses of
its own (127.0.0.7, ...): it needs the network namespace of its own that ``scripts/test`` gives.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from sipgw.app.security.access import AccessConfig
from sipgw.sip.errors import MessageParseError
from sipgw.sip.message import SipRequest, SipResponse, parse_message
from tests.sipgw.sip.rfc4475_data import DATA_DIR
from tests.sipgw.sip.rfc4475_sequence import Outcome, SequenceRunner
from tests.sipgw.sip.test_rfc4475_tcp import ON_A_STREAM
from tests.sipgw.sip.test_rfc4475_ua import EXPECTED
from tests.toolkit.gateway_in_process import running_gateway
from tests.toolkit.netns import in_initial_netns

if DATA_DIR is None:  # the same data-availability rule as test_rfc4475.py
    pytest.skip("RFC 4475 messages not found (see test_rfc4475.py)", allow_module_level=True)

pytestmark = pytest.mark.timeout(180)

SOURCES = ("127.0.0.7", "127.0.0.9")
"""The allowed runner's sources: UDP, TCP."""
STRANGER = ("127.0.0.8", "127.0.0.10")
"""The stranger's: UDP, TCP."""

WAITING_ON_A_STREAM = ("clerr", "baddn")
"""Messages a stream leaves incomplete (tests/sipgw/sip/test_rfc4475_tcp.py): the gateway waits
for the rest and closes the connection after SIPGW_TCP_MESSAGE_TIMEOUT, with a log line."""


def final_alone(name: str, transport: str) -> int | None:
    """The final status the message gets sent alone to an allowed source (None: none)."""
    if transport == "TCP":
        statuses, offered, _ = ON_A_STREAM.get(name, EXPECTED[name])
    else:
        statuses, offered, _ = EXPECTED[name]
    final = next((s for s in statuses if s >= 200), None)
    return 200 if final is None and offered else final  # the echo agent answers a call


def final_for_a_stranger(name: str, transport: str) -> int | None:
    """What the rules of sipgw/sip/usages/strangers.py make of it."""
    assert DATA_DIR is not None
    alone = final_alone(name, transport)
    try:
        message = parse_message((DATA_DIR / f"{name}.dat").read_bytes())
    except MessageParseError:
        return alone  # malformed: its 400 (505, 501) as anyone's, or a response dropped
    if isinstance(message, SipResponse) or alone == 400:
        return alone  # a response (nothing), or a stream's framing error (400)
    assert isinstance(message, SipRequest)
    if message.method == "OPTIONS":
        return alone
    if message.to.tag:
        return 481  # names a dialog we do not have
    return 403


def failures(
    outcomes: dict[str, Outcome], transport: str, expect: Callable[[str, str], int | None]
) -> list[str]:
    wrong = []
    for name, got in outcomes.items():
        want = expect(name, transport)
        problems = []
        if got.final != want:
            problems.append(f"final {got.final} (all {got.statuses}), expected {want}")
        if got.probe != 200:
            problems.append(f"probe after it got {got.probe}")
        if transport == "TCP" and got.final is None and not got.closed and got.request:
            if name not in WAITING_ON_A_STREAM:
                problems.append("no final response and the connection left open")
        if problems:
            wrong.append(f"{name}: {'; '.join(problems)}")
    return wrong


async def wrong_answers(
    access: AccessConfig, expect: Callable[[str, str], int | None], sources: tuple[str, str]
) -> list[str]:
    """The set to a gateway of its own over UDP from ``sources[0]`` and, a message once its
    UDP copy is answered, over TCP from ``sources[1]``: what went wrong."""
    assert DATA_DIR is not None
    names = sorted(EXPECTED)
    over_udp = {name: asyncio.Event() for name in names}

    async def after_udp(name: str) -> None:
        await over_udp[name].wait()

    async with running_gateway(access=access) as (gateway, _):
        port = gateway.sip.listening[0][2]
        udp, tcp = (SequenceRunner(source, ("127.0.0.1", port), DATA_DIR) for source in sources)
        passes = await asyncio.gather(
            udp.run("UDP", names, answered=lambda name: over_udp[name].set()),
            tcp.run("TCP", names, before=after_udp),
        )
    wrong = []
    for transport, outcomes in zip(("UDP", "TCP"), passes, strict=True):
        assert len(outcomes) == 49
        wrong += [f"{transport} {line}" for line in failures(outcomes, transport, expect)]
    return wrong


async def test_the_rfc4475_set_in_sequence_is_answered_over_udp_and_over_tcp() -> None:
    """One gateway for a source it admits, one for a stranger (at once, from sources of
    their own, each at the conformance runner's pace): the set over UDP, and each message
    over TCP once its UDP copy is answered, while the transaction that copy made is still
    there (Timer J, 32 s): the TCP copies are answered on their connections all the same."""
    if in_initial_netns():
        pytest.skip("needs a network namespace of its own (unshare -n): it binds port 5060")
    allowed, stranger = await asyncio.gather(
        wrong_answers(AccessConfig(free_agents=True), final_alone, SOURCES),
        wrong_answers(AccessConfig(), final_for_a_stranger, STRANGER),
    )
    assert not allowed and not stranger, "\n".join(
        [*(f"allowed: {line}" for line in allowed), *(f"stranger: {line}" for line in stranger)]
    )
