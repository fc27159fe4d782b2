"""Which media path runs (sipgw.media._accel): the decision, the pure-Python finder, a real
process."""

from __future__ import annotations

import hashlib
import importlib.machinery
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from sipgw.media import _accel

REPO = Path(__file__).resolve().parents[2]
SO = importlib.machinery.EXTENSION_SUFFIXES[0]


def tree(tmp_path: Path, *, built: bool = True) -> tuple[Path, dict[str, str]]:
    """A checkout with two compiled modules: their sources, their builds, their hashes."""
    package = tmp_path / "pkg"
    package.mkdir()
    modules = {}
    for name in ("alpha", "beta"):
        source = package / f"{name}.py"
        source.write_text(f"NAME = {name!r}\n")
        modules[f"pkg.{name}"] = hashlib.sha256(source.read_bytes()).hexdigest()
        if built:
            (package / f"{name}{SO}").write_bytes(b"not really a library")
    return tmp_path, modules


def test_asking_for_pure_python_wins_over_a_current_build(tmp_path: Path) -> None:
    root, modules = tree(tmp_path)
    assert _accel.decide({"SIPGW_PURE_PYTHON": "1"}, modules, root) == (
        "pure", "SIPGW_PURE_PYTHON=1"
    )  # fmt: skip
    assert _accel.decide({"SIPGW_PURE_PYTHON": "0"}, modules, root)[0] == "native"


def test_no_build_is_pure_python_and_says_how_to_build(tmp_path: Path) -> None:
    root, _ = tree(tmp_path, built=False)
    path, reason = _accel.decide({}, None, root)
    assert path == "pure" and "scripts/build-native" in reason


def test_a_source_changed_since_the_build_never_runs_compiled(tmp_path: Path) -> None:
    root, modules = tree(tmp_path)
    assert _accel.decide({}, modules, root)[0] == "native"
    (root / "pkg" / "beta.py").write_text("NAME = 'edited'\n")
    assert _accel.decide({}, modules, root) == (
        "pure", "stale build: pkg/beta.py changed since the build (run scripts/build-native)"
    )  # fmt: skip


def test_an_edited_c_source_makes_the_build_stale(tmp_path: Path) -> None:
    """The hand-written extension is hashed too: an edit to it is not run in its old build."""
    root, modules = tree(tmp_path)
    c_source = root / "pkg" / "_io.c"
    c_source.write_text("/* io */\n")
    sources = {"pkg/_io.c": hashlib.sha256(c_source.read_bytes()).hexdigest()}
    assert _accel.decide({}, modules, root, sources)[0] == "native"
    c_source.write_text("/* io, edited */\n")
    assert _accel.decide({}, modules, root, sources) == (
        "pure", "stale build: pkg/_io.c changed since the build (run scripts/build-native)"
    )  # fmt: skip
    c_source.unlink()
    assert _accel.decide({}, modules, root, sources)[1].endswith(
        "pkg/_io.c is missing (run scripts/build-native)"
    )


def test_a_missing_build_of_one_module_makes_all_pure(tmp_path: Path) -> None:
    root, modules = tree(tmp_path)
    (root / "pkg" / f"alpha{SO}").unlink()
    path, reason = _accel.decide({}, modules, root)
    assert (path, reason) == ("pure", "stale build: the compiled pkg.alpha is missing (run "
                                      "scripts/build-native)")  # fmt: skip


def test_a_build_from_before_the_sipgw_names_is_stale_and_its_libraries_never_load(
    tmp_path: Path,
) -> None:
    """Issue 40 renamed media.* and agent.* to sipgw.media.* and sipgw.agent.*; an older
    build's libraries still sit next to the sources, where the new names find them first."""
    package = tmp_path / "sipgw" / "media"
    package.mkdir(parents=True)
    source = package / "rtp.py"
    source.write_text("NAME = 'rtp'\n")
    (package / f"rtp{SO}").write_bytes(b"not really a library")
    old_rtp, old_turns = "media.rtp", "agent.turns"  # the old names (names-rewrite: keep)
    digest = hashlib.sha256(source.read_bytes()).hexdigest()
    path, reason = _accel.decide({}, {old_rtp: digest}, tmp_path)  # the old manifest
    assert path == "pure" and reason.startswith("stale build: made before media and agent")
    assert _accel.decide({}, {"sipgw.media.rtp": digest}, tmp_path)[0] == "native"
    # the pure path's finder takes the libraries by their names now
    assert [_accel.import_name(n) for n in (old_rtp, old_turns, "sipgw.media.rtp")] == [
        "sipgw.media.rtp", "sipgw.agent.turns", "sipgw.media.rtp"
    ]  # fmt: skip
    spec = _accel.PureFinder(["sipgw.media.rtp"], tmp_path).find_spec("sipgw.media.rtp")
    assert spec is not None and spec.origin == str(source)


def test_the_manifest_is_read_or_none(tmp_path: Path) -> None:
    manifest = tmp_path / "m.json"
    assert _accel.read_manifest(manifest) is None
    manifest.write_text("not json")
    assert _accel.read_manifest(manifest) is None
    manifest.write_text(json.dumps({"modules": {"pkg.alpha": "ab"}}))
    assert _accel.read_manifest(manifest) == {"pkg.alpha": "ab"}
    assert _accel.read_sources(manifest) == {}  # a build from before the C source was hashed
    manifest.write_text(json.dumps({"modules": {}, "sources": {"sipgw/media/_rtpio.c": "cd"}}))
    assert _accel.read_sources(manifest) == {"sipgw/media/_rtpio.c": "cd"}


def test_the_pure_finder_loads_the_source_of_a_compiled_module_only(tmp_path: Path) -> None:
    root, modules = tree(tmp_path)
    finder = _accel.PureFinder(["pkg.alpha"], root)
    spec = finder.find_spec("pkg.alpha")
    assert spec is not None and spec.origin == str(root / "pkg" / "alpha.py")
    assert isinstance(spec.loader, importlib.machinery.SourceFileLoader)
    assert finder.find_spec("pkg.beta") is None  # not its business


def run_python(code: str, **env: str) -> str:
    clean = {k: v for k, v in os.environ.items() if k != "SIPGW_PURE_PYTHON"}
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env={**clean, **env}, capture_output=True,
        text=True, timeout=60, check=True,
    )  # fmt: skip
    return proc.stdout.strip()


PROBE = (
    "import sipgw.twilio.stream as s, sipgw.media._accel as a, sipgw.media.jitterbuffer as j, "
    "sipgw.agent.turns.machine as t; "
    "print(a.PATH, *(m.__file__.rsplit('.', 1)[-1] for m in (j, t, s)))"
)
"""A compiled module of ``sipgw.twilio`` is imported first: its package imports ``media``
before it, so the path is chosen before the module is found."""


def test_a_process_runs_the_path_chosen_for_it() -> None:
    """With the build in place (scripts/test builds it: with a compiler and in CI it must
    be there), the compiled modules load; ``SIPGW_PURE_PYTHON=1`` loads every source."""
    path, *loaded = run_python(PROBE).split()
    if os.environ.get("CI") and shutil.which(os.environ.get("CC", "cc")):
        assert path == "native", "scripts/build-native did not leave a current build"
    assert loaded == (["so"] * 3 if path == "native" else ["py"] * 3)
    assert run_python(PROBE, SIPGW_PURE_PYTHON="1").split() == ["pure", "py", "py", "py"]
