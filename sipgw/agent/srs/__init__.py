"""The ``srs`` agent: a SIPREC recording server's calls, each participant transcribed."""
