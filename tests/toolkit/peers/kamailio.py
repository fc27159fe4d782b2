"""Kamailio 5.6 (Debian ``kamailio`` + ``kamailio-tls-modules``) as a registrar and proxy for tests.

``Kamailio(workdir, users={"alice": "secret"})`` writes a kamailio.cfg (see
:mod:`.kamailio_cfg` for what it does) and runs ``kamailio -DD -E -f cfg`` in the foreground, its
output (stderr logging) read line by line into :attr:`lines` and ``workdir/NAME.log``. UDP and TCP
share :attr:`sip_port`, TLS listens on :attr:`tls_port`; both are free ports chosen at the first
start and kept by :meth:`restart`. Registrations live in memory only, so a restart loses them.
Registrations are read over the ctl socket with ``kamcmd ul.dump``; the ``sipgw-kam:``
decision lines are :meth:`Kamailio.events`, waited for with :meth:`Kamailio.wait_events`::

    with Kamailio(workdir, users={"alice": "pw"}, algorithm="SHA-256") as kam:
        alice = Baresip(workdir, "alice", account=kam.account_line("alice", "pw"), ...)
        kam.wait_registered("alice")
        caller.dial(kam.aor("alice"))

Quirks: the ctl unix socket lives in a short temporary directory (socket paths are limited to
108 bytes, pytest's are longer); ``min_expires_mode 1`` is what makes the registrar answer 423
(otherwise it silently raises the expiry); ``nonce_count`` needs ``qop`` in the challenge; with
``-E`` everything goes to stderr, so the log is the program's output.
"""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from sipgw.app.evaluation.ports import free_port, udp_port_bound
from sipgw.app.evaluation.process import (
    LineBuffer,
    ManagedProcess,
    PeerContext,
    PeerError,
    require_binary,
)
from tests.toolkit.peers.kamailio_cfg import (
    LOG_TAG,
    KamailioOptions,
    render_config,
    render_tls_config,
)
from tests.toolkit.tls import ServerCertificate, make_ca, make_server_cert
from tests.toolkit.waiting import wait_for

__all__ = ["Kamailio", "Registration"]

HOST = "127.0.0.1"


@dataclass(frozen=True, slots=True)
class Registration:
    """One contact bound to an AOR in Kamailio's location table."""

    aor: str
    contact: str
    expires: int
    received: str
    socket: str
    user_agent: str

    @property
    def transport(self) -> str:
        """``udp``, ``tcp`` or ``tls``: how Kamailio reaches this contact."""
        return self.socket.split(":", 1)[0].lower()


