"""Fault silence: what a caller hears through each AI-service fault, and how long they wait.

    python -m bench.fault_silence [--only NAME ...] [--json PATH]

For every fault of :data:`tests.toolkit.faults.FAULTS` (the TTS refusing connections or
dropping mid-reply, a stale-context error, the STT closing with each documented code or
unreachable, the LLM stalling, resetting, 429 with and without Retry-After, 5xx, a
reasoning model's refusal, a speech-to-speech model stalling or failing a reply): a real
softphone (baresip) calls ``sipgw serve`` (a subprocess; one per agent and settings, as
:class:`~tests.toolkit.faults.FaultBench` runs them) whose services are the fakes, with
the fault injected; its recording says what it heard after the fault (every text is a
tone of its own, the fallback lines included) and, for each thing the caller said, how
long until it heard the agent again, and the longest silence between a reply the fault
cut short and the line that explains it. Prints the Markdown table of docs/assistant.md
(its columns are :data:`~tests.toolkit.faults.TABLE_HEADERS`) and the JSON.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench._harness import log, machine_info, write_json
from tests.toolkit.faults import FAULTS, TABLE_HEADERS, FaultBench, table_row

__all__ = ["main", "markdown_table", "run"]


def run(names: list[str] | None = None) -> dict[str, Any]:
    """Run the faults (all, or those ``names``) and return the JSON-ready results."""
    chosen = [fault for fault in FAULTS if not names or fault.name in names]
    rows = []
    with tempfile.TemporaryDirectory(prefix="sipgw-faults-") as tmp, FaultBench(Path(tmp)) as bench:
        for fault in chosen:
            log(f"{fault.name}: {fault.what}")
            rows.append(bench.run(fault).summary())
    return {"machine": machine_info(), "faults": rows}


def markdown_table(rows: list[dict[str, Any]]) -> str:
    """The rows (:meth:`~tests.toolkit.faults.FaultRun.summary`) as docs/assistant.md's table."""
    lines = ["| " + " | ".join(TABLE_HEADERS) + " |", "|" + "---|" * len(TABLE_HEADERS)]
    lines += ["| " + " | ".join(table_row(row)) + " |" for row in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", help="run only these faults (their names)")
    parser.add_argument("--json", help="where the JSON goes (- = stdout)")
    args = parser.parse_args(argv)
    unknown = set(args.only or ()) - {fault.name for fault in FAULTS}
    if unknown:
        parser.error(f"unknown fault(s): {', '.join(sorted(unknown))}")
    data = run(args.only)
    print(markdown_table(data["faults"]))
    print(f"JSON: {write_json(data, args.json, 'fault_silence')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
