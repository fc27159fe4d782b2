"""The evaluation harness (``sipgw-eval``, ``python -m sipgw.testing.evaluation``).

Scripted caller conversations (:mod:`.scenario`) played over real SIP calls
(:mod:`.caller`) into a gateway running the assistant, against the AI-service fakes or
the real services (:mod:`.run`), reported per turn and per goal (:mod:`.report`). It
lives in the test toolkit because it drives a test phone and the fakes; production code
never imports it (docs/evaluation.md).
"""
