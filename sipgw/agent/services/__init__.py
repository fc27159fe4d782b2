"""The AI services: each kind's contract, the registry, and one room per vendor.

``stt``, ``llm``, ``tts`` and ``s2s`` hold what the agents need from a kind of service,
whoever the vendor; ``assemblyai``, ``openai`` and ``elevenlabs`` hold each vendor's clients,
wire format and settings; ``registry`` names them. The vendors share the WebSocket client
(``websocket_client``) and the reconnection waits (``backoff``).
"""
