"""A voice detector that tells the caller's speech from noise, music and voices in the room.

Same decisions as :class:`sipgw.media.voice.vad.VoiceActivityDetector`, per 20 ms μ-law
frame (:class:`~sipgw.media.voice.vad.VadEvent`: speech started, speech ended; ``loud``
per frame; ``start_ms`` loud frames in a row start speech, ``hangover_ms`` quiet
ones end it), but a frame is *loud* only when both hold:

1. **It is speech**: Silero VAD (:mod:`sipgw.media.voice.silero`) says so, with
   hysteresis: probability at least ``threshold`` to become loud, at least
   ``threshold - 0.15`` to stay loud. Stationary and street noise, music and coughs
   score near 0.
2. **It is the caller's voice, not the room's**: babble and a TV are speech too,
   but farther from the phone, so quieter. The detector keeps the levels of the
   room's voices: the speech frames heard while the agent's audio plays (the
   caller listens then; once they interrupt, the agent's audio pauses), over the
   last :data:`ROOM_WINDOW_FRAMES` (10 s). Once it has 1 s of them, speech must
   start at least ``room_margin_db`` above the loudest tenth of them (their 90th
   percentile) and stays speech down to that percentile (the hangover bridges the
   caller's quieter syllables); over the agent's audio, until the caller's level is
   known, :data:`UNKNOWN_CALLER_DB` higher. The window ages with the agent's audio only
   (the agent's frames count its time), so with the agent silent the room's level stays
   known (a TV through a long silence of the caller); its gate holds then only if the
   room talked in the agent's last :data:`RECENT_AGENT_FRAMES` of audio (a caller who
   spoke over the agent, then listened, is no room). The agent's first
   :data:`ROOM_LEARN_FRAMES` of audio, while neither the room's level nor the caller's is
   known, learn the room: voices then are no speech. A room learned while the caller's
   level is unknown is provisional (:attr:`ModelVoiceDetector.room_provisional`): after
   :data:`PROVISIONAL_ROOM_QUIET_FRAMES` (1.5 s, the agent's audio playing or not) with no
   voice within :data:`PROVISIONAL_ROOM_DB` (4 dB) of its level, the voice it was learned
   from has stopped (the caller who said "Hello?" over the greeting, then listened or waited
   for an answer; a TV or babble keeps going), so its frames that loud leave the window;
   the quieter ones (babble under the caller's words) are the room if 1 s of them is left,
   else the agent's next :data:`ROOM_LEARN_FRAMES` of audio learn it again, so a caller who
   talks over the greeting's first 2 s is not taken for the room afterwards. With no
   voices in the room, only ``min_level_dbfs`` applies. The start's gate (and the one over
   which a frame as loud as the caller is not the room's) takes the room's level from the
   frames whose probability is the model's for their own chunk (:attr:`room_start_dbfs`),
   not held from before a chunk it skipped while the caller listened (see
   :data:`LISTENING_STEP`): held, the probability labels the quiet after a word as voice
   too and lowers the room's level, and a TV 5 dB under the caller would pause the agent.
   The hangover's gate keeps every frame's. A caller who talks over the agent without pausing it
   (quieter than the room) feeds the room too, and so does the first 60 ms of each
   interruption (before the agent's audio pauses).
3. **While the agent's audio plays, it is as loud as the caller**: the caller is at the mouthpiece,
   louder than anyone in the room. The detector keeps the levels of the caller's own speech: loud
   frames of started speech heard while the agent has no audio queued, playing or paused (the
   caller's turns, the first one usually right after the greeting; not their interruptions, where a
   voice in the room that paused the agent would count too; nothing before the agent's first audio,
   which may be the room's), the last :data:`CALLER_WINDOW_FRAMES` of them (30 s of speech). With
   the turn machine's room gate (:meth:`ModelVoiceDetector.judge_turns`), a turn's frames wait for
   its final and count only if the gate takes it for the caller's
   (:meth:`ModelVoiceDetector.turn_judged`): a TV talking in the caller's silence, recorded as the
   room's, would pull their level toward its own until its turns were answered. Once it has
   :data:`CALLER_MIN_FRAMES` (0.5 s), a barge-in must start within ``caller_margin_db`` of their
   loudest tenth (90th percentile), and frames that loud and over the room's gate are not the room's
   (the caller talking over the agent does not raise the room's gate; a TV as loud as the caller
   still does). Turns taken while the agent is silent are not held to it, so a caller who speaks
   more softly is still heard, and relearned (with the room gate, from the turns it answers: those
   with 160 ms of their speech within 6 dB of the level). Once it is known, the room's level (both
   gates, and the level in the rule above) is held :data:`CALLER_CLEARANCE_DB` + ``room_margin_db``
   under it: the caller's own words that reached the room's window (over the greeting before a room
   was known, under a reply they talked over) cannot lift its gates over the caller's turns.

**A room that paused the agent raises the start's gate over it**: a start over the agent's
audio whose speech ended with fewer than :data:`FALSE_START_FRAMES` (300 ms) loud frames, or
a provisional start undone, is a false start unless the caller's own speech of 300 ms or more
ended within :data:`FALSE_START_GRACE_FRAMES` (5 s) before it (a fragment of the caller's
words, not the room). For the agent's next :data:`FALSE_START_WINDOW_FRAMES` of audio (30 s)
a start over it (the model's rule's, and the provisional one on the caller's level; not the
one on a frame over the room's loudest, which the room has not reached) needs frames
:data:`FALSE_START_DB` (6 dB) over the room's start gate, but never more than the caller's
level: a TV whose loudest words the model is sure of reach within 5 dB of the caller and
would otherwise pause the agent again and again. A room that never paused the agent costs
nothing.

Speech also starts after :data:`CONFIDENT_FRAMES` (2) loud frames in a row that
the model is sure of (probability :data:`CONFIDENT`), 20 ms before ``start_ms``
(60 ms): the agent's audio pauses sooner, and a pause is undone if the speech ends
before the barge-in commits. (One confident frame is not enough: a TV's words are.)

**A provisional start** (barge-in only): while the agent's audio plays and the
caller's level is known, :data:`PROVISIONAL_FRAMES` frames in a row as loud as the
caller (within ``caller_margin_db`` of their level, ``room_margin_db`` over the
room's voices, and loud to the energy detector: ``margin_db`` over the line's
noise floor, which absorbs street and fan noise) start speech at once, before the
model has said anything: the agent's audio pauses on the caller's level alone.
The model is slow to rise after music or noise (its recurrent state says "no
speech" for 100-300 ms into the caller's words) and steps every 32 ms; the level
is not. The start holds only if the rule above (``start_ms`` loud frames, or two
confident ones) confirms it within :data:`CONFIRM_FRAMES` (240 ms): otherwise
speech ends at once (the agent resumes where it stopped) and no provisional start
comes for :data:`RETRACT_HOLD_FRAMES`. Speech confirmed this way is what the rule
alone would have started, later; a cut (``commit_ms`` of loud speech) counts only
the rule's loud frames, so nothing unconfirmed cuts the agent off.

One frame louder than the room has been under the agent's audio but under the caller's
gate (:class:`~sipgw.media.voice.room_loudness.RoomLoudness`: over its frames' 99.5th
percentile level by 2 dB; loud to the energy detector; the caller's level known) starts
speech provisionally too, the same way: a caller's first syllable is often 10-15 dB under
their level, under the caller's gate, yet over everything the room has said. (Frames as
loud as the caller still need two in a row: a start on one is undone too soon on a short
"excuse me", before its partial can cut.)

With ``low_band`` (off by default), :data:`LOW_BAND_FRAMES` (2) frames in a row whose 100-300
Hz level (:class:`~sipgw.media.voice.low_band.LowBand`) is within :data:`LOW_BAND_MARGIN_DB` of
that band's own room gate (a second :class:`~sipgw.media.voice.room_loudness.RoomLoudness`, fed
the band's level of the frames heard under the agent's audio) and within
:data:`LOW_BAND_SHARE_DB` (6 dB) of the frame's whole level start speech provisionally the
same way, the caller's level known: a nasal first sound ("No, no...") is no louder than
babble on the whole band but rises over it under 300 Hz, on a line that carries 100-300 Hz
(a digital line; an analogue one cuts it, and the gate then learns the filter's skirt). The
band is filtered only while the agent's audio plays, no speech is under way and the
caller's level is known.

The model steps every 256 samples (32 ms), so a frame's decision is the latest
step's: up to 32 ms later than the sound. While the caller listens under the agent's
audio, quieter than their barge-in level (no start can come of such a frame; the model's
answer only says whether it is a voice in the room), it steps one chunk in
:data:`LISTENING_STEP` (2) and the others keep the latest probability. It is not stepped
on a quiet line: after
:data:`QUIET_STEPPED_CHUNKS` chunks in a row :data:`QUIET_DB` under
``min_level_dbfs`` (no frame in them can be speech), the probability is 0 without a
run until sound comes back, and frames that quiet are taken as silence without
decoding them. Given a batch (:class:`~sipgw.media.voice.silero.SileroBatch`),
:meth:`ModelVoiceDetector.feed` queues a frame's chunks there instead (the caller
runs the batch for many calls at once) and :meth:`ModelVoiceDetector.push` of that
frame, after the run, takes their probabilities: the same decisions. Frames arrive
one per 20 ms, in order; ``None`` (nothing received) is silence.
"""

