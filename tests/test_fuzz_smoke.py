"""A short, deterministic run of every atheris harness in tests/fuzz (no atheris needed).

Each harness's ``fuzz_one_input`` gets its seeds, then mutations of them made
by a seeded PRNG (octets flipped, inserted, deleted, duplicated, truncated,
seeds spliced together), as a fuzzer's first minutes would. The long runs
under atheris are described in docs/testing.md.
"""

from __future__ import annotations

import importlib.util
import random
from pathlib import Path
from types import ModuleType

import pytest

FUZZ = Path(__file__).parent / "fuzz"
HARNESSES = ["fuzz_sdp", "fuzz_rtp", "fuzz_framing", "fuzz_auth", "fuzz_rsmetadata"]
MUTATIONS = 1500


def load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, FUZZ / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def mutate(rng: random.Random, seeds: list[bytes]) -> bytes:
    data = bytearray(rng.choice(seeds))
    for _ in range(rng.randint(1, 8)):
        op = rng.randrange(6)
        pos = rng.randint(0, len(data))
        if op == 0 and data:
            data[min(pos, len(data) - 1)] ^= 1 << rng.randrange(8)
        elif op == 1:
            data[pos:pos] = bytes([rng.randrange(256)]) * rng.randint(1, 4)
        elif op == 2:
            del data[pos : pos + rng.randint(1, 16)]
        elif op == 3:
            data[pos:pos] = data[pos : pos + rng.randint(1, 64)]
        elif op == 4:
            del data[pos:]
        else:
            other = rng.choice(seeds)
            data[pos:] = other[rng.randint(0, len(other)) :]
    return bytes(data)


@pytest.mark.parametrize("name", HARNESSES)
def test_harness_survives_seeds_and_deterministic_mutations(name):
    harness = load(name)
    seeds: list[bytes] = harness.SEEDS
    rng = random.Random(name)
    for data in [b"", b"\x00", *seeds, *(mutate(rng, seeds) for _ in range(MUTATIONS))]:
        harness.fuzz_one_input(data)


def test_every_harness_is_smoke_tested():
    names = {p.stem for p in FUZZ.glob("fuzz_*.py")}
    assert names == {
        *HARNESSES,
        "fuzz_sip_parser",
    }  # fuzz_sip_parser: tests/sipgw/sip/test_message.py
