"""``sipgw call TARGET``: one call, placed by a running gateway when one answers, else from here.

Beside a running ``sipgw serve`` (same ``.env``, same options), a second gateway would
fight it for its ports. So ``sipgw call`` first asks the running one to place the call,
through its admin API (:mod:`sipgw.app.admin.server`): at ``--admin-url`` (its own
section, :class:`~sipgw.app.admin.settings.CallCommandSection`), else at the admin
address the settings give (``--admin-port``, ``--admin-bind``), with the admin token. The
call then takes that gateway's registration, proxy, credentials and agent, and shows up
on its dashboard.

When no gateway answers there (or none is configured), the call is placed from this
process, on ephemeral SIP ports (``--sip-port``/``--tls-port`` on the command line still
win): never the ports a ``serve`` on the same host holds.

Either way the call is described the same (:class:`~sipgw.app.upstream.callrequest.CallRequest`:
``--var NAME=VALUE``, ``--header X-NAME=VALUE``, ``--account``, ``--line``, ``--amd MODE``
and ``--amd-message TEXT`` (answering-machine detection, docs/amd.md), ``--ivr-goal TEXT``
(what to reach through a phone menu first, docs/ivr.md), ``--twiml-url URL``
or ``--twiml FILE`` (the twiml agent's TwiML, docs/twilio-apps.md), and the settings
``--caller-id``, ``--ring-timeout`` and ``--agent`` when the command line gives them:
loaded from the flags alone, since a running gateway has its own), one line tells how it ended
(:meth:`~sipgw.app.calls.outbound.CallOutcome.describe`, with the far end's reason phrase and a
hint when it refused the call), and the exit status is :data:`CALL_EXIT`'s. Ctrl-C hangs
the call up (CANCEL or BYE) and still reports.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import signal
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sipgw.app.admin.settings import AdminSettings, CallCommandSection
from sipgw.app.settings import AgentSection, NetworkSection
from sipgw.app.upstream.callrequest import (
    CallRequest,
    TwimlSource,
    amd_request,
    assignments,
    ivr_goal,
    twiml_source,
)
from sipgw.app.upstream.settings import OutboundSection
from sipgw.foundation.settings import ConfigError, Sources, load
from sipgw.sip.customheaders import check_custom_headers

if TYPE_CHECKING:  # imported when the call is placed: --help stays fast
    import aiohttp

    from sipgw.app.calls.outbound import CallOutcome
    from sipgw.app.startup import Startup

__all__ = [
    "CALL_EXIT",
    "add_call_options",
    "admin_url",
    "call_request_of",
    "run",
]

CALL_EXIT: dict[str, int] = {
    "answered": 0,
    "busy": 3,
    "declined": 4,
    "no-answer": 5,
    "unreachable": 6,
    "failed": 7,
}
"""``sipgw call`` exit status by outcome kind (1, 2 and 130 mean what they mean for serve)."""


PROBE_TIMEOUT = 2.0
"""Seconds the running gateway's health check may take before we call from here."""
POLL_SECONDS = 25
"""Seconds one request for the outcome waits on the server before asking again."""
HANGUP_GRACE = 45.0
"""Seconds to wait for the outcome after asking the gateway to hang up (Ctrl-C)."""


def add_call_options(call: argparse.ArgumentParser) -> None:
    """The options only ``sipgw call`` has (the settings come on top)."""
    group = call.add_argument_group("this call")
    group.add_argument(
        "--var", action="append", default=[], metavar="NAME=VALUE",
        help="a variable for the agent (its prompt and greetings use it as {NAME}); repeat "
        "for more",
    )  # fmt: skip
    group.add_argument(
        "--header", action="append", default=[], metavar="X-NAME=VALUE",
        help="an X- header for the INVITE (and the call's REFERs); repeat for more",
    )  # fmt: skip
    group.add_argument(
        "--account", metavar="NAME",
        help="call through this account of the accounts file (its proxy, credentials and "
        "caller id)",
    )  # fmt: skip
    group.add_argument(
        "--line", metavar="NAME",
        help="call on this line of the routes file (its agent, and its caller id, account, "
        "variables and headers unless given here)",
    )  # fmt: skip
    group.add_argument(
        "--amd", metavar="MODE",
        help="answering-machine detection: off, detect, leave_message or hang_up [default: "
        "the line's, else SIPGW_AMD] (docs/amd.md)",
    )  # fmt: skip
    group.add_argument(
        "--amd-message", metavar="TEXT",
        help="the voicemail message of this call (leave_message) [default: SIPGW_AMD_MESSAGE]",
    )  # fmt: skip
    group.add_argument(
        "--ivr-goal", metavar="TEXT",
        help="what to reach through a phone menu before the agent talks, e.g. 'reach billing "
        "and ask for the balance' [default: the line's] (docs/ivr.md)",
    )  # fmt: skip
    group.add_argument(
        "--twiml-url", metavar="URL",
        help="the twiml agent's webhook for this call [default: SIPGW_TWIML_URL] "
        "(docs/twilio-apps.md)",
    )  # fmt: skip
    group.add_argument(
        "--twiml", metavar="FILE",
        help="a TwiML document the twiml agent runs for this call (no webhook)",
    )  # fmt: skip


