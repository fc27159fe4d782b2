"""The agent's outgoing audio, one 20 ms frame per tick, and what was heard.

Replies are queued in order as their audio arrives from TTS (any chunk size;
re-cut here into exact frames). The frames are in the playout's :attr:`Playout.format`,
the agent's (160 octets of 8 kHz μ-law by default; 640 octets of 16 kHz s16le on an
HD-voice call whose voice is 16 kHz). Audio pushed in another format (a fallback line
recorded in μ-law, a hand-off's voice, hold music) is converted here, once, frame by
frame as it is queued (``media/codecs/convert.py``, the resampling state kept per reply
and for the background): the frames queued, counted, recalled and kept are all of one
format, so barge-ins and what was heard work the same at any rate.

The ticker takes one frame per 20 ms. The queue can be *held* (before the call is
answered: the greeting waits), *paused* (caller speech started: maybe a barge-in),
*ducked* (caller speech not yet told a barge-in or a backchannel: the replies play on
:attr:`Playout.duck_db` softer) and *cancelled* per reply (the barge-in was real).
Cancelling returns the text the caller actually heard (ducked audio counts: it went
out): from TTS alignment where the chunks carry it, otherwise estimated from the audio
played at :data:`CHARS_PER_SECOND`, cut back to a word boundary.

Who needs to know when a reply's first frame goes out (latency metrics)
registers a callback with :meth:`Playout.when_first_played` instead of
polling: it runs from the tick that sends that frame, or with None as soon as
the reply can no longer play (cancelled, forgotten, or finished without audio).
Likewise :meth:`Playout.when_played` reports when a reply's last frame went
out (True) or the reply was dropped first (False): a transfer or hang-up waits
for it, so the caller hears the line before the action.

A reply can be *kept* as it goes out (:meth:`Playout.keep`), up to a few seconds of it,
so that it can start over (:meth:`Playout.rewind`): an opening begun at a pause in the
callee's greeting, who then went on over it (agent/assistant/answering.py), plays again from its
first word once they stop.

*What went out was heard* on SIP, not on a leg that buffers (a Twilio Media
Stream holds what is in flight to the phone). There the call's ``recall``
(:meth:`sipgw.agent.base.CallControl.clear_audio`) drops what the leg holds and says
how many of the last frames sent were never heard. The queue asks it when it is
paused (caller speech: the frames come back to the head of the queue, so a
resume plays them and a barge-in drops them) and when a reply is cancelled;
either way those frames no longer count as heard. It reaches back
:data:`RECALL_FRAMES` frames.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TypeAlias

from sipgw.agent.services.tts.reframe import Reframer
from sipgw.agent.talk import TalkTally
from sipgw.media.codecs.base import ULAW_8K, AudioFormat
from sipgw.media.codecs.convert import Reformat
from sipgw.media.g711 import softer

__all__ = [
    "CHARS_PER_SECOND",
    "FirstFrameCallback",
    "PlayedCallback",
    "Playout",
    "PlayoutState",
    "RECALL_FRAMES",
    "played",
]

FirstFrameCallback: TypeAlias = Callable[[float | None], None]
"""Receives when a reply's first frame went out, or None if it never will."""
PlayedCallback: TypeAlias = Callable[[bool], None]
"""Receives True once a reply's audio has all gone out, False if it was dropped first."""

FRAME_SECONDS = 0.020
CHARS_PER_SECOND = 15.0
"""Speaking rate used when TTS gives no alignment (a typical voice: ~15 chars/s)."""
RECALL_FRAMES = 50
"""The last frames sent that a recall can take back (1 s; a paced leg holds a few)."""


class _Source:
    """One reply's incoming audio in one format: re-cut into that format's frames, each
    converted to the playout's (when they differ, with the state kept across frames)."""

    __slots__ = ("convert", "format", "reframer")

    def __init__(self, audio: AudioFormat, out: AudioFormat) -> None:
        self.format = audio
        self.reframer = Reframer(audio.frame_bytes)
        self.convert = None if audio == out else Reformat(audio, out)

    def push(self, audio: bytes) -> list[bytes]:
        frames = self.reframer.push(audio)
        convert = self.convert
        return frames if convert is None else [convert.convert(f) for f in frames]

    def flush(self) -> bytes | None:
        tail = self.reframer.flush(self.format.silence_octet)
        convert = self.convert
        return tail if tail is None or convert is None else convert.convert(tail)


