"""A fallback line as a TTS reply whose audio is there already (agent/resilience/recorded.py)."""

from __future__ import annotations

from sipgw.agent.resilience.line_cache import fallback_audio
from sipgw.agent.resilience.lines import FallbackLine
from sipgw.agent.resilience.recorded import RecordedReply


async def test_the_whole_line_comes_out_once_finished_and_never_fails() -> None:
    audio = fallback_audio(FallbackLine.APOLOGY, None)
    reply = RecordedReply(audio, audio.text)
    assert reply.id.startswith("line-apology-") and reply.text == audio.text
    await reply.send_text("ignored: nothing is synthesized")
    await reply.finish()
    await reply.finish()  # idempotent
    pieces = [piece async for piece in reply.audio()]
    assert b"".join(piece.audio for piece in pieces) == b"".join(audio.frames)
    assert all(piece.text is None for piece in pieces)  # heard text: estimated from time
    assert reply.first_audio_at is not None and reply.done


async def test_a_barge_in_stops_it() -> None:
    audio = fallback_audio(FallbackLine.GOODBYE, None)
    reply = RecordedReply(audio, audio.text)
    await reply.cancel()
    await reply.finish()
    assert [piece async for piece in reply.audio()] == []
    assert reply.id != RecordedReply(audio, audio.text).id  # every line its own id
