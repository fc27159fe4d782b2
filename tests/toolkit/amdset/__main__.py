"""``python -m tests.toolkit.amdset OUT_DIR [--split tune|heldout] [--seed N] [--per-group N]``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tests.toolkit.amdset.labelled import SPLITS, write_set


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write the labelled AMD set as WAV files.")
    parser.add_argument("out", type=Path, help="directory for the WAVs and labels.json")
    parser.add_argument("--seed", type=int, default=2)
    parser.add_argument("--per-group", type=int, default=None, help="samples per group at most")
    parser.add_argument("--split", choices=tuple(SPLITS), default="tune", help="which split")
    args = parser.parse_args(argv)
    print(write_set(args.out, args.seed, args.per_group, args.split))
    return 0


if __name__ == "__main__":
    sys.exit(main())
