"""The native build: the hot modules compiled with mypyc, and sipgw.media._rtpio
(docs/performance.md).

Everything else about the package is in pyproject.toml. The compiled modules are an
accelerator: the same sources run as plain Python wherever they are not built
(media/_accel.py chooses at import). What is built:

- ``SIPGW_BUILD_NATIVE=0`` (what ``scripts/serve`` and ``scripts/test`` install with, before
  they run ``scripts/build-native``): nothing, a pure-Python install;
- otherwise (``pip wheel .``, ``pip install .``, ``scripts/build-native``): the modules of
  :data:`COMPILED` with mypyc and the C extension, when mypy and a C compiler are there.
  A build that fails leaves a pure-Python install and says why, unless
  ``SIPGW_BUILD_NATIVE=1`` demands the native one. ``SIPGW_NATIVE_OPT`` (0-3, default 3)
  is the C compiler's optimization level for mypyc's code.

Each build writes ``sipgw/media/_native_build.json``: the compiled modules and their
sources' hashes, which media/_accel.py checks before it lets the compiled ones run.

The sources are named by their paths (``sipgw/media/rtp.py``), which are their import names
(``sipgw.media.rtp``: docs/architecture.md, "Import names").
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import sys
from pathlib import Path
from typing import Any

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

ROOT = Path(__file__).resolve().parent

COMPILED = (
    # media: the per-packet and per-frame path, and everything it calls
    "sipgw/media/rtp.py",
    "sipgw/media/seqnum.py",
    "sipgw/media/jitterbuffer.py",
    "sipgw/media/gaps.py",
    "sipgw/media/plc.py",
    "sipgw/media/g711.py",
    "sipgw/media/codecs/base.py",
    "sipgw/media/codecs/g711.py",
    "sipgw/media/codecs/g722.py",
    "sipgw/media/codecs/opus.py",
    "sipgw/media/codecs/convert.py",
    "sipgw/media/ingress.py",
    "sipgw/media/voice/vad.py",
    "sipgw/media/voice/room_loudness.py",
    "sipgw/media/voice/low_band.py",
    "sipgw/media/voice/model_vad.py",
    "sipgw/media/voice/silero.py",
    "sipgw/media/sender.py",
    "sipgw/media/session.py",
    "sipgw/media/pacer.py",
    "sipgw/media/tones/dtmf.py",
    "sipgw/media/tones/dtmf_tones.py",
    "sipgw/media/tones/dtmf_detect.py",
    "sipgw/media/latching.py",
    "sipgw/media/liveness.py",
    "sipgw/media/quality.py",
    "sipgw/media/reporting.py",
    "sipgw/media/received.py",
    "sipgw/media/rtcp.py",
    "sipgw/media/srtp.py",
    "sipgw/media/bridge.py",
    "sipgw/media/tones/beep.py",
    "sipgw/media/ports.py",
    "sipgw/media/mediaports.py",
    "sipgw/media/demux.py",
    "sipgw/media/shared_port.py",
    "sipgw/media/aio/callmedia.py",
    "sipgw/media/aio/rtp_endpoint.py",
    "sipgw/media/browser.py",
    # twilio: the Media Streams leg's per-frame path (its messages and stream) and its webhook's
    "sipgw/twilio/messages.py",
    "sipgw/twilio/signature.py",
    "sipgw/twilio/stream.py",
    "sipgw/twilio/twiml.py",
    # agent: turn-taking (turns.py and the parts it owns) and the speech-to-text uplink, once
    # per frame of every call; the echo
    "sipgw/agent/turns/machine.py",
    "sipgw/agent/turns/actions.py",
    "sipgw/agent/turns/pause.py",
    "sipgw/agent/turns/preemptive.py",
    "sipgw/agent/turns/room.py",
    "sipgw/agent/turns/tentative.py",
    "sipgw/agent/turns/words.py",
    "sipgw/agent/services/stt/uplink.py",
    "sipgw/agent/echo/agent.py",
    # the assistant's caller frame at arrival: its way to the detectors, the model's batch,
    # the turn-taking machine and speech-to-text
    "sipgw/agent/conversation/caller_audio.py",
    "sipgw/agent/assistant/hearing.py",
)
"""Sources compiled with mypyc, all in one group (they call each other directly)."""

MANIFEST = ROOT / "sipgw" / "media" / "_native_build.json"


def wanted() -> str:
    """``off``, ``auto`` (build if possible) or ``on`` (a failure is an error)."""
    value = os.environ.get("SIPGW_BUILD_NATIVE", "auto").strip().lower()
    if os.environ.get("SIPGW_PURE_PYTHON", "") not in ("", "0"):
        return "off"
    return {"0": "off", "off": "off", "1": "on", "on": "on"}.get(value, "auto")


def optimization() -> str:
    """The C compiler's optimization level for mypyc's code, ``SIPGW_NATIVE_OPT`` (0-3, default
    3): 0 builds about twice as fast (gcc takes 19 s instead of 82 s on mypyc's one file, an
    idle AMD EPYC) and runs slower; for a build that checks the packaging, not the speed."""
    value = os.environ.get("SIPGW_NATIVE_OPT", "3").strip()
    if value not in ("0", "1", "2", "3"):
        raise SystemExit(f"SIPGW_NATIVE_OPT={value!r}: expected 0, 1, 2 or 3")
    return value


EXTENSION_SOURCES = ("sipgw/media/_rtpio.c",)
"""The hand-written extension's sources: hashed too, so that an edit makes the build stale."""


