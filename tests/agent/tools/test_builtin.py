"""The built-in tools (sipgw.agent.tools.builtin): order status, callback scheduling, transfer to a
human, hang-up, each called through the registry as the model calls it."""

from __future__ import annotations

import json
import sqlite3
import time
from datetime import UTC, datetime, timedelta
from importlib import resources
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from sipgw.agent.tools.builtin import (
    MAX_WRONG_PER_ORDER,
    ORDER_WINDOW,
    OwnerChecks,
    builtin_tools,
    callback_allowed,
    callback_requester,
    normalize_order_id,
)
from sipgw.agent.tools.message_store import MessageStore
from sipgw.agent.tools.quota import CallbackQuota
from sipgw.agent.tools.settings import BuiltinToolSettings
from sipgw.sip.dialpolicy import DialPolicy
from tests.agent.tools.fake_call import FakeCall, call, registry_for


@pytest.mark.parametrize(
    ("spoken", "expected"),
    [
        ("1234", "1234"),
        ("1 2 3 4", "1234"),
        ("#1234", "1234"),
        ("order 1234", "1234"),
        ("Order No. 1234.", "1234"),
        ("order number one two three four", "1234"),
        ("it's one double two three", "1223"),
        ("oh oh seven", "007"),
        ("triple five two", "5552"),
        ("ab-12", "AB12"),
        ("", ""),
    ],
)
def test_order_id_normalisation(spoken, expected):
    assert normalize_order_id(spoken) == expected


def test_sample_orders_file_is_packaged_and_complete():
    data = json.loads(
        resources.files("sipgw.agent.tools").joinpath("sample_orders.json").read_text()
    )
    orders = data["orders"]
    assert len(orders) == 10
    assert len({order["id"] for order in orders}) == 10
    for order in orders:
        assert set(order) == {
            "id", "status", "items", "eta", "carrier",
            "phone", "verification", "verification_hint",
        }  # fmt: skip
        assert isinstance(order["items"], list) and order["items"]


OWNER = FakeCall(verified_caller="+15551234567")
"""The owner of the sample order 1234, as a trusted trunk asserted the number."""


@pytest.mark.parametrize("spoken", ["1 2 3 4", "#1234", "order 1234", "one two three four"])
async def test_order_status_from_the_sample_file(spoken):
    result = await call(registry_for(), "get_order_status", {"order_id": spoken}, OWNER)
    assert result.ok
    assert json.loads(result.content) == {
        "order_id": "1234",
        "status": "shipped",
        "items": ["blue winter jacket", "wool scarf"],
        "eta": "tomorrow by 8 pm",
        "carrier": "DHL",
    }


async def test_unknown_order_is_an_error_the_model_can_speak():
    result = await call(registry_for(), "get_order_status", {"order_id": "9 9 9 9"})
    assert not result.ok
    assert json.loads(result.content) == {"error": "no order with the number 9999"}


async def test_order_number_missing():
    result = await call(registry_for(), "get_order_status", {"order_id": "the order"})
    assert json.loads(result.content) == {"error": "no order number given; ask the caller for it"}


@pytest.mark.parametrize(
    "content",
    [
        [{"id": "ORD-77", "status": "packed", "items": ["mug"], "eta": "Monday", "carrier": "UPS"}],
        {"ORD-77": {"status": "packed", "items": ["mug"], "eta": "Monday", "carrier": "UPS"}},
    ],
    ids=["list", "keyed-by-id"],
)
async def test_orders_file_from_settings(tmp_path, content):
    path = tmp_path / "orders.json"
    path.write_text(json.dumps(content))
    registry = registry_for(orders_file=path, orders_verify=False)  # public tracking data
    by_digits = await call(registry, "get_order_status", {"order_id": "7 7"})
    assert json.loads(by_digits.content)["status"] == "packed"
    exact = await call(registry, "get_order_status", {"order_id": "ord 77"})
    assert json.loads(exact.content)["order_id"] == "ORD-77"


