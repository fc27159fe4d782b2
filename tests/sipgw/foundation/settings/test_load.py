"""The loader: typed sections from flags and environment, checked, with named errors."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from sipgw.foundation.settings import (
    ConfigError,
    InvalidSettings,
    Sources,
    build_checked,
    load,
    missing,
    require,
    secret_texts,
    section,
    setting,
    validate,
    value_of,
)
from sipgw.foundation.settings.parsers import int_at_least, text
from sipgw.foundation.settings.sources import FileValue


def _never(value: str) -> int:
    raise AssertionError("a default is not parsed again")


@dataclass(frozen=True)
class Pair:
    low: int = setting(1, env="PAIR_LOW", flag="--pair-low", parse=int_at_least(0), help="L.")
    high: int = setting(5, env="PAIR_HIGH", parse=int_at_least(0), help="H.")
    fixed: int = setting(7, env="PAIR_FIXED", parse=_never, help="F.")

    def check(self) -> None:
        if self.low > self.high:
            raise InvalidSettings("{low} must not exceed {high}")


@section("pair", title="A pair (low and high)", intro="For tests.")
@dataclass(frozen=True)
class TitledPair:
    low: int = setting(1, env="TITLED_LOW", parse=int_at_least(0), help="L.")


@dataclass(frozen=True)
class Keys:
    token: str = setting("", env="KEYS_TOKEN", parse=text, help="T.", required=True, secret=True)
    other: str = setting("", env="KEYS_OTHER", parse=text, help="O.", required=True)
    plain: str = setting("", env="KEYS_PLAIN", parse=text, help="P.")


def test_values_are_parsed_and_defaults_kept() -> None:
    assert load(Pair, Sources()) == Pair()
    assert load(Pair, Sources({"PAIR_LOW": "2"}, {"--pair-low": "3"})) == Pair(low=3)


def test_a_bad_value_names_what_the_user_wrote_and_what_is_allowed() -> None:
    with pytest.raises(ConfigError, match=r"^--pair-low abc: must be a whole number >= 0$"):
        load(Pair, Sources({}, {"--pair-low": "abc"}))
    with pytest.raises(ConfigError, match=r"^PAIR_HIGH=-1: must be a whole number >= 0$"):
        load(Pair, Sources({"PAIR_HIGH": "-1"}))


def test_check_names_each_field_as_the_user_gave_it() -> None:
    with pytest.raises(ConfigError, match=r"^--pair-low 9 must not exceed PAIR_HIGH \(default 5"):
        load(Pair, Sources({}, {"--pair-low": "9"}))
    with pytest.raises(ConfigError, match=r"^PAIR_LOW=9 must not exceed PAIR_HIGH=8$"):
        load(Pair, Sources({"PAIR_LOW": "9", "PAIR_HIGH": "8"}))
    with pytest.raises(ConfigError, match=r"^PAIR_LOW must not exceed PAIR_HIGH$"):
        validate(Pair(low=9))  # built by hand: named by variable
    validate(Pair())
    validate(object())  # nothing to check


def test_required_settings_are_named_all_at_once() -> None:
    assert missing([Keys], Sources({"KEYS_OTHER": " "})) == ["KEYS_TOKEN", "KEYS_OTHER"]
    with pytest.raises(ConfigError) as error:
        require([Pair, Keys], Sources({"KEYS_OTHER": "o"}), "--agent x")
    assert str(error.value) == (
        "--agent x needs KEYS_TOKEN (set it in the environment or in .env; "
        "see docs/configuration.md)"
    )
    with pytest.raises(ConfigError, match="needs KEYS_TOKEN, KEYS_OTHER .set them"):
        require([Keys], Sources(), "--agent x")
    require([Keys], Sources({"KEYS_TOKEN": "t", "KEYS_OTHER": "o"}), "--agent x")


def test_secret_texts_are_what_was_given_to_secret_settings() -> None:
    given = Sources({"KEYS_TOKEN": " tok ", "KEYS_OTHER": "visible", "KEYS_PLAIN": "p"})
    assert sorted(secret_texts([Keys, Pair], given)) == [" tok ", "tok"]
    assert secret_texts([Keys], Sources({"KEYS_TOKEN": "  "})) == []  # blanks are no secret
    assert secret_texts([Keys], Sources()) == []


def test_what_a_section_configures_is_built_with_its_refusals_named_by_the_section() -> None:
    def refused() -> int:
        raise ValueError("low must be even")

    assert build_checked(TitledPair, lambda: 4) == 4
    with pytest.raises(ConfigError, match=r"^A pair \(low and high\): low must be even$"):
        build_checked(TitledPair, refused)
    with pytest.raises(ConfigError, match=r"^Pair: low must be even$"):  # no section: its name
        build_checked(Pair, refused)


PARSED: list[str] = []


def _counted(value: str) -> int:
    PARSED.append(value)
    return int_at_least(0)(value)


@dataclass(frozen=True)
class Counted:
    first: int = setting(1, env="COUNTED_FIRST", parse=_counted, help="F.")
    second: int = setting(2, env="COUNTED_SECOND", parse=_counted, help="S.")

    def check(self) -> None:
        if self.first > self.second:
            raise InvalidSettings("{first} must not exceed {second}")


@pytest.fixture
def parsed() -> list[str]:
    PARSED.clear()
    return PARSED


def test_each_value_is_parsed_once_and_each_section_loaded_once(parsed: list[str]) -> None:
    sources = Sources({"COUNTED_FIRST": "3", "COUNTED_SECOND": "4"})
    loaded = load(Counted, sources)
    assert load(Counted, sources) is loaded and loaded == Counted(3, 4)
    assert value_of(Counted, "second", sources) == 4
    assert parsed == ["3", "4"]
    assert load(Counted, Sources({"COUNTED_FIRST": "2"})) == Counted(2)  # other sources: anew
    assert parsed == ["3", "4", "2"]


def test_a_files_value_is_taken_as_parsed_when_the_file_was_read(parsed: list[str]) -> None:
    written = FileValue("5", "sipgw.toml line 2", "counted.second", 5)
    assert load(Counted, Sources(file={"COUNTED_SECOND": written})) == Counted(second=5)
    assert parsed == []
    assert value_of(Counted, "first", Sources()) == 1  # nothing sets it: its default


def test_a_lines_values_are_laid_over_the_gateways_parsed_ones(parsed: list[str]) -> None:
    gateway = Sources({"COUNTED_FIRST": "3", "COUNTED_SECOND": "4"})
    assert load(Counted, gateway) == Counted(3, 4)
    lower = FileValue("0", "sipgw.toml line 9", "lines.a.settings.COUNTED_FIRST", 0)
    assert load(Counted, gateway.with_line({"COUNTED_FIRST": lower})) == Counted(0, 4)
    assert parsed == ["3", "4"]  # the line's value came parsed; the gateway's were kept
    higher = FileValue("9", "sipgw.toml line 9", "lines.a.settings.COUNTED_FIRST", 9)
    with pytest.raises(
        ConfigError,
        match=r"^COUNTED_FIRST=9 \(sipgw.toml line 9\) must not exceed COUNTED_SECOND=4",
    ):
        load(Counted, gateway.with_line({"COUNTED_FIRST": higher}))


def test_a_line_may_set_right_what_the_gateways_sources_give_wrong(parsed: list[str]) -> None:
    gateway = Sources({"COUNTED_FIRST": "many"})
    with pytest.raises(ConfigError, match="^COUNTED_FIRST=many: must be a whole number"):
        load(Counted, gateway)
    right = FileValue("1", "sipgw.toml line 9", "lines.a.settings.COUNTED_FIRST", 1)
    assert load(Counted, gateway.with_line({"COUNTED_FIRST": right})) == Counted(1)
