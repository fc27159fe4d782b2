"""Callers who go quiet: when the agent checks in and when it gives up, and the idle section.

The policy (:mod:`sipgw.agent.idle.policy`) is sans-IO; the assistant feeds it the call
(:mod:`sipgw.agent.assistant.idle_watch`).
"""
