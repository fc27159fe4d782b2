"""The built-in tools: orders, callbacks, messages, transfer to a person, hang-up, who answered.

They are configured by a :class:`~sipgw.agent.tools.settings.BuiltinToolSettings` (the app
fills it in from ``SIPGW_ORDERS_FILE``, ``SIPGW_CALLBACK_DB``,
``SIPGW_CALLBACK_ALLOWED_PREFIXES``, ``SIPGW_CALLBACK_TIMEZONE`` and
``SIPGW_TRANSFER_TARGET``; which of them the model gets, from ``SIPGW_BUILTIN_TOOLS``:
``enabled``, empty for none):

``orders_file``
    JSON orders file read by ``get_order_status``; None: the packaged
    ``sample_orders.json``. Shape: ``{"orders": [{"id", "status", "items",
    "eta", "carrier"}, ...]}``, a bare list of such orders, or an object keyed
    by order id. Read on every call, so edits apply at once. Whose an order is:
    ``phone`` (a number or a list), ``verification`` (what only its owner knows,
    e.g. the delivery postcode) and ``verification_hint`` (how to ask for it).
``orders_verify``
    An order is read out only to its owner: a call whose proven number
    (``ToolContext.verified_caller``: a trusted trunk's assertion, never the
    From) is one of its ``phone``, or a caller who gives its ``verification``
    (three wrong tries per call, then no more; ten per order a day, whichever
    calls gave them); an order naming neither is not read out at all. Off: any
    order to anyone (public tracking data).
``callback_db``
    SQLite file where ``schedule_callback`` stores requests (table
    ``callbacks``, created on first use: :mod:`sipgw.agent.tools.callback_store`),
    which the gateway's scheduler dials at their time. The number must be a
    phone number starting with one of ``callback_allowed_prefixes`` (if set);
    the time is read by :mod:`sipgw.agent.tools.callback_time`.
``transfer_target``
    SIP URI that ``transfer_to_human`` refers the caller to, e.g.
    ``sip:support@pbx.example.com``; None: transfers are refused. The person a
    ``take_message`` message is for.

``take_message`` stores the caller's message for the person they wanted (in
``callback_db``'s ``messages`` table, :mod:`sipgw.agent.tools.message_store`; the
call record and the ``message.taken`` webhook carry it too): what they said,
their name and a number to reach them if they gave them (a phone number only;
nothing dials it), the number they called from.

Against toll fraud and prompt injection no tool takes a target from the model
that is not checked: ``transfer_to_human`` has no target argument (it always
uses ``transfer_target``), a callback number must be allowed by
``callback_allowed_prefixes`` or ``dial_policy`` (nothing else is), and the
gateway checks every REFER, callback and DTMF again on the way out. Every
schema is closed (``additionalProperties: false``) and bounds its strings.

A callback's ``reason`` and ``notes`` are the caller's words: stored as given,
they reach the callback call only as quoted data (:mod:`sipgw.agent.conversation.callerwords`).
Callbacks are bounded per caller, per number and per day
(``callback_quota``), and a call the gateway placed may schedule a callback only
to the number it called: one callback cannot set off calls to others.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hmac
import json
import logging
import re
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Mapping
from importlib import resources
from pathlib import Path
from typing import Any

from sipgw.agent.dialpolicy import DialChecker, DialRefused, check_dial
from sipgw.agent.tools.callback_store import (
    CallbackQuotaExceeded,
    CallbackStore,
    dialable_number,
    number_allowed,
)
from sipgw.agent.tools.callback_time import callback_zone, describe_now, parse_callback_time
from sipgw.agent.tools.message_store import MessageQuotaExceeded, MessageStore
from sipgw.agent.tools.registry import Tool, ToolContext, ToolError
from sipgw.agent.tools.settings import BuiltinToolSettings
from sipgw.foundation.spoken import DIGIT_WORDS as _DIGIT_WORDS

__all__ = [
    "MAX_WRONG_PER_ORDER",
    "MAX_WRONG_VERIFICATIONS",
    "ORDER_WINDOW",
    "OwnerChecks",
    "builtin_tools",
    "callback_allowed",
    "callback_requester",
    "normalize_order_id",
]

log = logging.getLogger("sipgw.agent.tools")

_REPEAT_WORDS = {"double": 2, "triple": 3}
_FILLER_WORDS = frozenset(
    {"order", "orders", "number", "no", "nr", "num", "id", "is", "the", "my"}
    | {"hash", "hashtag", "pound", "sign", "ref", "reference"}
)


def builtin_tools(settings: BuiltinToolSettings) -> list[Tool]:
    """The built-in tools ``settings.enabled`` names, configured from ``settings`` (see the
    module docstring), in that order.

    Raises:
        ValueError: a name that is no built-in tool.
    """
    makers = {
        "get_order_status": lambda: _order_status_tool(
            settings.orders_file, settings.orders_verify
        ),
        "schedule_callback": lambda: _callback_tool(settings),
        "take_message": lambda: _message_tool(settings),
        "transfer_to_human": lambda: _transfer_tool(settings.transfer_target, settings.dial_policy),
        "end_call": _end_call_tool,
        "who_answered": _who_answered_tool,
    }
    unknown = [name for name in settings.enabled if name not in makers]
    if unknown:
        raise ValueError(f"no built-in tool {unknown[0]!r} (there are {', '.join(makers)})")
    return [dataclasses.replace(makers[name](), source="builtin") for name in settings.enabled]


# -- get_order_status ----------------------------------------------------------


def normalize_order_id(spoken: str) -> str:
    """An order number as the caller said it, reduced to its letters and digits.

    ``"1 2 3 4"``, ``"#1234"``, ``"order 1234"``, ``"it's order number one two
    three four"`` all give ``"1234"``; ``"one double two three"`` gives
    ``"1223"``; letters are kept, uppercased (``"ab-12"`` gives ``"AB12"``).
    """
    text = re.sub(r"\bit'?s\b", " ", spoken.lower())
    tokens = re.findall(r"[a-z0-9]+", text)
    out: list[str] = []
    repeat = 1
    for token in tokens:
        if token in _REPEAT_WORDS:
            repeat = _REPEAT_WORDS[token]
            continue
        if token in _FILLER_WORDS:
            continue
        token = _DIGIT_WORDS.get(token, token)
        out.append(token * repeat if len(token) == 1 else token)
        repeat = 1
    return "".join(out).upper()


def _order_status_tool(orders_file: Path | None, verify: bool) -> Tool:
    wrong_tries = OwnerChecks()

    async def get_order_status(ctx: ToolContext, args: dict[str, Any]) -> object:
        wanted = normalize_order_id(str(args.get("order_id", "")))
        if not wanted:
            raise ToolError("no order number given; ask the caller for it")
        orders = await asyncio.to_thread(_load_orders, orders_file)
        order = _find_order(orders, wanted)
        if order is None:
            return {"error": f"no order with the number {wanted}"}
        if verify:
            refusal = wrong_tries.check(ctx, order, str(args.get("verification") or ""))
            if refusal:
                log.info("call %s: order %s not read out: %s", ctx.call_id, wanted, refusal)
                return {"error": refusal}
        return {
            "order_id": order.get("id"),
            "status": order.get("status"),
            "items": order.get("items"),
            "eta": order.get("eta"),
            "carrier": order.get("carrier"),
        }

    return Tool(
        name="get_order_status",
        description=(
            "Look up an order by its order number: status, items, estimated delivery "
            "and carrier. Pass the number as the caller said it. An order is read out "
            "only to its owner: when the result asks for verification, ask the caller "
            "for it and call again with it."
        ),
        parameters={
            "type": "object",
            "properties": {
                "order_id": {
                    "type": "string",
                    "maxLength": 64,
                    "description": "The order number, e.g. 1234.",
                },
                "verification": {
                    "type": "string",
                    "maxLength": 64,
                    "description": "What the caller gave to show the order is theirs, when "
                    "the result asked for it (e.g. the delivery postcode).",
                },
            },
            "required": ["order_id"],
            "additionalProperties": False,
        },
        handler=get_order_status,
    )


MAX_WRONG_VERIFICATIONS = 3
"""Wrong verifications one call may give before no order is read out on it any more."""

MAX_WRONG_PER_ORDER = 10
"""Wrong verifications of one order, over all calls, within :data:`ORDER_WINDOW`, after
which it is not read out on the phone until they age out (a proven owner still is)."""

ORDER_WINDOW = 24 * 3600.0
"""Seconds a wrong verification counts against its order."""


class OwnerChecks:
    """Whether an order may be read out on a call, and the wrong tries of each call and order.

    The call's proven number is one of the order's ``phone``, or the caller gave its
    ``verification`` (letters and digits compared, any case). At most
    :data:`MAX_WRONG_VERIFICATIONS` wrong ones per call (the last ``max_calls`` calls are
    remembered), and :data:`MAX_WRONG_PER_ORDER` per order in :data:`ORDER_WINDOW`
    whichever calls gave them (the last ``max_orders`` orders tried are remembered, each
    with at most that many times), so that nobody can guess a postcode by trying them all,
    whether in one call or in many: with a 5-digit postcode, 10 a day is 10,000 days for
    all of them. Memory stays bounded by those two numbers.

    Args:
        max_calls: calls whose wrong tries are remembered.
        max_orders: orders whose wrong tries are remembered.
        clock: seconds, monotonic (injected for tests).
    """

    def __init__(
        self,
        max_calls: int = 1024,
        max_orders: int = 4096,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_calls = max_calls
        self.max_orders = max_orders
        self.clock = clock
        self._wrong: OrderedDict[str, int] = OrderedDict()
        self._order_wrong: OrderedDict[str, deque[float]] = OrderedDict()

    @property
    def remembered(self) -> tuple[int, int]:
        """Calls and orders whose wrong tries are remembered now."""
        return len(self._wrong), len(self._order_wrong)

    def check(self, ctx: ToolContext, order: Mapping[str, Any], given: str) -> str:
        """Why ``order`` may not be read out on this call; "" when it may."""
        phones = order.get("phone") or []
        owners = {_digits(p) for p in ([phones] if isinstance(phones, str) else phones)}
        owners.discard("")
        proven = _digits(ctx.verified_caller)
        if proven and proven in owners:
            return ""
        secret = _plain(str(order.get("verification") or ""))
        if not secret:
            if owners:
                return (
                    "this order belongs to another number: it can only be discussed on a "
                    "call from that number"
                )
            return "this order names no owner, so it cannot be discussed on the phone"
        wrong = self._wrong.get(ctx.call_id, 0)
        if wrong >= MAX_WRONG_VERIFICATIONS:
            return "too many wrong answers on this call: no order can be read out any more"
        now = self.clock()
        key = str(order.get("id"))
        tries = self._order_wrong.get(key)
        while tries and tries[0] <= now - ORDER_WINDOW:
            tries.popleft()
        if tries is not None and len(tries) >= MAX_WRONG_PER_ORDER:
            return (
                "this order had too many wrong answers lately: it cannot be read out on the "
                "phone now; offer another way to help"
            )
        hint = str(order.get("verification_hint") or "the verification on the order")
        if not given:
            return f"ask the caller for {hint} to show the order is theirs, then look it up again"
        if hmac.compare_digest(_plain(given).encode(), secret.encode()):
            return ""
        self._wrong[ctx.call_id] = wrong + 1
        self._wrong.move_to_end(ctx.call_id)
        while len(self._wrong) > self.max_calls:
            self._wrong.popitem(last=False)
        if tries is None:
            tries = self._order_wrong[key] = deque(maxlen=MAX_WRONG_PER_ORDER)
        tries.append(now)
        self._order_wrong.move_to_end(key)
        while len(self._order_wrong) > self.max_orders:
            self._order_wrong.popitem(last=False)
        return f"that is not {hint} of this order: ask again, or offer other help"


def _digits(number: str) -> str:
    """A phone number's digits, for comparing owners ("" for anything else)."""
    return _dialable(number).lstrip("+")


