"""A ``<Dial record>``'s recording in the interpreter: the bridge's recorder made
(:class:`~sipgw.agent.twiml.recording.BridgeRecorder`), the WAV written at the bridge's end,
its fields added to the ``<Dial action>``'s and its status callbacks posted."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import replace

from sipgw.agent.twiml.dial.bridge import BridgedDial
from sipgw.agent.twiml.dial.rules import DialResult
from sipgw.agent.twiml.queues.queuedial import QueueDial
from sipgw.agent.twiml.recording import BridgeRecorder, ulaw_wav
from sipgw.agent.twiml.verbs.context import VerbContext, VerbHandler
from sipgw.agent.twiml.verbs.record import RecordVerb, time_ago
from sipgw.agent.twiml.webhook import new_sid
from sipgw.twilio.document import Dial

log = logging.getLogger("sipgw.agent")


class DialRecording(VerbHandler):
    """A bridged ``<Dial record>``'s (or ``<Dial><Queue>``'s) recording."""

    def __init__(self, ctx: VerbContext, record: RecordVerb) -> None:
        super().__init__(ctx)
        self.record = record

    def bridge_recorder(
        self, verb: Dial, refuse: Callable[[str, str], None]
    ) -> Callable[[], BridgeRecorder] | None:
        """What makes a bridged ``<Dial record>``'s recorder; None: not recorded (not asked
        for, or refused with ``refuse``: no recording directory and URL)."""
        if verb.record == "do-not-record":
            return None
        if self.settings.recording_dir is None or not self.settings.recording_url:
            refuse("Dial record", "no recording directory and URL")
            return None

        def recorder() -> BridgeRecorder:
            made = BridgeRecorder(verb.record.endswith("-dual"), float(verb.time_limit),
                                  verb.recording_track, verb.trim, sid=new_sid("RE"))  # fmt: skip
            made.on_start = lambda: self._dial_recording_status(verb, made, "in-progress", {})
            return made

        return recorder

    def _dial_recording_status(
        self, verb: Dial, recorder: BridgeRecorder, status: str, extra: dict[str, str]
    ) -> None:
        """``status`` of a ``<Dial record>``'s recording (:meth:`RecordVerb.recording_status`)."""
        self.record.recording_status("Dial", verb, status, {
            "RecordingSid": recorder.sid, "RecordingChannels": str(recorder.channels),
            "RecordingSource": "DialVerb", **extra,
        })  # fmt: skip

    def refuse(self, name: str, why: str) -> None:
        log.warning("[%s] TwiML <Dial record>: refused (no SIPGW_TWIML_RECORDING_DIR and _URL)",
                    self.call.call_id)  # fmt: skip
        self.ctx.note("refused", verb=name, why=why)

    def with_recording(
        self, dialing: BridgedDial | QueueDial, result: DialResult, verb: Dial
    ) -> DialResult:
        """``result`` with the bridge's recording written and its fields added (none when
        nothing was recorded), and ``completed`` posted to the verb's
        ``recordingStatusCallback``; the recording is taken: written once."""
        relay = dialing.relay
        recorder = relay.recorder if relay is not None else None
        bridged_at = relay.answered_at if relay is not None else None
        if relay is not None:
            relay.recorder = None
        settings = self.settings
        if recorder is None or settings.recording_dir is None:
            return result
        if not recorder.seconds:  # never bridged, or silent throughout (trimmed away)
            if recorder.started:
                self._dial_recording_status(verb, recorder, "absent", {})
            return result
        sid = recorder.sid = recorder.sid or new_sid("RE")
        url = self.write_recording(sid, ulaw_wav(recorder.audio(), recorder.channels),
                                   "<Dial record>")  # fmt: skip
        if url is None:
            return result
        seconds = str(round(recorder.seconds))
        self.ctx.note("record", recording_sid=sid, verb="Dial", channels=recorder.channels,
                      seconds=round(recorder.seconds, 2))  # fmt: skip
        fields = (("RecordingUrl", url), ("RecordingSid", sid), ("RecordingDuration", seconds))
        loop_now = asyncio.get_running_loop().time()
        self._dial_recording_status(verb, recorder, "completed", {
            "RecordingUrl": url, "RecordingDuration": seconds,
            "RecordingStartTime": time_ago(
                recorder.seconds if bridged_at is None else loop_now - bridged_at
            ),
        })  # fmt: skip
        return replace(result, recording=fields)
