"""Carriers we cannot reach, emulated by a real Kamailio as each one documents its SIP trunk.

A :class:`CarrierTrunk` is what a carrier's trunk does with the INVITEs it gets, written as
the ``route[INVITE_ROUTE]`` block of a :class:`~tests.toolkit.peers.kamailio.Kamailio`
(``Kamailio(..., invite_route=trunk.script())``):

* **Origination** (a call from the phone network to one of the account's numbers): the
  INVITE goes to where the number points, an origination URI (``sip:`` and, for TLS,
  ``;transport=tls``) or the contact the customer registered (a credential connection),
  with the caller's number in the From; optionally a P-Asserted-Identity the carrier adds.
* **Termination** (a call from the customer to the phone network): the Request-URI must
  name the trunk (else the INVITE is dropped unanswered, as Twilio does), the source must
  be on the IP access list or answer a 407 digest challenge from the credential list, and
  the caller id (the first of the headers the carrier reads, in its order) must pass the
  carrier's rule, else a refusal with the carrier's status line. Then the call goes to the
  "phone network": the phone registered here under the called E.164 number.

Every decision is a ``sipgw-kam:`` log line (``ORIGINATE``, ``TERMINATE``, ``CALLERID
refused``, ``DROPPED``) for tests to wait on. :func:`twilio`, :func:`telnyx` and
:func:`plivo` build each carrier's trunk; their docstrings cite the pages each rule comes
from. Where a carrier documents a rule but not its exact status line, the docstring says
what is assumed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from tests.toolkit.peers.kamailio_cfg import LOG_TAG

__all__ = ["CarrierTrunk", "Registered", "plivo", "telnyx", "twilio"]

_E164 = r"^\+[1-9][0-9]{7,14}$"
_SAFE = re.compile(r"^[A-Za-z0-9._~!*+=,;:@%&$/-]+$")
_TEXT = re.compile(r"^[A-Za-z0-9 ._:;,()+=/-]+$")
_SRC = "($pr from $si:$sp)"
_IDENTITY = re.compile(r"^[A-Za-z0-9._;=:/<>-]+$")

CALLER_ID_HEADERS = {
    "ppi": "$pU",
    "pai": "$(ai{uri.user})",
    "rpid": "$(re{uri.user})",
    "from": "$fU",
}
"""Where each header's user part is, as a Kamailio pseudo-variable."""


@dataclass(frozen=True)
class Registered:
    """An origination to the contact the customer registered under ``user`` (a credential
    connection)."""

    user: str


