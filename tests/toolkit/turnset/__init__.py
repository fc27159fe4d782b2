"""A labelled set of finished and unfinished caller turns on a phone line (``docs/quality.md``).

:mod:`~tests.toolkit.turnset.labelled` builds it from ``texts.txt`` with the local
speech engines of :mod:`tests.toolkit.amdset.speech`.
"""