async def test_an_order_is_read_out_only_to_its_owner():
    """Issue 21: get_order_status read any order for anyone, and the From (anyone can write
    any number there) was all the caller context went by. Now only the number a trusted
    trunk asserted, or the order's verification, opens an order."""
    registry = registry_for()
    forged = FakeCall(caller="sip:+15551234567@trunk.example")  # the owner's From, unproven
    refused = await call(registry, "get_order_status", {"order_id": "1234"}, forged)
    assert json.loads(refused.content) == {
        "error": "ask the caller for the delivery postcode to show the order is theirs, "
        "then look it up again"
    }
    someone = FakeCall(verified_caller="+15550001111")  # proven, but not the owner's
    assert not (await call(registry, "get_order_status", {"order_id": "1234"}, someone)).ok
    owner = await call(registry, "get_order_status", {"order_id": "1234"}, OWNER)
    assert json.loads(owner.content)["carrier"] == "DHL"
    verified = await call(
        registry, "get_order_status", {"order_id": "1234", "verification": "100 01"}, forged
    )
    assert json.loads(verified.content)["status"] == "shipped"
    assert "phone" not in verified.content and "10001" not in verified.content


async def test_guessing_the_verification_stops_after_three_wrong_tries():
    registry = registry_for()
    guesser = FakeCall(call_id="guess@test")
    answers = []
    for guess in ("10002", "10003", "10004", "10001"):  # the fourth is right: too late
        result = await call(
            registry, "get_order_status", {"order_id": "1234", "verification": guess}, guesser
        )
        answers.append(json.loads(result.content).get("error", "read out"))
    assert (
        answers[0]
        == "that is not the delivery postcode of this order: ask again, or offer other help"
    )
    assert answers[3].startswith("too many wrong answers on this call")
    other_call = FakeCall(call_id="other@test")
    right = await call(
        registry, "get_order_status", {"order_id": "1234", "verification": "10001"}, other_call
    )
    assert right.ok


def test_guessing_one_orders_verification_over_many_calls_stops_too() -> None:
    """Issue 21 (audit): three wrong tries per call, but no limit across calls: a caller
    could try every postcode, three a call. Now ten wrong ones per order a day, whichever
    calls gave them; the proven owner still hears it; memory is bounded."""
    clock = [1000.0]
    checks = OwnerChecks(max_orders=2, clock=lambda: clock[0])
    order = {"id": "1234", "phone": ["+15551234567"], "verification": "10001"}
    wrong = [checks.check(FakeCall(call_id=f"c{n}"), order, f"2000{n % 10}") for n in range(10)]
    assert all(w.startswith("that is not") for w in wrong)  # 10 calls, one wrong try each
    locked = checks.check(FakeCall(call_id="c10"), order, "10001")  # even the right one
    assert locked.startswith("this order had too many wrong answers lately")
    assert checks.check(FakeCall(verified_caller="+15551234567"), order, "") == ""
    clock[0] += ORDER_WINDOW  # a day later the tries have aged out
    assert checks.check(FakeCall(call_id="c11"), order, "10001") == ""
    for n in range(5):  # other orders' tries: at most max_orders orders are remembered
        other = {"id": f"o{n}", "verification": "1"}
        checks.check(FakeCall(call_id=f"d{n}"), other, "2")
    assert checks.remembered[1] == 2 and MAX_WRONG_PER_ORDER == 10


async def test_an_order_naming_no_owner_is_not_read_out(tmp_path):
    path = tmp_path / "orders.json"
    path.write_text(json.dumps([
        {"id": "1", "status": "packed", "items": ["mug"], "eta": "Monday", "carrier": "UPS"},
        {"id": "2", "status": "packed", "items": ["cup"], "eta": "Monday", "carrier": "UPS",
         "phone": ["+15550009999", "+15550008888"]},
    ]))  # fmt: skip
    registry = registry_for(orders_file=path)
    ownerless = await call(registry, "get_order_status", {"order_id": "1"}, OWNER)
    assert json.loads(ownerless.content)["error"] == (
        "this order names no owner, so it cannot be discussed on the phone"
    )
    other = await call(registry, "get_order_status", {"order_id": "2"}, OWNER)
    assert "belongs to another number" in json.loads(other.content)["error"]
    mine = FakeCall(verified_caller="15550008888")  # digits compared, a + or not
    assert (await call(registry, "get_order_status", {"order_id": "2"}, mine)).ok


async def test_orders_file_missing_is_a_polite_error(tmp_path):
    registry = registry_for(orders_file=tmp_path / "nope.json")
    result = await call(registry, "get_order_status", {"order_id": "1234"})
    assert not result.ok
    assert "unavailable" in json.loads(result.content)["error"]