@dataclass(frozen=True)
class CarrierTrunk:
    """One carrier account's trunk (see the module docstring).

    Attributes:
        name: the carrier, for log lines.
        numbers: the account's numbers (E.164) and where a call to each goes: an
            origination URI, or :class:`Registered`.
        credentials: the credential list, user -> password (the Kamailio's ``users`` must
            hold them too: one table answers REGISTER and 407 challenges).
        acl: source addresses that need no credentials (an IP access control list).
        caller_ids: the numbers a caller id may be; empty = any number in E.164 format
            (when ``check_caller_id``).
        caller_id_headers: where the caller id is read, in the carrier's order (the first
            header present wins): ``ppi``, ``pai``, ``rpid``, ``from``.
        refusal: the status and reason phrase of a caller id the rule refuses.
        drop_foreign: drop (never answer) an INVITE whose Request-URI is not the trunk.
        asserted_identity: on origination, the carrier adds P-Asserted-Identity with the
            caller's number at this domain (and these URI parameters); "" = none.
        verstat: the STIR/SHAKEN result the carrier puts on that P-Asserted-Identity's user
            part (``<sip:+1555...;verstat=TN-Validation-Passed@domain>``), by caller number;
            ``*`` is every other caller's (none without it).
        identity: an ``Identity`` header (RFC 8224) the carrier passes on, by caller number.
        check_caller_id: whether the trunk checks the caller id at all.
        refusal_headers: header lines the caller id refusal carries (``Name: value``).
        challenge: ``proxy`` (407, Proxy-Authenticate) or ``www`` (401, WWW-Authenticate).
        auth_refusal: the status and reason phrase answered to credentials that are wrong
            (a user or password the list does not have), instead of a new challenge; None:
            challenge again (the client then gives up).
    """

    name: str
    numbers: Mapping[str, str | Registered]
    credentials: Mapping[str, str] = field(default_factory=dict)
    acl: Sequence[str] = ()
    caller_ids: Sequence[str] = ()
    caller_id_headers: Sequence[str] = ("from",)
    refusal: tuple[int, str] = (403, "Forbidden")
    drop_foreign: bool = False
    asserted_identity: str = ""
    verstat: Mapping[str, str] = field(default_factory=dict)
    identity: Mapping[str, str] = field(default_factory=dict)
    check_caller_id: bool = True
    refusal_headers: Sequence[str] = ()
    challenge: str = "proxy"
    auth_refusal: tuple[int, str] | None = None

    def __post_init__(self) -> None:
        if self.challenge not in ("proxy", "www"):
            raise ValueError("challenge must be proxy or www")
        phrases = [self.refusal[1], *([self.auth_refusal[1]] if self.auth_refusal else [])]
        for text in [*phrases, *self.refusal_headers]:
            if not _TEXT.match(text):
                raise ValueError(f"{text!r}: only printable ASCII can go into kamailio.cfg")
        texts = [*self.numbers, *self.credentials, *self.acl, *self.caller_ids, self.name]
        texts += [*self.verstat, *self.verstat.values(), *self.identity]
        for text in self.identity.values():
            if not _IDENTITY.match(text):
                raise ValueError(f"{text!r}: not an Identity header value for kamailio.cfg")
        texts += [d.user if isinstance(d, Registered) else d for d in self.numbers.values()]
        for text in texts:
            if not _SAFE.match(text):
                raise ValueError(f"{text!r}: only URI-safe characters can go into kamailio.cfg")
        unknown = set(self.caller_id_headers) - set(CALLER_ID_HEADERS)
        if unknown or not self.caller_id_headers:
            raise ValueError(f"caller_id_headers must be among {sorted(CALLER_ID_HEADERS)}")

    def script(self, realm: str = "sipgw.test") -> str:
        """The ``route[INVITE_ROUTE]`` block for the Kamailio of this trunk."""
        return f"route[INVITE_ROUTE] {{\n{self._origination()}{self._termination(realm)}}}\n"

    def _origination(self) -> str:
        lines = []
        for number, destination in self.numbers.items():
            lines.append(f'\tif ($rU == "{number}") {{\n')
            lines.append(self._asserted())
            if isinstance(destination, Registered):
                lines.append(
                    f'\t\txlog("L_INFO", "{LOG_TAG} ORIGINATE $rU -> registered '
                    f'{destination.user} {_SRC}\\n");\n'
                    f'\t\t$rU = "{destination.user}";\n\t\troute(LOCATION);\n\t\texit;\n\t}}\n'
                )
            else:
                lines.append(
                    f'\t\txlog("L_INFO", "{LOG_TAG} ORIGINATE $rU -> {destination} {_SRC}\\n");\n'
                    f'\t\t$ru = "{destination}";\n\t\troute(RELAY);\n\t\texit;\n\t}}\n'
                )
        return "".join(lines)

    def _asserted(self) -> str:
        """The P-Asserted-Identity (with the caller's verstat) and Identity of an origination."""
        if not self.asserted_identity:
            return ""
        lines = ['\t\tremove_hf("P-Asserted-Identity");\n\t\tremove_hf("Identity");\n']
        default = self.verstat.get("*")
        lines.append(f'\t\t$var(vs) = "{f";verstat={default}" if default else ""}";\n')
        for caller, value in self.verstat.items():
            if caller != "*":
                lines.append(f'\t\tif ($fU == "{caller}") {{ $var(vs) = ";verstat={value}"; }}\n')
        for caller, value in self.identity.items():
            lines.append(
                f'\t\tif ($fU == "{caller}") {{ append_hf("Identity: {value}\\r\\n"); }}\n'
            )
        lines.append(
            '\t\tappend_hf("P-Asserted-Identity: '
            f'<sip:$fU$var(vs)@{self.asserted_identity};user=phone>\\r\\n");\n'
        )
        return "".join(lines)

    def _termination(self, realm: str) -> str:
        lines = []
        if self.drop_foreign:
            lines.append(
                "\tif (!(uri == myself)) {\n"
                f'\t\txlog("L_INFO", "{LOG_TAG} DROPPED $ru: not the trunk\'s URI {_SRC}\\n");\n'
                "\t\texit;\n\t}\n"
            )
        trusted = " || ".join(f'$si == "{source}"' for source in self.acl) or "0"
        kind = self.challenge
        refuse = ""
        if self.auth_refusal is not None:  # -2: wrong password, -3: no such user
            status, phrase = self.auth_refusal
            refuse = (
                "\t\t\tif ($var(rc) == -2 || $var(rc) == -3) {\n"
                f'\t\t\t\txlog("L_INFO", "{LOG_TAG} AUTH refused au=$au {_SRC}\\n");\n'
                f'\t\t\t\tsl_send_reply("{status}", "{phrase}");\n\t\t\t\texit;\n\t\t\t}}\n'
            )
        lines.append(
            f"\tif (!({trusted})) {{\n"
            "\t\troute(PASSWORD);\n"
            f'\t\tpv_{kind}_authenticate("{realm}", "$var(pw)", "0");\n'
            "\t\t$var(rc) = $rc;\n"
            "\t\tif ($var(rc) < 0) {\n"
            f"{refuse}"
            f'\t\t\txlog("L_INFO", "{LOG_TAG} INVITE challenge from=$fU au=$au '
            'rc=$var(rc)\\n");\n'
            f'\t\t\t{kind}_challenge("{realm}", "1");\n\t\t\texit;\n\t\t}}\n'
            "\t\tconsume_credentials();\n\t}\n"
        )
        reads = [CALLER_ID_HEADERS[name] for name in self.caller_id_headers]
        lines.append(f"\t$var(cid) = {reads[-1]};\n")
        for pv in reversed(reads[:-1]):  # the first present wins: assign in reverse order
            lines.append(f'\tif ({pv} != $null && {pv} != "") $var(cid) = {pv};\n')
        if self.caller_ids:
            valid = " || ".join(f'$var(cid) == "{number}"' for number in self.caller_ids)
        else:
            valid = f'$var(cid) =~ "{_E164}"'
        if not self.check_caller_id:
            valid = "1"
        status, phrase = self.refusal
        extra = "".join(f'\t\tappend_to_reply("{line}\\r\\n");\n' for line in self.refusal_headers)
        lines.append(
            f"\tif (!({valid})) {{\n"
            f'\t\txlog("L_INFO", "{LOG_TAG} CALLERID refused $var(cid) {_SRC}\\n");\n'
            f"{extra}"
            f'\t\tsl_send_reply("{status}", "{phrase}");\n\t\texit;\n\t}}\n'
            f'\txlog("L_INFO", "{LOG_TAG} TERMINATE $ru from $var(cid) {_SRC}\\n");\n'
            "\troute(LOCATION);\n"
        )
        return "".join(lines)


