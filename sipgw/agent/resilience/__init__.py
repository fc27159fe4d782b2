"""Never dead air: what the caller hears when a vendor fails, and when not to take calls.

- ``lines``: the fallback lines (apology, "one moment", goodbye, transfer notice, the
  speech-to-text-down notice).
- ``line_cache``: those lines synthesized once per voice at start-up, kept as 160-byte
  μ-law frames on disk and in memory, playable while text-to-speech is down;
  ``shipped_prompts``: the same lines recorded in the package, the last resort.
- ``policy``: the failure policy, sans-IO (events and time in, named decisions out).
- ``breaker``: a circuit breaker per vendor across calls, sans-IO.

See docs/assistant.md, "When a vendor fails".
"""
