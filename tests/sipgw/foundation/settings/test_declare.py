"""Declaring settings: setting() fields, @section classes, what the loader and the docs read."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import pytest

from sipgw.app.settings import CallSection, GatewayConfig, NetworkSection, OperationsSection
from sipgw.foundation.settings import (
    ConfigError,
    InvalidSettings,
    Setting,
    SettingError,
    check_names,
    is_loadable,
    section,
    section_info,
    sections_of,
    setting,
    setting_of,
    settings_of,
)
from sipgw.foundation.settings.parsers import int_at_least, text


@section("sample", title="Sample", intro="Read by this test.")
@dataclass(frozen=True)
class Sample:
    count: int = setting(
        3, env="SAMPLE_COUNT", flag="--sample-count", parse=int_at_least(0), help="How many."
    )
    name: str = setting("x", env="SAMPLE_NAME", parse=text, help="Its name.")
    key: str = setting("", env="SAMPLE_KEY", parse=text, help="A key.", secret=True)


def test_a_setting_is_a_field_with_its_default_and_its_description() -> None:
    sample = Sample()
    assert (sample.count, sample.name) == (3, "x")
    (count, spec), (_, name), _ = settings_of(Sample)
    assert count == "count" and spec.env == "SAMPLE_COUNT" and spec.flag == "--sample-count"
    assert spec.default_text == "3" and spec.metavar == "VALUE"  # a flag gets a placeholder
    assert name.flag is None and name.metavar is None


def test_the_default_text_is_derived_from_plain_defaults_only() -> None:
    def spec(default: object, **kwargs: object) -> Setting[object]:
        field = setting(default, env="X", parse=str, help="x.", **kwargs)  # type: ignore[arg-type]
        found = field.metadata["sipgw.setting"]  # type: ignore[attr-defined]
        assert isinstance(found, Setting)
        return found

    assert spec(None).default_text == ""
    assert spec(0.5).default_text == "0.5" and spec(300.0).default_text == "300"
    assert spec(-40.0).default_text == "-40" and spec("a b").default_text == "a b"
    assert spec((1, 2), default_text="1-2").default_text == "1-2"
    with pytest.raises(TypeError, match="default_text"):
        spec((1, 2))
    with pytest.raises(TypeError, match="default_text"):
        spec(True)


def test_a_secret_stays_out_of_the_repr() -> None:
    assert "hunter2" not in repr(Sample(key="hunter2")) and "count=3" in repr(Sample())


def test_a_section_knows_its_own_fields_and_a_composite_has_all() -> None:
    info = section_info(Sample)
    assert info is not None and (info.name, info.title, info.cls) == ("sample", "Sample", Sample)
    assert [name for name, _ in info.settings] == ["count", "name", "key"]
    assert info.flagged
    composite = {name for name, _ in settings_of(GatewayConfig)}
    parts = [section_info(cls) for cls in (NetworkSection, CallSection, OperationsSection)]
    assert all(parts) and section_info(GatewayConfig) is None
    own = [{name for name, _ in part.settings} for part in parts if part]
    assert composite == set.union(*own) and sum(map(len, own)) == len(composite)
    assert GatewayConfig(sip_port=0).sip_port == 0 and GatewayConfig().max_calls == 100


def test_a_section_must_be_a_frozen_dataclass_of_settings() -> None:
    with pytest.raises(TypeError, match="above @dataclass"):

        @section("a", title="A", intro="A.")
        class NotADataclass:
            x: int = 1

    with pytest.raises(TypeError, match="above @dataclass"):

        @section("b", title="B", intro="B.")
        @dataclass
        class NotFrozen:
            x: int = setting(1, env="B_X", parse=int, help="x.")

    with pytest.raises(TypeError, match=r"Plain.y is not declared with setting"):

        @section("c", title="C", intro="C.")
        @dataclass(frozen=True)
        class Plain:
            x: int = setting(1, env="C_X", parse=int, help="x.")
            y: int = 2


def test_loadable_means_a_dataclass_of_settings_only() -> None:
    @dataclass(frozen=True)
    class Mixed:
        x: int = setting(1, env="M_X", parse=int, help="x.")
        y: int = dataclasses.field(default=2)

    assert is_loadable(Sample) and is_loadable(GatewayConfig)
    assert not is_loadable(Mixed) and not is_loadable(int) and not is_loadable("Sample")


def test_invalid_settings_name_fields_as_given_or_by_field_name() -> None:
    error = InvalidSettings("{count} must exceed {name}, not {path!r}", path="/a{b}")
    assert str(error) == "count must exceed name, not '/a{b}'"
    named = error.with_names({"count": "--sample-count 0", "name": "SAMPLE_NAME=x"})
    assert named == "--sample-count 0 must exceed SAMPLE_NAME=x, not '/a{b}'"


def test_a_setting_error_names_its_settings_by_both_names_until_told_how_they_were_given() -> None:
    error = SettingError("{count}: cannot use {path}, nor {name}", Sample, path="/a{b}")
    assert str(error) == "--sample-count/SAMPLE_COUNT: cannot use /a{b}, nor SAMPLE_NAME"
    assert error.with_names({"count": "--sample-count"}) == (
        "--sample-count: cannot use /a{b}, nor SAMPLE_NAME"
    )
    assert isinstance(error, InvalidSettings)  # a check() may raise one too


def test_one_setting_of_a_class_by_its_field() -> None:
    assert setting_of(Sample, "count").env == "SAMPLE_COUNT"
    assert setting_of(GatewayConfig, "record_dir").flag == "--record-dir"  # inherited
    assert setting_of(Sample, "count").names == "--sample-count/SAMPLE_COUNT"
    assert setting_of(Sample, "name").names == "SAMPLE_NAME"
    with pytest.raises(TypeError, match="Sample has no setting 'counts'"):
        setting_of(Sample, "counts")


def test_the_sections_a_class_is_made_of() -> None:
    @dataclass(frozen=True)
    class Wider(NetworkSection):
        extra: int = setting(1, env="WIDER_EXTRA", parse=int, help="More.")

    info = section_info(Sample)
    assert info is not None and sections_of(Sample) == (info,)
    parts = sections_of(GatewayConfig)
    assert {part.cls for part in parts} == {NetworkSection, CallSection, OperationsSection}
    assert sections_of(Wider) == ()  # a field of its own that no section shows
    assert sections_of(int) == () and sections_of(None) == ()


def test_a_section_may_not_reuse_a_catalogues_names() -> None:
    @section("mine", title="Mine", intro="A plug-in's.")
    @dataclass(frozen=True)
    class Mine:
        count: int = setting(
            1, env="MINE_COUNT", flag="--sample-count", parse=int_at_least(0), help="N."
        )

    mine, sample = section_info(Mine), section_info(Sample)
    assert mine is not None and sample is not None
    with pytest.raises(ConfigError, match=r"^p:f: its setting --sample-count is one of sipgw"):
        check_names([mine], "p:f", [sample])
    check_names([sample, mine], "p:f", [])  # nothing taken
    check_names([sample], "p:f", [sample])  # the catalogue's own section passes
