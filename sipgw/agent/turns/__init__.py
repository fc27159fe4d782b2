"""Turn-taking, sans-IO: when the caller's turn ends, when they interrupt, and what the agent does.

The machine (:mod:`~sipgw.agent.turns.machine`) takes the caller's frames' voice activity
and the speech-to-text service's words, with the time passed in, and returns actions
(:mod:`~sipgw.agent.turns.actions`). Its rules each have a module: the pause over the
caller's speech (``pause``), the early end on silence (``early_end``), the text scorer of
finished words (``text``, ``words``), the last question's expected answer (``question``), the
room gate (``room``), tentative ends (``tentative``), preemptive replies (``preemptive``),
and the speech-to-speech agents' end of turn from voice activity alone (``endpointing``).
No module here imports asyncio or reads a clock (tests/test_layers.py).
"""
