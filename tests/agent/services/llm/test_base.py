"""What the agent needs from a streaming chat model (sipgw.agent.services.llm.base): the events,
the one error type, and the signature every vendor module keeps."""

from __future__ import annotations

import dataclasses
import inspect
import re
from typing import get_args

import pytest

from sipgw.agent.observer import ErrorKind, llm_error_kind
from sipgw.agent.services.llm import base
from sipgw.agent.services.llm.base import (
    ChatLLM,
    LlmError,
    LlmEvent,
    LlmFinished,
    LlmTextDelta,
    LlmToolCall,
)
from sipgw.agent.services.openai.chat import OpenAIChatLLM

EVENTS = [LlmTextDelta, LlmToolCall, LlmFinished]
VENDORS = [OpenAIChatLLM]


def documented_kinds() -> list[str]:
    """The ``kind`` values the LlmError docstring lists."""
    doc = LlmError.__doc__ or ""
    section = doc[doc.index("kind:") : doc.index("status:")]
    return re.findall(r'``"(\w+)"``', section)


def test_the_events_are_frozen_slotted_and_all_of_llm_event() -> None:
    assert set(get_args(LlmEvent)) == set(EVENTS)
    for event in EVENTS:
        assert event.__dataclass_params__.frozen  # type: ignore[attr-defined]
        assert vars(event)["__slots__"] == tuple(f.name for f in dataclasses.fields(event))
    with pytest.raises(dataclasses.FrozenInstanceError):
        LlmTextDelta("Hi").text = "Bye"  # type: ignore[misc]


def test_an_error_says_why_of_which_kind_and_with_which_status() -> None:
    error = LlmError("429 Too Many Requests", kind="http", status=429)
    assert (str(error), error.kind, error.status) == ("429 Too Many Requests", "http", 429)
    timeout = LlmError("timed out", kind="timeout")
    assert (timeout.kind, timeout.status) == ("timeout", None)
    with pytest.raises(TypeError):
        LlmError("x", "http")  # type: ignore[call-arg]  # kind is keyword-only


def test_every_documented_kind_is_a_metric_label() -> None:
    """The kinds a vendor may raise are those the observer maps (tests/agent/test_observer.py)."""
    kinds = documented_kinds()
    assert kinds == ["timeout", "http", "connection", "api", "stream"]
    assert {llm_error_kind(kind) for kind in kinds} <= set(get_args(ErrorKind))


@pytest.mark.parametrize("vendor", VENDORS, ids=lambda v: v.__name__)
def test_a_vendor_streams_with_the_protocols_signature(vendor: type[ChatLLM]) -> None:
    """Same parameters, ``tool_choice`` keyword-only, an async generator, and close()."""
    ours, theirs = inspect.signature(ChatLLM.stream), inspect.signature(vendor.stream)
    assert [(p.name, p.kind, p.default) for p in theirs.parameters.values()] == [
        (p.name, p.kind, p.default) for p in ours.parameters.values()
    ]
    assert inspect.isasyncgenfunction(vendor.stream)
    assert inspect.iscoroutinefunction(vendor.close)


def test_the_module_exports_what_a_vendor_needs() -> None:
    assert set(base.__all__) == {"ChatLLM", "LlmError", "LlmEvent", "LlmFinished",
                                 "LlmTextDelta", "LlmToolCall", "PreparesAtStart"}  # fmt: skip
