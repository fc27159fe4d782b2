"""Where the RFC 4475 torture messages are, if anywhere (they are not in this repository).

``$SIPGW_RFC4475_DIR``, else ``<repo>/../shared/conformance/rfc4475``: the directory that
holds their ``SHA256SUMS``. Importing this never skips anything: each test that needs the
messages decides what to do without them (test_rfc4475.py skips; the hostile-peer tests
send plain requests of the same kinds instead).
"""

from __future__ import annotations

import os
from pathlib import Path


def locate() -> Path | None:
    """The messages' directory, or None."""
    env = os.environ.get("SIPGW_RFC4475_DIR")
    default = Path(__file__).resolve().parents[3].parent / "shared" / "conformance" / "rfc4475"
    for candidate in (Path(env) if env else None, default):
        if candidate is not None and (candidate / "SHA256SUMS").is_file():
            return candidate
    return None


DATA_DIR = locate()