def _plain(text: str) -> str:
    return re.sub(r"[^0-9A-Za-z]", "", text).upper()


def _load_orders(orders_file: Path | None) -> list[dict[str, Any]]:
    try:
        if orders_file is None:
            text = (
                resources.files("sipgw.agent.tools")
                .joinpath("sample_orders.json")
                .read_text("utf-8")
            )
        else:
            text = orders_file.read_text("utf-8")
        data = json.loads(text)
    except (OSError, ValueError) as exc:
        log.error("cannot read the orders file %s: %s", orders_file or "(packaged sample)", exc)
        raise ToolError("the order system is unavailable right now") from exc
    if isinstance(data, Mapping) and isinstance(data.get("orders"), list):
        data = data["orders"]
    if isinstance(data, Mapping):
        return [{"id": key, **value} for key, value in data.items() if isinstance(value, Mapping)]
    if isinstance(data, list):
        return [order for order in data if isinstance(order, dict)]
    raise ToolError("the order system is unavailable right now")


def _find_order(orders: list[dict[str, Any]], wanted: str) -> dict[str, Any] | None:
    by_id = {normalize_order_id(str(order.get("id", ""))): order for order in orders}
    if wanted in by_id:
        return by_id[wanted]
    digits = re.sub(r"\D", "", wanted)
    if not digits:
        return None
    for key, order in by_id.items():
        if re.sub(r"\D", "", key) == digits:
            return order
    return None


