"""A labelled set of answered calls for answering-machine detection (``docs/amd.md``).

:mod:`~tests.toolkit.amdset.labelled` builds it from ``texts.toml`` and a seed, with
speech from espeak-ng (:mod:`~tests.toolkit.amdset.speech`), a phone line
(:mod:`~tests.toolkit.amdset.channel`) and a simulated streaming recognizer
(:mod:`~tests.toolkit.amdset.stt`).
"""
