"""Redirects of a placed call: a 3xx's Contacts as the next targets (RFC 3261 §8.1.3.4), sans-IO.

A carrier or PBX that answers our INVITE with ``302 Moved Temporarily`` (or another 3xx) names
where the call should go instead in its Contacts. Following one is placing a call to a target
we did not choose, so each is judged first: :class:`Redirects` carries the judge (the
gateway's dial allow-list, as for any target an agent names) and the bound on how many 3xx one
call follows. What was judged is the URI the INVITE then carries.

:func:`redirect_targets` reads a 3xx into the targets to try, in order:

* Contacts by their ``q`` (§20.10; 1 when absent), highest first, in their order where equal.
* Only ``sip:`` and ``sips:`` URIs with a host: a ``tel:`` URI or another scheme is not a
  place to send an INVITE to.
* The ``method`` parameter and the headers (``?...``) of a Contact are left out: "a UAC MUST
  copy the entire URI from the target set into the Request-URI, except for the method-param
  and header URI parameters" (§8.1.3.4); a Contact's headers could add any header to ours.
* A URI already in the call's target set is not added again (§8.1.3.4: "a UAC MUST NOT add a
  URI to the target set more than once"): a 302 back to a target already tried is no loop.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from sipgw.sip.message import SipResponse
from sipgw.sip.uri import SipUri, copy_uri

__all__ = ["Redirects", "redirect_targets", "target_key"]


@dataclass(frozen=True, slots=True)
class Redirects:
    """Whether and where a placed call follows 3xx responses.

    Attributes:
        hops: at most this many 3xx responses followed in one call (each may give several
            targets); more ends the call with the 3xx, as without redirects.
        allows: whether the call may go to this target (the one the INVITE would carry);
            a target refused is not tried, and is reported.
    """

    hops: int
    allows: Callable[[SipUri], bool]


def target_key(uri: SipUri) -> str:
    """What makes two targets the same one (the host case-insensitive, RFC 3261 §19.1.4)."""
    key = copy_uri(uri)
    assert isinstance(key, SipUri)
    key.host = key.host.lower()
    return str(key)


def redirect_targets(response: SipResponse, seen: Iterable[str]) -> list[SipUri]:
    """The targets a 3xx names, best first, without those in ``seen`` (:func:`target_key`);
    one named twice keeps its best place. See the module docstring."""
    ranked: list[tuple[float, int, SipUri]] = []
    for index, contact in enumerate(response.contacts):
        uri = contact.uri
        if not isinstance(uri, SipUri) or not uri.host:
            continue
        target = copy_uri(uri)
        assert isinstance(target, SipUri)
        target.params.pop("method", None)
        target.headers.clear()
        ranked.append((-_q(contact.params.get("q")), index, target))
    known = set(seen)
    targets = []
    for _, _, target in sorted(ranked, key=lambda item: item[:2]):
        key = target_key(target)
        if key not in known:
            known.add(key)
            targets.append(target)
    return targets


def _q(value: str | None) -> float:
    """A Contact's ``q`` (0 to 1, RFC 3261 §20.10); 1 when absent, 0 when unreadable."""
    if value is None:
        return 1.0
    try:
        q = float(value)
    except ValueError:
        return 0.0
    return q if 0.0 <= q <= 1.0 else 0.0