from __future__ import annotations

import math
from bisect import bisect_left, insort
from collections import deque
from collections.abc import Callable
from typing import Final

from sipgw.media import g711
from sipgw.media.voice.low_band import LowBand
from sipgw.media.voice.room_loudness import RoomLoudness
from sipgw.media.voice.silero import (
    CONTEXT,
    SileroBatch,
    SileroModel,
    SileroStream,
    shared_model,
)
from sipgw.media.voice.vad import (
    FRAME_MS,
    SILENT_DBFS,
    ModelVadConfig,
    VadConfig,
    VadEvent,
    VoiceActivityDetector,
)

__all__ = [
    "CALLER_CLEARANCE_DB",
    "CALLER_MIN_FRAMES",
    "CALLER_WINDOW_FRAMES",
    "CONFIRM_FRAMES",
    "FALSE_START_DB",
    "FALSE_START_FRAMES",
    "FALSE_START_GRACE_FRAMES",
    "FALSE_START_WINDOW_FRAMES",
    "LOW_BAND_FLOOR_DB",
    "LOW_BAND_FRAMES",
    "LOW_BAND_MARGIN_DB",
    "LOW_BAND_SHARE_DB",
    "PROVISIONAL_FRAMES",
    "PROVISIONAL_ROOM_DB",
    "PROVISIONAL_ROOM_QUIET_FRAMES",
    "PROVISIONAL_VOICE_AFTER_FRAMES",
    "PROVISIONAL_VOICE_DB",
    "PROVISIONAL_VOICE_FRAMES",
    "PROVISIONAL_VOICE_SPARSE",
    "RETRACT_HOLD_FRAMES",
    "ROOM_WINDOW_FRAMES",
    "ModelVoiceDetector",
]

