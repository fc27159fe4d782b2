"""The shipped systemd template unit (docker/systemd/sipgw@.service) as systemd reads it.

`systemd-analyze verify` (Debian package `systemd`, which scripts/test installs when missing)
must load an instance without a warning; the ports each instance's ExecStart computes must be
the ones the unit's header and docs/operations.md promise, accepted by `sipgw serve`'s parser;
and systemd must wait out a whole drain before it kills.
"""

from __future__ import annotations

import configparser
import shutil
import subprocess
from pathlib import Path

from sipgw.app.cli import build_parser
from sipgw.app.settings import OperationsSection

UNIT = Path(__file__).resolve().parents[1] / "docker" / "systemd" / "sipgw@.service"


def _service_section() -> configparser.SectionProxy:
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(UNIT.read_text())
    return parser["Service"]


def test_systemd_loads_an_instance_without_a_warning(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    assert analyze, "systemd-analyze missing: apt-get install systemd (scripts/test does)"
    shutil.copy(UNIT, tmp_path / UNIT.name)
    (tmp_path / "sipgw@1.service").symlink_to(UNIT.name)
    done = subprocess.run(
        [analyze, "verify", "--man=no", str(tmp_path / "sipgw@1.service")],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0 and done.stderr == "" and done.stdout == "", done


def _serve_argv(instance: int) -> list[str]:
    """The `sipgw serve` arguments instance ``instance``'s ExecStart runs (through /bin/sh)."""
    command = _service_section()["ExecStart"]
    prefix = "/bin/sh -c '"
    assert command.startswith(prefix) and command.endswith("'")
    script = command[len(prefix) : -1].replace("%i", str(instance)).replace("$$", "$")
    assert script.startswith("exec sipgw serve ")
    script = "printf '%s\\n' " + script.removeprefix("exec sipgw ")
    printed = subprocess.run(["/bin/sh", "-c", script], capture_output=True, text=True)
    assert printed.returncode == 0, printed.stderr
    return printed.stdout.split()


def test_each_instance_gets_the_ports_the_docs_promise() -> None:
    seen: list[tuple[int, int, int]] = []
    for instance in (1, 2, 3):
        argv = _serve_argv(instance)
        assert argv[0] == "serve"
        args = build_parser().parse_args(argv)
        sip_port = int(args.SIPGW_SIP_PORT)
        low, high = (int(x) for x in args.SIPGW_RTP_PORTS.split("-"))
        assert sip_port == 5070 + 2 * instance
        assert (low, high) == (10000 + 5000 * (instance - 1), 14999 + 5000 * (instance - 1))
        seen.append((sip_port, low, high))
    for (_, _, high_a), (_, low_b, _) in zip(seen, seen[1:], strict=False):
        assert high_a < low_b  # no two instances share an RTP port
    assert (
        "sipgw@1 sipgw@2     # SIP 5072 and 5074"
        in (UNIT.parents[2] / "docs" / "operations.md").read_text()
    )


def test_systemd_waits_out_a_whole_drain_before_it_kills() -> None:
    service = _service_section()
    drain_default = OperationsSection().drain_seconds
    assert service["KillSignal"] == "SIGTERM"
    assert int(service["TimeoutStopSec"]) >= int(drain_default) + 30
