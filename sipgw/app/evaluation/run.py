"""``sipgw-eval``: play scenarios into the assistant over real SIP calls and report.

It starts a gateway (``python -m sipgw serve --agent assistant``, a free port on loopback,
call records into a temporary directory) and, by default, the three AI-service fakes in
threads of this process; ``--real`` uses the services the environment's keys
(``ASSEMBLYAI_API_KEY``, ``OPENAI_API_KEY``, ``ELEVENLABS_API_KEY``, and every other
``SIPGW_*`` setting, from the environment or ``--env-file``) point at. Keys are never
taken on the command line nor printed.

With the fakes, each turn's ``transcript`` is what the fake STT hears and each turn's
``[turns.fake]`` what the fake LLM answers (a tool call, then the reply); the tools
themselves are the gateway's real ones. Exit status: 0 when every goal was met, 1 when
one was not, 2 for a bad scenario or command line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

from dotenv import dotenv_values

from sipgw.agent.services.registry import LLM_VENDORS, STT_VENDORS, TTS_VENDORS
from sipgw.app.evaluation.caller import play_scenario, scenario_wavs_missing
from sipgw.app.evaluation.fakes.assemblyai import FakeAssemblyAI
from sipgw.app.evaluation.fakes.elevenlabs import FakeElevenLabs
from sipgw.app.evaluation.fakes.openai import FakeOpenAI, FakeResponse, FakeToolCall
from sipgw.app.evaluation.fakes.services import KEYS, FakeServices
from sipgw.app.evaluation.gateway_process import GatewayProcess
from sipgw.app.evaluation.process import child_env
from sipgw.app.evaluation.report import build_report, read_call_records, scenario_report, table
from sipgw.app.evaluation.scenario import FakeAnswer, Scenario, ScenarioError, load_scenarios
from sipgw.app.sections import AssistantSection, BuiltinToolsSection, CallbackSection
from sipgw.app.security.settings import DialSection, PrivacySection
from sipgw.foundation.settings import settings_of

__all__ = ["FakeAgent", "build_parser", "main", "shipped_scenarios"]

GREETING = "Hello, thanks for calling. How can I help?"
FALLBACK = "Sorry, could you say that again?"
VENDOR_KEYS = (
    ("SIPGW_STT", "assemblyai", "ASSEMBLYAI_API_KEY"),
    ("SIPGW_LLM", "openai", "OPENAI_API_KEY"),
    ("SIPGW_TTS", "elevenlabs", "ELEVENLABS_API_KEY"),
)
"""(vendor setting, vendor, its key): the key ``--real`` checks for up front."""
AGENT_SECTIONS: tuple[type, ...] = (
    AssistantSection, BuiltinToolsSection, CallbackSection, DialSection, PrivacySection,
    *(vendor.section for table in (STT_VENDORS, LLM_VENDORS, TTS_VENDORS)
      for vendor in table.values()),
)  # fmt: skip
"""The settings ``--real`` passes on: the agent's, not the deployment's (no registration to
your trunk, no admin port, no access rules)."""
VENDOR_PREFIXES = ("ASSEMBLYAI_", "OPENAI_", "ELEVENLABS_")


def shipped_scenarios() -> Path:
    """The directory of the scenarios that come with sipgw."""
    return Path(str(resources.files(__package__ or __name__.rpartition(".")[0]) / "scenarios"))


def _normal(text: str) -> str:
    return " ".join("".join(c for c in text.lower() if c.isalnum() or c.isspace()).split())


class FakeAgent:
    """The fake LLM's responder: each scenario turn's ``[turns.fake]``, found by transcript."""

    def __init__(self, scenarios: Sequence[Scenario], first_token_s: float = 0.1) -> None:
        self.answers: dict[str, FakeAnswer] = {}
        for scenario in scenarios:
            for turn in scenario.turns:
                if turn.fake is not None:
                    self.answers[_normal(turn.transcript)] = turn.fake
        self.first_token_s = first_token_s

    def __call__(self, body: dict[str, Any]) -> FakeResponse:
        messages = body.get("messages") or []
        user: dict[str, Any] = next((m for m in reversed(messages) if m.get("role") == "user"), {})
        answer = self.answers.get(_normal(str(user.get("content") or "")))
        delay = self.first_token_s
        if answer is None:
            return FakeResponse(text_deltas=[FALLBACK], first_chunk_delay=delay)
        after_tool = bool(messages) and messages[-1].get("role") == "tool"
        if answer.tool is None or after_tool:
            return FakeResponse(text_deltas=[answer.reply], first_chunk_delay=delay)
        call = FakeToolCall(answer.tool, dict(answer.arguments))
        return FakeResponse(tool_calls=[call], first_chunk_delay=delay)


def _start_fakes(scenarios: Sequence[Scenario]) -> FakeServices:
    stt = FakeAssemblyAI(
        api_key=KEYS["ASSEMBLYAI_API_KEY"], min_turn_silence_ms=100, final_latency=0.05
    ).start_in_thread()
    llm = FakeOpenAI(api_key=KEYS["OPENAI_API_KEY"])
    llm.responder = FakeAgent(scenarios)
    llm.start_in_thread()
    tts = FakeElevenLabs(api_key=KEYS["ELEVENLABS_API_KEY"], first_byte_latency=0.075, speed=1.0)
    tts.start_in_thread()
    return FakeServices(stt, llm, tts)


def agent_settings(source: Mapping[str, str]) -> dict[str, str]:
    """The agent's settings in ``source`` (:data:`AGENT_SECTIONS` and vendor variables)."""
    names = {setting.env for cls in AGENT_SECTIONS for _, setting in settings_of(cls)}
    return {k: v for k, v in source.items() if k in names or k.startswith(VENDOR_PREFIXES)}


