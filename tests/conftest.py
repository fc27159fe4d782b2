"""Suite-wide fixtures and hooks.

Hypothesis profiles: CI runs are deterministic and free of timing flakes.
``ci`` (the default): the examples are derived from each test's source
(``derandomize``), so a run on the shared, slow CI machine is the same every
time, and there is no per-example deadline. ``long``: random examples, ten
times as many, for a local hunt (``HYPOTHESIS_PROFILE=long pytest ...``).

The secret scan at the end of the run: every API key and SIP password the tests
configure is a canary (:mod:`sipgw.testing.canaries`);
:mod:`sipgw.testing.canary_scan` logs the whole run and fails it if a canary
appears in any log or record it wrote.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

from sipgw.testing.canary_scan import (  # noqa: F401 - pytest finds hooks and fixtures by name
    canary_scan_basetemp,
    pytest_configure,
    pytest_sessionfinish,
    pytest_unconfigure,
)

settings.register_profile(
    "ci",
    derandomize=True,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "long",
    max_examples=1000,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