def twilio(
    numbers: Mapping[str, str],
    *,
    credentials: Mapping[str, str] | None = None,
    acl: Sequence[str] = (),
    caller_ids: Sequence[str] = (),
) -> CarrierTrunk:
    """A Twilio Elastic SIP Trunk.

    * Origination: calls to the trunk's numbers go to its origination URIs, which must be
      ``sip:`` URIs (twilio.com/docs/sip-trunking/api/originationurl-resource: "This must be
      a sip: schema"), with ``;transport=tls`` for TLS.
    * Termination: the Request-URI's host must be the trunk's termination URI
      (``NAME.pstn.twilio.com``), else Twilio drops the INVITE as malicious
      (twilio.com/docs/sip-trunking/troubleshooting; "Sending SIP to Twilio - Best
      Practices"); the trunk authenticates by IP access control list and/or credential list
      (407 digest) (twilio.com/docs/sip-trunking, Termination settings); the From must be
      a Twilio number of the account or a verified caller id (error 32204,
      twilio.com/docs/api/errors/32204).
    * Assumed: the status line of a 32204 refusal is not documented; a bare ``403
      Forbidden`` is what users report for refused termination calls
      (github.com/comcent-io/comcent-ce/pull/11), so that is what the emulation answers.
    """
    return CarrierTrunk(
        "twilio", dict(numbers), dict(credentials or {}), tuple(acl), tuple(caller_ids),
        ("from",), (403, "Forbidden"), drop_foreign=True,
    )  # fmt: skip