def _real_env(env_file: Path | None, workdir: Path) -> dict[str, str]:
    values = dict(os.environ)
    if env_file is not None:
        if not env_file.is_file():
            raise ScenarioError(f"--env-file: no such file: {env_file}")
        file_values = {k: v for k, v in dotenv_values(env_file).items() if v is not None}
        values = {**file_values, **values}
    missing = [
        key
        for setting, vendor, key in VENDOR_KEYS
        if values.get(setting, vendor) == vendor and not values.get(key)
    ]
    if missing:
        raise ScenarioError(f"--real needs {', '.join(missing)} in the environment or --env-file")
    env = child_env(agent_settings(values))
    env.update(_user_files(values))
    env["SIPGW_CALLBACK_DB"] = str(workdir / "callbacks.sqlite3")
    return env


def _fake_env(fakes: FakeServices, workdir: Path) -> dict[str, str]:
    env = child_env(
        {
            **fakes.gateway_env(),
            "ASSEMBLYAI_MIN_TURN_SILENCE": "100",
            "SIPGW_GREETING": GREETING,
            "SIPGW_TRANSFER_TARGET": "sip:support@127.0.0.1",
            "SIPGW_CALLBACK_ALLOWED_PREFIXES": "+1555",
            "SIPGW_CALLBACK_DB": str(workdir / "callbacks.sqlite3"),
        }
    )
    env.update(_user_files(os.environ))  # your prompt and tools take part with the fakes too
    return env


def _user_files(values: Mapping[str, str]) -> dict[str, str]:
    """The user's prompt, tools and orders settings, paths made absolute (the gateway runs
    in a directory of its own)."""
    files = {}
    for key in ("SIPGW_SYSTEM_PROMPT_FILE", "SIPGW_TOOLS_MODULE", "SIPGW_ORDERS_FILE"):
        value = values.get(key, "")
        if value and (key != "SIPGW_TOOLS_MODULE" or value.endswith(".py")):
            value = str(Path(value).expanduser().resolve())
        if value:
            files[key] = value
    return files