# -- schedule_callback ---------------------------------------------------------


def callback_requester(ctx: ToolContext) -> str:
    """Who asks for a callback, as the per-caller quota counts them: the call's proven
    number (``verified_caller``: a trusted trunk's assertion, or the number a call we placed
    reached) as ``verified:NUMBER``; else the From's number, which anyone can write, kept
    apart, so that a forged From can neither use up nor share a proven caller's quota;
    ``anonymous`` for callers without one, together."""
    proven = ctx.verified_caller
    if proven:
        return f"verified:{proven}"
    return ctx.caller_number or "anonymous"


def _dialable(number: str) -> str:
    """``number`` as :func:`dialable_number` writes it; "" when it is no phone number."""
    try:
        return dialable_number(number)
    except ValueError:
        return ""


def callback_allowed(number: str, prefixes: tuple[str, ...], policy: DialChecker) -> bool:
    """A callback may dial ``number``: one of ``prefixes`` starts it, or ``policy`` allows
    calls to it. Nothing configured: nothing is allowed."""
    return any(prefixes) and number_allowed(number, prefixes) or policy.allows("call", number)


def _callback_tool(settings: BuiltinToolSettings) -> Tool:
    store = settings.callback_store or CallbackStore(settings.callback_db)
    zone = callback_zone(settings.callback_timezone)
    prefixes = settings.callback_allowed_prefixes

    async def schedule_callback(ctx: ToolContext, args: dict[str, Any]) -> object:
        given = str(args.get("phone") or "").strip()
        phone = given or ctx.caller_number
        if not phone:
            raise ToolError("no phone number: ask the caller which number to call back")
        try:
            number = dialable_number(phone)
        except ValueError:
            if not given:
                raise ToolError(
                    "the caller's address is not a phone number: ask which number to call back"
                ) from None
            raise ToolError(f"{given!r} is not a phone number: ask the caller again") from None
        if ctx.direction == "outbound" and number != _dialable(ctx.caller_number):
            # A call we placed (a callback) was set off by someone else's words: it may
            # move its own call back, never start one to another number.
            raise DialRefused(
                "call", number, "a call the gateway placed can only schedule a call back to "
                "the number it called: tell the person so"
            )  # fmt: skip
        if not callback_allowed(number, prefixes, settings.dial_policy):
            tell = (
                f"we can only call back numbers starting with {' or '.join(prefixes)}"
                if prefixes
                else "we cannot call back that number; offer another way to help"
            )
            raise DialRefused(
                "call", number, f"not an allowed callback number: tell the caller {tell}"
            )  # fmt: skip
        when = str(args["time"]).strip()
        now = time.time()
        try:
            due_at = parse_callback_time(when, now, zone)
        except ValueError as exc:
            raise ToolError(str(exc)) from None
        try:
            row_id = await store.add(
                call_id=ctx.call_id,
                phone=number,
                requested_time=when,
                reason=str(args.get("reason") or "").strip(),
                notes=str(args.get("notes") or "").strip(),
                due_at=due_at,
                now=now,
                requested_by=callback_requester(ctx),
                quota=settings.callback_quota,
            )
        except CallbackQuotaExceeded as exc:
            log.warning("call %s: callback to %s not stored: %s", ctx.call_id, number, exc)
            raise ToolError(
                "no more callbacks can be scheduled for this caller or number today: tell "
                "the caller, and offer another way to help"
            ) from None
        log.info("call %s: callback %d to %s due %s", ctx.call_id, row_id, number,
                 describe_now(due_at, zone))  # fmt: skip
        return {
            "scheduled": True,
            "callback_id": row_id,
            "phone": number,
            "time": when,
            "due": describe_now(due_at, zone),
        }

    return Tool(
        name="schedule_callback",
        description=(
            "Schedule a call back: at the agreed time you (the assistant) call the number, "
            "and speak first, about the reason given; unanswered calls are retried a few "
            "times. Agree on the time with the caller first. Leave out phone to call back "
            "the number the caller is calling from. On a call you placed, only that number "
            "can be called back."
        ),
        parameters={
            "type": "object",
            "properties": {
                "phone": {
                    "type": "string",
                    "maxLength": 64,
                    "description": "Phone number to call back, digits with an optional "
                    "leading +; omit for the caller's own number.",
                },
                "time": {
                    "type": "string",
                    "maxLength": 64,
                    "description": "When to call: an ISO 8601 local date and time such as "
                    "2025-06-03T15:00 (work it out from the current time you were given), "
                    "or 'now', or 'in 10 minutes' / 'in 2 hours'.",
                },
                "reason": {
                    "type": "string",
                    "maxLength": 300,
                    "description": "What the call back is about, in a few words that "
                    "complete 'calling you back about ...', e.g. 'your refund for order 1234'.",
                },
                "notes": {
                    "type": "string",
                    "maxLength": 1000,
                    "description": "Anything else the call back should know.",
                },
            },
            "required": ["time"],
            "additionalProperties": False,
        },
        handler=schedule_callback,
    )


