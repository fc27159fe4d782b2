"""Suite-wide fixtures and hooks: the secret scan at the end of the run.

Every API key and SIP password the tests configure is a canary
(:mod:`sipgw.testing.canaries`); :mod:`sipgw.testing.canary_scan` logs the
whole run and fails it if a canary appears in any log or record it wrote.
"""

from sipgw.testing.canary_scan import (  # noqa: F401 - pytest finds hooks and fixtures by name
    canary_scan_basetemp,
    pytest_configure,
    pytest_sessionfinish,
    pytest_unconfigure,
)
