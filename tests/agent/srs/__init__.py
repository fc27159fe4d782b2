"""Tests of the ``srs`` agent (sipgw/agent/srs)."""