ROOM_WINDOW_FRAMES: Final = 500
"""How far back (frames: 10 s) the room's voices count."""
CALLER_WINDOW_FRAMES: Final = 1500
"""How many of the caller's latest speech frames (30 s) their level is learned from."""
CALLER_MIN_FRAMES: Final = 25
"""The caller's speech frames (0.5 s) needed before their level gates a barge-in."""
CONFIDENT: Final = 0.9
"""A speech probability this high on :data:`CONFIDENT_FRAMES` loud frames in a row starts
speech before ``start_ms`` (the agent's audio pauses sooner; a pause is undone if the
speech ends before the barge-in commits)."""
CONFIDENT_FRAMES: Final = 2
HYSTERESIS: Final = 0.15
"""How far below ``threshold`` a loud frame's probability may fall and stay loud."""
PROVISIONAL_FRAMES: Final = 2
"""Frames in a row as loud as the caller that start speech provisionally over the agent."""
CONFIRM_FRAMES: Final = 12
"""Frames (240 ms) within which the model's rule must confirm a provisional start."""
RETRACT_HOLD_FRAMES: Final = 25
"""Frames (0.5 s) after a retracted start during which no provisional start comes."""
FALSE_START_FRAMES: Final = 15
"""A start over the agent's audio whose speech ends with fewer loud frames (300 ms) than this
is a false start (the room's): it raises the start's gate (:data:`FALSE_START_DB`)."""
FALSE_START_GRACE_FRAMES: Final = 250
"""Frames (5 s) after the end of the caller's speech of :data:`FALSE_START_FRAMES` or more
during which a short start is a fragment of their words, no false start (shorter, the
caller's own fragments between their sentences would raise the gate)."""
FALSE_START_WINDOW_FRAMES: Final = 1500
"""The agent's audio (frames: 30 s) for which a false start raises the start's gate."""
FALSE_START_DB: Final = 6.0
"""How far over the room's start gate (its 90th percentile + ``room_margin_db``) a start
over the agent's audio must be after a false start, at most the caller's level (their 90th
percentile): a TV reader's loud words reach 5 dB over that percentile."""
LOW_BAND_FRAMES: Final = 2
"""Frames in a row whose 100-300 Hz level is within :data:`LOW_BAND_MARGIN_DB` of that
band's room gate that start speech provisionally over the agent (``low_band``)."""
LOW_BAND_MARGIN_DB: Final = 1.5
"""How far under the 100-300 Hz room gate (its 99.5th percentile + 2 dB) those frames may be:
wider, a TV 10 dB under the caller pauses the agent; narrower, a nasal onset over babble is
missed."""
LOW_BAND_SHARE_DB: Final = 6.0
"""How far under the frame's whole level its 100-300 Hz level may be for the frame to count
there: most of its sound under 300 Hz, as a nasal's is. On a line cut under 300 Hz the band
holds the filter's skirt, far under the frame's level, so such a line decides as without
the band."""
LOW_BAND_FLOOR_DB: Final = 15.0
"""Frames whose 100-300 Hz level is this far under the detector's quiet level (its
``min_level_dbfs`` - :data:`QUIET_DB`) do not count in that band's room gate."""
QUIET_DB: Final = 10.0
"""A model chunk this far under ``min_level_dbfs`` holds no speech frame: quiet."""
QUIET_STEPPED_CHUNKS: Final = 8
"""Quiet chunks in a row (256 ms) the model still steps; after them it is not stepped (its
state stays as the quiet left it, its probability is 0) until a chunk that is not quiet. A
quiet line costs no model run; pauses between words are still stepped (skipping from the
first quiet chunk would change the decisions there)."""
ROOM_LEARN_FRAMES: Final = 100
"""The agent's first audio (frames: 2 s) during which, with neither the room's nor the
caller's level known yet, voices are the room's and pause nothing (again after a
provisional room re-learned with no voices left: :data:`PROVISIONAL_ROOM_QUIET_FRAMES`)."""
PROVISIONAL_ROOM_QUIET_FRAMES: Final = 75
"""Frames (1.5 s, the agent's audio playing or not) without a voice within
:data:`PROVISIONAL_ROOM_DB` of the room's level after which a room learned while the
caller's level was unknown is re-learned without the voice it was learned from: the caller,
who talked over the greeting, stopped to listen or to wait for an answer. A TV or babble
keeps going: its gaps are well under 1 s."""
PROVISIONAL_ROOM_DB: Final = 4.0
"""How far under the room's level (:attr:`ModelVoiceDetector.room_start_dbfs`) a voice
frame still says that the voice the room was learned from goes on (wider, a TV 10 dB under
a caller who talked over the greeting keeps the caller's level as the room's)."""
PROVISIONAL_VOICE_DB: Final = 2.0
"""With the agent silent and a room learned while the caller's level was unknown, a voice
within this of that room's level, for :data:`PROVISIONAL_VOICE_FRAMES` frames in a row, is
the voice the room was learned from heard on its own: the caller, who talked over the
greeting and now takes their turn. It starts speech though the room's gate is over it."""
PROVISIONAL_VOICE_FRAMES: Final = 5
"""Frames (100 ms) in a row of :data:`PROVISIONAL_VOICE_DB`. A caller holds their level that
long in their syllables' cores; a TV 5 dB under them, whose loudest peaks keep the room
learned from the caller (:data:`PROVISIONAL_ROOM_DB`), reaches it 1-4 frames at a time, and
so without this none of the caller's turns after the greeting started speech. A TV learned
from itself held 5 frames within 2 dB of its level once in 27 s."""
PROVISIONAL_VOICE_AFTER_FRAMES: Final = 50
"""Frames (1 s) since the agent's audio or the latest speech ended, with nothing started,
before :data:`PROVISIONAL_VOICE_FRAMES` may start speech: a caller heard on the room's gate
as ever starts there first (sooner, it would change the caller's level learned on their
first turn)."""
PROVISIONAL_VOICE_SPARSE: Final = 15
"""At most this many frames of the last :data:`PROVISIONAL_ROOM_QUIET_FRAMES` before the run
within :data:`PROVISIONAL_ROOM_DB` of the provisional room's level, for the run to be the
caller's (:data:`PROVISIONAL_VOICE_FRAMES`): a TV 5 dB under the caller came that near 4-12
times in 1.5 s, café babble learned from itself 26-46 (and held such runs), a TV learned from
itself 10-22."""
CALLER_CLEARANCE_DB: Final = 2.0
"""Once the caller's level is known, the room's (both its gates, and the level over which a
frame as loud as the caller is not the room's) is held at least ``room_margin_db`` + this
under it: speech starts this far under the caller's level whatever the room learned. The
room's window can hold the caller's own voice: their words over the greeting's first 2 s
before a room is known (never provisional: :data:`PROVISIONAL_ROOM_QUIET_FRAMES`), and their
quieter syllables under a reply they talk over (under the caller's gate, or after the agent
resumes), and frames as loud as the caller but under the room's gate count too; without the
hold they set the room's level just under the caller's and their later turns go to the room.
Both levels are 90th percentiles, and how far a voice's loudest tenth is over its active
speech level depends on the voice (3.5-4.6 dB for the voices measured); a larger hold would
lower the room's gate under a TV 5 dB under a caller whose voice is flat, and its words
would start speech. The price is a few interruptions missed over a TV that loud."""
UNKNOWN_CALLER_DB: Final = 3.0
"""How much higher over the room's gate a barge-in starts while the caller's level is not
known yet (the greeting over a TV: its loudest words pass the room's gate alone)."""
RECENT_AGENT_FRAMES: Final = 100
"""The agent's latest audio (frames: 2 s) in which the room must have talked for its gate to
hold while the agent is silent."""
ROOM_ACTIVE_FRAMES: Final = 25
"""Room voice frames (0.5 s) in :data:`RECENT_AGENT_FRAMES` that make the room active."""
LISTENING_STEP: Final = 2
"""While the caller listens under the agent's audio, quieter than their barge-in level, the
model steps one chunk in this many (the others keep the latest probability, which labels
the room's voices). Elsewhere it steps every chunk: stepping speech under way more sparsely
misses interruptions over café babble. With fewer steps the probability stays up longer
into the quiet after a word and more of the room's quieter frames count as its voices,
which lowers the room's level: the start's gate leaves those frames out."""
_ROOM_UPDATE_FRAMES: Final = 5  # the median is recomputed every 100 ms