# -- take_message --------------------------------------------------------------


def _message_tool(settings: BuiltinToolSettings) -> Tool:
    store = settings.message_store or MessageStore(settings.callback_db)
    for_target = settings.transfer_target or ""

    async def take_message(ctx: ToolContext, args: dict[str, Any]) -> object:
        text = str(args.get("message") or "").strip()
        if not text:
            raise ToolError("no message: ask the caller what to pass on")
        given = str(args.get("phone") or "").strip()
        reach_at = ""
        if given:
            try:
                reach_at = dialable_number(given)
            except ValueError:
                raise ToolError(f"{given!r} is not a phone number: ask the caller again") from None
        name = " ".join(str(args.get("name") or "").split())
        try:
            row_id = await store.add(
                call_id=ctx.call_id,
                for_target=for_target,
                from_number=callback_requester(ctx),  # counted by proven number, as callbacks
                caller_name=name,
                reach_at=reach_at,
                message=text,
                now=time.time(),
                quota=settings.callback_quota,
            )
        except MessageQuotaExceeded as exc:
            log.warning("call %s: message not stored: %s", ctx.call_id, exc)
            raise ToolError(
                "no more messages can be taken from this caller today: tell the caller, and "
                "offer another way to help"
            ) from None
        log.info("call %s: message %d taken for %s", ctx.call_id, row_id, for_target or "-")
        return {"taken": True, "message_id": row_id, "for": for_target, "name": name,
                "phone": reach_at, "message": text}  # fmt: skip

    return Tool(
        name="take_message",
        description=(
            "Take a message for the person the caller wanted (when a transfer did not go "
            "through, or nobody can take the call now): what to pass on, in the caller's own "
            "words, with their name and a number to reach them if they give them. Read it "
            "back to the caller first. It is stored and passed on; nobody calls back "
            "automatically (schedule_callback does that)."
        ),
        parameters={
            "type": "object",
            "properties": {
                "message": {
                    "type": "string",
                    "maxLength": 1000,
                    "description": "The message, as the caller gave it.",
                },
                "name": {
                    "type": "string",
                    "maxLength": 100,
                    "description": "The caller's name, if they gave it.",
                },
                "phone": {
                    "type": "string",
                    "maxLength": 64,
                    "description": "A number to reach them, if they gave one: digits with an "
                    "optional leading +.",
                },
            },
            "required": ["message"],
            "additionalProperties": False,
        },
        handler=take_message,
    )