class _Background:
    """Background frames in another format than the playout's, converted as they play."""

    __slots__ = ("_convert", "_frames")

    def __init__(self, frames: Iterator[bytes], audio: AudioFormat, out: AudioFormat) -> None:
        self._frames = frames
        self._convert = Reformat(audio, out)

    def __iter__(self) -> Iterator[bytes]:
        return self

    def __next__(self) -> bytes:
        return self._convert.convert(next(self._frames))


@dataclass(eq=False)
class _Reply:
    text: str = ""
    aligned_chars: int = 0
    has_alignment: bool = False
    frames_queued: int = 0
    frames_played: int = 0
    chars_played: int = 0
    audio_done: bool = False
    first_played_at: float | None = None
    source: _Source | None = None  # the audio coming in, in its format
    first_frame_callbacks: list[FirstFrameCallback] | None = None
    played_callbacks: list[PlayedCallback] | None = None
    kept: list[tuple[bytes, int]] | None = None  # its frames that went out (keep)
    keep_limit: int = 0

    def played(self, complete: bool) -> None:
        """Run (once) the callbacks waiting for the end of the audio."""
        callbacks, self.played_callbacks = self.played_callbacks, None
        for callback in callbacks or ():
            callback(complete)

    def first_frame(self, when: float | None) -> None:
        """Run (once) the callbacks waiting for the first frame."""
        callbacks, self.first_frame_callbacks = self.first_frame_callbacks, None
        for callback in callbacks or ():
            callback(when)


