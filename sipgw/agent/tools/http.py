"""HTTP tools: a tool the operator declares (no Python) that makes one HTTP request.

An :class:`HttpToolSpec` (from the routes file or ``SIPGW_TOOLS_FILE``:
:mod:`sipgw.agent.tools.declared`) becomes a :class:`~sipgw.agent.tools.registry.Tool` whose handler

* fills the URL template's ``{name}`` placeholders with the model's arguments, each
  percent-encoded as one path segment or query value (``/`` and ``?`` included), so that
  what the caller said is data and never changes the scheme, host or port (a placeholder
  there is refused when the tool is declared); the other arguments go in the query string
  (``GET``, ``DELETE``) or as a JSON body (``POST``, ``PUT``, ``PATCH``);
* sends the declared headers, whose ``${VAR}`` secrets were read from the environment when
  the tool was built (never from the file, never logged, never in an error);
* refuses to reach an address that is not global (loopback, private, link-local, shared,
  reserved, multicast: :func:`forbidden_address`) unless the operator allowed that host
  (``allow_hosts``): every address a name resolves to is checked, and the connection is
  made to the checked addresses only (a resolver of our own), so a name cannot be
  re-pointed between check and use; redirects are followed by hand (at most
  :data:`MAX_REDIRECTS`), each hop checked the same way, and only to the same host or one
  in ``allow_hosts`` or ``redirect_hosts``;
* reads at most ``max_bytes`` of the body (a longer one is an error, not a truncation),
  and gives the model the body or one field of it (``result = "data.status"``).

A failure (connection refused, a refused address or redirect, a non-2xx status, a body
too large, a field missing) raises :class:`~sipgw.agent.tools.registry.ToolError`: the model
hears it and can tell the caller; the registry's timeout bounds the whole request.
"""

from __future__ import annotations

import ipaddress
import json
import socket
from collections.abc import Awaitable, Callable, Mapping
from typing import Any
from urllib.parse import quote, urljoin, urlsplit

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult

from sipgw.agent.tools.http_spec import (
    BODY_METHODS,
    MAX_REDIRECTS,
    HttpToolSpec,
    forbidden_address,
    template_fields,
)
from sipgw.agent.tools.registry import Tool, ToolContext, ToolError
from sipgw.foundation.handled_errors import forget_frames
from sipgw.foundation.http_body import body_within
from sipgw.foundation.redact import MASK
from sipgw.foundation.tracing import trace_headers

__all__ = ["Resolve", "http_tool", "system_resolve"]

Resolve = Callable[[str, int], Awaitable[list[str]]]
"""``await resolve(host, port)``: the addresses a host name has (IPv4 and IPv6 text)."""


async def system_resolve(host: str, port: int) -> list[str]:
    """The host's addresses from the system resolver."""
    import asyncio

    infos = await asyncio.get_running_loop().getaddrinfo(
        host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
    )
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


class _CheckedResolver(AbstractResolver):
    """Resolves with ``resolve`` and refuses a host any of whose addresses is forbidden;
    aiohttp connects to exactly the addresses returned."""

    def __init__(self, resolve: Resolve, allowed: frozenset[str]) -> None:
        self._resolve = resolve
        self._allowed = allowed

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        try:
            addresses = await self._resolve(host, port)
        except OSError as exc:
            raise ToolError(f"cannot resolve {host}: {exc.strerror or exc}") from None
        if not addresses:
            raise ToolError(f"cannot resolve {host}")
        if host.lower() not in self._allowed:
            for address in addresses:
                if forbidden_address(address):
                    raise ToolError(f"{host} is an internal address ({address}), not allowed")
        return [
            {
                "hostname": host, "host": address, "port": port,
                "family": socket.AF_INET6 if ":" in address else socket.AF_INET,
                "proto": 0, "flags": socket.AI_NUMERICHOST,
            }
            for address in addresses
        ]  # fmt: skip

    async def close(self) -> None:
        return None


def _check_literal(host: str, allowed: frozenset[str]) -> None:
    """An IP-literal host is never resolved: check it here."""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return
    if host.lower() not in allowed and forbidden_address(host):
        raise ToolError(f"{host} is an internal address, not allowed")


