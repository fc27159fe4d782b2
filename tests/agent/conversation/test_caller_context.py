"""The caller-context hook: loading, the bounded lookup, and the prompt it reaches."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from pathlib import Path

import pytest

from sipgw.agent.base import CallDetails
from sipgw.agent.conversation.caller_context import (
    CallerContextLookup,
    CallerContextPrompt,
    CallerContextSettings,
    load_caller_context_hook,
    render_context,
    takes_details,
    with_context,
)
from sipgw.agent.conversation.sections import CallerContextSection, caller_context
from sipgw.app.security.access import AccessConfig
from sipgw.foundation.settings import ConfigError, Sources, load
from tests.agent import context_hooks

pytestmark = pytest.mark.timeout(30)


def test_the_hook_loads_by_module_name_and_by_path(tmp_path: Path) -> None:
    assert load_caller_context_hook("tests.agent.context_hooks:crm") is context_hooks.crm
    path = tmp_path / "my_crm.py"
    path.write_text("async def lookup(caller, called):\n    return 'VIP'\n")
    hook = load_caller_context_hook(f"{path}:lookup")
    assert asyncio.run(hook("1", "2")) == "VIP"  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("spec", "words"),
    [
        ("no_colon_here", "not module:function"),
        ("tests.agent.no_such_module:crm", "not found"),
        ("tests.agent.context_hooks:missing", "has no 'missing'"),
        ("tests.agent.context_hooks:NOT_CALLABLE", "not callable"),
        ("tests.agent.context_hooks:not_async", "not an async function"),
        ("/nowhere/crm.py:lookup", "not found"),
    ],
)
def test_bad_config_is_a_clear_error_naming_the_setting(spec: str, words: str) -> None:
    with pytest.raises(ConfigError) as info:
        caller_context(CallerContextSection(caller_context=spec))
    assert str(info.value).startswith("SIPGW_CALLER_CONTEXT: ") and words in str(info.value)


def test_settings_give_the_hook_and_its_timeout() -> None:
    assert caller_context(load(CallerContextSection, Sources())) is None
    section = load(
        CallerContextSection,
        Sources(
            {"SIPGW_CALLER_CONTEXT": "tests.agent.context_hooks:crm",
             "SIPGW_CALLER_CONTEXT_TIMEOUT": "0.25"}
        ),
    )  # fmt: skip
    loaded = caller_context(section)
    assert loaded == CallerContextSettings(context_hooks.crm, timeout=0.25)
    with pytest.raises(ConfigError, match="SIPGW_CALLER_CONTEXT_TIMEOUT"):
        load(CallerContextSection, Sources({"SIPGW_CALLER_CONTEXT_TIMEOUT": "0"}))


def test_rendering() -> None:
    assert render_context({"Name": "Ada", "Orders": ["1", "2"]}) == "Name: Ada\nOrders: 1; 2"
    assert render_context("  VIP  ") == "VIP" and render_context(None) == ""
    with pytest.raises(TypeError):
        render_context(42)
    assert with_context("Prompt.", "") == "Prompt."
    assert with_context("Prompt.", "Name: Ada").endswith("\nName: Ada")


async def test_a_slow_hook_is_cut_at_the_timeout(caplog: pytest.LogCaptureFixture) -> None:
    loop = asyncio.get_running_loop()
    started = loop.time()
    lookup = CallerContextLookup(
        CallerContextSettings(context_hooks.slow, timeout=0.2), "+1555", "+1666", "call-1"
    )
    await asyncio.sleep(0.05)  # part of the timeout is spent while it rings
    with caplog.at_level(logging.WARNING, logger="sipgw.agent"):
        assert await lookup.text() == ""
    assert 0.18 < loop.time() - started < 0.5  # counted from the start, not from text()
    assert "longer than 0.2 s" in caplog.text and "+1555" not in caplog.text
    assert await lookup.text() == ""  # settled: at once
    await asyncio.sleep(0)
    assert lookup._task.cancelled()  # the hook does not run on


async def test_a_raising_hook_is_logged_without_its_message(
    caplog: pytest.LogCaptureFixture,
) -> None:
    lookup = CallerContextLookup(
        CallerContextSettings(context_hooks.broken, timeout=1.0), "+1555", "+1666", "call-2"
    )
    with caplog.at_level(logging.WARNING, logger="sipgw.agent"):
        assert await lookup.text() == ""
    assert "raised RuntimeError" in caplog.text
    assert "+1555" not in caplog.text and "Traceback" not in caplog.text


async def test_a_hook_returning_a_wrong_type_is_ignored(caplog: pytest.LogCaptureFixture) -> None:
    async def number(caller: str, called: str) -> int:
        return 7

    lookup = CallerContextLookup(CallerContextSettings(number, timeout=1.0), "a", "b", "call-3")
    with caplog.at_level(logging.WARNING, logger="sipgw.agent"):
        assert await lookup.text() == ""
    assert "returned a int" in caplog.text


# ----------------------------------------------------------------------- through the gateway


async def _one_turn(
    tmp_path: Path,
    hook: str,
    wait: str = "1.5",
    extra: Sequence[str] = (),
    access: AccessConfig | None = None,
) -> tuple[str, list[dict[str, object]], float]:
    """A call with ``hook``: one caller turn (``extra``: header lines of the INVITE).

    Returns:
        The system prompt the LLM got, the call record, when the 200 OK came (loop time).
    """
    from sipgw.app.evaluation.audio import tone_frames
    from sipgw.app.evaluation.fakes.openai import FakeResponse
    from tests.agent.assistant.test_agent import (
        REPLY_HZ,
        SPEECH,
        assistant_behind,
        greeted,
        hang_up,
    )

    env = {"SIPGW_CALLER_CONTEXT": f"tests.agent.context_hooks:{hook}",
           "SIPGW_CALLER_CONTEXT_TIMEOUT": wait}  # fmt: skip
    async with assistant_behind(tmp_path, access, env) as s:
        s.stt.script(["Where is my order?"])
        s.llm.script([FakeResponse(text="It has shipped.")])
        caller, ok, phone = await s.call(extra)
        answered = asyncio.get_running_loop().time()
        await greeted(phone)
        phone.say(tone_frames(SPEECH, 0.8))
        await phone.wait_for_tone(REPLY_HZ, within=8, min_seconds=0.2)
        system = s.llm.requests[0].body["messages"][0]
        await hang_up(caller, phone)
        await asyncio.sleep(0.2)
    assert system["role"] == "system"
    return str(system["content"]), s.record(), answered


async def test_the_context_reaches_the_system_prompt(tmp_path: Path) -> None:
    context_hooks.CALLS.clear()
    asserted = ["P-Asserted-Identity: <tel:+15551234567>"]  # from the trusted trunk
    prompt, record, _ = await _one_turn(tmp_path, "crm", extra=asserted)
    assert "Name: Ada Lovelace" in prompt
    assert "Open orders: 1234 (shipped); 5678 (packing)" in prompt
    ((hook, caller, called, _),) = context_hooks.CALLS
    assert (hook, caller) == ("crm", "+15551234567")  # the number the trunk asserted
    assert called == "echo"  # the To (sip:echo@...), read by the gateway: its user part
    assert {"type": "caller_context", "found": True} in [
        {k: r[k] for k in ("type", "found")} for r in record if r["type"] == "caller_context"
    ]


async def test_the_from_proves_nothing_and_an_untrusted_assertion_neither(
    tmp_path: Path,
) -> None:
    """Issue 21: the caller-context example looked a CRM record up by the From number,
    which anyone can forge (and a P-Asserted-Identity from anyone is as easy to write).
    The hook now gets a number only when a source the operator named asserted it."""
    context_hooks.CALLS.clear()
    forged = ["P-Asserted-Identity: <sip:+15551234567@trunk.example>"]
    await _one_turn(tmp_path / "a", "known", extra=forged, access=AccessConfig(("any",)))
    await _one_turn(tmp_path / "b", "known")  # a trusted source, but it asserted nothing
    assert [(hook, caller) for hook, caller, _, _ in context_hooks.CALLS] == [
        ("known", ""),
        ("known", ""),
    ]


async def test_a_slow_hook_never_delays_the_answer_and_the_call_goes_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    context_hooks.CALLS.clear()
    with caplog.at_level(logging.WARNING, logger="sipgw.agent"):
        prompt, record, answered = await _one_turn(tmp_path, "slow", wait="2")
    assert "too late" not in prompt
    assert [r["found"] for r in record if r["type"] == "caller_context"] == [False]
    assert "took longer than 2 s" in caplog.text
    ((_, _, _, hook_started),) = context_hooks.CALLS
    assert hook_started <= answered  # started while it rang (the clock stands still meanwhile)...
    assert answered - hook_started < 1.0  # ...and the answer did not wait for the 2 s timeout


async def test_a_raising_hook_leaves_the_prompt_alone(tmp_path: Path) -> None:
    prompt, record, _ = await _one_turn(tmp_path, "broken")
    assert "CRM down" not in prompt
    assert [r["found"] for r in record if r["type"] == "caller_context"] == [False]


async def test_ready_answers_without_waiting() -> None:
    pending = CallerContextLookup(
        CallerContextSettings(context_hooks.slow, timeout=0.05), "+1555", "+1666", "call-4"
    )
    quick = CallerContextLookup(
        CallerContextSettings(context_hooks.crm, timeout=1.0), "+1555", "+1666", "call-5"
    )
    assert pending.ready() is None and quick.ready() is None  # neither has run yet
    await asyncio.sleep(0.1)
    assert pending.ready() == ""  # past its timeout: going on without it
    assert "Name: Ada Lovelace" in (quick.ready() or "")
    assert await quick.text() == quick.ready()


# --------------------------------------------------------------------------- in the prompt


def prompt_with(
    settings: CallerContextSettings | None,
) -> tuple[CallerContextPrompt, list[dict[str, str]], list[dict[str, object]]]:
    messages = [{"role": "system", "content": "You are the shop's agent."}]
    records: list[dict[str, object]] = []
    return CallerContextPrompt(settings, messages, records.append), messages, records


async def test_the_context_is_added_to_the_system_prompt_once() -> None:
    prompt, messages, records = prompt_with(CallerContextSettings(context_hooks.crm, 1.0))
    prompt.start("+15551234567", "shop", "call-6")
    prompt.start("+15551234567", "shop", "call-6")  # one lookup per call
    await prompt.add()
    await prompt.add()
    assert messages[0]["content"].startswith("You are the shop's agent.\n\n")
    assert messages[0]["content"].count("Name: Ada Lovelace") == 1
    assert records == [{"type": "caller_context", "found": True}]


async def test_a_request_that_must_carry_the_context_waits_for_the_lookup() -> None:
    prompt, messages, records = prompt_with(CallerContextSettings(context_hooks.crm, 1.0))
    prompt.start("+15551234567", "shop", "call-7")
    assert prompt.add_if_ready() is False  # still looking up: the system prompt may change
    assert records == []
    await asyncio.sleep(0.05)
    assert prompt.add_if_ready() is True
    assert "Name: Ada Lovelace" in messages[0]["content"] and len(records) == 1


async def test_without_a_hook_the_prompt_is_final_at_once() -> None:
    prompt, messages, records = prompt_with(None)
    prompt.start("+1555", "shop", "call-8")
    assert prompt.add_if_ready() is True
    await prompt.add()
    prompt.cancel()
    assert messages[0]["content"] == "You are the shop's agent." and records == []


async def test_the_calls_end_stops_a_lookup_still_running() -> None:
    prompt, _, records = prompt_with(CallerContextSettings(context_hooks.slow, 5.0))
    prompt.start("+1555", "shop", "call-9")
    await asyncio.sleep(0)
    prompt.cancel()
    lookup = prompt._lookup
    assert lookup is not None
    await asyncio.sleep(0)
    assert lookup._task.cancelled() and records == []


async def test_a_hook_with_a_third_parameter_gets_the_calls_details() -> None:
    """The X- headers the operator lets through (a ticket id) and the variables reach it."""
    assert takes_details(context_hooks.with_details) and not takes_details(context_hooks.crm)

    async def keyword_only(caller: str, called: str, *, details: CallDetails) -> str:
        return "kw"

    assert takes_details(keyword_only)
    details = CallDetails(variables={"first_name": "Ada"}, headers={"X-Ticket-Id": "T-42"})
    lookup = CallerContextLookup(
        CallerContextSettings(context_hooks.with_details, timeout=2.0), "+1555", "+1666", "c",
        details,
    )  # fmt: skip
    assert await lookup.text() == "ticket T-42, name Ada"
    assert context_hooks.DETAILS[-1] is details
    plain = CallerContextLookup(CallerContextSettings(context_hooks.crm), "+1555", "+1666", "c",
                                details)  # fmt: skip
    assert "Ada Lovelace" in await plain.text()  # a two-parameter hook works as before
