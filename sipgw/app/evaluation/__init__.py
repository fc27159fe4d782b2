"""The evaluation harness (``sipgw-eval``, ``python -m sipgw.app.evaluation``).

Scripted caller conversations (:mod:`.scenario`) played over real SIP calls
(:mod:`.caller`) into a gateway running the assistant, against the AI-service fakes or
the real services (:mod:`.run`), reported per turn and per goal (:mod:`.report`). What it
drives is here too: the scripted phone (:mod:`.phone`, :mod:`.audio`), the gateway as a
subprocess (:mod:`.gateway_process`, :mod:`.process`, :mod:`.ports`) and the AI-service
fakes (:mod:`.fakes`). The gateway never imports it: ``sipgw eval`` runs it as a child
process (docs/evaluation.md); the test toolkit (``tests/toolkit``) builds on it.
"""
