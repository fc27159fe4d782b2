"""AssemblyAI: Universal-3 Pro Streaming speech-to-text and the Voice Agent API."""
