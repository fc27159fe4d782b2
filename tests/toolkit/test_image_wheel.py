from __future__ import annotations

from pathlib import Path

from tests.toolkit.image_wheel import context_digest, copied_paths, prebuilt


def _build_dir(where: Path, digest: str) -> Path:
    (where / "wheels").mkdir(parents=True)
    (where / "wheels" / "sipgw-0.1.0-cp311-cp311-linux_x86_64.whl").write_bytes(b"")
    (where / "context.sha256").write_text(digest)
    return where


def test_a_build_is_taken_only_when_it_was_made_from_todays_files(tmp_path: Path) -> None:
    today = _build_dir(tmp_path / "today", context_digest())
    found = prebuilt(today)
    assert found is not None and found.venv == today / "venv"
    assert prebuilt(_build_dir(tmp_path / "older", "0" * 64)) is None
    assert prebuilt(tmp_path / "none") is None
    unfinished = _build_dir(tmp_path / "unfinished", context_digest())
    (unfinished / "context.sha256").unlink()  # written last: the build did not end
    assert prebuilt(unfinished) is None


def test_the_context_is_what_the_dockerfiles_build_stage_copies() -> None:
    assert copied_paths() == ["pyproject.toml", "setup.py", "README.md", "sipgw"]


def test_the_digest_follows_every_copied_file_and_nothing_the_native_build_leaves(
    tmp_path: Path,
) -> None:
    (tmp_path / "docker").mkdir()
    (tmp_path / "docker" / "Dockerfile").write_text("COPY setup.py ./\nCOPY sipgw ./sipgw\n")
    (tmp_path / "setup.py").write_text("setup()\n")
    (tmp_path / "sipgw" / "media").mkdir(parents=True)
    (tmp_path / "sipgw" / "media" / "rtp.py").write_text("A = 1\n")
    (tmp_path / "notes.txt").write_text("not copied\n")
    first = context_digest(tmp_path)
    (tmp_path / "notes.txt").write_text("still not copied\n")
    (tmp_path / "sipgw" / "media" / "rtp.cpython-311-x86_64-linux-gnu.so").write_bytes(b"\x7fELF")
    (tmp_path / "sipgw" / "media" / "__pycache__").mkdir()
    (tmp_path / "sipgw" / "media" / "__pycache__" / "rtp.pyc").write_bytes(b"x")
    assert context_digest(tmp_path) == first
    (tmp_path / "sipgw" / "media" / "rtp.py").write_text("A = 2\n")
    assert context_digest(tmp_path) != first
