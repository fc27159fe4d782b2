"""The compose profile ``cluster`` (``docker/compose.yaml``), checked without a Docker engine.

The file parses; the profile holds Kamailio and two gateways on distinct SIP ports and
disjoint RTP ranges, each a valid ``sipgw serve`` configuration; the single ``sipgw`` service
stays outside the profile; Kamailio's mounted dispatcher list points at the two gateways;
and the real ``kamailio -c`` accepts the shipped config with the compose's command line and
list (its mounts mapped back to the repository's files).
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from sipgw.app.cli import build_parser
from sipgw.app.settings import GatewayConfig
from sipgw.foundation.settings import Sources, load

pytestmark = [pytest.mark.timeout(60), pytest.mark.usefixtures("nothing_left_running")]

DOCKER = Path(__file__).resolve().parents[2] / "docker"


def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((DOCKER / "compose.yaml").read_text())
    return loaded


def mounts(service: dict[str, Any]) -> dict[str, Path]:
    """Container path -> file in the repository, for the service's read-only bind mounts."""
    found = {}
    for volume in service["volumes"]:
        source, target, mode = volume.split(":")
        assert mode == "ro" and source.startswith("./"), volume
        found[target] = (DOCKER / source).resolve()
        assert found[target].is_file(), volume
    return found


def dispatcher_targets(listing: Path) -> list[tuple[str, str]]:
    """(destination, duid) of each line of set 1."""
    lines = [line.split() for line in listing.read_text().splitlines()]
    rows = [row for row in lines if row and not row[0].startswith("#")]
    assert all(row[0] == "1" for row in rows)
    return [(row[1], re.sub(r"^duid=", "", row[4])) for row in rows]


def test_the_cluster_profile_is_kamailio_in_front_of_two_gateways() -> None:
    services = compose()["services"]
    cluster = {name for name, s in services.items() if "cluster" in s.get("profiles", [])}
    assert cluster == {"kamailio", "gateway-1", "gateway-2"}
    assert "profiles" not in services["sipgw"]  # `docker compose up` still runs one gateway
    assert set(services["kamailio"]["depends_on"]) == {"gateway-1", "gateway-2"}

    gateways = {}
    for name in ("gateway-1", "gateway-2"):
        service = services[name]
        assert service["image"] == services["sipgw"]["image"]
        assert service["network_mode"] == "host" and service["stop_signal"] == "SIGTERM"
        # `sipgw serve` with the service's environment is a valid gateway configuration.
        args = build_parser().parse_args(service["command"])
        assert args.command == "serve"
        gateways[name] = load(GatewayConfig, Sources(service["environment"]))
    ports = [config.sip_port for config in gateways.values()]
    ranges = sorted(config.rtp_ports for config in gateways.values())
    assert len(set(ports)) == 2 and 5060 not in ports  # 5060 is Kamailio's
    assert ranges[0][1] < ranges[1][0]  # disjoint RTP ranges

    listing = mounts(services["kamailio"])["/etc/kamailio/dispatcher.list"]
    assert dispatcher_targets(listing) == [
        (f"sip:127.0.0.1:{gateways[name].sip_port}", name) for name in ("gateway-1", "gateway-2")
    ]
    # The image's CMD is the same program the compose command runs.
    assert re.search(
        r"apt-get install .* kamailio\b", (DOCKER / "kamailio" / "Dockerfile").read_text()
    )
    assert services["kamailio"]["build"]["context"] == "kamailio"


def test_kamailio_accepts_the_config_as_the_profile_runs_it(tmp_path: Path) -> None:
    service = compose()["services"]["kamailio"]
    files = mounts(service)
    argv = [str(part) for part in service["command"]]
    assert argv[0] == "kamailio" and "-DD" in argv
    # The container's paths are the mounted repository files; -Y gets a directory of ours.
    for index in range(len(argv)):
        for target, source in files.items():
            argv[index] = argv[index].replace(target, str(source))
    argv[argv.index("-Y") + 1] = str(tmp_path)
    assert argv[argv.index("-f") + 1] == str((DOCKER / "kamailio" / "kamailio.cfg").resolve())
    checked = subprocess.run([*argv, "-c"], capture_output=True, text=True, timeout=30, check=False)
    assert checked.returncode == 0, checked.stderr[-3000:]
    assert "config file ok" in checked.stderr + checked.stdout
    listed = str(files["/etc/kamailio/dispatcher.list"])
    assert f'DISPATCHER_LIST="{listed}"' in argv
    trusted = str(files["/etc/kamailio/trusted.list"])
    assert f'TRUSTED_LIST="{trusted}"' in argv