# -- transfer_to_human ---------------------------------------------------------


def _transfer_tool(target: str | None, policy: DialChecker) -> Tool:
    async def transfer_to_human(ctx: ToolContext, args: dict[str, Any]) -> object:
        if target is None:
            raise ToolError("transfer not configured")
        # Checked now, so the model is told before it promises a transfer; the
        # gateway checks the REFER again when it goes out.
        check_dial(policy, "transfer", target)
        log.info("call %s: transfer to %s after the handoff line (%s)", ctx.call_id, target,
                 args.get("reason", ""))  # fmt: skip
        # The call's summary goes to the person (a warm transfer says it) and to their PBX
        # (User-to-User on the REFER, SIPGW_TRANSFER_SUMMARY); the reason only when a
        # model sent none.
        summary = " ".join(str(args.get("summary") or args.get("reason") or "").split())
        ctx.transfer_after_reply(target, summary)
        return {
            "transferring": True,
            "note": "the transfer starts once your handoff line has been heard: unless you "
            "already said it, tell the caller in one short sentence that you are connecting "
            "them, nothing else",
        }

    return Tool(
        name="transfer_to_human",
        description=(
            "Transfer the caller to a human agent, when they ask for a person or you "
            "cannot help. Tell the caller you are connecting them: the transfer starts "
            "once that line has been spoken."
        ),
        parameters={
            "type": "object",
            "properties": {
                "reason": {
                    "type": "string",
                    "maxLength": 300,
                    "description": "Why, in a few words (the person who takes the call "
                    "may see it).",
                },
                "summary": {
                    "type": "string",
                    "maxLength": 500,
                    "description": "The call so far, for the person who takes it (their "
                    "phone system may show it): who is calling, what they need and what "
                    "was already done, in one or two short sentences, most important first.",
                },
            },
            "required": ["reason", "summary"],
            "additionalProperties": False,
        },
        handler=transfer_to_human,
        timeout=15.0,
    )


# -- end_call ------------------------------------------------------------------


def _end_call_tool() -> Tool:
    async def end_call(ctx: ToolContext, args: dict[str, Any]) -> object:
        ctx.hangup_after_reply()
        return {"ok": True}

    return Tool(
        name="end_call",
        description=(
            "End the call when the conversation is over and the caller has said goodbye. "
            "Say a short goodbye: the call ends once it has been spoken."
        ),
        parameters={
            "type": "object",
            "properties": {
                "reason": {"type": "string", "maxLength": 300, "description": "Why the call ends."}
            },
            "required": [],
            "additionalProperties": False,
        },
        handler=end_call,
    )


# -- who_answered --------------------------------------------------------------


def _who_answered_tool() -> Tool:
    async def who_answered(ctx: ToolContext, args: dict[str, Any]) -> object:
        return ctx.answered_by()

    return Tool(
        name="who_answered",
        description=(
            "On a call you placed: whether a person, a voicemail, a carrier announcement or "
            "a call screener answered, as answering-machine detection decided, and why."
        ),
        parameters={"type": "object", "properties": {}, "additionalProperties": False},
        handler=who_answered,
    )