class ModelVoiceDetector:
    """Feed one μ-law frame per tick; read :attr:`speaking` and the returned events.

    The attributes are those of :class:`sipgw.media.voice.vad.VoiceActivityDetector`,
    plus :attr:`probability`, :attr:`room_dbfs` (the room's voices' 90th percentile,
    None while unknown), :attr:`room_start_dbfs` (the same, of the frames whose
    probability was not held), :attr:`caller_dbfs` (the caller's
    speech's 90th percentile, None while unknown), :attr:`provisional` (speech started
    on the caller's level, not yet confirmed), :attr:`retracted` (provisional starts
    undone so far), :attr:`false_starts` (starts over the agent's audio taken for the room's,
    :data:`FALSE_START_FRAMES`), :attr:`room_provisional` (the room's level was learned while the
    caller's was unknown) and :attr:`rooms_forgotten` (provisional rooms re-learned).
    """

    __slots__ = (
        "_agent_audible", "_agent_frames", "_agent_pending", "_batch", "_calibration_frames",
        "_caller", "_caller_ranked", "_config", "_energy", "_fed", "_frames", "_hangover_frames",
        "_hold", "_learn_until", "_level_run", "_loud_run", "_loudest", "_low", "_low_gate",
        "_low_run", "_model", "_quiet_chunks", "_quiet_dbfs", "_room_quiet", "room_provisional",
        "_provisional_voice", "_provisional_near", "_provisional_near_count", "_agent_on",
        "_agent_spells", "_unheard",
        "rooms_forgotten",
        "_quiet_run", "_recent", "_room", "_room_recent", "_room_ranked", "_since_step",
        "_room_fresh", "_start_frames", "_stream", "_sure_run", "_false_starts", "_speech_agent",
        "_caller_end", "false_starts", "_held", "_judged", "_unjudged",
        "caller_dbfs", "level_dbfs", "loud", "model_config", "noise_dbfs", "probability",
        "provisional", "retracted", "room_dbfs", "room_start_dbfs", "speaking",
        "speech_frames", "urgent",
    )  # fmt: skip

    def __init__(
        self,
        config: VadConfig | None = None,
        model_config: ModelVadConfig | None = None,
        model: SileroModel | None = None,
        agent_audible: Callable[[], bool] | None = None,
        agent_pending: Callable[[], bool] | None = None,
        batch: SileroBatch | None = None,
    ) -> None:
        """``agent_audible`` tells whether the agent's audio plays (None: never);
        ``agent_pending`` whether it has audio queued, playing or paused (None: as
        ``agent_audible``): when not, it is the caller's turn. ``batch``: where
        :meth:`feed` queues the model's chunks (None: :meth:`push` steps the model)."""
        # The energy detector's loudness (over the line's noise floor) gates provisional starts.
        self._energy = VoiceActivityDetector(config)
        # One frame over the room's loudest starts provisionally (quiet frames not counted).
        self._loudest = RoomLoudness(SILENT_DBFS)
        # Two frames near the room's loudest in 100-300 Hz do too (a nasal onset over babble).
        self._low = LowBand()
        self._low_gate = RoomLoudness(SILENT_DBFS)
        self._low_run = 0
        self.config = config or VadConfig()
        self.model_config = model_config or ModelVadConfig()
        self._batch = batch
        self._model = model if model is not None or batch is not None else shared_model()
        self._stream = SileroStream()
        # Each fed frame until pushed: (chunks it queued, its last chunk quiet, its level,
        # whether its probability is held: its latest chunk not stepped).
        self._fed: deque[tuple[int, bool, float, bool]] = deque()
        self._held = False  # the latest chunk was not stepped: its probability is held
        self._quiet_chunks = 0
        self._since_step = 0  # chunks not stepped in a row, while the caller listens
        self._agent_audible = agent_audible
        self._agent_pending = agent_pending or agent_audible
        self.speaking = False
        self.speech_frames = 0
        self.loud = False
        self.urgent = True
        """Whether the latest frame :meth:`feed` took must be decided now (see there)."""
        self.level_dbfs = SILENT_DBFS
        self.noise_dbfs = SILENT_DBFS
        self.probability = 0.0
        self.room_dbfs: float | None = None
        self._room: deque[tuple[int, float, bool]] = deque()  # (time, level, held)
        self._room_ranked: list[float] = []  # the same levels, sorted
        self._room_fresh: list[float] = []  # those of frames not held, sorted
        self.room_start_dbfs: float | None = None
        self._agent_frames = 0  # frames heard while the agent's audio played
        self._learn_until = ROOM_LEARN_FRAMES  # the room is learned until this agent frame
        self.room_provisional = False
        """The room's level was learned while the caller's was unknown (it may be theirs)."""
        self._room_quiet = 0  # frames without the provisional room's voice
        self._provisional_voice = 0  # frames in a row of it (PROVISIONAL_VOICE_DB)
        self._provisional_near: deque[bool] = deque()  # its last 1.5 s: near its level
        self._provisional_near_count = 0
        self._agent_on = False  # the agent's audio heard on the latest frame
        self._agent_spells = 0  # stretches of the agent's audio so far (the greeting: 1)
        self._unheard = 0  # frames since the agent's audio or speech ended
        self.rooms_forgotten = 0
        """Provisional rooms re-learned so far (:data:`PROVISIONAL_ROOM_QUIET_FRAMES`)."""
        # The latest agent-audio frames: whether each was the room's voice; their count.
        self._recent: deque[bool] = deque()
        self._room_recent = 0
        self.caller_dbfs: float | None = None
        self._caller: deque[float] = deque()
        self._caller_ranked: list[float] = []  # the same levels, sorted
        self._judged = False  # the caller's level waits for the turn machine's judgement
        # Their turn's speech frames' levels, until it is judged theirs or the room's.
        self._unjudged: deque[float] = deque(maxlen=CALLER_WINDOW_FRAMES)
        self._frames = 0
        self._loud_run = 0
        self._quiet_run = 0
        self._sure_run = 0
        self._speech_agent = False  # the speech under way started over the agent's audio
        self._caller_end = -FALSE_START_GRACE_FRAMES  # when speech of 300 ms or more ended
        self._false_starts: deque[int] = deque()  # the agent's frame at each false start
        self.false_starts = 0
        """False starts so far (:data:`FALSE_START_FRAMES`)."""
        self._level_run = 0  # frames in a row as loud as the caller, over the agent
        self.provisional = 0  # frames since a provisional start (0: none under way)
        self._hold = 0  # frames left without a provisional start, after a retraction
        self.retracted = 0

    @property
    def config(self) -> VadConfig:
        """The thresholds; setting it takes effect from the next frame."""
        return self._config

    @config.setter
    def config(self, config: VadConfig) -> None:
        self._config = config
        self._energy.config = config
        # A chunk under min_level_dbfs - QUIET_DB is quiet.
        self._quiet_dbfs = config.min_level_dbfs - QUIET_DB
        self._loudest.floor_dbfs = self._quiet_dbfs  # a quiet frame is no room's sound
        self._low_gate.floor_dbfs = self._quiet_dbfs - LOW_BAND_FLOOR_DB
        self._calibration_frames = config.calibration_ms // FRAME_MS
        self._start_frames = config.start_frames
        self._hangover_frames = config.hangover_frames

    @property
    def speech_ms(self) -> int:
        """Loud audio in the current speech, in ms."""
        return self.speech_frames * FRAME_MS

    def align(self, samples: int) -> None:
        """Before the first frame: start the model's chunks ``samples`` (0 to 255) later,
        silence before the frame (a batch's calls so aligned complete their chunks on the
        same ticks and share its runs: ``ModelBatcher.lead`` in
        agent/conversation/caller_audio.py)."""
        self._stream.delay(samples)

    def feed(self, frame: bytes | None) -> bool:
        """Queue the frame's samples for the batch (before its :meth:`push`, in order);
        whether a chunk was queued: then the batch must run before the push. Sets
        :attr:`urgent`: False when the frame's decision may wait for the next tick's run
        of the batch (:meth:`may_wait`)."""
        batch = self._batch
        if batch is None:
            raise RuntimeError("feed() needs a detector made with a batch")
        level = max(g711.rms_dbfs(frame), SILENT_DBFS) if frame else SILENT_DBFS
        self.urgent = not self.may_wait(level)
        steps, quiet = self._model_inputs(frame, level)
        for chunk in steps:
            batch.submit(self._stream, chunk)
        self._fed.append((len(steps), quiet, level, self._held))
        return bool(steps)

    def may_wait(self, level: float) -> bool:
        """Whether a frame at ``level`` may be decided up to a tick (20 ms) late: the caller
        is in their own turn's speech (not provisional, nothing of the agent's pending),
        the latest frame decided was loud and this one is over ``min_level_dbfs``. Such a
        frame cannot end the speech (the hangover needs quiet frames, each decided at once
        since a quiet one came), and starts, barge-ins and backchannels are decided at once;
        batched with every call's at the tick, the model's runs cost a fraction of one
        each (docs/performance.md)."""
        if not self.speaking or self.provisional or self._quiet_run:
            return False
        if level < self._config.min_level_dbfs:
            return False
        pending = self._agent_pending
        return pending is None or not pending()

    def _model_inputs(self, frame: bytes | None, level: float) -> tuple[list[bytes], bool]:
        """The frame's chunks the model must step, and whether its last chunk was quiet
        (not stepped: probability 0)."""
        if self._quiet_chunks > QUIET_STEPPED_CHUNKS and level < self._quiet_dbfs:
            # Still quiet: its samples count as silence (no conversion, no run).
            self._quiet_chunks += self._stream.idle(len(frame) if frame else 160)
            return [], True
        chunks = self._stream.feed(frame or _SILENCE)
        if not chunks:  # three frames in eight complete no chunk: nothing to decide
            return chunks, False
        steps = []
        quiet = False
        sparse = self._listening(level)
        for chunk in chunks:
            quiet = g711.rms_dbfs(chunk[CONTEXT:]) < self._quiet_dbfs
            self._quiet_chunks = self._quiet_chunks + 1 if quiet else 0
            if self._quiet_chunks <= QUIET_STEPPED_CHUNKS:
                quiet = False
                if sparse and self._since_step < LISTENING_STEP - 1:
                    self._since_step += 1  # the latest probability holds
                    self._held = True
                    continue
                self._since_step = 0
                self._held = False
                steps.append(chunk)
        return steps, quiet

    def _listening(self, level: float) -> bool:
        """Whether the caller listens under the agent's audio at this level: the agent's
        audio plays, no speech is under way, and the frame is quieter than the caller's
        barge-in level (no start can come of it: the model's answer only says whether it
        is a voice in the room). Then the model steps one chunk in :data:`LISTENING_STEP`."""
        audible = self._agent_audible
        if self.speaking or audible is None or not audible():
            return False
        caller, margin = self.caller_dbfs, self.model_config.caller_margin_db
        return caller is not None and margin is not None and level < caller - margin

    def push(self, frame: bytes | None) -> VadEvent:
        """Process one 20 ms frame (None = nothing received, treated as silence)."""
        self._frames += 1
        stream = self._stream
        probability = self.probability
        if self._fed:  # fed: the batch stepped its chunks (later frames' too, maybe)
            stepped, quiet, level, held = self._fed.popleft()
            results = stream.results
            for _ in range(stepped):
                probability = results.popleft() if results else 0.0  # a failed run: none
        else:
            level = max(g711.rms_dbfs(frame), SILENT_DBFS) if frame else SILENT_DBFS
            steps, quiet = self._model_inputs(frame, level)
            held = self._held
            model = self._model or shared_model()
            for chunk in steps:
                probability = model.step(stream, chunk)
        if quiet:
            probability = 0.0
        self._energy.push_level(level)
        self.probability = probability
        self.level_dbfs = level
        settings = self.model_config
        speechlike = probability >= settings.threshold or (
            self.loud and probability >= settings.threshold - HYSTERESIS
        )
        audible = self._agent_audible
        agent = audible is not None and audible()
        if agent and not self._agent_on:
            self._agent_spells += 1
        self._agent_on = agent
        self._unheard = 0 if agent or self.speaking else self._unheard + 1
        self._provisional_room(speechlike, level)
        caller, margin = self.caller_dbfs, settings.caller_margin_db
        bar = None if caller is None or margin is None else caller - margin
        # As loud as the caller: the caller (talking over the agent), not the room.
        callers = bar is not None and level >= bar
        # The room's level stays CALLER_CLEARANCE_DB + room_margin_db under the caller's: the
        # caller's own syllables counted as the room's cannot lift its gates over their turns.
        ceiling = None if caller is None else caller - CALLER_CLEARANCE_DB - settings.room_margin_db
        # With the agent silent, the room's gate holds while the room talked under the end
        # of the agent's audio (a caller who spoke over it, then listened, is no room).
        # The room's voices: speech under the agent's audio (the caller listens then). Their
        # window ages with the agent's audio only, so that with the agent silent their level
        # stays known (a TV through a long silence of the caller); and their gate holds then
        # only if they talked under the end of the agent's audio (a caller who spoke over
        # it, then listened, is no room).
        learning = False
        if agent:
            self._agent_frames += 1
            # As loud as the caller but under the room's gate is the room's too (a TV as loud
            # as the caller): leaving it out would lower the room's level with every update.
            known = _capped(self.room_start_dbfs, ceiling)
            over_room = known is None or level >= known + settings.room_margin_db
            is_room = speechlike and not (callers and over_room)
            tracked = self._track_room(level if is_room else None, held and not quiet)
            room = _capped(tracked, ceiling)
            recent = self._recent
            if len(recent) == RECENT_AGENT_FRAMES:
                self._room_recent -= recent.popleft()
            recent.append(is_room)
            self._room_recent += is_room
            # Before anything is known, the agent's first audio learns the room: voices then
            # pause nothing (the caller listens to the greeting).
            learning = room is None and caller is None and self._agent_frames <= self._learn_until
            if room is not None and caller is None:
                self.room_provisional = True  # it may be the caller's words
        else:
            active = self._room_recent >= ROOM_ACTIVE_FRAMES
            room = _capped(self.room_dbfs, ceiling) if active else None
        # Louder than the room has been under the agent's audio (and the caller's level
        # known, loud to the energy detector): a provisional start on this frame alone.
        over = (
            agent and bar is not None and level < bar  # as loud as the caller: two frames
            and self._loudest.over(level) and self._energy.loud
        )  # fmt: skip
        self._loudest.hear(level, agent and not self.speaking)
        low = self._low_band(frame, level, agent and settings.low_band and bar is not None)
        if self._frames <= self._calibration_frames:
            return VadEvent.NONE
        provisional = self.provisional
        starting = not self.speaking or provisional  # the start's gates, not the hangover's
        heard = level >= self._config.min_level_dbfs
        # The start's gate: the room's level from its frames the model stepped.
        gate = _capped(self.room_start_dbfs, ceiling) if room is not None else None
        gate = room if gate is None else gate
        above_room = gate is None or level >= gate + settings.room_margin_db
        # After a false start over the agent (the room paused it), a start there is held
        # FALSE_START_DB higher, at most to the caller's level.
        false = self._false_starts
        while false and false[0] <= self._agent_frames - FALSE_START_WINDOW_FRAMES:
            false.popleft()
        if agent and not self.speaking and false and gate is not None and caller is not None:
            above_room = above_room and level >= min(
                gate + settings.room_margin_db + FALSE_START_DB, caller
            )
        loud = speechlike and heard and not learning
        if loud and room is not None:
            loud = above_room if starting else level >= room
            waiting = self._agent_pending
            if (
                not loud
                and starting
                and not agent
                and self._agent_spells == 1
                and self._unheard >= PROVISIONAL_VOICE_AFTER_FRAMES
                and not (waiting is not None and waiting())
            ):
                # The voice a provisional room was learned from, on its own, after the
                # agent's first audio (the greeting; none paused or queued): the caller
                # taking their turn.
                loud = (
                    self._provisional_voice >= PROVISIONAL_VOICE_FRAMES
                    and self._provisional_near_count
                    <= PROVISIONAL_VOICE_SPARSE + self._provisional_voice
                )
            if loud and starting and agent and caller is None:
                # Over the agent with no caller's level yet, the room's loudest words reach
                # its gate: a barge-in then starts UNKNOWN_CALLER_DB higher.
                loud = (
                    gate is not None and level >= gate + settings.room_margin_db + UNKNOWN_CALLER_DB
                )
        if loud and (agent or provisional) and starting and bar is not None and not callers:
            loud = False  # a barge-in starts as loud as the caller
        pending = self._agent_pending
        if (
            loud
            and self.speaking
            and self._agent_frames
            and not (pending is not None and pending())
        ):
            # The caller's turn; before the agent's first audio, voices may be the room's.
            self._track_caller(level)
        self.loud = loud
        if loud:
            self._loud_run += 1
            self._quiet_run = 0
            self._sure_run = self._sure_run + 1 if probability >= CONFIDENT else 0
        else:
            self._quiet_run += 1
            self._loud_run = self._sure_run = 0
        if provisional:
            return self._confirm()
        # Over the agent, the caller's level alone may start speech (the model lags).
        if agent and callers and above_room and self._energy.loud and not self.speaking:
            self._level_run += 1
        else:
            self._level_run = 0
        if self._hold:
            self._hold -= 1
        elif (
            self._level_run >= PROVISIONAL_FRAMES or (over and not self.speaking) or low
        ) and not self._starts():
            self.speaking = True
            self.provisional = 1
            self.speech_frames = max(self._level_run, 1)
            self._speech_agent = agent
            return VadEvent.STARTED
        if self.speaking:
            if loud:
                self.speech_frames += 1
            elif self._quiet_run >= self._hangover_frames:
                self._ended()
                self.speaking = False
                self.speech_frames = 0
                return VadEvent.ENDED
            return VadEvent.NONE
        if self._starts():
            self.speaking = True
            self.speech_frames = self._loud_run
            self._speech_agent = agent
            return VadEvent.STARTED
        return VadEvent.NONE

    def _low_band(self, frame: bytes | None, level: float, armed: bool) -> bool:
        """Whether the frame (``level`` dBFS) is the :data:`LOW_BAND_FRAMES`-th in a row near
        the room's loudest in 100-300 Hz and within :data:`LOW_BAND_SHARE_DB` of its level
        there, while the caller listens under the agent's audio (``armed``:
        it plays, ``low_band`` is on, the caller's level is known). Only then is the band
        filtered and its room gate fed."""
        gate = self._low_gate
        if not armed or self.speaking:
            self._low_run = 0
            gate.hear(SILENT_DBFS, False)  # the frames not counted yet may be the speech's
            return False
        low = self._low.level(frame) if frame else SILENT_DBFS
        limit = gate.gate
        near = (
            limit is not None
            and low >= limit - LOW_BAND_MARGIN_DB
            and low >= level - LOW_BAND_SHARE_DB
        )
        self._low_run = self._low_run + 1 if near else 0
        gate.hear(low, True)
        return self._low_run >= LOW_BAND_FRAMES

    def _starts(self) -> bool:
        """The rule's start: ``start_ms`` loud frames, or two the model is sure of."""
        return self._loud_run >= self._start_frames or self._sure_run >= CONFIDENT_FRAMES

    def _confirm(self) -> VadEvent:
        """A provisional start's next frame: confirmed by the rule, or undone in time."""
        if self._starts():
            self.provisional = 0
            self.speech_frames = max(self.speech_frames, self._loud_run)
            return VadEvent.NONE
        self.provisional += 1
        if self.provisional <= CONFIRM_FRAMES:
            return VadEvent.NONE
        self.provisional = self.speech_frames = self._level_run = 0
        self.speaking = False
        self._hold = RETRACT_HOLD_FRAMES
        self.retracted += 1
        self._false_start()
        return VadEvent.ENDED

    def _ended(self) -> None:
        """Speech ends: the caller's (long enough), or a false start over the agent's audio."""
        if self.speech_frames >= FALSE_START_FRAMES:
            self._caller_end = self._frames
        elif self._speech_agent:
            self._false_start()

    def _false_start(self) -> None:
        """A start over the agent's audio that was the room's: it raises the start's gate,
        unless the caller's own speech ended :data:`FALSE_START_GRACE_FRAMES` ago or less."""
        if self._frames - self._caller_end > FALSE_START_GRACE_FRAMES:
            self._false_starts.append(self._agent_frames)
            self.false_starts += 1

    def _track_room(self, level: float | None, held: bool = False) -> float | None:
        """Add a room voice frame's level (None: not one), heard under the agent's audio;
        the room's 90th percentile (:attr:`room_dbfs`, and :attr:`room_start_dbfs` from the
        frames not ``held``: whose probability is the model's for their own chunk, not held
        from before a chunk it skipped)."""
        room, ranked, fresh = self._room, self._room_ranked, self._room_fresh
        now = self._agent_frames
        if level is not None:
            room.append((now, level, held))
            insort(ranked, level)
            if not held:
                insort(fresh, level)
        if now % _ROOM_UPDATE_FRAMES == 0:
            while room and room[0][0] <= now - ROOM_WINDOW_FRAMES:
                _, old, was_held = room.popleft()
                del ranked[bisect_left(ranked, old)]
                if not was_held:
                    del fresh[bisect_left(fresh, old)]
            self._room_figures()
        return self.room_dbfs

    def _room_figures(self) -> None:
        """The room's levels from its window's voices."""
        ranked, fresh = self._room_ranked, self._room_fresh
        # A few stray frames are no room: at least 1 s of voices in the window.
        if len(ranked) >= 50:
            self.room_dbfs = ranked[len(ranked) * 9 // 10]
            self.room_start_dbfs = fresh[len(fresh) * 9 // 10] if fresh else self.room_dbfs
        else:
            self.room_dbfs = self.room_start_dbfs = None

    def _provisional_room(self, speechlike: bool, level: float) -> None:
        """Re-learn a room learned while the caller's level was unknown once the voice it was
        learned from has been quiet :data:`PROVISIONAL_ROOM_QUIET_FRAMES` (the caller, who
        talked over the greeting, listens or waits for an answer): its frames that loud
        leave its window, and the quieter ones (babble under the caller's words) are the
        room if 1 s of them remains; if not, the agent's next :data:`ROOM_LEARN_FRAMES` of
        audio learn it again."""
        known = self.room_start_dbfs
        if self.caller_dbfs is not None or known is None:
            self.room_provisional = False
        recent = self._provisional_near
        if self.room_provisional and known is not None:
            # How far under the provisional room's level a voice frame is, and how often the
            # room's voice came near it: a voice like it (babble, a TV learned from itself)
            # often, one 5 dB under the caller it was learned from rarely.
            under = known - level if speechlike else math.inf
            near = under <= PROVISIONAL_VOICE_DB
            self._provisional_voice = self._provisional_voice + 1 if near else 0
            if len(recent) == PROVISIONAL_ROOM_QUIET_FRAMES:
                self._provisional_near_count -= recent.popleft()
            within = under <= PROVISIONAL_ROOM_DB
            recent.append(within)
            self._provisional_near_count += within
        else:  # no such room: its window holds nothing near (as empty, cheaper)
            self._provisional_voice = 0
            if recent:
                recent.clear()
                self._provisional_near_count = 0
        if not self.room_provisional or known is None:
            self._room_quiet = 0
            return
        if speechlike and level >= known - PROVISIONAL_ROOM_DB:
            self._room_quiet = 0
            return
        self._room_quiet += 1
        if self._room_quiet < PROVISIONAL_ROOM_QUIET_FRAMES:
            return
        self._room_quiet = 0
        self.rooms_forgotten += 1
        bar = known - PROVISIONAL_ROOM_DB
        kept = [entry for entry in self._room if entry[1] < bar]
        self._room = deque(kept)
        self._room_ranked = sorted(level for _, level, _ in kept)
        self._room_fresh = sorted(level for _, level, held in kept if not held)
        self._room_figures()
        self._loudest = RoomLoudness(self._quiet_dbfs)  # it heard the caller's words too
        if self.room_dbfs is None:
            self._recent.clear()
            self._room_recent = 0
            self._learn_until = self._agent_frames + ROOM_LEARN_FRAMES
            self.room_provisional = False

    def judge_turns(self) -> None:
        """From now on, learn the caller's level only from the turns :meth:`turn_judged`
        says are theirs (the turn machine's room gate, ``room_gate``): the speech heard on
        their turn waits for it. Without this, every turn heard with the agent silent is
        learned from (a TV talking in the caller's silence too)."""
        self._judged = True

    def turn_judged(self, callers: bool) -> None:
        """A final came (with :meth:`judge_turns`): the speech heard on the caller's turn
        since the previous final was the caller's (``callers``: their level learns it) or the
        room's (forgotten)."""
        unjudged = self._unjudged
        if callers and unjudged:
            for level in unjudged:
                self._learn_caller(level)
            self._caller_figure()
        unjudged.clear()

    def _track_caller(self, level: float) -> None:
        """A frame of speech heard on the caller's turn: learn it (with :meth:`judge_turns`,
        once the turn is judged theirs)."""
        if self._judged:
            self._unjudged.append(level)
            return
        self._learn_caller(level)
        if self.caller_dbfs is None or self._frames % _ROOM_UPDATE_FRAMES == 0:
            self._caller_figure()

    def _learn_caller(self, level: float) -> None:
        """Add the level of a frame of the caller's own speech to their window."""
        caller, ranked = self._caller, self._caller_ranked
        if len(caller) == CALLER_WINDOW_FRAMES:
            del ranked[bisect_left(ranked, caller.popleft())]
        caller.append(level)
        insort(ranked, level)

    def _caller_figure(self) -> None:
        """The caller's level: their window's 90th percentile, once it holds
        :data:`CALLER_MIN_FRAMES`."""
        ranked = self._caller_ranked
        if len(ranked) >= CALLER_MIN_FRAMES:
            self.caller_dbfs = ranked[len(ranked) * 9 // 10]


def _capped(level: float | None, ceiling: float | None) -> float | None:
    """``level`` no higher than ``ceiling`` (None: no level, or no ceiling)."""
    return level if level is None or ceiling is None else min(level, ceiling)


_SILENCE: Final = b"\xff" * 160
"""A frame of μ-law silence: what the model hears for a frame not received."""
