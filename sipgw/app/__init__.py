"""The composition root: CLI, settings, the per-call wiring of SIP, media and agent."""
