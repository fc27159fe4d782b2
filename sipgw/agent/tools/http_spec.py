"""An HTTP tool as declared, and the rules its URL and addresses follow (no I/O here).

:class:`HttpToolSpec` is what :mod:`sipgw.agent.tools.declared` reads from a tools file or a
routes file's line; :mod:`sipgw.agent.tools.http` makes it a tool (and imports aiohttp, which a
gateway that declares no HTTP tool never loads). :func:`template_fields` checks a URL
template (placeholders in the path and query only), :func:`forbidden_address` says which
addresses a tool may not reach unless the operator allowed the host.
"""

from __future__ import annotations

import ipaddress
import re
import string
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

__all__ = [
    "BODY_METHODS",
    "DEFAULT_MAX_BYTES",
    "MAX_REDIRECTS",
    "METHODS",
    "HttpToolSpec",
    "forbidden_address",
    "template_fields",
]

MAX_REDIRECTS = 3
"""Redirects one request may follow."""
DEFAULT_MAX_BYTES = 64 * 1024
"""The largest response body read by default."""
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
METHODS = frozenset({"GET", "DELETE"}) | BODY_METHODS


@dataclass(frozen=True, slots=True)
class HttpToolSpec:
    """One HTTP tool as declared (checked by :mod:`sipgw.agent.tools.declared`)."""

    name: str
    description: str
    parameters: Mapping[str, Any]
    """The JSON schema of its arguments (the strict subset of :mod:`sipgw.agent.tools.schema`)."""
    url: str
    """``https://api.example.com/orders/{order_id}``: placeholders in the path and query only."""
    method: str = "GET"
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)
    """Header -> value, ``${VAR}`` already replaced by the environment's value."""
    timeout: float = 5.0
    result: str = ""
    """A dotted path into the JSON body (``data.status``); "" = the whole body."""
    max_bytes: int = DEFAULT_MAX_BYTES
    allow_hosts: frozenset[str] = frozenset()
    """Hosts the operator allows to be internal addresses (and to be redirected to)."""
    redirect_hosts: frozenset[str] = frozenset()
    """Other hosts redirects may go to (their addresses still checked)."""
    filler: str = ""
    """Said when this tool makes a reply wait (the filler rules); "" = the next filler line."""
    max_calls: int = 0
    """Calls per phone call; 0 = the registry's per-tool limit."""


def template_fields(url: str) -> list[str]:
    """The ``{name}`` placeholders of a URL template, in order.

    Raises:
        ValueError: a placeholder sits in the scheme, host or port, or the template is
            not an http(s) URL.
    """
    try:
        names = [name for _, name, _, _ in string.Formatter().parse(url) if name is not None]
    except ValueError as exc:
        raise ValueError(f"url {url!r}: {exc}") from None
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"url {url!r} is not an http:// or https:// URL with a host")
    if "{" in parts.netloc or "{" in parts.scheme:
        raise ValueError(f"url {url!r}: a placeholder may not set the scheme, host or port")
    for name in names:
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
            raise ValueError(f"url {url!r}: placeholder {{{name}}} is not an argument name")
    return names


def forbidden_address(address: str) -> bool:
    """True for an address a tool may not reach unless its host is allowed: anything not
    globally routable (RFC 6890's special-purpose registries), and multicast."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return not ip.is_global or ip.is_multicast