def call_request_of(args: argparse.Namespace, sources: Sources) -> CallRequest:
    """The call the command line describes (only what it gives: a running gateway fills
    in the rest from its own settings).

    Raises:
        ConfigError: a bad ``--var``, ``--header``, ``--amd`` or ``--amd-message``.
    """
    from sipgw.agent.variables import check_variables

    try:
        variables = check_variables(assignments(args.var, "--var"))
        headers = check_custom_headers(list(assignments(args.header, "--header").items()))
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    try:
        amd = amd_request({"amd": args.amd, "amd_message": args.amd_message})
    except ValueError as exc:
        flag = "--amd" if "amd_message" not in str(exc) else "--amd-message"
        raise ConfigError(f"{flag}: {str(exc).split(' ', 1)[1]}") from None
    twiml = _twiml_of(args)
    try:
        goal = ivr_goal({"ivr_goal": args.ivr_goal} if args.ivr_goal is not None else {})
    except ValueError as exc:
        raise ConfigError(f"--ivr-goal: {str(exc).split(' ', 1)[1]}") from None
    line = sources.command_line()  # what a running gateway's own settings do not say
    placing, agent = load(OutboundSection, line), load(AgentSection, line).agent
    return CallRequest(
        args.target,
        caller_id=placing.caller_id if line.gives(OutboundSection, "caller_id") else None,
        variables=variables,
        headers=headers,
        agent=agent if line.gives(AgentSection, "agent") else None,
        account=args.account,
        ring_timeout=placing.ring_timeout if line.gives(OutboundSection, "ring_timeout") else None,
        line=args.line,
        amd=amd,
        twiml=twiml,
        ivr_goal=goal,
    )


def _twiml_of(args: argparse.Namespace) -> TwimlSource | None:
    """``--twiml-url`` or ``--twiml FILE`` as the call's own TwiML.

    Raises:
        ConfigError: both given, an unreadable file, or what :func:`twiml_source` refuses
            (named by the flag).
    """
    url, path = getattr(args, "twiml_url", None), getattr(args, "twiml", None)
    body: dict[str, object] = {}
    if url is not None:
        body["twiml_url"] = url
    if path is not None:
        try:
            body["twiml"] = Path(path).read_text()
        except OSError as exc:
            raise ConfigError(f"--twiml {path}: {exc.strerror or exc}") from None
    try:
        return twiml_source(body)
    except ValueError as exc:
        message = str(exc).replace('"twiml_url"', "--twiml-url").replace('"twiml"', "--twiml")
        raise ConfigError(message) from None


def admin_url(settings: CallCommandSection, admin: AdminSettings) -> str:
    """Where a running gateway's admin server would be ("" = nowhere to ask)."""
    if settings.admin_url:
        return settings.admin_url.rstrip("/")
    if not admin.enabled:
        return ""
    host = admin.bind if admin.bind not in ("0.0.0.0", "::") else "127.0.0.1"
    host = f"[{host}]" if ":" in host else host
    return f"http://{host}:{admin.port}"


async def run(startup: Startup, args: argparse.Namespace, sources: Sources) -> int:
    """Place the call (through the running gateway, or from here); returns the exit status."""
    try:
        request = call_request_of(args, sources)
    except ConfigError as exc:
        print(f"sipgw: error: {exc}", file=sys.stderr)
        return 2
    url = admin_url(load(CallCommandSection, sources), startup.admin)
    if url:
        remote = _Remote(url, startup.admin.token, sources.label(AdminSettings, "token"))
        reason = await remote.probe()
        if not reason:
            return await remote.call(request)
        print(f"sipgw call: {reason}; placing the call from here", file=sys.stderr)
    return await _call_here(startup, request, sources)


def _print(outcome: CallOutcome) -> int:
    print(f"{outcome.target}: {outcome.describe()}", flush=True)
    return CALL_EXIT[outcome.kind]


class RemoteError(Exception):
    """The running gateway refused the request (the message says why)."""


