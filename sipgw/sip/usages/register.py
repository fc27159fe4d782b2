"""Registration as a client (RFC 3261 §10): REGISTER requests for each account.

One :class:`Binding` per address of record. The timing (first attempt,
refresh, backoff, keep-alives, unregister) is decided by its
:class:`~sipgw.sip.registration.RegistrationMachine`; this usage builds the
requests, sends them through the transaction layer's ``send_request``
continuations, and reads the answers:

* the REGISTER (§10.2): Request-URI the registrar, To and From the AOR (From
  with our tag), one Call-ID per binding for all its requests (§10.2 "SHOULD"),
  CSeq increasing by one each time, our Contact for the transport used with an
  ``expires`` parameter, and an Expires header; through an outbound proxy a
  Route header with ``lr``;
* a 2xx: the expiry granted to our binding is the ``expires`` of the Contact
  matching ours, else the Expires header, else what we asked for (§10.2.4);
* 401 and 407: answered with :class:`~sipgw.sip.auth.DigestClient` (Authorization
  or Proxy-Authorization on a new request, CSeq + 1, §22.2 and §22.3);
* 423: retried with the Min-Expires (§10.2.8);
* anything else, or no response: a failure, retried after the backoff.

A registrar may be several servers (RFC 3263: NAPTR, SRV, A/AAAA; :mod:`sipgw.sip.locate`):
the application gives the account its :attr:`RegistrationConfig.targets` (and new ones
with :meth:`RegisterUsage.retarget` when the DNS answers expire). A transport error, a
timeout with no response at all, or a 503 sends the REGISTER again at once to the next
target (§4.3: a new transaction, new Via branch; the CSeq goes up by one as for any
REGISTER of the binding, §10.2); once every target failed it is a failure as above, and
the next attempt starts again from the first. A target that answers is kept for the
refreshes and keep-alives.

Each change reaches the application as a
:class:`~sipgw.sip.events.RegistrationChanged`; keep-alives are CRLF CRLF
(RFC 5626 §3.5.1) written straight to the registrar's flow.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial

from sipgw.sip.addressing import Flow, uri_flow
from sipgw.sip.auth import Credentials, DigestClient
from sipgw.sip.errors import InvalidState, LocalProtocolError, SipError
from sipgw.sip.events import RegistrationChanged, RegistrationState
from sipgw.sip.message import Headers, SipRequest, SipResponse
from sipgw.sip.registration import Phase, RegistrationMachine, RegistrationPolicy
from sipgw.sip.timers import Timer
from sipgw.sip.transaction import NoResponse, Outcome
from sipgw.sip.uri import SipUri
from sipgw.sip.usages.context import ALLOW, UsageContext

__all__ = [
    "KEEPALIVE",
    "Binding",
    "RegisterUsage",
    "RegistrationConfig",
    "granted_expiry",
    "is_failover",
    "next_hop",
]

KEEPALIVE = b"\r\n\r\n"
"""The keep-alive "ping" (RFC 5626 §3.5.1): a double CRLF."""


@dataclass(frozen=True, slots=True)
class RegistrationConfig:
    """One account to register.

    Attributes:
        aor: the address of record, e.g. ``sip:1001@pbx.example.com``.
        registrar: the registrar's URI; "" = ``sip:`` and the AOR's host (and port).
        credentials: for 401/407 challenges; None = none configured.
        outbound_proxy: a URI every REGISTER is sent through (a Route with
            ``lr``); "" = straight to the registrar.
        transport: ``UDP``, ``TCP`` or ``TLS``; "" = what the URI says (UDP by default).
        policy: expiry, backoff and keep-alive settings.
        targets: where the REGISTERs may go, in order (RFC 3263, found by the
            application); empty = the next hop's own flow (:func:`next_hop`).
    """

    aor: str
    registrar: str = ""
    credentials: Credentials | None = None
    outbound_proxy: str = ""
    transport: str = ""
    policy: RegistrationPolicy = field(default_factory=RegistrationPolicy)
    targets: tuple[Flow, ...] = ()


def _sip_uri(text: str, what: str) -> SipUri:
    try:
        uri = SipUri.parse(text.strip().strip("<>"))
    except SipError:
        raise LocalProtocolError(f"{what} {text!r} is not a sip: or sips: URI") from None
    if not uri.host:
        raise LocalProtocolError(f"{what} {text!r} has no host")
    return uri


def _same_contact(ours: SipUri, theirs: SipUri) -> bool:
    """Whether a Contact in a 2xx is ours: user, host and port compared (§10.2.4, §19.1.4)."""
    return (
        (ours.user or "") == (theirs.user or "")
        and ours.host.lower() == theirs.host.lower()
        and (ours.port or 5060) == (theirs.port or 5060)
    )


def _seconds(value: str | None) -> int | None:
    if value is None:
        return None
    value = value.strip()
    return int(value) if value.isdigit() else None


def granted_expiry(response: SipResponse, contact: SipUri, requested: int) -> int:
    """The expiry a 2xx to REGISTER grants our ``contact`` (RFC 3261 §10.2.4).

    The ``expires`` parameter of the Contact matching ours, else the Expires
    header, else the expiry we asked for.
    """
    try:
        contacts = response.contacts
    except SipError:
        contacts = []
    for value in contacts:
        if isinstance(value.uri, SipUri) and _same_contact(contact, value.uri):
            expires = _seconds(value.params.get("expires"))
            if expires is not None:
                return expires
            break
    expires = _seconds(response.headers.get("Expires"))
    return requested if expires is None else expires


def next_hop(config: RegistrationConfig) -> SipUri:
    """Where an account's REGISTERs are sent first: its outbound proxy (with ``lr``), else
    its registrar (default: the AOR's host), with the account's transport if it names one.

    Raises:
        LocalProtocolError: a URI or the transport is unusable.
    """
    aor = _sip_uri(config.aor, "AOR")
    if config.registrar:
        registrar = _sip_uri(config.registrar, "registrar")
    else:
        registrar = SipUri(aor.scheme, None, None, aor.host, aor.port)
    target = SipUri.parse(str(registrar))  # a copy the transport may be added to
    if config.outbound_proxy:
        target = _sip_uri(config.outbound_proxy, "outbound proxy")
        target.params.setdefault("lr", None)
    transport = config.transport.upper()
    if transport not in ("", "UDP", "TCP", "TLS"):
        raise LocalProtocolError(f"unknown transport {config.transport!r}")
    if transport and "transport" not in target.params:
        target.params["transport"] = transport.lower()
    return target


def is_failover(outcome: Outcome) -> bool:
    """RFC 3263 §4.3: a transport error, a timeout with no response, or a 503."""
    return isinstance(outcome, NoResponse) or outcome.status == 503


class Binding:
    """One account's registration: its settings, machine and the state of its requests.

    Attributes:
        config: the account.
        machine: the timing decisions.
        flow: where its REGISTERs (and keep-alives) go.
        call_id: the Call-ID of all its REGISTERs.
        cseq: the CSeq number of the last one sent.
        state: the last state reported to the application, or None.
        reported: the registrar's flow in that report.
    """

    def __init__(self, ctx: UsageContext, config: RegistrationConfig) -> None:
        self.config = config
        aor = _sip_uri(config.aor, "AOR")
        if not aor.user:
            raise LocalProtocolError(f"AOR {config.aor!r} has no user part")
        self.aor = SipUri(aor.scheme, aor.user, None, aor.host, aor.port)
        if config.registrar:
            registrar = _sip_uri(config.registrar, "registrar")
        else:
            registrar = SipUri(aor.scheme, None, None, aor.host, aor.port)
        self.request_uri = str(registrar)
        target = next_hop(config)
        # Through a proxy, a Route to it with ``lr`` (RFC 3261 §8.1.2, §16.12).
        self.route = f"<{target}>" if config.outbound_proxy else None
        self.targets: tuple[Flow, ...] = config.targets or (uri_flow(target),)
        self.target_index = 0
        self.flow: Flow = self.targets[0]
        self.machine = RegistrationMachine(config.policy, ctx.rng)
        self.digest = (
            DigestClient(config.credentials, ctx.rng) if config.credentials is not None else None
        )
        self.call_id = f"{ctx.rng.getrandbits(96):024x}@{ctx.config.public_host}"
        self.from_tag = ctx.new_tag()
        self.cseq = 0
        self.attempt = 0
        self.last_request: SipRequest | None = None
        self.state: RegistrationState | None = None
        self.reported: Flow | None = None
        self.attempt_timer: Timer | None = None
        self.keepalive_timer: Timer | None = None
        self._ctx = ctx
        self.contact = self._contact()

    def _contact(self) -> SipUri:
        contact = self._ctx.config.contact(self.aor.user or "", self.flow.transport)
        return SipUri.parse(contact.strip("<>"))

    @property
    def aor_text(self) -> str:
        """The AOR as written in To and From, and in events."""
        return str(self.aor)

    def use_target(self, index: int) -> None:
        """Send to :attr:`targets` ``[index]`` from now on (the Contact follows its transport)."""
        self.target_index = index
        self.flow = self.targets[index]
        self.contact = self._contact()


class RegisterUsage:
    """The registrations of every account; see the module docstring."""

    def __init__(self, ctx: UsageContext) -> None:
        self.ctx = ctx
        self.bindings: dict[str, Binding] = {}

    @property
    def busy(self) -> bool:
        """Whether an unregister is still in flight (a clean shutdown waits for it)."""
        return any(b.machine.phase is Phase.UNREGISTERING for b in self.bindings.values())

    # ------------------------------------------------------------------ actions

    def start(self, config: RegistrationConfig, now: float) -> Binding:
        """Start registering ``config.aor``; the first REGISTER goes out now.

        Raises:
            LocalProtocolError: a URI or the transport in ``config`` is unusable.
            InvalidState: that AOR is already registering.
        """
        binding = Binding(self.ctx, config)
        if binding.aor_text in self.bindings:
            raise InvalidState(f"{binding.aor_text} is already registering")
        self.bindings[binding.aor_text] = binding
        self._send(binding, binding.machine.start(now), now)
        return binding

    def stop(self, aor: str | None, now: float) -> None:
        """Unregister one AOR (Expires: 0, §10.2.2), or every one when ``aor`` is None."""
        if aor is None:
            targets = list(self.bindings.values())
        else:
            key = str(_sip_uri(aor, "AOR"))
            found = self.bindings.get(key) or self.bindings.get(aor)
            targets = [found] if found is not None else []
        for binding in targets:
            self._cancel_timers(binding)
            if binding.machine.stop(now):
                self._send(binding, 0, now)
            elif binding.machine.phase is Phase.STOPPED:
                self._finish(binding)

    def retarget(self, aor: str, targets: tuple[Flow, ...]) -> None:
        """New targets for an account (its DNS answers were looked up again): its next
        request goes to the one it uses now if it is still listed, else to the first."""
        binding = self.bindings.get(str(_sip_uri(aor, "AOR"))) or self.bindings.get(aor)
        if binding is None or not targets:
            return
        binding.targets = targets
        binding.use_target(targets.index(binding.flow) if binding.flow in targets else 0)

    # ------------------------------------------------------------------ requests

    def _send(
        self, binding: Binding, expires: int, now: float, challenge: SipResponse | None = None
    ) -> None:
        """Send a REGISTER asking for ``expires``; with ``challenge``, answer it first."""
        config = self.ctx.config
        binding.cseq += 1
        via = self.ctx.new_via(binding.flow)
        headers = Headers()
        headers.add("Via", str(via))
        if binding.route is not None:
            headers.add("Route", binding.route)
        headers.add("Max-Forwards", "70")
        headers.add("From", f"<{binding.aor}>;tag={binding.from_tag}")
        headers.add("To", f"<{binding.aor}>")
        headers.add("Call-ID", binding.call_id)
        headers.add("CSeq", f"{binding.cseq} REGISTER")
        headers.add("Contact", f"<{binding.contact}>;expires={expires}")
        headers.add("Expires", str(expires))
        headers.add("Allow", ALLOW)
        if config.user_agent:
            headers.add("User-Agent", config.user_agent)
        request = SipRequest("REGISTER", binding.request_uri, headers)
        digest = binding.digest
        if challenge is not None and digest is not None:
            # The challenged request's credentials tell the digest client
            # whether this password was already refused (see sipgw.sip.auth).
            previous = binding.last_request
            for name in ("Authorization", "Proxy-Authorization"):
                for value in previous.headers.get_all(name) if previous else ():
                    headers.add(name, value)
            if not digest.authorize(request, challenge):
                digest.forget()
                refused = f"{challenge.reason} (credentials refused)"
                self._failed(binding, now, challenge.status, refused)
                return
        elif digest is not None:
            digest.reauthorize(request)  # a refresh: the last nonce may still do (no round trip)
        binding.last_request = request
        binding.attempt += 1
        on_final = partial(self._answered, binding, binding.attempt, expires)
        self.ctx.transactions.send_request(request, binding.flow, now, on_final)

    def _answered(
        self, binding: Binding, attempt: int, expires: int, outcome: Outcome, now: float
    ) -> None:
        if attempt != binding.attempt or self.bindings.get(binding.aor_text) is not binding:
            return  # an answer to a request we gave up on (e.g. stop() while it was in flight)
        machine = binding.machine
        status = outcome.status
        if isinstance(outcome, SipResponse) and status in (401, 407):
            if binding.digest is not None and machine.challenged():
                self._send(binding, expires, now, challenge=outcome)
            elif machine.phase is Phase.UNREGISTERING:
                self._unregistered(binding)
            else:
                detail = "too many challenges" if binding.digest else "no credentials configured"
                self._failed(binding, now, status, f"{outcome.reason} ({detail})")
            return
        if is_failover(outcome) and binding.target_index + 1 < len(binding.targets):
            binding.use_target(binding.target_index + 1)  # §4.3: the next server, at once
            self._send(binding, expires, now)
            return
        if machine.phase is Phase.UNREGISTERING:
            self._unregistered(binding)
            return
        if isinstance(outcome, SipResponse) and 200 <= status < 300:
            granted = granted_expiry(outcome, binding.contact, expires)
            if granted <= 0:
                self._failed(binding, now, status, "registrar granted no binding (expires 0)")
                return
            machine.granted(granted, now)
            self._arm(binding)
            if (
                binding.state is not RegistrationState.REGISTERED
                or binding.reported != binding.flow
            ):
                # a first success, or a success at another server than before (§4.3)
                self._report(binding, RegistrationState.REGISTERED, status, outcome.reason)
            return
        if isinstance(outcome, SipResponse) and status == 423:
            if machine.too_brief(_seconds(outcome.headers.get("Min-Expires"))):
                machine.auth_rounds = 0
                self._send(binding, machine.requested, now)
                return
        retry_after: float | None = None
        if isinstance(outcome, SipResponse):
            text = (outcome.headers.get("Retry-After") or "").split(";")[0].split("(")[0]
            seconds = _seconds(text)
            retry_after = float(seconds) if seconds is not None else None
        self._failed(binding, now, status, outcome.reason, retry_after)

    # ------------------------------------------------------------------ outcomes

    def _failed(
        self,
        binding: Binding,
        now: float,
        status: int,
        reason: str,
        retry_after: float | None = None,
    ) -> None:
        if binding.machine.phase is Phase.UNREGISTERING:
            self._unregistered(binding)
            return
        delay = binding.machine.failed(now, retry_after)
        if binding.target_index:
            binding.use_target(0)  # every target failed: the next attempt starts over
        self._arm(binding)
        self._report(binding, RegistrationState.FAILED, status, reason, retry_in=delay)

    def _unregistered(self, binding: Binding) -> None:
        binding.machine.stopped()
        self._finish(binding)

    def _finish(self, binding: Binding) -> None:
        self._cancel_timers(binding)
        if self.bindings.get(binding.aor_text) is binding:
            del self.bindings[binding.aor_text]
        self._report(binding, RegistrationState.UNREGISTERED, None, "")

    def _report(
        self,
        binding: Binding,
        state: RegistrationState,
        status: int | None,
        reason: str,
        retry_in: float | None = None,
    ) -> None:
        binding.state = state
        binding.reported = binding.flow
        expires = binding.machine.granted_expires if state is RegistrationState.REGISTERED else None
        self.ctx.events.append(
            RegistrationChanged(
                binding.aor_text, state, binding.flow, expires, status, reason, retry_in
            )
        )

    # ------------------------------------------------------------------ timers

    def _arm(self, binding: Binding) -> None:
        self._cancel_timers(binding)
        machine, heap = binding.machine, self.ctx.heap
        if machine.next_attempt is not None:
            binding.attempt_timer = heap.schedule(
                machine.next_attempt, partial(self._attempt_due, binding)
            )
        if machine.next_keepalive is not None:
            binding.keepalive_timer = heap.schedule(
                machine.next_keepalive, partial(self._keepalive_due, binding)
            )

    def _cancel_timers(self, binding: Binding) -> None:
        self.ctx.heap.cancel(binding.attempt_timer)
        self.ctx.heap.cancel(binding.keepalive_timer)
        binding.attempt_timer = binding.keepalive_timer = None

    def _attempt_due(self, binding: Binding, now: float) -> None:
        binding.attempt_timer = None
        if binding.machine.attempt_due(now):
            self.ctx.heap.cancel(binding.keepalive_timer)
            binding.keepalive_timer = None
            self._send(binding, binding.machine.start(now), now)

    def _keepalive_due(self, binding: Binding, now: float) -> None:
        binding.keepalive_timer = None
        if binding.machine.keepalive_due(now):
            self.ctx.transactions.send_stateless(KEEPALIVE, binding.flow)
            assert binding.machine.next_keepalive is not None
            binding.keepalive_timer = self.ctx.heap.schedule(
                binding.machine.next_keepalive, partial(self._keepalive_due, binding)
            )