def callback_rows(path) -> list[tuple[Any, ...]]:
    with sqlite3.connect(path) as db:
        return db.execute(
            "SELECT id, call_id, phone, requested_time, reason, status FROM callbacks"
        ).fetchall()


def due_times(path) -> list[float]:
    with sqlite3.connect(path) as db:
        return [row[0] for row in db.execute("SELECT due_at FROM callbacks ORDER BY id")]


async def test_callback_row_is_written_pending_with_its_due_time(tmp_path):
    db = tmp_path / "data" / "callbacks.sqlite3"
    registry = registry_for(callback_db=db, callback_timezone="America/New_York")
    new_york = ZoneInfo("America/New_York")
    day = datetime.now(new_york).date() + timedelta(days=30)
    local = datetime(day.year, day.month, day.day, 15, 0, tzinfo=new_york)
    when = f"{day.isoformat()}T15:00"  # local time: the zone's offset applies
    args = {"phone": "+1 (555) 000-1111", "time": when, "reason": "refund"}
    result = await call(registry, "schedule_callback", args)
    assert result.ok, result.content
    offset = local.strftime("%z")
    assert json.loads(result.content) == {
        "scheduled": True,
        "callback_id": 1,
        "phone": "+15550001111",
        "time": when,
        "due": f"{local:%A %Y-%m-%d} 15:00 (UTC{offset[:3]}:{offset[3:]})",
    }
    second = await call(registry, "schedule_callback", {**args, "reason": "again"})
    assert json.loads(second.content)["callback_id"] == 2
    assert callback_rows(db) == [
        (1, "call-1@test", "+15550001111", when, "refund", "pending"),
        (2, "call-1@test", "+15550001111", when, "again", "pending"),
    ]
    assert due_times(db) == [local.timestamp()] * 2
    assert local.astimezone(UTC).hour in (19, 20)  # 15:00 New York is 19:00 or 20:00 UTC


async def test_callback_times_now_and_relative(tmp_path):
    db = tmp_path / "cb.sqlite3"
    registry = registry_for(callback_db=db)
    before = time.time()
    for when in ("now", "in 10 minutes", "in 2 hours"):
        result = await call(registry, "schedule_callback", {"time": when})
        assert result.ok, result.content
    now, ten, two_hours = due_times(db)
    assert before <= now <= time.time()
    assert abs(ten - now - 600) < 5 and abs(two_hours - now - 7200) < 5


@pytest.mark.parametrize(
    ("when", "error"),
    [
        ("tomorrow at 3 pm", "give an ISO 8601 date and time"),
        ("2001-01-01T10:00", "that time has passed: it is now"),
        ("2999-01-01T10:00", "more than a year ahead"),
    ],
)
async def test_callback_times_we_cannot_use_are_explained_to_the_model(tmp_path, when, error):
    registry = registry_for(callback_db=tmp_path / "cb.sqlite3")
    result = await call(registry, "schedule_callback", {"time": when})
    assert not result.ok
    assert error in json.loads(result.content)["error"]
    assert not (tmp_path / "cb.sqlite3").exists()


async def test_callback_phone_defaults_to_the_caller(tmp_path):
    db = tmp_path / "cb.sqlite3"
    registry = registry_for(callback_db=db)
    result = await call(registry, "schedule_callback", {"time": "in 1 day"})
    assert json.loads(result.content)["phone"] == "+15551234567"
    assert callback_rows(db)[0][2:5] == ("+15551234567", "in 1 day", "")


async def test_callback_for_an_anonymous_caller_needs_a_number(tmp_path):
    registry = registry_for(callback_db=tmp_path / "cb.sqlite3")
    ctx = FakeCall(caller="sip:anonymous@anonymous.invalid")
    result = await call(registry, "schedule_callback", {"time": "now"}, ctx)
    assert not result.ok
    assert "ask the caller" in json.loads(result.content)["error"]


@pytest.mark.parametrize(
    ("phone", "caller", "error"),
    [
        ("sip:premium@evil.example", None, "is not a phone number"),
        ("call me at home", None, "is not a phone number"),
        ("12", None, "is not a phone number"),
        (None, "sip:alice@example.com", "the caller's address is not a phone number"),
        ("+900 123 4567", None, "can only call back numbers starting with +1 or +44"),
    ],
)
async def test_callback_numbers_are_phone_numbers_within_the_allowed_prefixes(
    tmp_path, phone, caller, error
):
    db = tmp_path / "cb.sqlite3"
    registry = registry_for(callback_db=db, callback_allowed_prefixes=("+1", "+44"))
    args = {"time": "now"} if phone is None else {"time": "now", "phone": phone}
    ctx = FakeCall(caller=caller) if caller else FakeCall()
    result = await call(registry, "schedule_callback", args, ctx)
    assert not result.ok
    assert error in json.loads(result.content)["error"]
    assert not db.exists()


