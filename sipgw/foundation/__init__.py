"""The base floor: what the agents and the app both stand on, importing nothing of ours above it.

Settings declared and loaded (``settings``), the SQL stores' base and dialects (``stores``),
redaction (``redact``, ``spoken``), trace spans as the code sees them (``tracing``), files
only their owner reads (``private_files``), user modules named in settings
(``user_modules``), letting go of handled exceptions (``handled_errors``) and stopping
background tasks for good (``stopping``).
"""
