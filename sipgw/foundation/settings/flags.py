"""The sections' flags on an ``argparse`` parser, one help group per section.

The settings marked ``first`` (what a newcomer sets first: the agent, the SIP port, the
public address, the account, who may call, the admin port) open the help in a group of
their own; every other flag is in its section's group, in the catalogue's order. A flag's
help ends with its variable and default: ``[env SIPGW_SIP_PORT, default 5060]``.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable, Sequence
from typing import Any, Protocol

from sipgw.foundation.settings.declare import SectionInfo, Setting

__all__ = ["FIRST_TITLE", "add_flags", "flags_given"]

FIRST_TITLE = "start here"
"""The heading of the group of the settings marked ``first``."""


def add_flags(
    parser: argparse.ArgumentParser,
    sections: Sequence[SectionInfo],
    extra: Iterable[tuple[str, dict[str, Any]]] = (),
) -> None:
    """Add every flagged setting of ``sections`` to ``parser``, grouped.

    Args:
        parser: made with ``add_help=False``: ``-h`` goes into the first group.
        sections: in the order their groups are shown.
        extra: more options for the first group (``--env-file``), as ``(flag, kwargs)``.
    """
    first = parser.add_argument_group(FIRST_TITLE)
    for info in sections:
        for _, spec in info.settings:
            if spec.flag and spec.first:
                _add(first, spec)
    for flag, kwargs in extra:
        first.add_argument(flag, **kwargs)
    first.add_argument("-h", "--help", action="help", help="show this help and exit")
    for info in sections:
        rest = [spec for _, spec in info.settings if spec.flag and not spec.first]
        if rest:
            group = parser.add_argument_group(info.title, _first_line(info))
            for spec in rest:
                _add(group, spec)


def _first_line(info: SectionInfo) -> str | None:
    """The intro's first sentence, as the group's description (``%`` escaped)."""
    sentence = info.intro.split(". ", 1)[0].rstrip(".").replace("`", "")
    return sentence.replace("%", "%%") + "." if sentence else None


class _Group(Protocol):
    """What a help group offers (``argparse``'s own class is private)."""

    def add_argument(self, *names: str, **options: Any) -> argparse.Action: ...


def _add(group: _Group, spec: Setting[Any]) -> None:
    default = spec.default_doc or spec.default_text
    where = f"env {spec.env}, default {default}" if default else f"env {spec.env}"
    group.add_argument(
        str(spec.flag),
        dest=spec.env,
        metavar=spec.metavar,
        help=f"{spec.help.replace('%', '%%')} [{where.replace('%', '%%')}]",
    )


def flags_given(args: argparse.Namespace, sections: Iterable[SectionInfo]) -> dict[str, str]:
    """Flag -> text for the flags of ``sections`` that the command line gave."""
    given: dict[str, str] = {}
    for info in sections:
        for _, spec in info.settings:
            value = getattr(args, spec.env, None) if spec.flag else None
            if value is not None:
                given[str(spec.flag)] = value
    return given
