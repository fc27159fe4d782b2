"""``python -m sipgw.app.healthcheck``: exit 0 when the local gateway answers OPTIONS with 200.

For container health checks and load-balancer probes (what Kamailio's dispatcher
does with OPTIONS), over UDP, or over TCP when ``SIPGW_TRANSPORTS`` has no udp.
Reads the port and transports from the ``network`` section (``SIPGW_SIP_PORT``,
default 5060) and the address from its own section (``SIPGW_HEALTHCHECK_HOST``,
default 127.0.0.1), from the environment, else from those two tables of the settings file
(``SIPGW_CONFIG``, else ``./sipgw.toml``). Exit status 0 for a 200, 1 otherwise (no
answer, another status, or a bad setting).
"""

from __future__ import annotations

import dataclasses
import os
import secrets
import socket
import sys

from sipgw.app.settings import HealthcheckSection, NetworkSection
from sipgw.foundation.settings import ConfigError, Sources, load, section_info
from sipgw.foundation.settings.settingsfile import config_path, file_values
from sipgw.foundation.settings.tomlfile import read_toml
from sipgw.sip.errors import SipError
from sipgw.sip.message import SipResponse, parse_message

__all__ = ["probe"]


def probe(host: str, port: int, timeout: float = 2.0, transport: str = "UDP") -> int | None:
    """Send one OPTIONS over ``transport`` (UDP or TCP); the response status, or None."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    kind = socket.SOCK_DGRAM if transport == "UDP" else socket.SOCK_STREAM
    try:
        with socket.socket(family, kind) as sock:
            sock.settimeout(timeout)
            sock.connect((host, port))
            local_host, local_port = sock.getsockname()[:2]
            sock.sendall(_options(host, port, local_host, local_port, transport))
            return _final_status(sock, stream=kind == socket.SOCK_STREAM)
    except (TimeoutError, OSError, SipError):
        return None


def _options(host: str, port: int, local_host: str, local_port: int, transport: str) -> bytes:
    tag = secrets.token_hex(4)
    target = f"[{host}]" if ":" in host else host
    return (
        f"OPTIONS sip:{target}:{port} SIP/2.0\r\n"
        f"Via: SIP/2.0/{transport} {local_host}:{local_port};branch=z9hG4bK{tag};rport\r\n"
        "Max-Forwards: 70\r\n"
        f"From: <sip:healthcheck@{local_host}>;tag={tag}\r\n"
        f"To: <sip:{target}:{port}>\r\n"
        f"Call-ID: healthcheck-{tag}\r\n"
        "CSeq: 1 OPTIONS\r\n"
        # Not needed by us, but they make the probe larger than the bare 200 OK: a
        # gateway answers sources it does not allow within the request's size.
        "User-Agent: sipgw-healthcheck\r\n"
        "Accept: application/sdp\r\n"
        "Content-Length: 0\r\n\r\n"
    ).encode()


def _final_status(sock: socket.socket, stream: bool) -> int | None:
    buffered = b""
    while True:
        data = sock.recv(65535)
        if not data:
            return None  # the gateway closed the connection
        if stream:  # an OPTIONS answer has no body: the head is the message
            buffered += data
            head, sep, buffered = buffered.partition(b"\r\n\r\n")
            if not sep:
                buffered = head
                continue
            data = head + sep
        message = parse_message(data)
        if isinstance(message, SipResponse) and message.status >= 200:
            return message.status


def _sources() -> Sources:
    """The environment, over the settings file's ``[network]`` and ``[healthcheck]``.

    Raises:
        ConfigError: the file is not found, not TOML, or wrong in those two tables.
    """
    located = config_path(None, os.environ)
    if located is None:
        return Sources(os.environ)
    document = read_toml(located[0])
    sections = [info for cls in (NetworkSection, HealthcheckSection) if (info := section_info(cls))]
    names = {info.name for info in sections}
    ours = {key: value for key, value in document.data.items() if key in names}
    found = file_values(dataclasses.replace(document, data=ours), sections)
    if found.errors:
        raise ConfigError("\n".join(found.errors))
    return Sources(os.environ, file=found.values)


def main() -> int:
    """Probe and print the result; exit status 0 only for 200."""
    try:
        sources = _sources()
        host = load(HealthcheckSection, sources).host
        network = load(NetworkSection, sources)
    except ConfigError as exc:
        print(f"healthcheck: error: {exc}", file=sys.stderr)
        return 1
    port, transports = network.sip_port, network.transports
    if "UDP" in transports or "TCP" in transports:
        transport = "UDP" if "UDP" in transports else "TCP"
    else:
        print("healthcheck: error: the gateway listens on TLS only", file=sys.stderr)
        return 1
    status = probe(host, port, transport=transport)
    print(f"OPTIONS sip:{host}:{port} over {transport} -> {status or 'no answer'}")
    return 0 if status == 200 else 1


if __name__ == "__main__":
    sys.exit(main())
