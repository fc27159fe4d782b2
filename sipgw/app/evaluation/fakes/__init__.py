"""Fakes of the three cloud services the assistant uses, speaking their real wire protocols.

Each runs on 127.0.0.1 (port 0) on the caller's loop or in a thread of its own, so
the production clients run unchanged against it: :mod:`.assemblyai` (streaming STT),
:mod:`.openai` (Chat Completions), :mod:`.elevenlabs` (TTS); :mod:`.services` runs the
three together.
"""
