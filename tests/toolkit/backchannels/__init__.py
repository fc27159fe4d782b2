"""A labelled set of backchannels and real interruptions said over the agent (``docs/quality.md``).

:mod:`~tests.toolkit.backchannels.labelled` builds it with the local speech engines of
:mod:`tests.toolkit.amdset.speech`.
"""
