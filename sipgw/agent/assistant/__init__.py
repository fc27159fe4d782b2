"""The assistant: the AI phone agent (speech-to-text, an LLM with tools, text-to-speech), its
parts, its settings and its plug-in (``--agent assistant``; docs/assistant.md)."""
