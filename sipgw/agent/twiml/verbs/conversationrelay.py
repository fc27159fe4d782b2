"""``<Connect><ConversationRelay>``: the call talks with the app's text WebSocket through
the gateway's speech-to-text and text-to-speech (:mod:`sipgw.agent.twiml.relay.setup`,
:mod:`sipgw.agent.twiml.relay.session`); its end's fields go to the next document fetched."""

from __future__ import annotations

import logging
import time

from sipgw.agent.twiml.relay.session import RelaySession
from sipgw.agent.twiml.relay.setup import RelayServices, action_params, relay_session
from sipgw.agent.twiml.streams import StreamFailed
from sipgw.agent.twiml.verbs.context import Fatal, VerbContext, VerbHandler
from sipgw.agent.twiml.verbs.stream import StreamVerbs
from sipgw.twilio.relaytwiml import ConnectRelay

log = logging.getLogger("sipgw.agent")


class ConversationRelayVerb(VerbHandler):
    """``<Connect><ConversationRelay>``; :attr:`relayed` while it runs."""

    def __init__(self, ctx: VerbContext, streams: StreamVerbs) -> None:
        super().__init__(ctx)
        self.streams = streams
        self.relayed: RelaySession | None = None

    async def relay(self, verb: ConnectRelay) -> None:
        """``<Connect><ConversationRelay>`` (:mod:`sipgw.agent.twiml.relay.setup`)."""
        assert self.ctx.session is not None
        self.steps.append("relay")
        url = self.streams.stream_url(verb.relay.url)
        s = self.settings
        services = RelayServices(s.identity, s.stt, s.tts, s.timeout, s.max_audio_bytes,
                                 s.stream_open_timeout, s.stt_spoken, s.echo_guard)  # fmt: skip
        session, notes = relay_session(verb.relay, url, self.call, self.call_sid, services,
                                       self.ctx.session)  # fmt: skip
        if session is None:
            log.error("[%s] TwiML <ConversationRelay> refused: %s", self.call.call_id, notes[0])
            self.ctx.note("refused", verb="Connect><ConversationRelay", why=notes[0])
            return
        for what in notes:
            log.warning("[%s] TwiML <ConversationRelay> %s", self.call.call_id, what)
            self.ctx.note("relay_ignored", attribute=what)
        session.on_ignored = lambda what: self.ctx.note("relay_ignored", attribute=what)
        self.ctx.note("relay", url=url, session_id=session.who.session_id)
        self.relayed, started = session, time.monotonic()
        try:
            end = await session.run()
        except StreamFailed as exc:
            raise Fatal(str(exc)) from None
        finally:
            self.relayed = None
            await session.stop()
        self.ctx.action_params = action_params(session, end, time.monotonic() - started)
        self.ctx.note("relay_ended", prompts=session.prompts, interrupts=session.interrupts,
                      errors=session.errors, echoes=session.echoes, updates=session.updates,
                      echo_frames=session.echo_frames,
                      reconnects=session.reconnects, events_dropped=session.events_dropped,
                      handoff="HandoffData" in self.ctx.action_params)  # fmt: skip
