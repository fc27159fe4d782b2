"""Speech-to-speech services, whoever the vendor: the contract and the JSON WebSocket."""
