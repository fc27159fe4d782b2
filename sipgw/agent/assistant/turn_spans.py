"""A turn's trace spans: the turn under the call's span, its STT, LLM and TTS steps under it.

The turn span opens when the reply starts (from the caller's end of speech: the
responder), so the tool calls' spans and their requests go under it while it runs. The
steps are measured as the reply goes (:class:`sipgw.agent.assistant.reply.Reply`'s times)
and become spans with their real start and end when the turn closes, each with its time to
first byte (``*.ttfb_ms``, and a ``first_token`` or ``first_byte`` event):

* ``stt``: the caller's end of speech (VAD) to the STT's end of turn;
* ``llm``: the reply's start to the LLM's whole reply (first token: ``llm.ttfb_ms``);
* ``tts``: its first sentence sent to TTS to the turn's end (first audio byte:
  ``tts.ttfb_ms``); ``tts.reply_id`` (ElevenLabs' context id on its WebSocket) and, over
  HTTP, ``tts.request_ids`` (ElevenLabs' ``request-id`` headers).

The LLM's requests are ``llm_request`` events of the turn span, each with OpenAI's
``x-request-id`` (:mod:`sipgw.agent.services.openai.chat`); the STT session's id (AssemblyAI's) is
the call span's ``stt.session_id``.
"""

from __future__ import annotations

from sipgw.agent.assistant.reply import Reply
from sipgw.agent.callscope import ms_between

__all__ = ["close_turn_span"]


def close_turn_span(reply: Reply, first_rtp: float | None, now: float) -> None:
    """Add the reply's step spans under its turn span and end it at ``now``."""
    turn = reply.span
    if not turn.recording:
        return
    if reply.speech_end_at is not None and reply.stt_final_at is not None:
        stt = turn.child("stt", start=reply.speech_end_at)
        stt.set_attribute("stt.end_of_turn_ms", (reply.stt_final_at - reply.speech_end_at) * 1000)
        stt.end(reply.stt_final_at)
    llm = turn.child("llm", start=reply.started_at)
    if reply.first_token_at is not None:
        llm.set_attribute("llm.ttfb_ms", (reply.first_token_at - reply.started_at) * 1000)
        llm.add_event("first_token", at=reply.first_token_at)
    if reply.tools_seconds is not None:
        llm.set_attribute("llm.tools_ms", reply.tools_seconds * 1000)
    llm.end(reply.llm_done_at or now)
    if reply.first_sentence_at is not None:
        tts = turn.child("tts", {"tts.reply_id": reply.tts.id}, start=reply.first_sentence_at)
        if reply.tts.request_ids:
            tts.set_attribute("tts.request_ids", ",".join(reply.tts.request_ids))
        first_audio = reply.tts.first_audio_at
        if first_audio is not None:
            tts.set_attribute("tts.ttfb_ms", (first_audio - reply.first_sentence_at) * 1000)
            tts.add_event("first_byte", at=first_audio)
        if reply.tts_failed:
            tts.set_error("tts failed")
        tts.end(now)
    end_to_rtp = ms_between(first_rtp, reply.speech_end_at)
    if end_to_rtp is not None:
        turn.set_attribute("turn.end_of_speech_to_first_rtp_ms", end_to_rtp)
    if reply.heard is not None:
        turn.set_attribute("turn.barge_in", True)
    turn.end(now)
