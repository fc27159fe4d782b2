"""A recording session's agent: each participant's stream transcribed, nothing said back.

A Session Recording Client records a call to the gateway (RFC 7866; the app answers it:
:mod:`sipgw.app.srs`): one RTP stream per participant, each labelled, and metadata saying
who sends each. :class:`SrsAgent` opens one streaming speech-to-text session
per stream (:meth:`~SrsAgent.open_streams`, before the answer: a service that
cannot be reached gets the SRC a 503), takes each stream's 20 ms frames
(:meth:`~SrsAgent.on_stream_frame`; silence for a tick without audio, so each
session's clock runs and its turns end) and writes each finished utterance to the call
record with who said it: a ``speech`` line with the stream's ``label``, the participant's
``participant_id``, ``aor`` and ``name`` (from the metadata), the ``text`` and its
``confidence``. The gateway's feed turns each into a ``call.transcript`` webhook
(docs/webhooks.md). New metadata (a re-INVITE's or UPDATE's) renames the streams' speakers
from then on (:meth:`~SrsAgent.update_parties`, a ``participants_updated`` line). A stream
added during the session (a participant joins) gets a session of its own
(:meth:`~SrsAgent.add_streams`, a ``streams_added`` line), and one removed ends its session,
its last words kept (:meth:`~SrsAgent.close_stream`, a ``stream_ended`` line). Its
class name makes it ``srs`` where the gateway names agents (the feed, the webhooks).

With an assist prompt, each utterance also goes to a chat model that may answer with a
suggestion for the contact centre's agent (:mod:`sipgw.agent.srs.assist`): a ``suggestion``
line of the record (``text``, and the ``utterances`` it read), posted as ``call.suggestion``.

It never speaks (:meth:`next_frame` is None: the streams are ``recvonly``), and its
:meth:`on_caller_frame` is unused: frames come by stream.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Final, Protocol, runtime_checkable

from sipgw.agent.base import Agent, CallControl
from sipgw.agent.record import CallRecord
from sipgw.agent.services.llm.base import ChatLLM
from sipgw.agent.services.stt.base import (
    SpeechToText,
    SttConnectError,
    SttFailed,
    SttPartialTranscript,
    SttSpeechStarted,
    SttTurnEnded,
)
from sipgw.agent.services.stt.streams import StreamSessions
from sipgw.agent.srs.assist import AssistAdvisor, Heard

__all__ = [
    "STOP_WAIT",
    "RecordedParty",
    "RecordedStreams",
    "SrsAgent",
]

log = logging.getLogger("sipgw.agent")

STOP_WAIT: Final = 1.5
"""Seconds a closing transcriber waits for the last words of the turns under way."""
_SILENCE = b"\xff" * 160  # 20 ms of μ-law silence


@dataclass(frozen=True, slots=True)
class RecordedParty:
    """One recorded stream and who speaks on it, as the recording's metadata says.

    Attributes:
        label: the stream's SDP label (``a=label``), unique in the session.
        participant_id: the participant's metadata identifier ("" when unknown).
        aor: its address of record ("" when unknown).
        name: its display name ("" when none given).
    """

    label: str
    participant_id: str = ""
    aor: str = ""
    name: str = ""


@runtime_checkable
class RecordedStreams(Protocol):
    """An agent of recording sessions (its factory declares ``recording_sessions``): it is
    given the streams and their frames rather than one caller's."""

    async def open_streams(self, parties: Sequence[RecordedParty]) -> None:
        """Get ready for these streams (before the answer); raises to refuse the call."""
        ...

    def on_stream_frame(self, label: str, frame: bytes | None) -> None:
        """20 ms of the stream labelled ``label`` (None: nothing arrived this tick)."""
        ...

    def update_parties(self, parties: Sequence[RecordedParty]) -> None:
        """New metadata: who speaks on each stream from now on."""
        ...

    async def add_streams(self, parties: Sequence[RecordedParty]) -> list[str]:
        """Streams added during the session: the labels of those it is ready for (the
        others are refused)."""
        ...

    async def close_stream(self, label: str) -> None:
        """The stream ``label`` was removed: its last words, then no more."""
        ...