class Kamailio(PeerContext):
    """A Kamailio registrar/proxy on loopback (context manager).

    Options (all but ``workdir`` keyword-only):

    * ``users``: auth username -> password, for REGISTER (401) and, with ``challenge_invites``,
      initial INVITEs (407). ``realm`` is the digest realm; ``algorithm`` ``"MD5"`` or
      ``"SHA-256"``; ``qop`` puts ``qop="auth"`` in challenges (nonce counts are checked).
    * ``min_expires``/``max_expires``/``default_expires``: a REGISTER below ``min_expires``
      gets 423 Interval Too Brief with Min-Expires; above ``max_expires`` it is lowered.
    * ``auth_user_must_match``: 403 when the auth username is not the AOR's user.
    * ``nat_helper``: treat senders whose source differs from their Via/Contact as behind
      NAT (register their source address, alias their contacts). Off, this is done only for
      TCP/TLS (reaching a client back over its own connection needs it).
    * ``host``: the address every listener binds (default 127.0.0.1; e.g. the NAT harness's
      public address).
    * ``invite_route``: a ``route[INVITE_ROUTE]`` block that takes initial INVITEs instead of
      the built-in routing (a carrier's trunk rules: :mod:`.carriers`).
    * ``refuse_refer``: every REFER gets 403 (a trunk that does not carry transfers).
    * ``transports``: any of ``udp``, ``tcp``, ``tls``; ``tls_cert`` (made with
      :mod:`tests.toolkit.tls` in ``workdir/NAME/pki`` when not given) for the TLS listener,
      and presented when Kamailio connects out. ``tls_peer_ca``: mutual TLS, a peer's
      certificate must chain to it (``verify_certificate``, ``require_certificate``), and so
      must a server's Kamailio connects to.
    """

    def __init__(
        self,
        workdir: str | Path,
        name: str = "kamailio",
        *,
        users: Mapping[str, str] | None = None,
        realm: str = "sipgw.test",
        algorithm: str = "MD5",
        qop: bool = True,
        min_expires: int = 0,
        max_expires: int = 3600,
        default_expires: int = 3600,
        challenge_invites: bool = False,
        auth_user_must_match: bool = True,
        nat_helper: bool = True,
        transports: Sequence[str] = ("udp", "tcp", "tls"),
        aliases: Sequence[str] = (),
        invite_route: str = "",
        refuse_refer: bool = False,
        tls_cert: ServerCertificate | None = None,
        tls_peer_ca: Path | None = None,
        sip_port: int | None = None,
        tls_port: int | None = None,
        host: str = HOST,
        debug: int = 2,
        lifetime: float = 120.0,
        start_timeout: float = 10.0,
    ) -> None:
        self.options = KamailioOptions(
            users=dict(users or {}),
            realm=realm,
            algorithm=algorithm,
            qop=qop,
            min_expires=min_expires,
            max_expires=max_expires,
            default_expires=default_expires,
            challenge_invites=challenge_invites,
            auth_user_must_match=auth_user_must_match,
            nat_helper=nat_helper,
            transports=tuple(transports),
            aliases=tuple(aliases),
            debug=debug,
            invite_route=invite_route,
            refuse_refer=refuse_refer,
        )
        self.workdir = Path(workdir).resolve()
        self.name = name
        self.run_dir = self.workdir / name
        self.config_path = self.run_dir / "kamailio.cfg"
        self.log_path = self.workdir / f"{name}.log"
        self.tls_cert = tls_cert
        self.tls_peer_ca = tls_peer_ca
        self._host = host
        self._fixed_ports = sip_port is not None or tls_port is not None
        self.sip_port = sip_port or 0
        self.tls_port = tls_port or 0
        self.lifetime = lifetime
        self.start_timeout = start_timeout
        self.process: ManagedProcess | None = None
        self._ctl_dir: Path | None = None
        self.starts = 0

    # ------------------------------------------------------------------ addresses
    @property
    def host(self) -> str:
        return self._host

    @property
    def realm(self) -> str:
        return self.options.realm

    def port(self, transport: str = "udp") -> int:
        """The port of the ``transport`` listener."""
        return self.tls_port if transport == "tls" else self.sip_port

    def hostport(self, transport: str = "udp") -> str:
        return f"{self.host}:{self.port(transport)}"

    def uri(self, user: str | None = None, transport: str = "udp") -> str:
        """``sip:[user@]HOST:PORT`` (with ``;transport=`` for TCP and TLS): the registrar,
        the outbound proxy, or (with a user) an AOR that Kamailio routes."""
        userpart = f"{user}@" if user else ""
        param = "" if transport == "udp" else f";transport={transport}"
        return f"sip:{userpart}{self.hostport(transport)}{param}"

    def aor(self, user: str, transport: str = "udp") -> str:
        """The AOR of ``user`` as registered (and dialled) through this Kamailio."""
        return self.uri(user, transport)

    # ------------------------------------------------------------------ lifecycle
    def _prepare(self) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        if self._ctl_dir is None:
            # unix socket paths are limited to 108 bytes: keep it short, outside workdir
            self._ctl_dir = Path(tempfile.mkdtemp(prefix="kam-"))
        tls_config = None
        if "tls" in self.options.transports:
            if self.tls_cert is None:
                pki = self.run_dir / "pki"
                self.tls_cert = make_server_cert(make_ca(pki), pki, "kamailio", ips=[self.host])
            tls_config = self.run_dir / "tls.cfg"
            tls_config.write_text(
                render_tls_config(
                    self.tls_cert.cert, self.tls_cert.key, self.tls_cert.ca_cert, self.tls_peer_ca
                )
            )
        self.config_path.write_text(
            render_config(
                self.options,
                host=self.host,
                sip_port=self.sip_port,
                tls_port=self.tls_port,
                ctl_socket=self.ctl_socket,
                tls_config=tls_config,
            )
        )

    @property
    def ctl_socket(self) -> Path:
        assert self._ctl_dir is not None
        return self._ctl_dir / "ctl"

    def start(self) -> Kamailio:
        """Write the config, start Kamailio and wait until every listener and the ctl socket
        answer. Ports are picked at the first start (retrying on a race) and then kept."""
        require_binary("kamailio")
        require_binary("kamcmd")
        keep_ports = self._fixed_ports or self.starts > 0
        attempts = 1 if keep_ports else 3
        error = ""
        for _ in range(attempts):
            if not keep_ports:
                self.sip_port = free_port()
                self.tls_port = free_port()
            self._prepare()
            argv = [
                "kamailio", "-DD", "-E", "-f", str(self.config_path),
                "-Y", str(self.run_dir), "-P", str(self.run_dir / "kamailio.pid"),
                "-m", "32", "-M", "4",
            ]  # fmt: skip
            self.process = ManagedProcess(
                f"kamailio-{self.name}",
                argv,
                log_path=self.log_path,
                lifetime=self.lifetime,
                capture="lines",
            )
            self.process.start()
            error = self._wait_ready()
            if not error:
                self.starts += 1
                return self
            self.process.kill()
        raise PeerError(f"kamailio {self.name} did not start: {error}\n{self.log_tail()}")

    def _wait_ready(self) -> str:
        assert self.process is not None
        deadline = time.monotonic() + self.start_timeout
        streams = [t for t in self.options.transports if t != "udp"]
        while time.monotonic() < deadline:
            if not self.process.alive:
                return f"exited with code {self.process.returncode}"
            if (
                ("udp" not in self.options.transports or udp_port_bound(self.sip_port))
                and all(_accepts(self.host, self.port(t)) for t in streams)
                and self._rpc_ok()
            ):
                return ""
            time.sleep(0.05)
        return f"listeners/ctl not ready after {self.start_timeout}s"

    def _rpc_ok(self) -> bool:
        if not self.ctl_socket.exists():
            return False
        try:
            self.rpc("core.uptime", timeout=2.0)
        except PeerError:
            return False
        return True

    def stop(self, timeout: float = 5.0) -> None:
        """Stop Kamailio (SIGTERM, then SIGKILL after ``timeout``); registrations are lost."""
        if self.process is None:
            return
        self.process.send_signal(15)
        if self.process.wait(timeout) is None:
            self.process.kill()
        self.process.kill()  # reaps any child left in the group

    def restart(self, down_for: float = 0.0) -> Kamailio:
        """Stop, stay down ``down_for`` seconds, and start again on the same ports."""
        self.stop()
        if down_for > 0:
            time.sleep(down_for)
        return self.start()

    def close(self) -> None:
        self.stop(timeout=2.0)
        if self._ctl_dir is not None:
            shutil.rmtree(self._ctl_dir, ignore_errors=True)
            self._ctl_dir = None

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.alive

    # ------------------------------------------------------------------ RPC / registrations
    def rpc(self, *command: str, timeout: float = 5.0) -> str:
        """Run ``kamcmd -s unix:CTL COMMAND...`` and return its output (PeerError on failure)."""
        argv = ["kamcmd", "-s", f"unix:{self.ctl_socket}", *command]
        try:
            out = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired as exc:
            raise PeerError(f"kamcmd {' '.join(command)}: no answer in {timeout}s") from exc
        if out.returncode != 0 or out.stdout.startswith("error:"):
            raise PeerError(
                f"kamcmd {' '.join(command)} failed ({out.returncode}): {out.stdout}{out.stderr}"
            )
        return out.stdout

    def registrations(self) -> dict[str, list[Registration]]:
        """AOR user -> its contacts, from ``ul.dump``."""
        return parse_ul_dump(self.rpc("ul.dump"))

    def wait_registered(
        self, aor: str, timeout: float = 10.0, *, count: int = 1, transport: str | None = None
    ) -> list[Registration]:
        """Wait until ``aor`` (a user name) has at least ``count`` contacts (over ``transport``
        when given) and return them; PeerError on timeout."""
        deadline = time.monotonic() + timeout
        contacts: list[Registration] = []
        while True:
            contacts = [
                c
                for c in self.registrations().get(aor, [])
                if transport is None or c.transport == transport
            ]
            if len(contacts) >= count:
                return contacts
            if time.monotonic() > deadline:
                raise PeerError(
                    f"kamailio {self.name}: {aor} has {len(contacts)} contact(s) "
                    f"(wanted {count}{' over ' + transport if transport else ''}) after "
                    f"{timeout}s: {self.registrations()}\n{self.log_tail()}"
                )
            time.sleep(0.05)

    # ------------------------------------------------------------------ logs
    @property
    def lines(self) -> LineBuffer:
        """Output lines of the current run (each restart starts a new buffer)."""
        if self.process is None:
            raise PeerError(f"kamailio {self.name} was never started")
        return self.process.lines

    def events(self) -> list[str]:
        """The ``sipgw-kam:`` decision lines of the current run (text after the tag)."""
        out = []
        for _, line in self.lines.lines():
            _, tag, rest = line.partition(LOG_TAG)
            if tag:
                out.append(rest.strip())
        return out

    def wait_events(
        self, match: str | Callable[[str], object], timeout: float = 10.0, *, count: int = 1
    ) -> list[str]:
        """The decision lines of the current run that contain ``match`` (a text) or for which
        ``match`` (a callable) holds, once there are at least ``count`` of them.

        Kamailio logs a decision before it sends the reply, but the line reaches us through a
        pipe that a reader thread drains: read once right after Kamailio answered, the log
        may lack it yet. AssertionError with the lines seen when ``timeout`` runs out.
        """
        test = (lambda e: match in e) if isinstance(match, str) else match

        def matching() -> list[str]:
            found = [e for e in self.events() if test(e)]
            return found if len(found) >= count else []

        return wait_for(matching, timeout, self.events)

    def wait_log(self, regex: str, timeout: float = 10.0, start: int = 0) -> re.Match[str]:
        """First output line of the current run matching ``regex``; PeerError on timeout."""
        found = self.lines.search(regex, timeout, start=start)
        if found is None:
            raise PeerError(
                f"kamailio {self.name}: no line matching {regex!r} within {timeout}s\n"
                f"{self.log_tail()}"
            )
        return found[1]

    def log_text(self) -> str:
        """The whole log, every run."""
        try:
            return self.log_path.read_text("utf-8", "replace")
        except OSError:
            return ""

    def log_tail(self, lines: int = 60) -> str:
        return (
            self.process.log_tail(lines) if self.process else f"(kamailio {self.name} not started)"
        )

    # ------------------------------------------------------------------ peers' configs
    def account_line(
        self,
        user: str,
        password: str | None = None,
        *,
        transport: str = "udp",
        params: str = "",
        regint: int = 60,
    ) -> str:
        """A baresip account line registering ``user`` here over ``transport``.

        ``password`` defaults to the one in ``users``; ``params`` is appended (e.g.
        ``answermode=auto;audio_codecs=pcmu``).
        """
        pw = self.options.users.get(user, "") if password is None else password
        line = f"<{self.uri(user, transport)}>;auth_pass={pw};regint={regint}"
        if params:
            line += ";" + params.lstrip(";")
        return line


def _accepts(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


_UL_FIELD = re.compile(r"^\s*(AoR|Address|Expires|Received|Socket|User-Agent):\s*(.*)$")


def parse_ul_dump(text: str) -> dict[str, list[Registration]]:
    """Parse ``kamcmd ul.dump`` output into AOR -> contacts."""
    result: dict[str, list[Registration]] = {}
    aor = ""
    current: dict[str, str] | None = None

    def flush() -> None:
        if current is not None and aor:
            result.setdefault(aor, []).append(
                Registration(
                    aor=aor,
                    contact=current.get("Address", ""),
                    expires=_int(current.get("Expires", "0")),
                    received=current.get("Received", "").replace("[not set]", ""),
                    socket=current.get("Socket", ""),
                    user_agent=current.get("User-Agent", "").replace("[not set]", ""),
                )
            )

    for line in text.splitlines():
        m = _UL_FIELD.match(line)
        if m is None:
            continue
        key, value = m[1], m[2].strip()
        if key == "AoR":
            flush()
            current = None
            aor = value
        elif key == "Address":
            flush()
            current = {"Address": value}
        elif current is not None:
            current[key] = value
    flush()
    return result


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        return 0
