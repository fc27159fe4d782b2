"""The routes settings section (sipgw/app/lines/settings.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from sipgw.app.lines.settings import RoutesSection
from sipgw.foundation.settings import ConfigError, Sources, load


def test_the_routes_file_from_the_flag_or_the_environment(tmp_path: Path) -> None:
    path = tmp_path / "routes.toml"
    path.write_text("")
    assert load(RoutesSection, Sources({})).routes == ""
    assert load(RoutesSection, Sources({"SIPGW_ROUTES": str(path)})).routes == str(path)
    assert load(RoutesSection, Sources({}, {"--routes": str(path)})).routes == str(path)
    with pytest.raises(ConfigError, match="SIPGW_ROUTES="):
        load(RoutesSection, Sources({"SIPGW_ROUTES": str(tmp_path / "absent.toml")}))
