"""The shared machinery of a text-to-speech reply (sipgw.agent.services.tts.base): audio out in
order, the end or the failure after what is queued, nothing at all after a cancel.

:class:`ScriptedReply` is the least a vendor module writes on top of
:class:`~sipgw.agent.services.tts.base.TtsReply`; the test plays the vendor's transport by
calling ``_push``, ``_end`` and ``_fail`` as a reader task would.
"""

from __future__ import annotations

import asyncio

import pytest

from sipgw.agent.services.tts.base import (
    TtsAlignment,
    TtsAudio,
    TtsConnectError,
    TtsError,
    TtsReply,
)

ALIGNED = TtsAlignment("Hi.", (0, 40, 80), (40, 40, 40))


class ScriptedReply(TtsReply):
    """A reply whose vendor is the test: it records the text it would send."""

    def __init__(self) -> None:
        super().__init__("reply-1")
        self.sent: list[str] = []
        self.finished = False

    async def send_text(self, text: str) -> None:
        sendable = self._text_to_send(text, self.finished)
        if sendable is not None:
            self.sent.append(sendable)

    async def finish(self) -> None:
        self.finished = True

    async def cancel(self) -> None:
        self._mark_cancelled()


async def drain(reply: TtsReply) -> list[TtsAudio]:
    async with asyncio.timeout(5):
        return [piece async for piece in reply.audio()]


async def test_audio_comes_in_order_with_its_text_and_ends_after_the_last() -> None:
    reply = ScriptedReply()
    reply._push(b"\x01" * 100, 10.0, ALIGNED)
    reply._push(b"\x02" * 50, 10.5, None)
    assert not reply.done
    reply._end()
    assert reply.done
    pieces = await drain(reply)
    assert [(p.audio, p.text, p.received_at) for p in pieces] == [
        (b"\x01" * 100, "Hi.", 10.0), (b"\x02" * 50, None, 10.5),
    ]  # fmt: skip
    assert pieces[0].alignment is ALIGNED and reply.first_audio_at == 10.0


async def test_the_consumer_waits_for_audio_still_coming() -> None:
    reply = ScriptedReply()
    consumer = asyncio.create_task(drain(reply))
    await asyncio.sleep(0)
    reply._push(b"\x03", 1.0, None)
    reply._end()
    assert [p.audio for p in await consumer] == [b"\x03"]


async def test_a_failure_comes_after_the_audio_already_queued() -> None:
    reply = ScriptedReply()
    reply._push(b"\x01", 1.0, None)
    error = TtsError("quota exceeded", status=401, error="quota_exceeded")
    reply._fail(error)
    reply._end()  # too late: the reply failed
    reply._fail(TtsError("another"))  # the first failure stands
    received: list[bytes] = []
    with pytest.raises(TtsError) as raised:
        async for piece in reply.audio():
            received.append(piece.audio)
    assert received == [b"\x01"] and raised.value is error
    assert (raised.value.status, raised.value.error) == (401, "quota_exceeded")
    with pytest.raises(TtsError) as again:
        await reply.send_text("More text.")
    assert again.value is error  # the reply's own failure, not a new one


async def test_a_cancel_drops_everything_even_what_is_queued() -> None:
    reply = ScriptedReply()
    reply._push(b"\x01", 1.0, None)
    await reply.cancel()
    await reply.cancel()  # idempotent
    reply._push(b"\x02", 2.0, None)
    reply._push(b"\x03", 2.1, None)
    reply._fail(TtsError("closed"))  # a failure after a cancel is not the consumer's problem
    assert await drain(reply) == []
    assert reply.cancelled and reply.done and reply.dropped_chunks == 2
    await reply.send_text("Ignored.")  # nothing to send, no error
    assert reply.sent == []


async def test_a_cancel_while_the_consumer_waits_drops_what_arrived_just_before() -> None:
    reply = ScriptedReply()
    consumer = asyncio.create_task(drain(reply))
    await asyncio.sleep(0)  # the consumer now waits for the first audio
    reply._push(b"\x01", 1.0, None)  # it wakes up with this ...
    await reply.cancel()  # ... but the caller barged in first
    assert await consumer == []


async def test_audio_after_the_end_is_counted_and_dropped() -> None:
    reply = ScriptedReply()
    reply._end()
    reply._push(b"\x01", 1.0, None)
    assert reply.dropped_chunks == 1 and reply.first_audio_at is None
    assert await drain(reply) == []


async def test_the_text_a_reply_sends() -> None:
    reply = ScriptedReply()
    await reply.send_text("  Hello there.  ")
    await reply.send_text("   ")  # blank: nothing to send
    assert reply.sent == ["Hello there."]
    await reply.finish()
    with pytest.raises(TtsError, match="send_text\\(\\) after finish\\(\\) on reply reply-1"):
        await reply.send_text("Too late.")
    ended = ScriptedReply()
    ended._end()
    with pytest.raises(TtsError, match="reply reply-1 is finished; start a new reply"):
        await ended.send_text("Too late.")


async def test_the_audio_is_consumed_once() -> None:
    reply = ScriptedReply()
    reply.audio()
    with pytest.raises(RuntimeError, match="reply-1 is already being consumed"):
        reply.audio()


def test_a_connect_error_is_a_tts_error() -> None:
    refused = TtsConnectError("401 Unauthorized", status=401)
    assert isinstance(refused, TtsError) and str(refused) == "401 Unauthorized"
    assert refused.status == 401 and refused.error is None
