"""A conference's audio, sans-IO: every participant hears the sum of the others.

Theory of operation
-------------------
Each participant's call ticks on the gateway's one 20 ms ticker, as a
:class:`~sipgw.media.bridge.FrameBridge`'s two sides do: it pushes the 20 ms its caller
sent (:meth:`ConferenceMixer.push`, the jitter buffer's playout, in the participant's own
agent format) and pops the 20 ms to send (:meth:`ConferenceMixer.pop`). A *round* takes
one frame from every participant and gives one to every participant; the first pop of a
participant whose output is empty runs the next round, so one round runs per tick
whichever call ticks first, and a frame crosses within one tick. Each direction holds a
few frames at most (``depth``), the oldest dropped if a participant stops popping (its
call on hold) or pushing.

A round, for N participants:

- each speaking participant's frame is turned into linear 16-bit audio at the mix's rate
  once (:class:`~sipgw.media.codecs.convert.Reformat`, the converters' one decision per
  stream), widened to 32 bits with 8 bits of headroom (:data:`HEADROOM`) and added to the
  round's total: 250 participants at full scale cannot overflow it;
- each listener gets the total minus its own contribution (the N-1 mix: never its own
  voice), one subtraction whatever N is, so a round costs O(1) per participant; the
  result is saturated to 16 bits (a loud sum clips at full scale, it never wraps) and
  turned into the listener's format once (from a 16 kHz mix to an 8 kHz listener through
  a half-band low-pass, :class:`~sipgw.media.halfband.Decimator`: what a wideband
  participant says above 4 kHz is not heard folded down; the other way, up, is
  ``audioop.ratecv``'s interpolation);
- a coach (joined ``coaching`` another participant) is not added to the total: its voice
  is added to the coached participant's mix only (a whisper), and it hears the total as
  everybody does; a coach whose participant is not in the room is heard by nobody;
- a muted participant contributes nothing (and still hears the others); an announcement
  (:meth:`ConferenceMixer.announce`: a beep, the app's announcement) is added to the total,
  heard by everybody; what is told one participant (:meth:`ConferenceMixer.tell`: an
  announcement to it, its hold music) is added to its mix only, not to the total nor the
  tap; a deaf participant (:meth:`ConferenceMixer.set_deaf`: held) hears only that;
- an announcement's or a telling's ``done`` is called once its last frame was mixed;
- a listener hearing nothing at all (nobody else spoke) gets None: silence;
- a :attr:`ConferenceMixer.tap` (a recording) gets the whole mix, saturated likewise.

The mix's rate (:attr:`ConferenceMixer.rate`) is the room's to choose
(:func:`~sipgw.media.bridge.room_rate` decides it from the participants' formats) and may
change between rounds (:meth:`ConferenceMixer.set_rate`: a wideband participant joined, or
the last one left); so may a participant's format (:meth:`ConferenceMixer.set_format`).
Each change makes that participant's converters anew (a participant's frames not mixed yet
are dropped with its old format), the announcements still to come are resampled.

Nothing here reads a clock or does I/O; who joins a room and when rounds are asked for
is the app's business (one gateway process's rooms).
"""

from __future__ import annotations

import warnings
from collections import deque
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass, field
from typing import Final

from sipgw.media.codecs.base import AudioFormat
from sipgw.media.codecs.convert import Reformat
from sipgw.media.halfband import Decimator

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop

__all__ = ["HEADROOM", "MAX_PARTICIPANTS", "ConferenceMixer"]

HEADROOM: Final = 8
"""Bits of headroom in the 32-bit sum: 2**8 full-scale voices add up without overflow."""
MAX_PARTICIPANTS: Final = 255
"""Most participants one mixer takes (what :data:`HEADROOM` allows; Twilio's cap is 250)."""

_DOWN: Final = 2.0**-HEADROOM
_UP: Final = float(2**HEADROOM)


Done = Callable[[], None]
"""Called once an announcement's (or a telling's) last frame was mixed."""
_Announced = tuple[bytes, Hashable | None, Done | None]
"""A frame to announce: linear at the mix's rate, who is spared it, and ``done`` on the last."""


@dataclass(slots=True)
class _Seat:
    format: AudioFormat
    to_mix: Reformat
    from_mix: Reformat
    down: Decimator | None = None
    """A 16 kHz mix to this 8 kHz participant: low-passed first (``from_mix`` is 8 kHz on)."""
    muted: bool = False
    deaf: bool = False
    """Hears only what it is told (:meth:`ConferenceMixer.tell`), not the room."""
    coaching: Hashable | None = None
    told: deque[_Announced] = field(default_factory=deque)
    """Frames for it alone, linear at the mix's rate."""
    inbox: deque[bytes | None] = field(default_factory=deque)
    outbox: deque[bytes | None] = field(default_factory=deque)