async def test_callback_without_time_is_rejected_by_the_schema(tmp_path):
    registry = registry_for(callback_db=tmp_path / "cb.sqlite3")
    result = await call(registry, "schedule_callback", {"reason": "x"})
    assert json.loads(result.content)["error"] == (
        "invalid arguments for schedule_callback: missing required argument(s): time"
    )
    assert not (tmp_path / "cb.sqlite3").exists()


TARGET = "sip:support@pbx.example.com"


TO_TARGET = DialPolicy(per_action={"transfer": (TARGET,)})
"""What the app's policy holds when SIPGW_TRANSFER_TARGET is set."""


SUMMARY = "Ada wants a refund of order 1234,\n charged twice; the order was checked."


async def test_transfer_waits_for_the_handoff_line():
    ctx = FakeCall()
    result = await call(
        registry_for(transfer_target=TARGET, dial_policy=TO_TARGET),
        "transfer_to_human", {"reason": "refund", "summary": SUMMARY}, ctx,
    )  # fmt: skip
    content = json.loads(result.content)
    assert result.ok and content["transferring"] is True and "handoff line" in content["note"]
    assert ctx.transfers_after_reply == [TARGET]  # the agent transfers once the line is heard
    # the call's summary (one line) goes to the person and their PBX (SIPGW_TRANSFER_SUMMARY)
    assert ctx.summaries == [
        "Ada wants a refund of order 1234, charged twice; the order was checked."
    ]
    assert ctx.transfers == []  # nothing at once


async def test_a_transfer_needs_the_calls_summary():
    """Issue 22: User-to-User carries the call's summary for the human's PBX, so the model
    must give one (it carried the model's few-word reason)."""
    ctx = FakeCall()
    registry = registry_for(transfer_target=TARGET, dial_policy=TO_TARGET)
    result = await call(registry, "transfer_to_human", {"reason": "refund"}, ctx)
    assert not result.ok and "summary" in result.content
    assert ctx.transfers_after_reply == []


async def test_transfer_to_a_target_the_policy_refuses_is_told_at_once():
    ctx = FakeCall()
    result = await call(
        registry_for(transfer_target=TARGET), "transfer_to_human",
        {"reason": "x", "summary": SUMMARY}, ctx,
    )  # fmt: skip
    assert not result.ok and result.refused
    assert ctx.transfers_after_reply == [] and ctx.transfers == []


async def test_transfer_not_configured():
    ctx = FakeCall()
    result = await call(registry_for(), "transfer_to_human", {"reason": "x", "summary": "y"}, ctx)
    assert not result.ok
    assert json.loads(result.content) == {"error": "transfer not configured"}
    assert ctx.transfers == []


async def test_end_call_hangs_up_after_the_reply():
    ctx = FakeCall()
    result = await call(registry_for(), "end_call", {"reason": "goodbye"}, ctx)
    assert result.ok and json.loads(result.content) == {"ok": True}
    assert ctx.hangups == 1


@pytest.mark.parametrize(
    ("number", "prefixes", "policy", "allowed"),
    [
        ("+15551234567", ("+1",), DialPolicy(), True),
        ("+445551234", ("+1",), DialPolicy(), False),
        ("+445551234", ("+1",), DialPolicy(["+44*"]), True),  # the dial policy allows calls to it
        ("+445551234", (), DialPolicy(["+44*"]), True),
        ("+15551234567", (), DialPolicy(), False),  # nothing configured: nothing allowed
        ("+15551234567", ("",), DialPolicy(), False),  # an empty prefix is no rule
    ],
)
def test_which_callback_numbers_may_be_dialed(
    number: str, prefixes: tuple[str, ...], policy: DialPolicy, allowed: bool
) -> None:
    """Against toll fraud: a prefix rule or the operator's dial policy must allow the number."""
    assert callback_allowed(number, prefixes, policy) is allowed


