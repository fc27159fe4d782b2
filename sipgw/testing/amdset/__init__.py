"""A labelled set of answered calls for answering-machine detection (``docs/amd.md``).

:mod:`~sipgw.testing.amdset.labelled` builds it from ``texts.toml`` and a seed, with
speech from espeak-ng (:mod:`~sipgw.testing.amdset.speech`), a phone line
(:mod:`~sipgw.testing.amdset.channel`) and a simulated streaming recognizer
(:mod:`~sipgw.testing.amdset.stt`).
"""
