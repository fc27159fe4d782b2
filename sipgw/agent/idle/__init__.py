"""Callers who go quiet: when the agent checks in and when it gives up, and the idle section.

The policy (:mod:`sipgw.agent.idle.policy`) is sans-IO; :mod:`sipgw.agent.idle.watch` feeds
it a call and records its steps, for the assistant (:mod:`sipgw.agent.assistant.idle_watch`)
and the speech-to-speech agents (:mod:`sipgw.agent.s2s.idle_watch`).
"""
