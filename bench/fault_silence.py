"""Fault silence: what a caller hears through each AI-service fault, and how long they wait.

    python -m bench.fault_silence [--only NAME ...] [--json PATH]

For every fault of :data:`sipgw.testing.faults.FAULTS` (the TTS refusing connections or
dropping mid-reply, a stale-context error, the STT closing with each documented code,
the LLM resetting, 429 with and without Retry-After, 5xx, a reasoning model's refusal):
a real softphone (baresip) calls ``sipgw serve --agent assistant`` (a subprocess) whose
services are the fakes, with the fault injected; its recording says what it heard
(every text is a tone of its own, the fallback lines included) and, for each thing the
caller said, how long until it heard the agent again, and the longest silence between a
reply the fault cut short and the line that explains it. Prints one row per fault and
the JSON; docs/assistant.md has the table.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench._harness import format_table, log, machine_info, write_json
from sipgw.testing.faults import FAULTS, run_fault

__all__ = ["main", "run"]


def run(names: list[str] | None = None) -> dict[str, Any]:
    """Run the faults (all, or those ``names``) and return the JSON-ready results."""
    chosen = [fault for fault in FAULTS if not names or fault.name in names]
    rows = []
    with tempfile.TemporaryDirectory(prefix="sipgw-faults-") as tmp:
        for fault in chosen:
            log(f"{fault.name}: {fault.what}")
            result = run_fault(Path(tmp) / fault.name, fault)
            rows.append(result.summary())
    return {"machine": machine_info(), "faults": rows}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", help="run only these faults (their names)")
    parser.add_argument("--json", help="where the JSON goes (- = stdout)")
    args = parser.parse_args(argv)
    unknown = set(args.only or ()) - {fault.name for fault in FAULTS}
    if unknown:
        parser.error(f"unknown fault(s): {', '.join(sorted(unknown))}")
    data = run(args.only)
    rows = [
        [row["fault"], ", ".join(row["heard"]) or "-", " ".join(row["decisions"]) or "-",
         f"{row['longest_wait_s']:.2f}", f"{row['longest_pause_s']:.2f}",
         "yes" if row["agent_hung_up"] else "no"]
        for row in data["faults"]
    ]  # fmt: skip
    headers = ["fault", "heard", "decisions", "longest wait s", "longest pause s",
               "agent hung up"]  # fmt: skip
    print(format_table(headers, rows))
    print(f"JSON: {write_json(data, args.json, 'fault_silence')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
