"""OpenAI: Chat Completions (any compatible server) and the Realtime API."""