def _fill(url: str, names: list[str], args: Mapping[str, Any]) -> str:
    values = {}
    for name in names:
        if name not in args:
            raise ToolError(f"missing argument {name!r} for the URL")
        text = args[name] if isinstance(args[name], str) else json.dumps(args[name])
        if text in ("", ".", ".."):
            raise ToolError(f"argument {name!r} may not be {text!r}")
        values[name] = quote(text, safe="")
    return url.format(**values)


def _pick(body: bytes, path: str) -> object:
    try:
        value: Any = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise ToolError("the response is not JSON, so it has no field " + repr(path)) from None
    for part in path.split("."):
        if isinstance(value, dict) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            raise ToolError(f"the response has no field {path!r}")
    return value


def http_tool(spec: HttpToolSpec, resolve: Resolve = system_resolve) -> Tool:
    """The tool ``spec`` declares (see the module docstring).

    Raises:
        ValueError: the URL template is bad (see :func:`template_fields`).
    """
    names = template_fields(spec.url)
    allowed = frozenset(host.lower() for host in spec.allow_hosts)
    followed = allowed | {host.lower() for host in spec.redirect_hosts}
    secrets = [value for value in spec.headers.values() if len(value) >= 8]

    async def request(ctx: ToolContext, args: dict[str, Any]) -> object:
        url = _fill(spec.url, names, args)
        rest = {key: value for key, value in args.items() if key not in names}
        params: dict[str, str] | None = None
        body: Any = None
        if spec.method in BODY_METHODS:
            body = rest
        elif rest:
            params = {k: v if isinstance(v, str) else json.dumps(v) for k, v in rest.items()}
        first_host = (urlsplit(url).hostname or "").lower()
        connector = aiohttp.TCPConnector(resolver=_CheckedResolver(resolve, allowed))
        timeout = aiohttp.ClientTimeout(total=None)  # the registry's timeout bounds it
        headers = {**spec.headers, **trace_headers()}  # W3C traceparent when traced
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
            for _ in range(MAX_REDIRECTS + 1):
                host = (urlsplit(url).hostname or "").lower()
                if host != first_host and host not in followed:
                    raise ToolError(f"{spec.name} was redirected to {host}, which is not allowed")
                _check_literal(host, allowed)
                try:
                    async with session.request(
                        spec.method, url, params=params, json=body, headers=headers,
                        allow_redirects=False,
                    ) as response:  # fmt: skip
                        if response.status in (301, 302, 303, 307, 308):
                            location = response.headers.get("Location", "")
                            if not location:
                                raise ToolError(f"HTTP {response.status} without a Location")
                            url = urljoin(str(response.url), location)
                            params = None
                            if response.status == 303 or (
                                response.status in (301, 302) and spec.method == "POST"
                            ):
                                body = None
                            continue
                        return _without(secrets, await _answer(spec, response))
                except aiohttp.ClientError as exc:
                    forget_frames(exc)  # a refused connection's errors hold their frames
                    raise ToolError(f"{spec.name}: {type(exc).__name__}: {exc}") from None
            raise ToolError(f"{spec.name}: more than {MAX_REDIRECTS} redirects")

    return Tool(
        name=spec.name,
        description=spec.description,
        parameters=spec.parameters,
        handler=request,
        timeout=spec.timeout,
        source="http",
        filler=spec.filler,
        max_calls=spec.max_calls,
    )


def _without(secrets: list[str], value: object) -> object:
    """``value`` as the model gets it, with the tool's own header values masked (a service
    that echoes the request's headers does not hand the model its token)."""
    if not secrets:
        return value
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    for secret in secrets:
        text = text.replace(secret, MASK)
        for word in secret.split():  # "Bearer TOKEN": the token alone too
            if len(word) >= 8:
                text = text.replace(word, MASK)
    return text


async def _answer(spec: HttpToolSpec, response: aiohttp.ClientResponse) -> object:
    if not 200 <= response.status < 300:
        raise ToolError(f"{spec.name} failed: HTTP {response.status} {response.reason or ''}")
    body = await body_within(response, spec.max_bytes)
    if body is None:
        raise ToolError(f"{spec.name}: the response is over {spec.max_bytes} bytes")
    if spec.result:
        return _pick(body, spec.result)
    text = body.decode(response.get_encoding() if response.charset else "utf-8", "replace")
    try:
        return json.loads(text)
    except ValueError:
        return text