class Playout:
    """See the module docstring.

    Attributes:
        format: the frames it hands out (the agent's ``audio_format``).
        held: nothing plays while True (until the call is answered).
        on_ready: called when audio arrives in an empty, playing queue (the talkspurt
            fast path: the call may send the first frame before the next tick).
        background: frames played while no reply has audio queued (hold music,
            :mod:`sipgw.agent.transfer.holdmusic`), in :attr:`format` (:meth:`play_background`
            converts others); None = silence. It is no speech: never :attr:`audible`,
            never cut by a barge-in.
        recall: drops what the call's leg holds unplayed; returns how many of the last
            frames sent that was (see the module docstring). None: nothing to recall.
        talk: told when the replies' audio starts and stops going out (the background is
            no speech), :mod:`sipgw.agent.talk`; None: nobody counts.
    """

    def __init__(
        self,
        on_ready: Callable[[], None] | None = None,
        recall: Callable[[], int] | None = None,
        format: AudioFormat = ULAW_8K,  # noqa: A002 - the agent's word for it
    ) -> None:
        self.format = format
        self.held = True
        self._paused = False
        self.duck_db: float | None = None
        """While set, the replies' frames go out this much softer (the background not)."""
        self.on_ready = on_ready
        self.recall = recall
        self.background: Iterator[bytes] | None = None
        self._frames: deque[tuple[str, bytes, int]] = deque()
        self._sent: deque[tuple[str, bytes, int]] = deque(maxlen=RECALL_FRAMES)
        self._replies: dict[str, _Reply] = {}
        self.talk: TalkTally | None = None
        self._talking = False  # the last tick sent a reply's frame (told to talk)

    @property
    def paused(self) -> bool:
        """Nothing plays while True (caller speech; playback resumes where it was).

        Pausing recalls what the leg holds unheard: it plays again on the resume.
        """
        return self._paused

    @paused.setter
    def paused(self, value: bool) -> None:
        if value and not self._paused:
            for entry in reversed(self._take_back()):
                self._frames.appendleft(entry)
        self._paused = value

    def release(self) -> None:
        """Stop holding (:attr:`held`): queued audio plays from now on, ``on_ready`` telling
        the media layer that it may send it at once."""
        self.held = False
        if self.pending and self.on_ready is not None:
            self.on_ready()

    # -- filling

    def begin(self, reply_id: str) -> None:
        """Announce a reply (before its text or audio)."""
        self._replies.setdefault(reply_id, _Reply())

    def add_text(self, reply_id: str, text: str) -> None:
        """Text sent to TTS for this reply (a sentence)."""
        reply = self._replies.setdefault(reply_id, _Reply())
        reply.text = f"{reply.text} {text}".strip() if reply.text else text.strip()

    def push_audio(
        self,
        reply_id: str,
        audio: bytes,
        text: str | None = None,
        format: AudioFormat | None = None,  # noqa: A002 - the agent's word for it
    ) -> None:
        """Audio for a reply; ``text``: the characters it speaks, when TTS aligned it;
        ``format``: the audio's, when it is not :attr:`format` (it is converted: see the
        module docstring)."""
        reply = self._replies.get(reply_id)
        if reply is None:
            return  # cancelled: late audio is dropped
        if text is not None:
            reply.has_alignment = True
            reply.aligned_chars += len(text)
        was_empty = not self._frames
        source = reply.source
        audio_format = format or self.format
        if source is None or (source.format is not audio_format and source.format != audio_format):
            source = self._switch(reply_id, reply, audio_format)  # identity first: the usual
        for frame in source.push(audio):
            self._queue(reply_id, reply, frame)
        if was_empty and self._frames and self.on_ready is not None and self.audible:
            self.on_ready()  # audio after silence: the media layer may send it at once

    def finish(self, reply_id: str) -> None:
        """The reply's audio is complete (its last partial frame is padded with silence)."""
        reply = self._replies.get(reply_id)
        if reply is None:
            return
        tail = reply.source.flush() if reply.source is not None else None
        if tail is not None:
            self._queue(reply_id, reply, tail)
        reply.audio_done = True
        if reply.frames_queued == 0:
            reply.first_frame(None)  # no audio at all: nothing will ever play
        if reply.frames_played >= reply.frames_queued:
            reply.played(True)

    def _switch(self, reply_id: str, reply: _Reply, audio: AudioFormat) -> _Source:
        """The reply's audio comes in ``audio`` from now on (a recorded line after its TTS
        audio): the partial frame of the format before is padded and queued first."""
        if reply.source is not None:
            tail = reply.source.flush()
            if tail is not None:
                self._queue(reply_id, reply, tail)
        reply.source = _Source(audio, self.format)
        return reply.source

    def play_background(
        self,
        frames: Iterator[bytes] | None,
        format: AudioFormat = ULAW_8K,  # noqa: A002 - the agent's word for it
    ) -> None:
        """Play ``frames`` (20 ms each, in ``format``) whenever no reply has audio queued;
        None: silence again (:attr:`background`)."""
        if frames is not None and format != self.format:
            frames = _Background(frames, format, self.format)
        self.background = frames

    def _queue(self, reply_id: str, reply: _Reply, frame: bytes) -> None:
        reply.frames_queued += 1
        self._frames.append((reply_id, frame, reply.aligned_chars))

    # -- the tick

    def next_frame(self, now: float) -> bytes | None:
        """The next frame to send, or None (silence)."""
        if self.held or self._paused:
            if self._talking:
                self._silent(now)
            return None
        if not self._frames:
            if self._talking:
                self._silent(now)
            return None if self.background is None else next(self.background)
        if not self._talking and self.talk is not None:
            self._talking = True
            self.talk.agent_started(now)
        entry = self._frames.popleft()
        if self.recall is not None:  # only where a leg can hold audio (50 frames: 8 KB of μ-law)
            self._sent.append(entry)
        reply_id, frame, chars = entry
        reply = self._replies.get(reply_id)
        if reply is not None:
            reply.frames_played += 1
            reply.chars_played = chars
            kept = reply.kept
            if kept is not None:
                if len(kept) < reply.keep_limit:
                    kept.append((frame, chars))
                else:
                    reply.kept = None  # longer than kept: it can no longer start over
            if reply.first_played_at is None:
                reply.first_played_at = now
                if self.talk is not None:
                    self.talk.reply_started(now)
                if reply.first_frame_callbacks is not None:
                    reply.first_frame(now)
            if reply.played_callbacks is not None and reply.audio_done:
                if reply.frames_played >= reply.frames_queued:
                    reply.played(True)
        duck = self.duck_db
        if duck is not None:
            return softer(frame, duck, linear=self.format.encoding != "ulaw")
        return frame

    def _silent(self, now: float) -> None:
        self._talking = False
        if self.talk is not None:
            self.talk.agent_stopped(now)

    # -- control

    @property
    def audible(self) -> bool:
        """Agent audio is queued and would play now (not held, not paused)."""
        return bool(self._frames) and not self.held and not self._paused

    @property
    def pending(self) -> bool:
        """Agent audio is queued (whether or not it is paused)."""
        return bool(self._frames)

    def first_played_at(self, reply_id: str) -> float | None:
        """When the reply's first frame went out (its first RTP packet)."""
        reply = self._replies.get(reply_id)
        return None if reply is None else reply.first_played_at

    def played_ms(self, reply_id: str) -> int:
        """Milliseconds of the reply's audio that went out so far (whole frames; 0 if unknown)."""
        reply = self._replies.get(reply_id)
        return 0 if reply is None else round(reply.frames_played * FRAME_SECONDS * 1000)

    def when_first_played(self, reply_id: str, callback: FirstFrameCallback) -> None:
        """Call ``callback(when)`` once the reply's first frame goes out.

        ``callback(None)`` instead if the reply is cancelled or forgotten before
        that, finishes without any audio, or is unknown. At once if the first
        frame already went out (or never will).
        """
        reply = self._replies.get(reply_id)
        if reply is None or reply.first_played_at is not None:
            callback(None if reply is None else reply.first_played_at)
        elif reply.audio_done and reply.frames_queued == 0:
            callback(None)
        elif reply.first_frame_callbacks is None:
            reply.first_frame_callbacks = [callback]
        else:
            reply.first_frame_callbacks.append(callback)

    def when_played(self, reply_id: str, callback: PlayedCallback) -> None:
        """Call ``callback(True)`` once all of the reply's audio has gone out.

        That is after :meth:`finish` and the tick that sends its last frame (at
        once if that already happened, or the reply is unknown: it finished and
        was forgotten). ``callback(False)`` if the reply is dropped before
        (:meth:`cancel`, :meth:`drop`).
        """
        reply = self._replies.get(reply_id)
        if reply is None or (reply.audio_done and reply.frames_played >= reply.frames_queued):
            callback(True)
        elif reply.played_callbacks is None:
            reply.played_callbacks = [callback]
        else:
            reply.played_callbacks.append(callback)

    def finished(self, reply_id: str) -> bool:
        """All of the reply's audio arrived and was played (or the reply is gone)."""
        reply = self._replies.get(reply_id)
        return reply is None or (reply.audio_done and reply.frames_played >= reply.frames_queued)

    def heard_text(self, reply_id: str) -> str:
        """The prefix of the reply's text the caller has heard so far."""
        reply = self._replies.get(reply_id)
        if reply is None or not reply.text:
            return ""
        if reply.audio_done and reply.frames_played >= reply.frames_queued:
            return reply.text
        if reply.has_alignment:
            chars = reply.chars_played
        else:
            chars = int(reply.frames_played * FRAME_SECONDS * CHARS_PER_SECOND)
        if chars >= len(reply.text):
            return reply.text
        cut = reply.text[:chars]
        if chars < len(reply.text) and not reply.text[chars].isspace():
            cut = cut.rsplit(" ", 1)[0] if " " in cut else ""  # a word half-said was not heard
        return cut.strip()

    def keep(self, reply_id: str, seconds: float) -> None:
        """Keep the reply's frames as they go out, ``seconds`` of them at most, so that it
        can start over (:meth:`rewind`); 0: keep none and forget those kept. Only from its
        first frame: a reply that has begun to play keeps nothing."""
        reply = self._replies.get(reply_id)
        if reply is None:
            return
        reply.keep_limit = max(0, round(seconds / FRAME_SECONDS))
        reply.kept = [] if reply.keep_limit and reply.frames_played == 0 else None

    def rewindable(self, reply_id: str) -> bool:
        """The reply can start over: every frame of it that went out was kept, and some of
        its audio has not gone out yet (a reply heard whole is not said again)."""
        reply = self._replies.get(reply_id)
        return (
            reply is not None
            and reply.kept is not None
            and not (reply.audio_done and reply.frames_played >= reply.frames_queued)
        )

    def rewind(self, reply_id: str) -> bool:
        """Start the reply over: the frames of it that went out return to the head of the
        queue, ahead of the rest of it, and count as not heard. False (nothing changes)
        unless it is :meth:`rewindable`."""
        if not self.rewindable(reply_id):
            return False
        reply = self._replies[reply_id]
        assert reply.kept is not None
        for frame, chars in reversed(reply.kept):
            self._frames.appendleft((reply_id, frame, chars))
        reply.kept.clear()
        reply.frames_played = reply.chars_played = 0
        return True

    def cancel(self, reply_id: str) -> str:
        """Drop the reply's remaining audio and end a pause (barge-in); returns what was heard
        (frames the leg held unheard recalled first)."""
        self._take_back()
        heard = self.drop(reply_id)
        self._paused = False
        return heard

    def _take_back(self) -> list[tuple[str, bytes, int]]:
        """Recall what the leg holds: the frames sent but not heard, oldest first, no longer
        counted as played (their replies' heard text ends before them)."""
        unheard = self.recall() if self.recall is not None else 0
        taken = [self._sent.pop() for _ in range(min(unheard, len(self._sent)))]
        for reply_id in {entry[0] for entry in taken}:
            reply = self._replies.get(reply_id)
            if reply is None:
                continue
            back = sum(1 for entry in taken if entry[0] == reply_id)
            reply.frames_played -= back
            if reply.kept and back:
                del reply.kept[-back:]  # they play again: kept again when they go out
            last = next((chars for rid, _, chars in reversed(self._sent) if rid == reply_id), 0)
            reply.chars_played = last if reply.frames_played > 0 else 0
        return [entry for entry in reversed(taken) if entry[0] in self._replies]

    def drop(self, reply_id: str) -> str:
        """Drop the reply's remaining audio, whole frames only (a filler line cut short
        when the answer arrives); a pause stays. Returns what was heard."""
        heard = self.heard_text(reply_id)
        reply = self._replies.pop(reply_id, None)
        if reply is not None:
            reply.first_frame(None)
            reply.played(False)
        if self._frames:
            self._frames = deque(f for f in self._frames if f[0] != reply_id)
        return heard

    def clear(self) -> None:
        """The call ended: forget every reply, its queued audio and the callbacks waiting
        on it, uncalled (no one listens any more). A reply whose task was cancelled before
        it started never finishes, and its callbacks (bound methods of the parts that
        hold this playout) would keep them all in a reference cycle."""
        self._replies.clear()
        self._frames.clear()
        self._sent.clear()

    def forget(self, reply_id: str) -> None:
        """Drop the bookkeeping of a reply that finished playing."""
        if self.finished(reply_id):
            reply = self._replies.pop(reply_id, None)
            if reply is not None:
                reply.first_frame(None)
                reply.played(True)


async def played(playout: Playout, reply_id: str) -> bool:
    """Wait until the reply's audio has all gone out (True) or was dropped (False)
    (:meth:`Playout.when_played`)."""
    future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()

    def resolve(complete: bool) -> None:
        if not future.done():
            future.set_result(complete)

    playout.when_played(reply_id, resolve)
    return await future


class PlayoutState:
    """What the turn-taking machine reads of any agent's playout (both AI agents' state)."""

    __slots__ = ("playout",)

    def __init__(self, playout: Playout) -> None:
        self.playout = playout

    @property
    def audible(self) -> bool:
        """Agent audio is queued and playing (not held, not paused)."""
        return self.playout.audible

    @property
    def pending(self) -> bool:
        """Agent audio is queued, playing or paused."""
        return self.playout.pending

    def over_caller(self) -> bool:
        """Agent audio plays over the caller, as the voice detector is told: audible and
        not ducked (a ducked reply leaves the caller the floor until their words decide)."""
        playout = self.playout
        return playout.audible and playout.duck_db is None
