"""The post-call summary: the LLM's summary of a call's transcript, and a structured extraction.

:mod:`~sipgw.app.summary.settings` is its section, :mod:`~sipgw.app.summary.request` the
request and the reading of its answer (pure), :mod:`~sipgw.app.summary.runner` runs one per
answered call after the hang-up (docs/webhooks.md, "Post-call summary").
"""