async def _call_record(records: Path, call_id: str, within: float = 1.0) -> list[dict[str, Any]]:
    """The call's record lines once its last (``end``) line is written, which follows the
    BYE; what there is after ``within`` seconds if it is not (e.g. a call never answered)."""
    deadline = time.monotonic() + within
    while True:
        lines = read_call_records(records).get(call_id, [])
        if (lines and lines[-1].get("type") == "end") or time.monotonic() >= deadline:
            return lines
        await asyncio.sleep(0.05)


async def evaluate(args: argparse.Namespace, scenarios: list[Scenario]) -> dict[str, Any]:
    """Start what is needed, play every scenario, return the report."""
    records = Path(tempfile.mkdtemp(prefix="sipgw-eval-records-"))
    workdir = Path(tempfile.mkdtemp(prefix="sipgw-eval-gateway-"))
    fakes = None if args.real else _start_fakes(scenarios)
    try:
        env = _real_env(args.env_file, workdir) if fakes is None else _fake_env(fakes, workdir)
        env["SIPGW_CALL_RECORD_DIR"] = str(records)
        if fakes is not None and any(t.wav is None for s in scenarios for t in s.turns):
            # a turn without a WAV is "spoken" as a tone, no voice to the model detector
            env["SIPGW_VOICE_DETECTOR"] = "energy"
        gateway = GatewayProcess(
            workdir, agent="assistant", allow_from="127.0.0.0/8", env=env, lifetime=None
        )
        sections = []
        try:
            await asyncio.to_thread(gateway.start)
            for scenario in scenarios:
                stt = fakes.stt if fakes is not None else None
                call = await play_scenario(scenario, gateway.address, user=args.user, stt=stt)
                lines = await _call_record(records, call.call_id)
                sections.append(scenario_report(scenario, call, lines))
            await asyncio.to_thread(gateway.stop)
        finally:
            gateway.close()
        return build_report("real" if args.real else "fakes", sections)
    finally:
        if fakes is not None:
            fakes.stop()
        if args.keep:
            print(f"call records and the gateway log kept in {records} and {workdir}",
                  file=sys.stderr)  # fmt: skip
        else:
            shutil.rmtree(records, ignore_errors=True)
            shutil.rmtree(workdir, ignore_errors=True)


def build_parser() -> argparse.ArgumentParser:
    """The command line."""
    parser = argparse.ArgumentParser(
        prog="sipgw-eval",
        description="Play scripted caller conversations into the assistant over real SIP "
        "calls; report latency, transcripts, tool calls and whether each goal was met.",
    )
    add = parser.add_argument
    add("scenarios", nargs="*", type=Path,
        help="scenario files or directories of *.toml (default: the shipped ones)")  # fmt: skip
    add("--real", action="store_true",
        help="use the real AI services (keys from the environment or --env-file); "
        "default: start local fakes")  # fmt: skip
    add("--env-file", type=Path, help="a .env file with the gateway's settings (with --real)")
    add("--user", default="eval", help="the SIP user part the phone calls (default %(default)s)")
    add("--json", metavar="PATH", help="also write the JSON report here (- = stdout)")
    add("--keep", action="store_true", help="keep the call records and the gateway's log")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    args = build_parser().parse_args(argv)
    try:
        scenarios = load_scenarios(args.scenarios or [shipped_scenarios()])
        if args.real:
            missing = [w for s in scenarios for w in scenario_wavs_missing(s)]
            if missing:
                raise ScenarioError(
                    f"{missing[0]}: wav is required with --real (the caller's recorded voice)"
                    + (f"; {len(missing) - 1} more turns lack one" if len(missing) > 1 else "")
                )
        report = asyncio.run(evaluate(args, scenarios))
    except ScenarioError as exc:
        print(f"sipgw-eval: {exc}", file=sys.stderr)
        return 2
    _write(report, args.json)
    print(table(report), flush=True)
    return 0 if report["failed"] == 0 else 1


def _write(report: Mapping[str, Any], where: str | None) -> None:
    if where is None:
        return
    text = json.dumps(report, indent=2, ensure_ascii=False)
    if where == "-":
        print(text, flush=True)
    else:
        Path(where).write_text(text + "\n", encoding="utf-8")