class SrsAgent(Agent):
    """One recording session (see the module docstring).

    Args:
        call: the call (its id, caller and called for the record's first line).
        open_stt: makes one speech-to-text session (one per stream).
        record: the call record its utterances go to.
        assist: a maker of the chat model's client (one per call, closed with it) and the
            system prompt of agent assist; None: none.
    """

    record: CallRecord

    def __init__(
        self,
        call: CallControl,
        open_stt: Callable[[], SpeechToText],
        record: CallRecord,
        assist: tuple[Callable[[], ChatLLM], str] | None = None,
    ) -> None:
        self.advisor: AssistAdvisor | None = None
        if assist is not None:
            open_llm, prompt = assist
            self.advisor = AssistAdvisor(open_llm(), prompt, self._suggested, call.call_id)
        self.call = call
        self.open_stt = open_stt
        self.record = record
        self.parties: dict[str, RecordedParty] = {}
        self.streams = StreamSessions()
        self.sessions = self.streams.sessions
        self.utterances = 0
        """Utterances written so far."""
        self.closed = False

    async def prepare(self) -> None:
        """The record's first line; the sessions open with the streams."""
        call = self.call
        self.record.write(
            {"type": "call", "call_id": call.call_id, "caller": call.caller,
             "called": call.called, "direction": call.direction, "leg": call.leg,
             "started": self.record.started, "recording_session": True}
        )  # fmt: skip

    async def open_streams(self, parties: Sequence[RecordedParty]) -> None:
        """One speech-to-text session per stream, each connected.

        Raises:
            SttConnectError: a session could not be opened (the others are closed).
        """
        self._write_parties("participants", parties)
        for party in parties:
            try:
                self.sessions[party.label] = await self._connect()
            except SttConnectError:
                await self.streams.close_sessions()
                raise
        for label, stt in self.sessions.items():
            self.streams.read(label, self._pump(label, stt))

    async def add_streams(self, parties: Sequence[RecordedParty]) -> list[str]:
        """A session for each stream added during the call (RFC 7866 §8.1: a participant
        joins); the labels of those opened, in order. A stream whose session cannot be
        opened, or whose label is in use, is left out (logged; the app rejects it)."""
        opened: list[RecordedParty] = []
        for party in parties:
            if party.label in self.sessions or self.closed:
                log.warning("[%s] stream %s: not added (its label is in use, or the call "
                            "ended)", self.call.call_id, party.label)  # fmt: skip
                continue
            try:
                stt = await self._connect()
            except SttConnectError as exc:
                log.warning("[%s] stream %s: the speech-to-text could not be opened: %s",
                            self.call.call_id, party.label, exc)  # fmt: skip
                continue
            if self.closed:  # ended while it connected
                with contextlib.suppress(Exception):
                    await stt.close()
                break
            self.sessions[party.label] = stt
            self.streams.read(party.label, self._pump(party.label, stt))
            opened.append(party)
        if opened:
            self._write_parties("streams_added", opened)
        return [party.label for party in opened]

    async def close_stream(self, label: str) -> None:
        """The stream ``label`` was removed (port 0 in the SRC's new offer): its turn under
        way ends with the words heard so far (within :data:`STOP_WAIT`), its session closes;
        the other streams go on."""
        if label not in self.sessions or self.closed:
            return
        await self.streams.close_stream(label, STOP_WAIT)
        self.record.write({"type": "stream_ended", "label": label})

    async def _connect(self) -> SpeechToText:
        """One speech-to-text session, connected.

        Raises:
            SttConnectError: it could not be (the session is closed).
        """
        stt = self.open_stt()
        try:
            await stt.connect()
        except SttConnectError:
            with contextlib.suppress(Exception):
                await stt.close()
            raise
        return stt

    def update_parties(self, parties: Sequence[RecordedParty]) -> None:
        """Who speaks on each stream from now on (a stream not named keeps its speaker)."""
        self._write_parties("participants_updated", parties)

    def _write_parties(self, kind: str, parties: Sequence[RecordedParty]) -> None:
        for party in parties:
            self.parties[party.label] = party
        self.record.write({"type": kind, "streams": [asdict(p) for p in parties]})

    def on_stream_frame(self, label: str, frame: bytes | None) -> None:
        """20 ms of the stream ``label`` to its session (silence for None)."""
        stt = self.sessions.get(label)
        if stt is not None and not self.closed:
            stt.send_audio(_SILENCE if frame is None else frame)

    def on_caller_frame(self, frame: bytes | None) -> None:
        """Unused: a recording session's frames come by stream (:meth:`on_stream_frame`)."""

    def next_frame(self) -> bytes | None:
        """Nothing: the streams are received only."""
        return None

    async def _pump(self, label: str, stt: SpeechToText) -> None:
        async for event in stt.events():
            if isinstance(event, (SttSpeechStarted, SttPartialTranscript)):
                self.streams.turn(label, under_way=True)
            elif isinstance(event, SttTurnEnded):
                self.streams.turn(label, under_way=False)
                if event.text.strip():
                    self._said(label, event)
            elif isinstance(event, SttFailed):
                log.warning("[%s] stream %s: the speech-to-text failed: %s",
                            self.call.call_id, label, event.reason)  # fmt: skip
                why = f"the speech-to-text failed: {event.reason}"
                self.record.write({"type": "failure", "label": label, "reason": why})

    def _said(self, label: str, event: SttTurnEnded) -> None:
        party = self.parties.get(label, RecordedParty(label))
        words = event.words
        confidence = sum(w.confidence for w in words) / len(words) if words else None
        self.utterances += 1
        self.record.write(
            {"type": "speech", "label": label, "participant_id": party.participant_id,
             "aor": party.aor, "name": party.name, "text": event.text.strip(),
             "confidence": None if confidence is None else round(confidence, 3)}
        )  # fmt: skip
        if self.advisor is not None:
            who = f"{party.name} ({party.aor})" if party.name and party.aor else None
            who = who or party.name or party.aor or f"stream {label}"
            self.advisor.heard(Heard(label, who, event.text.strip()))

    def _suggested(self, text: str, utterances: int) -> None:
        self.record.write({"type": "suggestion", "text": text, "utterances": utterances})

    async def close(self, reason: str = "") -> None:
        """The turns under way end with the words heard so far (within :data:`STOP_WAIT`),
        the sessions close, the record ends. Idempotent."""
        if self.closed:
            return
        self.closed = True
        await self.streams.stop(STOP_WAIT)
        if self.advisor is not None:
            await self.advisor.close()  # the suggestion on the last words, if it comes soon
            with contextlib.suppress(Exception):
                await self.advisor.llm.close()
        self.record.write({"type": "end", "reason": reason, "utterances": self.utterances})
        self.record.close()