class ConferenceMixer:
    """The N-1 mix of one conference (see the module docstring).

    Args:
        rate: the mix's sample rate (8000 for narrowband calls, 16000 for wideband; see
            :meth:`set_rate`).
        depth: frames each participant's input and output hold at most.

    Attributes:
        rounds: rounds mixed.
        dropped: frames dropped because a participant did not take (or give) them in time.
    """

    __slots__ = ("_announce", "_format", "_seats", "_silence", "depth", "dropped", "rounds", "tap")

    def __init__(self, rate: int = 8000, depth: int = 3) -> None:
        if depth < 1:
            raise ValueError(f"a mixer holds at least one frame, not {depth}")
        self._format = AudioFormat("pcm_s16le", rate)
        self._silence = bytes(self._format.frame_bytes * 2)
        self._seats: dict[Hashable, _Seat] = {}
        self._announce: deque[_Announced] = deque()
        self.depth = depth
        self.rounds = 0
        self.dropped = 0
        self.tap: Callable[[bytes | None], None] | None = None
        """Gets each round's whole mix (everybody, announcements included: a recording of
        the room), linear 16-bit at the mix's rate; None when nothing was heard."""

    # -- who is in

    def join(
        self, who: Hashable, format: AudioFormat, muted: bool = False,  # noqa: A002
        coaching: Hashable | None = None,
    ) -> None:  # fmt: skip
        """``who`` joins, its frames in ``format`` (its agent's); it hears the others from the
        next round (silence until then); ``coaching``: only that participant hears it.

        Raises:
            ValueError: ``who`` is in already, or the mixer is full.
        """
        if who in self._seats:
            raise ValueError(f"{who!r} is in the conference already")
        if len(self._seats) >= MAX_PARTICIPANTS:
            raise ValueError(f"a conference mixes at most {MAX_PARTICIPANTS} participants")
        seat = _Seat(format, *self._converters(format), muted=muted, coaching=coaching)
        seat.outbox.append(None)  # silence this tick: its first pop runs no extra round
        self._seats[who] = seat

    def leave(self, who: Hashable) -> None:
        """``who`` leaves (what it pushed and was not mixed yet is dropped)."""
        self._seats.pop(who, None)

    @property
    def rate(self) -> int:
        """The mix's sample rate."""
        return self._format.sample_rate

    def set_rate(self, rate: int) -> None:
        """Mix at ``rate`` from the next round: every participant's converters made anew,
        the announcements to come resampled."""
        if rate == self.rate:
            return
        old = self._format
        self._format = AudioFormat("pcm_s16le", rate)
        self._silence = bytes(self._format.frame_bytes * 2)
        for seat in self._seats.values():
            seat.to_mix, seat.from_mix, seat.down = self._converters(seat.format)
        if self._announce:
            self._announce = _resampled(self._announce, old, self._format)
        for seat in self._seats.values():
            if seat.told:
                seat.told = _resampled(seat.told, old, self._format)

    def set_format(self, who: Hashable, format: AudioFormat) -> None:  # noqa: A002
        """``who``'s frames are in ``format`` from now on (those it pushed before, not mixed
        yet, are dropped); what it pops from the next round is too."""
        seat = self._seats[who]
        if seat.format == format:
            return
        seat.format = format
        seat.to_mix, seat.from_mix, seat.down = self._converters(format)
        seat.inbox.clear()

    def formats(self) -> list[AudioFormat]:
        """The participants' formats (in the order they joined)."""
        return [seat.format for seat in self._seats.values()]

    def _converters(self, format: AudioFormat) -> tuple[Reformat, Reformat, Decimator | None]:  # noqa: A002
        """A participant's converters into the mix and out of it at the mix's rate."""
        mix = self._format
        if mix.sample_rate == 2 * format.sample_rate:  # low-passed, then at its rate
            halved = AudioFormat("pcm_s16le", format.sample_rate)
            return Reformat(format, mix), Reformat(halved, format), Decimator()
        return Reformat(format, mix), Reformat(mix, format), None

    def set_muted(self, who: Hashable, muted: bool) -> None:
        """Mute (or unmute) ``who``: a muted participant is heard by nobody."""
        self._seats[who].muted = muted

    def set_coaching(self, who: Hashable, coaching: Hashable | None) -> None:
        """``who`` now coaches ``coaching`` (heard by it only); None: heard by everybody."""
        self._seats[who].coaching = coaching

    def set_deaf(self, who: Hashable, deaf: bool) -> None:
        """``who`` hears only what it is told (its hold music), not the room; or the room again."""
        self._seats[who].deaf = deaf

    def muted(self, who: Hashable) -> bool:
        """Whether ``who`` is muted."""
        return self._seats[who].muted

    def __contains__(self, who: object) -> bool:
        return who in self._seats

    def __len__(self) -> int:
        return len(self._seats)

    # -- the tick

    def push(self, who: Hashable, frame: bytes | None) -> None:
        """The 20 ms ``who``'s caller sent, in its format (None: nothing arrived)."""
        seat = self._seats.get(who)
        if seat is None:
            return
        if len(seat.inbox) >= self.depth:
            seat.inbox.popleft()
            self.dropped += 1
        seat.inbox.append(frame)

    def pop(self, who: Hashable) -> bytes | None:
        """The 20 ms to send ``who``'s caller, in its format (None: silence); runs a round
        when ``who`` has nothing waiting."""
        seat = self._seats.get(who)
        if seat is None:
            return None
        if not seat.outbox:
            self.mix()
        return seat.outbox.popleft() if seat.outbox else None

    def announce(
        self, frames: Iterable[bytes], skip: Hashable | None = None, done: Done | None = None
    ) -> None:
        """Linear frames at the mix's rate (a beep, an announcement) that every participant
        but ``skip`` hears, one a round (after those announced before); ``done`` once the
        last was mixed."""
        _queue(self._announce, frames, skip, done)

    def tell(self, who: Hashable, frames: Iterable[bytes], done: Done | None = None) -> None:
        """Linear frames at the mix's rate that ``who`` alone hears, one a round (after those
        told it before), over the room's mix (or instead of it: :meth:`set_deaf`); ``done``
        once the last was mixed (not if it leaves or is :meth:`untold` first)."""
        _queue(self._seats[who].told, frames, None, done)

    def untell(self, who: Hashable) -> None:
        """Drop what ``who`` was told and has not heard yet (their ``done`` not called)."""
        seat = self._seats.get(who)
        if seat is not None:
            seat.told.clear()

    def pending(self, who: Hashable | None = None) -> int:
        """Frames still to be announced (``who`` None), or told ``who``."""
        if who is None:
            return len(self._announce)
        seat = self._seats.get(who)
        return len(seat.told) if seat is not None else 0

    def mix(self) -> None:
        """One round: a frame from every participant, a frame to every participant."""
        self.rounds += 1
        total: bytes | None = None
        owns: list[tuple[_Seat, bytes | None]] = []
        whispers: dict[int, bytes] = {}  # the coached seat's id -> its coaches' voices
        for seat in self._seats.values():
            frame = seat.inbox.popleft() if seat.inbox else None
            wide: bytes | None = None
            if frame is not None and not seat.muted:
                wide = self._widen(seat.to_mix.convert(frame))
                if seat.coaching is not None:  # a whisper: not in the total
                    coached = self._seats.get(seat.coaching)
                    if coached is not None:
                        held = whispers.get(id(coached))
                        whispers[id(coached)] = wide if held is None else audioop.add(held, wide, 4)
                    wide = None
                else:
                    total = wide if total is None else audioop.add(total, wide, 4)
            owns.append((seat, wide))
        finished: list[Done] = []
        if self._announce:
            frame, skip, done = self._announce.popleft()
            if done is not None:
                finished.append(done)
            wide = self._widen(frame)
            total = wide if total is None else audioop.add(total, wide, 4)
            skipped = self._seats.get(skip) if skip is not None else None
            for i, (seat, own) in enumerate(owns):
                if seat is skipped:  # its own beep: taken out of its mix as its voice is
                    owns[i] = (seat, wide if own is None else audioop.add(own, wide, 4))
        if self.tap is not None:
            self.tap(None if total is None else audioop.lin2lin(audioop.mul(total, 4, _UP), 4, 2))
        for seat, own in owns:
            heard: bytes | None = None
            rest: bytes | None = None
            if total is not None and own is not total:
                rest = total if own is None else audioop.add(total, audioop.mul(own, 4, -1), 4)
            whisper = whispers.get(id(seat))
            if whisper is not None:
                rest = whisper if rest is None else audioop.add(rest, whisper, 4)
            if seat.deaf:
                rest = None
            if seat.told:
                frame, _, done = seat.told.popleft()
                if done is not None:
                    finished.append(done)
                wide = self._widen(frame)
                rest = wide if rest is None else audioop.add(rest, wide, 4)
            if rest is not None:
                pcm = audioop.lin2lin(audioop.mul(rest, 4, _UP), 4, 2)  # saturated to 16 bits
                if seat.down is not None:
                    pcm = seat.down.convert(pcm)
                heard = seat.from_mix.convert(pcm)
            if len(seat.outbox) >= self.depth:
                seat.outbox.popleft()
                self.dropped += 1
            seat.outbox.append(heard)
        for done in finished:
            done()

    def _widen(self, pcm: bytes) -> bytes:
        """16-bit samples as 32-bit ones with :data:`HEADROOM` bits above them."""
        if len(pcm) * 2 != len(self._silence):  # a short or long frame: padded or cut
            pcm = (pcm + self._silence)[: len(self._silence) // 2]
        return audioop.mul(audioop.lin2lin(pcm, 2, 4), 4, _DOWN)


def _queue(
    queue: deque[_Announced], frames: Iterable[bytes], skip: Hashable | None, done: Done | None
) -> None:
    """``frames`` at the end of ``queue``, ``done`` with the last (or at once: none)."""
    listed = list(frames)
    if not listed:
        if done is not None:
            done()
        return
    queue.extend((frame, skip, None) for frame in listed[:-1])
    queue.append((listed[-1], skip, done))


def _resampled(queue: deque[_Announced], old: AudioFormat, new: AudioFormat) -> deque[_Announced]:
    convert = Reformat(old, new)
    return deque((convert.convert(frame), skip, done) for frame, skip, done in queue)