async def test_a_refused_callback_number_is_a_refusal_the_model_hears(tmp_path) -> None:
    db = tmp_path / "cb.sqlite3"
    registry = registry_for(callback_db=db, dial_policy=DialPolicy())
    result = await call(registry, "schedule_callback", {"time": "now", "phone": "+15550001111"})
    assert not result.ok and result.refused
    assert "offer another way to help" in json.loads(result.content)["error"]
    assert not db.exists()


def test_every_schema_is_closed_and_bounds_its_strings() -> None:
    """The module docstring's promise against prompt injection."""
    schemas: list[Any] = registry_for().schemas()
    for schema in schemas:
        parameters = schema["function"]["parameters"]
        assert parameters["additionalProperties"] is False
        for name, prop in parameters["properties"].items():
            assert prop["type"] == "string" and 0 < prop["maxLength"] <= 1000, name
    (transfer,) = [s for s in schemas if s["function"]["name"] == "transfer_to_human"]
    assert "target" not in json.dumps(transfer)  # the model never names where to transfer


def test_the_built_in_tools_are_selectable_and_none_is_allowed():
    """SIPGW_BUILTIN_TOOLS: a production prompt need not carry the demo's order lookup."""
    every = [t.name for t in builtin_tools(BuiltinToolSettings())]
    assert every == [
        "get_order_status", "schedule_callback", "take_message", "transfer_to_human", "end_call",
        "who_answered",
    ]  # fmt: skip
    chosen = BuiltinToolSettings(enabled=("end_call", "transfer_to_human"))
    assert [t.name for t in builtin_tools(chosen)] == ["end_call", "transfer_to_human"]
    assert builtin_tools(BuiltinToolSettings(enabled=())) == []
    with pytest.raises(ValueError, match="no built-in tool 'lookup'"):
        builtin_tools(BuiltinToolSettings(enabled=("lookup",)))


# -- callbacks: quotas, and no callback chains (issue 21) ------------------------------


async def test_callbacks_are_bounded_per_caller_per_number_and_per_day(tmp_path):
    """Issue 21: nothing limited callbacks per call, number or day: one caller could have
    the operator's agent phone a third party again and again."""
    db = tmp_path / "cb.sqlite3"
    quota = CallbackQuota(per_caller=3, per_number=2, per_day=5)
    registry = registry_for(callback_db=db, callback_quota=quota)
    victim = {"time": "in 1 hour", "phone": "+15550009999"}
    mallory = FakeCall(caller="sip:+15550001111@trunk.example")
    results = [await call(registry, "schedule_callback", victim, mallory) for _ in range(4)]
    assert [r.ok for r in results] == [True, True, False, False]  # 2 per number
    error = json.loads(results[2].content)["error"]
    assert "no more callbacks can be scheduled for this caller or number today" in error
    own = [await call(registry, "schedule_callback", {"time": "now"}, mallory) for _ in range(2)]
    assert [r.ok for r in own] == [True, False]  # 3 per caller, the victim's two counted
    others = [
        await call(registry, "schedule_callback", {"time": "now"},
                   FakeCall(caller=f"sip:+1555000{n:04d}@trunk.example"))
        for n in range(3)
    ]  # fmt: skip
    assert [r.ok for r in others] == [True, True, False]  # 5 a day in all
    assert len(callback_rows(db)) == 5


async def test_the_per_caller_quota_counts_a_proven_number_apart_from_the_from(tmp_path):
    """Issue 21 (audit): the per-caller count keyed on the From, which anyone writes: a
    forger writing a customer's number used up that customer's callbacks. A proven number
    (a trusted trunk's assertion) is its own key; an unproven From is counted apart."""
    db = tmp_path / "cb.sqlite3"
    registry = registry_for(callback_db=db, callback_quota=CallbackQuota(2, 0, 0))
    spoofed = "sip:+15551234567@trunk.example"
    forger = FakeCall(caller=spoofed)
    customer = FakeCall(caller=spoofed, verified_caller="+15551234567")
    later = FakeCall(caller="sip:anonymous@anonymous.invalid", verified_caller="+15551234567")
    when = {"time": "in 1 hour", "phone": "+15550009999"}
    forged = [await call(registry, "schedule_callback", when, forger) for _ in range(3)]
    assert [r.ok for r in forged] == [True, True, False]
    proven = [await call(registry, "schedule_callback", when, c) for c in (customer, later)]
    assert [r.ok for r in proven] == [True, True]  # not used up by the forger
    assert not (await call(registry, "schedule_callback", when, customer)).ok  # its own 2
    assert callback_requester(customer) == "verified:+15551234567"
    assert callback_requester(forger) == "+15551234567"
    assert callback_requester(FakeCall(caller="sip:anonymous@anonymous.invalid")) == "anonymous"


