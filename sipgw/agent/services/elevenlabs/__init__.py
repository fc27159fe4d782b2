"""ElevenLabs: streaming text-to-speech."""