class _Remote:
    """A running gateway's admin API, asked to place one call."""

    def __init__(self, url: str, token: str, token_setting: str = "--admin-token") -> None:
        self.url = url
        self.token_setting = token_setting
        """How the token was given (``--admin-token``, ``SIPGW_ADMIN_TOKEN (.env line 4)``)."""
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}

    async def probe(self) -> str:
        """Why the gateway cannot place the call ("" when it answers)."""
        import aiohttp

        timeout = aiohttp.ClientTimeout(total=PROBE_TIMEOUT)
        try:
            async with (
                aiohttp.ClientSession(timeout=timeout, headers=self.headers) as session,
                session.get(f"{self.url}/api/health") as response,
            ):
                if response.status == 401:
                    return (
                        f"the gateway at {self.url} refused our admin token ({self.token_setting})"
                    )
                if response.status >= 400:
                    return f"the gateway at {self.url} answered {response.status}"
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            return f"no gateway answers at {self.url} ({type(exc).__name__})"
        return ""

    async def call(self, request: CallRequest) -> int:
        import aiohttp

        timeout = aiohttp.ClientTimeout(total=None, sock_connect=PROBE_TIMEOUT)
        async with aiohttp.ClientSession(timeout=timeout, headers=self.headers) as session:
            try:
                placed = await self._post(session, "/api/calls", _body(request))
            except RemoteError as exc:
                print(f"sipgw call: {exc}", file=sys.stderr)
                return 2
            if "kind" in placed:  # it ended at once (e.g. a bad caller id)
                return _print(_outcome(placed))
            call_id = str(placed["id"])
            print(f"calling {request.target} through the gateway at {self.url} (call {call_id})",
                  file=sys.stderr, flush=True)  # fmt: skip
            return _print(await self._outcome(session, call_id))

    async def _outcome(self, session: aiohttp.ClientSession, call_id: str) -> CallOutcome:
        """Wait for the call's outcome; Ctrl-C (or SIGTERM) asks the gateway to hang up."""
        loop = asyncio.get_running_loop()
        hangup = asyncio.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, hangup.set)
        waiting = loop.create_task(self._poll(session, call_id))
        stop = loop.create_task(hangup.wait())
        try:
            await asyncio.wait({waiting, stop}, return_when=asyncio.FIRST_COMPLETED)
            if not waiting.done():
                await self._post(session, f"/api/calls/{call_id}/hangup", {}, allow=(202, 404))
                await asyncio.wait({waiting}, timeout=HANGUP_GRACE)
            return waiting.result()
        finally:
            stop.cancel()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)

    async def _poll(self, session: aiohttp.ClientSession, call_id: str) -> CallOutcome:
        path = f"{self.url}/api/calls/{call_id}/outcome?wait={POLL_SECONDS}"
        while True:
            async with session.get(path) as response:
                body: Any = await response.json(content_type=None)
                if response.status == 200:
                    return _outcome(body)
                if response.status != 202:
                    raise RemoteError(f"{response.status}: {body.get('error', body)}")

    async def _post(
        self,
        session: aiohttp.ClientSession,
        path: str,
        body: Mapping[str, Any],
        allow: tuple[int, ...] = (200, 202),
    ) -> dict[str, Any]:
        async with session.post(f"{self.url}{path}", json=dict(body)) as response:
            answer: Any = await response.json(content_type=None)
            if response.status not in allow:
                error = answer.get("error", answer) if isinstance(answer, dict) else answer
                raise RemoteError(f"the gateway refused the call ({response.status}): {error}")
            return answer if isinstance(answer, dict) else {}


def _body(request: CallRequest) -> dict[str, Any]:
    """The JSON of ``POST /api/calls`` (what the command line left open is left out)."""
    body: dict[str, Any] = {"target": request.target}
    for name in ("caller_id", "agent", "account", "ring_timeout", "line"):
        value = getattr(request, name)
        if value is not None:
            body[name] = value
    if request.variables:
        body["variables"] = dict(request.variables)
    if request.headers:
        body["headers"] = dict(request.headers)
    if request.amd is not None:
        body["amd"] = request.amd.mode.value
        if request.amd.message is not None:
            body["amd_message"] = request.amd.message
    if request.ivr_goal is not None:
        body["ivr_goal"] = request.ivr_goal
    if request.twiml is not None:
        body.update({"twiml_url": request.twiml.url} if request.twiml.url else {})
        body.update({"twiml": request.twiml.document} if request.twiml.document else {})
    return body


def _outcome(body: Mapping[str, Any]) -> CallOutcome:
    from sipgw.app.calls.outbound import CallOutcome

    fields = {f.name for f in dataclasses.fields(CallOutcome)}
    return CallOutcome(**{name: value for name, value in body.items() if name in fields})


async def _call_here(startup: Startup, request: CallRequest, sources: Sources) -> int:
    """The call from this process, on ephemeral SIP ports unless the command line says."""
    from sipgw.app.listen import gateway_of, start_gateway

    config, line = startup.config, sources.command_line()
    config = dataclasses.replace(
        config,
        sip_port=config.sip_port if line.gives(NetworkSection, "sip_port") else 0,
        tls_port=config.tls_port if line.gives(NetworkSection, "tls_port") else 0,
    )
    gateway = gateway_of(startup, config, register=False, legs=False)
    loop = asyncio.get_running_loop()
    failed = await start_gateway(gateway, startup.sources)
    if failed is not None:
        return failed
    placing = loop.create_task(
        gateway.place_call(
            request.target, caller_id=request.caller_id,
            ring_timeout=request.ring_timeout, variables=request.variables,
            headers=request.headers, account=request.account, line=request.line,
            amd=request.amd, twiml=request.twiml, ivr_goal=request.ivr_goal,
        )
    )  # fmt: skip
    for sig in (signal.SIGINT, signal.SIGTERM):  # hang up (CANCEL or BYE), then report
        loop.add_signal_handler(sig, lambda: gateway.sip.act(gateway.ua.shutdown))
    try:
        outcome = await placing
    finally:
        await gateway.stop()
    return _print(outcome)
