"""The Kamailio recipe of docs/operations.md ("What gateways share": pike and htable in
front of gateways that phones call with credentials) in the shipped config, checked by the
real ``kamailio -c``; and the recipe still limits what the shipped config limits."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
KAMAILIO = ROOT / "docker" / "kamailio"
TRUNK_ONLY = re.compile(
    r"\t# Only a trunk starts a call.*?\n\tif \(!allow_source_address\(\"1\"\)\) \{.*?\n\t\}\n",
    re.S,
)


def recipe() -> str:
    """The ``route[REQINIT]`` block of docs/operations.md."""
    text = (ROOT / "docs" / "operations.md").read_text()
    blocks = re.findall(r"```\n(route\[REQINIT\] \{.*?\n\})\n```", text, re.S)
    assert len(blocks) == 1, "one route[REQINIT] recipe in docs/operations.md"
    return str(blocks[0])


def with_recipe() -> str:
    """The shipped config with the recipe's route[REQINIT], strangers' INVITEs relayed."""
    shipped = (KAMAILIO / "kamailio.cfg").read_text()
    route = re.compile(r"route\[REQINIT\] \{.*?\n\}", re.S)
    assert len(route.findall(shipped)) == 1 and len(TRUNK_ONLY.findall(shipped)) == 1
    return TRUNK_ONLY.sub("", route.sub(lambda _: recipe(), shipped))


def test_the_recipe_bans_bursts_and_lets_phones_through() -> None:
    block = recipe()
    assert "pike_check_req()" in block and "$sht(ipban=>$si) = 1" in block
    assert "$sht(ipban=>$si) != $null) exit" in block
    # strangers that pass pike are not dropped: the gateway challenges them
    assert "dropped $rm from $si:$sp: not a trunk or gateway" not in block
    config = with_recipe()
    assert 'modparam("htable", "htable", "ipban=>size=8;autoexpire=300;")' in config
    assert 'loadmodule "pike.so"' in config and "Only a trunk starts a call" not in config


def test_kamailio_accepts_the_config_with_the_recipe(tmp_path: Path) -> None:
    config = tmp_path / "phones.cfg"
    config.write_text(with_recipe())
    argv = [
        "kamailio", "-f", str(config), "-Y", str(tmp_path),
        "-A", f'DISPATCHER_LIST="{KAMAILIO / "dispatcher.compose.list"}"',
        "-A", f'TRUSTED_LIST="{KAMAILIO / "trusted.compose.list"}"',
        "-c",
    ]  # fmt: skip
    checked = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
    assert checked.returncode == 0, checked.stderr[-3000:]
    assert "config file ok" in checked.stderr + checked.stdout
