"""The built-in tools: order status, callback scheduling, transfer to a human, hang-up.

They are configured by a :class:`~agent.settings.BuiltinToolSettings` (the app
fills it in from ``SIPGW_ORDERS_FILE``, ``SIPGW_CALLBACK_DB``,
``SIPGW_CALLBACK_ALLOWED_PREFIXES``, ``SIPGW_CALLBACK_TIMEZONE`` and
``SIPGW_TRANSFER_TARGET``; which of them the model gets, from ``SIPGW_BUILTIN_TOOLS``:
``enabled``, empty for none):

``orders_file``
    JSON orders file read by ``get_order_status``; None: the packaged
    ``sample_orders.json``. Shape: ``{"orders": [{"id", "status", "items",
    "eta", "carrier"}, ...]}``, a bare list of such orders, or an object keyed
    by order id. Read on every call, so edits apply at once.
``callback_db``
    SQLite file where ``schedule_callback`` stores requests (table
    ``callbacks``, created on first use: :mod:`agent.tools.callback_store`),
    which the gateway's scheduler dials at their time. The number must be a
    phone number starting with one of ``callback_allowed_prefixes`` (if set);
    the time is read by :mod:`agent.tools.callback_time`.
``transfer_target``
    SIP URI that ``transfer_to_human`` refers the caller to, e.g.
    ``sip:support@pbx.example.com``; None: transfers are refused.

Against toll fraud and prompt injection no tool takes a target from the model
that is not checked: ``transfer_to_human`` has no target argument (it always
uses ``transfer_target``), a callback number must be allowed by
``callback_allowed_prefixes`` or ``dial_policy`` (nothing else is), and the
gateway checks every REFER, callback and DTMF again on the way out. Every
schema is closed (``additionalProperties: false``) and bounds its strings.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

from agent.dialpolicy import DialChecker, DialRefused, check_dial
from agent.settings import BuiltinToolSettings
from agent.spoken import DIGIT_WORDS as _DIGIT_WORDS
from agent.tools.callback_store import CallbackStore, dialable_number, number_allowed
from agent.tools.callback_time import callback_zone, describe_now, parse_callback_time
from agent.tools.registry import Tool, ToolContext, ToolError

__all__ = ["builtin_tools", "callback_allowed", "caller_number", "normalize_order_id"]

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
        "get_order_status": lambda: _order_status_tool(settings.orders_file),
        "schedule_callback": lambda: _callback_tool(settings),
        "transfer_to_human": lambda: _transfer_tool(settings.transfer_target, settings.dial_policy),
        "end_call": _end_call_tool,
    }
    unknown = [name for name in settings.enabled if name not in makers]
    if unknown:
        raise ValueError(f"no built-in tool {unknown[0]!r} (there are {', '.join(makers)})")
    return [makers[name]() for name in settings.enabled]


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


def _order_status_tool(orders_file: Path | None) -> Tool:
    async def get_order_status(ctx: ToolContext, args: dict[str, Any]) -> object:
        wanted = normalize_order_id(str(args.get("order_id", "")))
        if not wanted:
            raise ToolError("no order number given; ask the caller for it")
        orders = await asyncio.to_thread(_load_orders, orders_file)
        order = _find_order(orders, wanted)
        if order is None:
            return {"error": f"no order with the number {wanted}"}
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
            "and carrier. Pass the number as the caller said it."
        ),
        parameters={
            "type": "object",
            "properties": {
                "order_id": {
                    "type": "string",
                    "maxLength": 64,
                    "description": "The order number, e.g. 1234.",
                }
            },
            "required": ["order_id"],
            "additionalProperties": False,
        },
        handler=get_order_status,
        read_only=True,
    )


def _load_orders(orders_file: Path | None) -> list[dict[str, Any]]:
    try:
        if orders_file is None:
            text = resources.files("agent.tools").joinpath("sample_orders.json").read_text("utf-8")
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


def caller_number(caller: str) -> str:
    """The phone number (or user part) in a caller URI; "" for anonymous callers.

    ``'"Bob" <sip:+15551234567@trunk.example;user=phone>'`` gives ``"+15551234567"``.
    """
    text = caller.strip()
    if "<" in text and ">" in text:
        text = text[text.index("<") + 1 : text.index(">")]
    for scheme in ("sips:", "sip:", "tel:"):
        if text.lower().startswith(scheme):
            text = text[len(scheme) :]
            break
    user = text.split("@", 1)[0].split(";", 1)[0].strip()
    return "" if user.lower() in ("", "anonymous", "unknown", "restricted") else user


def callback_allowed(number: str, prefixes: tuple[str, ...], policy: DialChecker) -> bool:
    """A callback may dial ``number``: one of ``prefixes`` starts it, or ``policy`` allows
    calls to it. Nothing configured: nothing is allowed."""
    return any(prefixes) and number_allowed(number, prefixes) or policy.allows("call", number)


def _callback_tool(settings: BuiltinToolSettings) -> Tool:
    store = CallbackStore(settings.callback_db)
    zone = callback_zone(settings.callback_timezone)
    prefixes = settings.callback_allowed_prefixes

    async def schedule_callback(ctx: ToolContext, args: dict[str, Any]) -> object:
        given = str(args.get("phone") or "").strip()
        phone = given or caller_number(ctx.caller)
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
        row_id = await asyncio.to_thread(
            store.add,
            call_id=ctx.call_id,
            phone=number,
            requested_time=when,
            reason=str(args.get("reason") or "").strip(),
            notes=str(args.get("notes") or "").strip(),
            due_at=due_at,
            now=now,
        )
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
            "the number the caller is calling from."
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
        ctx.transfer_after_reply(target, str(args.get("reason", "")))
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
                }
            },
            "required": ["reason"],
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
