"""sipgw's wheel built as the Docker image's build stage builds it, installed in a clean venv.

``tests/test_packaging.py`` checks what that wheel and venv do. Building them is a minute
and a half of one core (mypyc's translation, the C compiler, pip), so ``scripts/test``
builds them beside the in-place native build, on the core that build leaves idle::

    python -m tests.toolkit.image_wheel          # into .venv/image-wheel

and the test takes that build only when it was made from the files it would copy today
(:func:`context_digest`); otherwise it builds its own (:func:`build`).

The build copies what the Dockerfile's build stage copies, runs ``pip wheel`` with
``SIPGW_BUILD_NATIVE=1`` as that stage does but at gcc's -O0 (the packaging is under test,
not the code's speed: ``scripts/build-native`` builds the same modules at -O3 in place for
the suite; -O3 on mypyc's one generated file is 60 s of CPU more), then installs the wheel
with its declared dependencies only, offline from ``.venv/wheelhouse`` when it is there.
"""

from __future__ import annotations

import hashlib
import json
import os
import resource
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "docker" / "Dockerfile"
WHEELHOUSE = ROOT / ".venv" / "wheelhouse"
PREBUILT = ROOT / ".venv" / "image-wheel"
BUILD_ENV = {"SIPGW_BUILD_NATIVE": "1", "SIPGW_NATIVE_OPT": "0"}

BUILD_CPU_SECONDS = 900
"""CPU seconds any one process of the build or the install may use (``RLIMIT_CPU``): the
work's own bound, whatever the load. On an idle AMD EPYC ``pip wheel`` takes about 90 s at
-O0 (mypyc's translation, the C compiler on its one generated file, the build's own venv)."""
HANG_SECONDS = 3600
"""Wall-clock seconds after which a step is taken for hung (waiting, not working)."""


@dataclass(frozen=True)
class Installed:
    """The wheel and the clean venv it is installed in."""

    wheel: Path
    venv: Path

    def bin(self, name: str) -> str:
        return str(self.venv / "bin" / name)


def instruction(name: str) -> list[str]:
    """A Dockerfile instruction's exec-form arguments (``ENTRYPOINT``, ``CMD``)."""
    for line in DOCKERFILE.read_text().splitlines():
        if line.startswith(name + " "):
            return list(json.loads(line[len(name) + 1 :]))
    raise AssertionError(f"{name} missing from {DOCKERFILE}")


def copied_paths(root: Path = ROOT) -> list[str]:
    """What the build stage copies from the context (not ``COPY --from`` another stage)."""
    paths: list[str] = []
    for line in (root / "docker" / "Dockerfile").read_text().splitlines():
        if line.startswith("COPY ") and not line.startswith("COPY --from"):
            paths.extend(line.split()[1:-1])
    return paths


def _context_files(root: Path) -> list[Path]:
    files: list[Path] = []
    for name in copied_paths(root):
        source = root / name
        if source.is_dir():
            files.extend(
                p for p in sorted(source.rglob("*"))
                if (p.is_file() or p.is_symlink()) and "__pycache__" not in p.parts
                and p.suffix != ".so" and p.name != "_native_build.json"
            )  # fmt: skip
        else:
            files.append(source)
    return files


def context_digest(root: Path = ROOT) -> str:
    """What the build is made from: the Dockerfile, the build variables and every copied
    file's path and bytes (the in-place native build's products left out: a clean checkout,
    which the image is built from, has none)."""
    digest = hashlib.sha256((root / "docker" / "Dockerfile").read_bytes())
    digest.update(json.dumps(BUILD_ENV, sort_keys=True).encode())
    for path in _context_files(root):
        digest.update(str(path.relative_to(root)).encode() + b"\0")
        digest.update(os.readlink(path).encode() if path.is_symlink() else path.read_bytes())
        digest.update(b"\0")
    return digest.hexdigest()


def _copy_context(context: Path) -> None:
    context.mkdir(parents=True)
    for path in _context_files(ROOT):
        target = context / path.relative_to(ROOT)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target, follow_symlinks=False)  # symlinks kept, as COPY keeps them


def _limit_cpu() -> None:
    """In the child, before it runs: at most :data:`BUILD_CPU_SECONDS` of CPU (its children
    inherit the limit)."""
    resource.setrlimit(resource.RLIMIT_CPU, (BUILD_CPU_SECONDS, BUILD_CPU_SECONDS))


def _run(args: list[str], **env: str) -> None:
    """``args`` with the image build's environment: ours without sipgw's settings (the
    build stage sets none but ``env``; a ``SIPGW_PURE_PYTHON=1`` run of the suite must not
    make the image's wheel a pure one)."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("SIPGW_")}
    done = subprocess.run(
        args, capture_output=True, text=True, timeout=HANG_SECONDS, env={**clean, **env},
        preexec_fn=_limit_cpu,
    )  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(args[:3])} ... failed:\n{done.stderr[-3000:]}")


def build(where: Path) -> Installed:
    """Copy the context, build the wheel and install it into a clean venv, all under
    ``where`` (made empty first)."""
    shutil.rmtree(where, ignore_errors=True)
    _copy_context(where / "context")
    venv = where / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    # scripts/test fills a wheelhouse first, because the suite runs without a network.
    offline = ["--no-index", "--find-links", str(WHEELHOUSE)] if WHEELHOUSE.is_dir() else []
    pip = [str(venv / "bin" / "pip")]
    _run(
        [*pip, "wheel", "-q", "--disable-pip-version-check", *offline, "--no-deps",
         "--wheel-dir", str(where / "wheels"), str(where / "context")],
        **BUILD_ENV,
    )  # fmt: skip
    (wheel,) = (where / "wheels").glob("sipgw-*.whl")
    _run([*pip, "install", "-q", "--disable-pip-version-check", *offline, str(wheel)])
    return Installed(wheel, venv)


def prebuilt(where: Path = PREBUILT) -> Installed | None:
    """The build under ``where`` if it was made from today's context, else None."""
    marker = where / "context.sha256"
    wheels = list((where / "wheels").glob("sipgw-*.whl"))
    if not marker.is_file() or len(wheels) != 1 or marker.read_text() != context_digest():
        return None
    return Installed(wheels[0], where / "venv")


def main() -> int:
    where = Path(sys.argv[1]) if len(sys.argv) > 1 else PREBUILT
    if prebuilt(where):
        print(f"image wheel in {where}: current")
        return 0
    digest = context_digest()
    build(where)
    (where / "context.sha256").write_text(digest)  # last: the build is whole
    print(f"image wheel built in {where}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
