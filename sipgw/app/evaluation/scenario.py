"""The scenario file format of ``sipgw-eval``: a TOML file per scripted caller conversation.

A scenario names the caller's turns, in order, and the goal the agent must reach::

    name = "order status"            # optional; default: the file's stem

    [[turns]]
    transcript = "Where is my order 1234?"  # what the caller says (the fake STT emits it)
    wav = "where-is-my-order.wav"     # optional: the caller's voice (8 kHz mono 16-bit PCM),
                                      #   relative to this file; needed against real services
    pause_ms = 300                    # silence after the agent's previous reply ended
    interrupt_after_ms = 800          # or: talk over the previous reply this long after it began
    [turns.fake]                      # how the fake LLM answers this turn (--fakes only)
    tool = "get_order_status"
    arguments = { order_id = "1234" }
    reply = "Your order 1234 has shipped and arrives tomorrow."

    [goal]
    words = ["shipped"]               # the agent must say each (case and punctuation ignored)
    [[goal.tools]]
    name = "get_order_status"
    arguments = { order_id = "1234" }  # a subset of the call's arguments
    ok = true                          # the tool must have succeeded (default)

Errors are :class:`ScenarioError` naming the file and the key (``turns[2].pause_ms``), or
the line and column TOML reported.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "ExpectedTool",
    "FakeAnswer",
    "Goal",
    "Scenario",
    "ScenarioError",
    "Turn",
    "load_scenario",
    "load_scenarios",
]

MAX_PAUSE_MS = 60_000


class ScenarioError(ValueError):
    """A scenario file that cannot be used: the message names the file and the key or line."""


@dataclass(frozen=True, slots=True)
class FakeAnswer:
    """What the fake LLM does on a turn: an optional tool call, then the reply text."""

    reply: str
    tool: str | None = None
    arguments: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Turn:
    """One caller turn."""

    transcript: str
    wav: Path | None = None
    pause_ms: int = 300
    interrupt_after_ms: int | None = None
    fake: FakeAnswer | None = None


@dataclass(frozen=True, slots=True)
class ExpectedTool:
    """A tool call the agent must make: its name and a subset of its arguments."""

    name: str
    arguments: Mapping[str, Any] = field(default_factory=dict)
    ok: bool = True


@dataclass(frozen=True, slots=True)
class Goal:
    """What makes a scenario pass."""

    tools: tuple[ExpectedTool, ...] = ()
    words: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Scenario:
    """One scripted conversation, loaded from ``path``."""

    name: str
    path: Path
    turns: tuple[Turn, ...]
    goal: Goal


class _Reader:
    """Typed access to a TOML table with errors that name the file and the key."""

    def __init__(self, path: Path, table: Mapping[str, Any], where: str, known: set[str]) -> None:
        self.path, self.table, self.where = path, table, where
        unknown = sorted(set(table) - known)
        if unknown:
            self.fail(unknown[0], f"unknown key (known: {', '.join(sorted(known))})")

    def key(self, name: str) -> str:
        return f"{self.where}.{name}" if self.where else name

    def fail(self, name: str, problem: str) -> None:
        raise ScenarioError(f"{self.path}: {self.key(name)}: {problem}")

    def get(self, name: str, kind: type | tuple[type, ...], default: Any = None) -> Any:
        value = self.table.get(name, default)
        if value is default:
            return value
        # TOML booleans are not integers here.
        if not isinstance(value, kind) or (isinstance(value, bool) and bool not in _kinds(kind)):
            self.fail(name, f"must be {_kind_name(kind)}, not {type(value).__name__}")
        return value

    def text(self, name: str, *, required: bool = False) -> str | None:
        value: str | None = self.get(name, str)
        if value is None and required:
            self.fail(name, "is required")
        if value is not None and not value.strip():
            self.fail(name, "must not be empty")
        return value

    def milliseconds(self, name: str, default: int | None) -> int | None:
        value: int | None = self.get(name, int, default)
        if value is not None and not 0 <= value <= MAX_PAUSE_MS:
            self.fail(name, f"must be between 0 and {MAX_PAUSE_MS} ms, not {value}")
        return value


def _kinds(kind: type | tuple[type, ...]) -> tuple[type, ...]:
    return kind if isinstance(kind, tuple) else (kind,)


def _kind_name(kind: type | tuple[type, ...]) -> str:
    names = {str: "a string", int: "an integer", bool: "true or false", dict: "a table"}
    names |= {list: "an array"}
    return " or ".join(names.get(k, k.__name__) for k in _kinds(kind))


def load_scenario(path: str | Path) -> Scenario:
    """Parse one scenario file.

    Raises:
        ScenarioError: the file is missing, not TOML, or a key is missing or wrong.
    """
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ScenarioError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"{path}: not valid TOML: {exc}") from None
    top = _Reader(path, data, "", {"name", "turns", "goal"})
    name = top.text("name") or path.stem
    raw_turns = top.get("turns", list)
    if not raw_turns:
        top.fail("turns", "at least one [[turns]] table is required")
    turns = tuple(_turn(path, raw, n) for n, raw in enumerate(raw_turns, 1))
    if turns[0].interrupt_after_ms is not None:
        top.fail("turns[1].interrupt_after_ms", "the first turn has no reply to interrupt")
    goal = _goal(path, top.get("goal", dict, {}))
    if not goal.tools and not goal.words:
        top.fail("goal", "name at least one expected tool ([[goal.tools]]) or goal.words")
    return Scenario(name, path, turns, goal)


def _turn(path: Path, raw: Any, n: int) -> Turn:
    where = f"turns[{n}]"
    if not isinstance(raw, dict):
        raise ScenarioError(f"{path}: {where}: must be a table")
    known = {"transcript", "wav", "pause_ms", "interrupt_after_ms", "fake"}
    r = _Reader(path, raw, where, known)
    transcript = r.text("transcript", required=True)
    assert transcript is not None
    wav_name = r.text("wav")
    wav = None
    if wav_name is not None:
        wav = (path.parent / wav_name).resolve()
        if not wav.is_file():
            r.fail("wav", f"no such file: {wav}")
    pause = r.milliseconds("pause_ms", 300)
    interrupt = r.milliseconds("interrupt_after_ms", None)
    if interrupt is not None and "pause_ms" in raw:
        r.fail("interrupt_after_ms", "give pause_ms or interrupt_after_ms, not both")
    fake_raw = r.get("fake", dict)
    fake = None
    if fake_raw is not None:
        f = _Reader(path, fake_raw, f"{where}.fake", {"reply", "tool", "arguments"})
        reply = f.text("reply", required=True)
        assert reply is not None
        fake = FakeAnswer(reply, f.text("tool"), f.get("arguments", dict, {}))
        if fake.arguments and fake.tool is None:
            f.fail("arguments", "needs fake.tool")
    assert pause is not None
    return Turn(transcript, wav, pause, interrupt, fake)


def _goal(path: Path, raw: Mapping[str, Any]) -> Goal:
    r = _Reader(path, raw, "goal", {"tools", "words"})
    words = r.get("words", list, [])
    for i, word in enumerate(words, 1):
        if not isinstance(word, str) or not word.strip():
            r.fail(f"words[{i}]", "must be a non-empty string")
    tools = []
    for i, item in enumerate(r.get("tools", list, []), 1):
        where = f"goal.tools[{i}]"
        if not isinstance(item, dict):
            raise ScenarioError(f"{path}: {where}: must be a table")
        t = _Reader(path, item, where, {"name", "arguments", "ok"})
        name = t.text("name", required=True)
        assert name is not None
        tools.append(ExpectedTool(name, t.get("arguments", dict, {}), t.get("ok", bool, True)))
    return Goal(tuple(tools), tuple(words))


def load_scenarios(paths: list[Path]) -> list[Scenario]:
    """Every scenario named: files, or directories (their ``*.toml``, sorted)."""
    scenarios: list[Scenario] = []
    for path in paths:
        if path.is_dir():
            files = sorted(path.glob("*.toml"))
            if not files:
                raise ScenarioError(f"{path}: no *.toml scenario files")
            scenarios.extend(load_scenario(f) for f in files)
        else:
            scenarios.append(load_scenario(path))
    return scenarios