def module_name(source: str) -> str:
    """A source's import name: ``sipgw/media/rtp.py`` -> ``sipgw.media.rtp``."""
    return source.removesuffix(".py").replace("/", ".")


def write_manifest(path: Path) -> None:
    modules = {
        module_name(source): hashlib.sha256((ROOT / source).read_bytes()).hexdigest()
        for source in COMPILED
    }
    sources = {  # by the path media/_accel.py finds them at, installed or not
        source: hashlib.sha256((ROOT / source).read_bytes()).hexdigest()
        for source in EXTENSION_SOURCES
    }
    manifest = {"modules": modules, "extensions": ["sipgw.media._rtpio"], "sources": sources}
    path.write_text(json.dumps(manifest, indent=1) + "\n")


class NativeBuild(build_ext):
    """build_ext that records what it compiled, and degrades to pure Python in ``auto``."""

    def run(self) -> None:
        if self.inplace:
            MANIFEST.unlink(missing_ok=True)  # a half-built tree must not look current
        try:
            super().run()
        except Exception as exc:  # a compiler or mypyc failure
            if wanted() == "on":
                raise
            print(f"sipgw: native build failed ({exc}); installing pure Python", file=sys.stderr)
            return
        if self.extensions:
            # next to the sources (in place: scripts/build-native), or into the wheel
            write_manifest(
                MANIFEST
                if self.inplace
                else Path(self.build_lib) / "sipgw" / "media" / MANIFEST.name
            )


def rtpio() -> Extension:
    """The hand-written extension (media/_rtpio.c)."""
    return Extension("sipgw.media._rtpio", list(EXTENSION_SOURCES), extra_compile_args=["-O2"])


def metadata_only() -> bool:
    """Whether setup.py runs for the metadata alone: ``pip wheel`` runs it three times (the
    build's requirements, its metadata, then the wheel), and mypyc, which type-checks and
    translates every compiled module (minutes on a loaded machine), is only for the last."""
    commands = [arg for arg in sys.argv[1:] if not arg.startswith("-")]
    return bool(commands) and commands[0] in ("egg_info", "dist_info")


def planned() -> list[Any]:
    """The extensions as the metadata sees them, without mypyc: one when the build will make
    some (the same platform wheel), else none."""
    if wanted() == "off" or (wanted() == "auto" and importlib.util.find_spec("mypyc") is None):
        return []
    return [rtpio()]


def extensions() -> list[Any]:
    if wanted() == "off":
        return []
    try:
        from mypyc.build import mypycify
    except ImportError:
        if wanted() == "on":
            raise
        print("sipgw: mypy (mypyc) is not installed; installing pure Python", file=sys.stderr)
        return []
    compiled = mypycify(
        ["--no-warn-unused-configs", *COMPILED],
        opt_level=optimization(),
        group_name="sipgw.media._native",  # media/_native__mypyc.*.so: the shared code
        # mypy's own settings for the sources (pyproject.toml [tool.mypy]); the compiled
        # modules are checked strictly there already.
        strip_asserts=False,
    )
    return [*compiled, rtpio()]


setup(
    ext_modules=planned() if metadata_only() else extensions(),
    cmdclass={"build_ext": NativeBuild},
)
