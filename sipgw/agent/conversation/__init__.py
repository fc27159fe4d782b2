"""What the assistant and the speech-to-speech agents share on a call."""
