"""``<Connect><Stream>``, ``<Start><Stream>`` and ``<Stop><Stream>``: the call's audio to the
app's WebSocket (:mod:`sipgw.agent.twiml.streams`), both ways or forked, and Twilio's stream
status callbacks."""

from __future__ import annotations

import logging
import time
from typing import Literal

from sipgw.agent.twiml.program import absolute_url
from sipgw.agent.twiml.statusposts import callback_url
from sipgw.agent.twiml.streams import MediaStream, StreamFailed
from sipgw.agent.twiml.verbs.context import Fatal, VerbContext, VerbHandler
from sipgw.agent.twiml.webhook import new_sid
from sipgw.twilio.document import StopStream, StreamNoun
from sipgw.twilio.streamside import StreamSide
from sipgw.twilio.streamstatus import StreamEvent, StreamStatus

log = logging.getLogger("sipgw.agent")


class StreamVerbs(VerbHandler):
    """The call's streams: the bidirectional one (:attr:`connected`, while ``<Connect>``
    runs) and the forks (:attr:`forks`)."""

    def __init__(self, ctx: VerbContext) -> None:
        super().__init__(ctx)
        self.connected: MediaStream | None = None
        self.forks: list[tuple[MediaStream, StreamNoun]] = []
        self._statuses: dict[MediaStream, StreamStatus] = {}

    def stream_url(self, url: str) -> str:
        assert self.ctx.program is not None
        try:
            resolved = absolute_url(self.ctx.program.url, url)
        except ValueError as exc:
            raise Fatal(f"<Stream url>: {exc}") from None
        return resolved

    def _new_stream(self, noun: StreamNoun, bidirectional: bool) -> MediaStream:
        tracks: tuple[Literal["inbound", "outbound"], ...] = ("inbound",)
        if not bidirectional:
            tracks = {"inbound_track": ("inbound",), "outbound_track": ("outbound",),
                      "both_tracks": ("inbound", "outbound")}[noun.track]  # type: ignore[assignment]  # fmt: skip
        side = StreamSide(
            new_sid("MZ"), self.call_sid, self.settings.identity.account_sid,
            noun.parameters, tracks, bidirectional,
        )  # fmt: skip
        stream = MediaStream(
            self.stream_url(noun.url), side, self.settings.identity,
            self.settings.stream_open_timeout, self.call.call_id,
            on_audio=self._app_audio if bidirectional else None,
            on_open=lambda: self.stream_event(stream, "stream-started"),
        )  # fmt: skip
        url, base = None, self.ctx.program.url  # type: ignore[union-attr]
        if noun.status_callback:
            url = callback_url(base, noun.status_callback, self.call.call_id,
                               "<Stream statusCallback>")  # fmt: skip
        if url is not None:
            self._statuses[stream] = StreamStatus(
                url, noun.status_callback_method, self.settings.identity.account_sid,
                self.call_sid, side.stream_sid, noun.name,
            )  # fmt: skip
        return stream

    def stream_event(self, stream: MediaStream, event: StreamEvent, error: str = "") -> None:
        """Twilio's stream status callback for ``event``, if the stream asked for them."""
        status = self._statuses.get(stream)
        if status is not None and self.ctx.poster is not None:
            self.ctx.poster.post(status, status.event(event, time.time(), error))

    def _app_audio(self) -> None:
        """The app's audio came to an empty buffer: its frame goes now, ahead of its tick,
        within a talkspurt too (the app streams in real time: it waits no tick's phase)."""
        self.call.audio_ready(continuing=True)

    async def connect(self, noun: StreamNoun) -> None:
        stream = self._new_stream(noun, bidirectional=True)
        self.steps.append("connect")
        self.ctx.note("stream", url=stream.url, stream_sid=stream.side.stream_sid)
        self.connected = stream
        try:
            await stream.run()
        except StreamFailed as exc:
            self.stream_event(stream, "stream-error", str(exc))
            raise Fatal(str(exc)) from None
        finally:
            self.connected = None
            side = stream.side
            if side.clears or side.bad_messages or side.frames_shed:
                self.ctx.note("stream_closed", clears=side.clears, bad_messages=side.bad_messages,
                              frames_shed=side.frames_shed)  # fmt: skip
            await stream.stop()
            self.stream_event(stream, "stream-stopped")
        log.info("[%s] the app closed its stream: the TwiML goes on", self.call.call_id)

    def fork(self, noun: StreamNoun) -> None:
        stream = self._new_stream(noun, bidirectional=False)
        self.steps.append("start")
        self.ctx.note("fork", url=stream.url, track=noun.track)
        self.forks.append((stream, noun))

        async def serve() -> None:
            try:
                await stream.run()
            except StreamFailed as exc:  # a fork failing does not end the call (as on Twilio)
                log.warning("[%s] <Start><Stream>: %s", self.call.call_id, exc)
                self.ctx.note("fork_failed", reason=str(exc))
                self.stream_event(stream, "stream-error", str(exc))
            else:
                self.stream_event(stream, "stream-stopped")

        self.ctx.spawn(serve())

    async def stop_forks(self, verb: StopStream) -> None:
        """``<Stop><Stream name>``: that fork gets ``stop`` and is closed; from now on not a
        frame of the call goes to it (none is queued after its ``stop``)."""
        self.steps.append("stop")
        chosen = [(s, n) for s, n in self.forks
                  if not verb.name or verb.name in (n.name, s.side.stream_sid)]  # fmt: skip
        if not chosen:
            log.warning("[%s] TwiML <Stop><Stream name=%r>: no such stream", self.call.call_id,
                        verb.name)  # fmt: skip
            self.ctx.note("refused", verb="Stop", why=f"no stream named {verb.name!r}")
            return
        for pair in chosen:
            self.forks.remove(pair)  # the ticker sends it nothing more, from this instant
        for stream, noun in chosen:
            self.ctx.note("fork_stopped", name=noun.name, stream_sid=stream.side.stream_sid)
            await stream.stop()
            self.stream_event(stream, "stream-stopped")