def telnyx(
    numbers: Mapping[str, str | Registered],
    *,
    credentials: Mapping[str, str] | None = None,
    verstat: Mapping[str, str] | None = None,
    identity: Mapping[str, str] | None = None,
) -> CarrierTrunk:
    """A Telnyx SIP connection with credentials (the customer registers).

    * Authentication: a credential connection registers with a username and password and
      authenticates outbound calls with them (developers.telnyx.com/docs/voice/
      sip-trunking/authentication/credential-types).
    * Caller id (developers.telnyx.com/docs/voice/sip-trunking/configuration/
      caller-id-policy): read from P-Preferred-Identity, then P-Asserted-Identity, then
      Remote-Party-ID, then From (user parts; the first present wins); a number that is
      not valid (cross-border: E.164 only) is refused with ``403 Caller Origination Number
      is Invalid D35``; ``Privacy: id`` still needs a valid number.
    * Inbound calls (from the PSTN, and on-net) carry the STIR/SHAKEN result as a ``verstat``
      parameter of P-Asserted-Identity (developers.telnyx.com/docs/voice/stir-shaken/
      sip-header-parameters; telnyx.com/release-notes/new-shaken-stir-verstat-parameters):
      ``TN-Validation-Passed`` (verified, A attestation), ``TN-Validation-Passed-B``,
      ``TN-Validation-Passed-C``, ``TN-Validation-Failed`` (verification failed: invalid
      certificate), ``No-TN-Validation`` (no Identity header was provided). ``verstat``
      gives it by caller (``*``: every other caller; TN-Validation-Passed by default).
    * Assumed: the pages do not say whether the caller's ``Identity`` header (RFC 8224: a
      PASSporT, ``token;info=<cert URL>;alg=ES256;ppt=shaken``) reaches the customer;
      ``identity`` passes one on, by caller, to emulate a carrier that does.
    """
    return CarrierTrunk(
        "telnyx", dict(numbers), dict(credentials or {}), (), (),
        ("ppi", "pai", "rpid", "from"), (403, "Caller Origination Number is Invalid D35"),
        asserted_identity="sip.telnyx.com",
        verstat=dict(verstat or {"*": "TN-Validation-Passed"}), identity=dict(identity or {}),
    )  # fmt: skip


def plivo(
    numbers: Mapping[str, str],
    *,
    credentials: Mapping[str, str] | None = None,
    acl: Sequence[str] = (),
) -> CarrierTrunk:
    """A Plivo Zentrunk pair of trunks.

    * Inbound trunk: calls to its numbers go to its primary origination URI
      (plivo.com/docs/voice-agents/sip-trunking/api/sip-trunking: "Create Origination URI
      -> Create Inbound Trunk -> Assign phone number").
    * Outbound trunk: calls to its termination domain (``NNNN.zt.plivo.com``) are
      authenticated by an IP access control list or a credentials list
      (docs.plivo.com/docs/sip-trunking/api/trunks: ``ipacl_uuid`` / ``credential_uuid``;
      docs.plivo.com/docs/sip-trunking/api/credentials: "When Plivo receives a SIP INVITE
      ... for a Trunk domain that has an associated credentials list, we prompt for
      authentication").
    * Authentication failures: Plivo's hangup-code page
      (docs.plivo.com/docs/sip-trunking/troubleshooting/zentrunk-hangup-codes) lists 4020
      ``call_rejected_unauthorized`` as "Call Rejected", SIP code 401, described in RFC
      3261's words for a 401 (§21.4.2: "The user agent client may repeat the request with a
      suitable authorization header field"). So the emulation prompts with a 401 challenge
      (WWW-Authenticate) and answers credentials it does not know with ``401 Call
      Rejected``. Assumed: which header the first prompt uses (Plivo names none; the
      page's status is 401).
    * Caller id: Plivo's hangup codes for voice-agent trunks
      (plivo.com/docs/voice-agents/sip-trunking/troubleshooting/hangup-codes) list 4190
      "Unknown caller ID - Use a Plivo-rented number as caller ID", and Zentrunk names its
      hangup code in ``X-ZT-Hangup-Code`` (the zentrunk-hangup-codes page's column
      "X-ZT-Hangup-Code and CDR-Hangup-Cause"). So a caller id that is not one of the
      account's numbers is refused with ``X-ZT-Hangup-Code: 4190``. Assumed: the status line
      (the pages we could read give none for 4190): ``403 Forbidden``.
    """
    return CarrierTrunk(
        "plivo", dict(numbers), dict(credentials or {}), tuple(acl), tuple(numbers), ("from",),
        (403, "Forbidden"), refusal_headers=("X-ZT-Hangup-Code: 4190",), challenge="www",
        auth_refusal=(401, "Call Rejected"),
    )  # fmt: skip