async def test_a_callback_call_can_only_call_back_its_own_number(tmp_path):
    """A call the gateway placed (a callback) was set off by someone else's words: it may
    move its own callback ("call me tomorrow instead"), never start one to another number."""
    db = tmp_path / "cb.sqlite3"
    registry = registry_for(callback_db=db)
    callee = FakeCall(direction="outbound", caller="sip:15551230000@127.0.0.1:5062")
    other = await call(
        registry, "schedule_callback", {"time": "now", "phone": "+15550009999"}, callee
    )
    assert not other.ok and other.refused == "dial"
    assert (
        "can only schedule a call back to the number it called"
        in json.loads(other.content)["error"]
    )
    own = await call(registry, "schedule_callback", {"time": "in 1 day"}, callee)
    same = await call(
        registry, "schedule_callback", {"time": "in 2 days", "phone": "1 555 123 0000"}, callee
    )
    assert own.ok and same.ok
    assert [row[2] for row in callback_rows(db)] == ["15551230000", "15551230000"]


async def test_who_answered_tells_what_detection_decided() -> None:
    registry = registry_for()
    answer = {"mode": "leave_message", "answered_by": "voicemail", "reason": "beep",
              "decided_after_s": 3.1, "final": True, "action": "message"}  # fmt: skip
    result = await call(registry, "who_answered", {}, FakeCall(answer=answer))
    assert result.ok and json.loads(result.content) == answer
    off = await call(registry, "who_answered", {})
    assert json.loads(off.content) == {"mode": "off"}


# -- take_message


async def test_a_message_is_stored_for_the_transfer_target(tmp_path):
    db = tmp_path / "data" / "callbacks.sqlite3"
    registry = registry_for(callback_db=db, transfer_target="sip:kim@pbx.example")
    args = {"message": "Please call me about the refund for order 1234.", "name": "Bob  Smith",
            "phone": "+1 (555) 000-2222"}  # fmt: skip
    result = await call(registry, "take_message", args)
    assert result.ok, result.content
    assert json.loads(result.content) == {
        "taken": True, "message_id": 1, "for": "sip:kim@pbx.example", "name": "Bob Smith",
        "phone": "+15550002222", "message": "Please call me about the refund for order 1234.",
    }  # fmt: skip
    (row,) = await MessageStore(db).rows()
    assert (row.call_id, row.for_target, row.from_number, row.caller_name, row.reach_at) == (
        "call-1@test", "sip:kim@pbx.example", "+15551234567", "Bob Smith", "+15550002222",
    )  # fmt: skip
    assert row.message == args["message"] and row.status == "new"
    with sqlite3.connect(db) as conn:  # beside the callbacks, in the same file
        names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
    assert "messages" in names


@pytest.mark.parametrize(
    ("args", "error"),
    [
        ({"message": "  "}, "no message: ask the caller"),
        ({"message": "Hi", "phone": "sip:premium@evil.example"}, "is not a phone number"),
    ],
)
async def test_a_message_needs_words_and_a_number_that_is_one(tmp_path, args, error):
    db = tmp_path / "cb.sqlite3"
    result = await call(registry_for(callback_db=db), "take_message", args)
    assert not result.ok and error in json.loads(result.content)["error"]
    assert not db.exists()


async def test_messages_are_bounded_per_caller_a_day(tmp_path):
    db = tmp_path / "cb.sqlite3"
    quota = CallbackQuota(per_caller=2, per_number=0, per_day=10)
    registry = registry_for(callback_db=db, callback_quota=quota)
    for n in range(2):
        assert (await call(registry, "take_message", {"message": f"Hi {n}"})).ok
    refused = await call(registry, "take_message", {"message": "Hi again"})
    assert not refused.ok and "no more messages" in json.loads(refused.content)["error"]
    other = FakeCall(caller="sip:+15550009999@trunk.example")
    assert (await call(registry, "take_message", {"message": "Hi"}, other)).ok
    assert [r.from_number for r in await MessageStore(db).rows()] == [
        "+15551234567", "+15551234567", "+15550009999",
    ]  # fmt: skip
