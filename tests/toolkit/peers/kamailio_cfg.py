"""The kamailio.cfg that :class:`~tests.toolkit.peers.kamailio.Kamailio` runs, made from options.

One script covers every role tests need: a registrar with digest auth (401, ``qop=auth`` with
nonce counts, MD5 or SHA-256, ``stale=true`` for an expired or replayed nonce, 423 below
``min_expires``), a proxy routing to registered users (``lookup("location")``, parallel forking
when an AOR has several contacts, Record-Route, loose routing in dialogs, CANCEL) or to any
non-local Request-URI, optionally challenging initial INVITEs with 407 first, or handing them to
a route of the test's (``invite_route``: a carrier's trunk, :mod:`.carriers`). Listeners on UDP,
TCP and TLS; NAT and connection-oriented clients are handled as Kamailio's default config does
(``fix_nated_register`` / contact aliases), so a REGISTER over TCP or TLS is reached back over the
same connection. Each decision is logged as one ``sipgw-kam:`` line for tests to wait on.

One UDP worker (``children=1``): Kamailio 5.6's tm races when two workers handle replies to a
forked INVITE at once. Worker A relays a 200 from branch 0, releases the reply lock, and only then
marks the other branches cancelled; if worker B takes the lock in between with a 180 from branch 1,
tm drops that 180 (a final reply already went out) without noting that the branch has replied,
and A, seeing a branch that never replied, gives up on its CANCEL and stops its timers. The
phone on branch 1 then rings on with no CANCEL ever sent (a few forks in a hundred under CPU
load). ``cancel_b_method`` does not help: after a 2xx tm cancels the other branches in its
"kill" mode whatever that parameter says. With one worker the 180 is handled either before
the 200 (the CANCEL goes with the 200) or after the branch is marked (tm sends the CANCEL on
that 180). UDP and TCP/TLS replies are still read by different processes, so a fork whose
branches mix transports could still race.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["KamailioOptions", "LOG_TAG", "render_config", "render_tls_config"]

LOG_TAG = "sipgw-kam:"
_SRC = "($pr from $si:$sp)"  # how a log line names where a request came from
_INVITE_ROUTE = 'if (is_method("INVITE")) { record_route(); route(INVITE_ROUTE); exit; }'
_REFUSE_REFER = (
    'if (is_method("REFER")) { xlog("L_INFO", "'
    + LOG_TAG
    + " REFER refused "
    + _SRC
    + '\\n"); sl_send_reply("403", "REFER not allowed"); exit; }'
)
_SAFE = re.compile(r"^[A-Za-z0-9._~!*+=,;:@%&$-]+$")
_ALGORITHMS = ("MD5", "SHA-256")
_TRANSPORTS = ("udp", "tcp", "tls")

# flag numbers (per-transaction and per-branch)
_FLT_NATS = 5  # the request's sender is behind NAT (or on a connection)
_FLB_NATB = 6  # the branch goes to a contact behind NAT (or on a connection)


@dataclass(frozen=True)
class KamailioOptions:
    """What the generated kamailio.cfg does (see :class:`Kamailio` for each field's meaning)."""

    users: Mapping[str, str] = field(default_factory=dict)
    realm: str = "sipgw.test"
    algorithm: str = "MD5"
    qop: bool = True
    min_expires: int = 0
    max_expires: int = 3600
    default_expires: int = 3600
    challenge_invites: bool = False
    auth_user_must_match: bool = True
    nat_helper: bool = True
    transports: Sequence[str] = _TRANSPORTS
    aliases: Sequence[str] = ()
    debug: int = 2
    invite_route: str = ""
    """A ``route[INVITE_ROUTE] {...}`` block that takes every initial INVITE (authenticates,
    checks, rewrites and relays it, or refuses it); "" = the built-in routing."""
    refuse_refer: bool = False
    """Answer every REFER (in a dialog or not) 403, as a trunk that does not carry call
    transfers does (a ``REFER refused`` log line)."""

    def __post_init__(self) -> None:
        if self.algorithm not in _ALGORITHMS:
            raise ValueError(f"algorithm must be one of {_ALGORITHMS}, not {self.algorithm!r}")
        bad = [t for t in self.transports if t not in _TRANSPORTS]
        if bad or not self.transports:
            raise ValueError(f"transports must be a non-empty subset of {_TRANSPORTS}: {bad}")
        for text in [self.realm, *self.aliases, *self.users, *self.users.values()]:
            if not _SAFE.match(text):
                raise ValueError(f"{text!r}: only URI-safe characters can go into kamailio.cfg")


def _password_switch(users: Mapping[str, str]) -> str:
    """Sets ``$var(pw)`` to the password of ``$au``; unknown users get one nobody knows."""
    cases = "".join(f'\t\tcase "{u}": $var(pw) = "{p}"; break;\n' for u, p in users.items())
    return (
        "route[PASSWORD] {\n"
        "\tswitch ($au) {\n"
        f"{cases}"
        f'\t\tdefault: $var(pw) = "{secrets.token_hex(16)}";\n'
        "\t}\n"
        "}\n"
    )


def render_config(
    opts: KamailioOptions,
    *,
    host: str,
    sip_port: int,
    tls_port: int,
    ctl_socket: Path,
    tls_config: Path | None,
) -> str:
    """The whole kamailio.cfg text."""
    realm = opts.realm
    challenge_flags = "1" if opts.qop else "0"
    stale_flags = str(int(challenge_flags) | 16)
    listen = []
    aliases = []
    for transport in opts.transports:
        port = tls_port if transport == "tls" else sip_port
        listen.append(f"listen={transport}:{host}:{port}")
        aliases.append(f'alias="{host}:{port}"')
    aliases += [f'alias="{a}"' for a in opts.aliases]
    tls_on = "tls" in opts.transports
    nat_test = 'nat_uac_test("19")' if opts.nat_helper else '($pr != "udp" && nat_uac_test("16"))'
    match_user = (
        '\tif ($au != $tU) {\n\t\txlog("L_INFO", "' + LOG_TAG + " REGISTER forbidden au=$au "
        'aor=$tU\\n");\n\t\tsl_send_reply("403", "Forbidden auth ID");\n\t\texit;\n\t}\n'
        if opts.auth_user_must_match
        else ""
    )
    head = f"""#!KAMAILIO
# written by tests/toolkit/peers/kamailio_cfg.py
debug={opts.debug}
log_stderror=yes
log_prefix="{{$mt $hdr(CSeq) $ci}} "
# one UDP worker, so replies to a forked INVITE are handled one after another (see the docstring)
children=1
tcp_children=2
auto_aliases=no
dns=no
rev_dns=no
dns_try_ipv6=no
use_dns_cache=off
tcp_connection_lifetime=3605
tcp_accept_no_cl=yes
{"enable_tls=yes" if tls_on else "enable_tls=no"}
{chr(10).join(listen)}
{chr(10).join(aliases)}

loadmodule "kex.so"
loadmodule "corex.so"
loadmodule "tm.so"
loadmodule "tmx.so"
loadmodule "sl.so"
loadmodule "rr.so"
loadmodule "pv.so"
loadmodule "maxfwd.so"
loadmodule "textops.so"
loadmodule "siputils.so"
loadmodule "xlog.so"
loadmodule "sanity.so"
loadmodule "usrloc.so"
loadmodule "registrar.so"
loadmodule "auth.so"
loadmodule "nathelper.so"
loadmodule "ctl.so"
{'loadmodule "tls.so"' if tls_on else ""}

modparam("ctl", "binrpc", "unix:{ctl_socket}")
{f'modparam("tls", "config", "{tls_config}")' if tls_on else ""}
modparam("tm", "fr_timer", 5000)
modparam("tm", "fr_inv_timer", 60000)
modparam("usrloc", "db_mode", 0)
modparam("usrloc", "nat_bflag", {_FLB_NATB})
modparam("registrar", "min_expires", {opts.min_expires})
modparam("registrar", "min_expires_mode", 1)
# no GRUUs: linphone would then use a pub-gruu Contact without the port (ours is not 5060)
modparam("registrar", "gruu_enabled", 0)
modparam("registrar", "max_expires", {opts.max_expires})
modparam("registrar", "default_expires", {opts.default_expires})
modparam("registrar", "received_avp", "$avp(RECEIVED)")
modparam("nathelper", "received_avp", "$avp(RECEIVED)")
modparam("auth", "algorithm", "{opts.algorithm}")
modparam("auth", "nonce_count", 1)
modparam("auth", "nonce_expire", 300)
"""
    routes = f"""
request_route {{
	if (!mf_process_maxfwd_header("10")) {{ sl_send_reply("483", "Too Many Hops"); exit; }}
	if (!sanity_check("17895", "7")) {{
		xlog("L_WARN", "{LOG_TAG} malformed $rm from $si:$sp\\n");
		exit;
	}}
	force_rport();
	route(NATDETECT);
	{_REFUSE_REFER if opts.refuse_refer else ""}
	if (is_method("CANCEL")) {{
		if (t_check_trans()) route(RELAY);
		exit;
	}}
	if (has_totag()) {{ route(WITHINDLG); exit; }}
	if (!is_method("ACK")) {{
		if (t_precheck_trans()) {{ t_check_trans(); exit; }}
		t_check_trans();
	}}
	if (is_method("OPTIONS") && uri == myself && $rU == $null) {{
		sl_send_reply("200", "OK");
		exit;
	}}
	if (is_method("REGISTER")) {{ route(REGISTRAR); exit; }}
	remove_hf("Route");
	{_INVITE_ROUTE if opts.invite_route else ""}
	{"if (is_method(" + '"INVITE"' + ")) route(PROXYAUTH);" if opts.challenge_invites else ""}
	if (is_method("INVITE|SUBSCRIBE")) record_route();
	if (uri == myself) route(LOCATION);
	xlog("L_INFO", "{LOG_TAG} FORWARD $rm $fu -> $ru {_SRC}\\n");
	route(RELAY);
}}

route[NATDETECT] {{
	if ({nat_test}) {{
		if (is_method("REGISTER")) fix_nated_register();
		else if (is_first_hop()) set_contact_alias();
		setflag({_FLT_NATS});
	}}
}}

route[WITHINDLG] {{
	if (loose_route()) {{
		if (!isdsturiset()) handle_ruri_alias();
		route(RELAY);
	}}
	if (is_method("ACK")) {{
		if (t_check_trans()) route(RELAY);
		exit;
	}}
	sl_send_reply("404", "Not here");
	exit;
}}

{_password_switch(opts.users)}
route[REGISTRAR] {{
	route(PASSWORD);
	pv_www_authenticate("{realm}", "$var(pw)", "0");
	$var(rc) = $rc;
	if ($var(rc) < 0) {{
		xlog("L_INFO", "{LOG_TAG} REGISTER challenge aor=$tU au=$au rc=$var(rc) {_SRC}\\n");
		if ($var(rc) == -4 || $var(rc) == -6) www_challenge("{realm}", "{stale_flags}");
		else www_challenge("{realm}", "{challenge_flags}");
		exit;
	}}
{match_user}	consume_credentials();
	if (isflagset({_FLT_NATS})) setbflag({_FLB_NATB});
	if (!save("location")) {{
		xlog("L_INFO", "{LOG_TAG} REGISTER refused aor=$tU expires=$expires(max) {_SRC}\\n");
		sl_reply_error();
		exit;
	}}
	xlog("L_INFO", "{LOG_TAG} REGISTER ok aor=$tU contact=$ct expires=$expires(max) {_SRC}\\n");
	exit;
}}

route[PROXYAUTH] {{
	route(PASSWORD);
	pv_proxy_authenticate("{realm}", "$var(pw)", "0");
	$var(rc) = $rc;
	if ($var(rc) < 0) {{
		xlog("L_INFO", "{LOG_TAG} INVITE challenge from=$fU au=$au rc=$var(rc) {_SRC}\\n");
		if ($var(rc) == -4 || $var(rc) == -6) proxy_challenge("{realm}", "{stale_flags}");
		else proxy_challenge("{realm}", "{challenge_flags}");
		exit;
	}}
	xlog("L_INFO", "{LOG_TAG} INVITE authorized au=$au\\n");
	consume_credentials();
}}

route[LOCATION] {{
	if (!lookup("location")) {{
		xlog("L_INFO", "{LOG_TAG} NOTFOUND $rm $ru\\n");
		sl_send_reply("404", "Not Found");
		exit;
	}}
	xlog("L_INFO", "{LOG_TAG} ROUTE $rm $fu -> $ru via $du {_SRC}\\n");
	route(RELAY);
}}

route[RELAY] {{
	if (is_method("INVITE|BYE|UPDATE|CANCEL|ACK")) t_on_reply("MANAGE_REPLY");
	if (is_method("INVITE")) {{
		t_on_branch("MANAGE_BRANCH");
		t_on_failure("MANAGE_FAILURE");
	}}
	if (!t_relay()) {{
		xlog("L_WARN", "{LOG_TAG} RELAY failed $rm -> $ru\\n");
		sl_reply_error();
	}}
	exit;
}}

branch_route[MANAGE_BRANCH] {{
	xlog("L_INFO", "{LOG_TAG} BRANCH $T_branch_idx $rm -> $ru via $du\\n");
}}

onreply_route[MANAGE_REPLY] {{
	if (status =~ "[12][0-9][0-9]" && isbflagset({_FLB_NATB}) && is_first_hop()) {{
		set_contact_alias();
	}}
}}

failure_route[MANAGE_FAILURE] {{
	xlog("L_INFO", "{LOG_TAG} FAILED $rm -> $T_reply_code\\n");
}}
"""
    return head + routes + opts.invite_route


def render_tls_config(cert: Path, key: Path, ca: Path, peer_ca: Path | None = None) -> str:
    """tls.cfg: our certificate as server and client. Without ``peer_ca`` peers' certificates
    are not verified; with it (mutual TLS) a client must present a certificate it signed
    (``verify_certificate``, ``require_certificate``) and servers we connect to are verified
    against it."""
    verify = "yes" if peer_ca is not None else "no"
    common = (
        "method = TLSv1.2+\n"
        f"verify_certificate = {verify}\n"
        f"require_certificate = {verify}\n"
        f"certificate = {cert}\n"
        f"private_key = {key}\n"
        f"ca_list = {peer_ca or ca}\n"
    )
    return f"[server:default]\n{common}\n[client:default]\n{common}"
