"""Noisy callers under the agent's reply: false barge-ins, false turns, real interruptions.

    python -m bench.noise [--seconds 60] [--snr 20 10 5] [--callers NAME ... | all] [--json PATH]

Caller audio is made at run time (:mod:`tests.toolkit.noisy_audio`: espeak-ng
speech, sox noise) and fed, one 20 ms μ-law frame per 20 ms of time, through
the caller's path as the assistant runs it
(:class:`~sipgw.agent.conversation.caller_audio.CallerAudio`: suppression if on, then the
turn-taking machine, :class:`sipgw.agent.turns.machine.TurnTaker`,
with its detector): the agent's greeting (:data:`GREETING_S`) and the caller's first turn
over the background, then the agent's reply playing the whole time. Per
background (café babble, street, TV speech, music) and SNR, for each pipeline:

* **false barge-ins per minute**: on the background alone, how often the agent's
  audio is paused (:class:`~sipgw.agent.turns.machine.PauseAgent`: the caller hears it stop);
* **false turns per minute**: how often the reply is cut off for good
  (:class:`~sipgw.agent.turns.machine.CommitBargeIn` on speech: a turn begins);
* **real interruptions**: the caller says a sentence over the same background every 4 s
  (the ``espeak-ng mix`` caller in five espeak-ng voices in turn; the others of
  :data:`CALLERS` say the opening and every sentence in their own voice); the share that
  pause the agent and then commit, and the **barge-in latency** from the sentence's first
  sample to the pause (p50/p95), and from its onset (its first 20 ms within 15 dB of its
  active level: espeak-ng's sentences start with a quiet breath or consonant) to the pause;
* **the stop** (the issue's barge-in latency, as bench.latency and bench.legs time it on
  the wire): from the onset in the caller's signal to the end of the last agent frame
  the caller receives, which is the first tick of the shared ticker after the pause (the
  detector runs at arrival, ahead of the jitter buffer; a paused playout gives silence
  from the next tick). The ticker's phase against the caller's packets is fixed in a
  call and uniform over calls: each pause is taken at :data:`TICK_PHASES_MS`. Its stages:
  the onset frame's packetization (20 ms: onsets fall on frame edges here), the first
  frame as loud as the caller (the model detector's caller-level gate: when the signal
  could first be told from the room by level), the pause, the tick;
* **CPU per call**: the pipeline's process time per second of caller audio.

And for noise suppression alone (``--suppression``), per background at 10 dB SNR and
for speech and backgrounds in each of :data:`SUPPRESSION_BANDS`: STOI (``pystoi``) of
the noisy sentence and of the denoised one against the clean one (the denoised shifted
back by the suppressor's stated delay), the delay (cross-correlation of clean speech
through the suppressor), the clean speech's level through it and the CPU per second of
audio.

The pipelines: ``energy`` (before: the energy detector, no suppression),
``energy+rnnoise``, ``model`` (Silero with the room-voice gate) and
``model+rnnoise``. The SNR is the caller's speech level (active RMS, -20 dBFS)
over the background's (:func:`tests.toolkit.noisy_audio.mix`). Against ITU-T P.56's active
speech level that RMS is 1.2-1.4 dB higher for every voice here (the TV's reader too), 0.8
for flite's rms: the callers are mixed at the same speech level within 0.5 dB.

With several callers (``--callers``, ``all``: every one of :data:`CALLERS`) each background
and SNR is measured per caller, then per engine over its callers together: false pauses a
minute (every :class:`~sipgw.agent.turns.machine.PauseAgent` on the room alone, the provisional
starts undone within 240 ms among them), the worst caller's, false turns a minute (the
reply cut for good), the interruptions caught, the stop's p50 / p95 over every paused
sentence and the share of sentences stopped within 240 ms (a sentence not paused counts
as not stopped).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

from bench._harness import fmt, format_table, log, machine_info, percentile, write_json
from sipgw.agent.conversation.caller_audio import CallerAudio, DetectorKind, NoiseSettings
from sipgw.agent.conversation.settings import BargeInSettings
from sipgw.agent.turns.machine import Cause, CommitBargeIn, PauseAgent, TurnTaker
from sipgw.media import g711
from sipgw.media.voice.vad import ModelVadConfig

if TYPE_CHECKING:
    from sipgw.agent.conversation.caller_audio import ModelBatcher
    from sipgw.media.voice.model_vad import ModelVoiceDetector
from tests.toolkit.amdset.speech import Voice, synthesize_clause
from tests.toolkit.noisy_audio import RATE, _active_rms, background, mix, rms, speech

BACKGROUNDS = ("babble", "street", "tv", "music")
PIPELINES: dict[str, tuple[DetectorKind, bool]] = {
    "energy": ("energy", False),
    "energy+rnnoise": ("energy", True),
    "model": ("model", False),
    "model+rnnoise": ("model", True),
}
INTERRUPTIONS = (
    ("en-us", "Sorry, can I stop you there for a second?"),
    ("en+f3", "Wait, that is not the address I gave you."),
    ("en-us+m4", "No, no, I wanted the earlier appointment."),
    ("en-gb-x-rp", "Hold on, can you repeat the last part please?"),
    ("en-us+f2", "Actually I would rather pay by card today."),
)
"""The five espeak-ng voices of the ``espeak-ng mix`` caller, one sentence each in turn (the
others say every sentence in their own voice). ``en+f3`` and ``en-gb-x-rp`` are British:
this espeak-ng ignores the variants of ``en-gb`` (``en-gb+f3`` is ``en-gb``), and plain
``en`` with a variant, or ``en-gb-x-rp``, gives other samples than the room's voices
(:mod:`tests.toolkit.noisy_audio`)."""
MIX = "espeak-ng mix"
CALLERS: dict[str, Voice | None] = {
    MIX: None,
    "espeak en-us": Voice("en-us"),
    "espeak en-us+f3": Voice("en-us+f3"),
    "espeak en-gb-x-rp+m4": Voice("en-gb-x-rp+m4"),
    "flite slt": Voice("slt", engine="flite"),
    "flite awb": Voice("awb", engine="flite"),
    "flite rms": Voice("rms", engine="flite"),
    "festival kal": Voice("kal_diphone", engine="festival"),
}
"""The callers: each says the opening and every interruption in one voice (``espeak-ng mix``:
the opening in ``en-us``, the sentences in :data:`INTERRUPTIONS`' five voices), from three
engines: espeak-ng (formants), flite (statistical parametric: slt, awb, rms) and festival
(kal: diphones), as :mod:`tests.toolkit.amdset.speech` makes them. None says a sentence in a
room's voice (the TV's reader, the babble's five)."""
DEFAULT_CALLERS = (MIX,)
"""A run without ``--callers``: its figures are comparable with earlier runs'."""
ONSET_DB = 15.0
"""A sentence is heard from its first frame this close to its active level."""
EVERY_S = 4.0
"""One interruption every this many seconds of the interruption run."""
FRAME = 160
TICK_PHASES_MS = tuple(range(1, 20, 2))
"""Where the ticks fall in the caller's 20 ms frame (ms after a frame has arrived): the
pause at ``t`` stops the agent's audio at the first tick at or after ``t``."""


OPENING = ("en-us", "Hi, I am calling about the order I placed last week.")
"""The caller's first turn, after the greeting and before the measured reply."""
GREETING_S = 3.0
"""The agent's greeting, over the background alone, from the call's first frame."""
OPENING_S = GREETING_S + 4.0
"""The opening's length: the greeting, the caller's turn, then quiet (over the background)
until the reply starts."""


class Speaking:
    """The agent's side: silent through the opening, then a reply playing the whole time,
    paused from a pause to its resume or, after a barge-in, to the end of the caller's
    speech (then the next reply plays)."""

    def __init__(self) -> None:
        self.audible = self.pending = False

    def active_reply_started_at(self) -> float | None:
        return 0.0 if self.pending else None


@dataclass
class Run:
    """What one pipeline did with one recording."""

    pauses: list[float]
    commits: list[float]
    cpu_s: float
    seconds: float
    callers: list[float]
    """Arrival of each frame at least as loud as the caller's level gate (model detector)."""
    retracted: int
    """Provisional starts the model detector undid (the agent paused, then resumed)."""


def _ulaw_frames(samples: Sequence[int]) -> list[bytes]:
    pcm = bytearray()
    for s in samples:
        pcm += int(s).to_bytes(2, "little", signed=True)
    ulaw = g711.linear_to_ulaw(bytes(pcm))
    return [ulaw[i : i + FRAME] for i in range(0, len(ulaw) - FRAME + 1, FRAME)]


def play(frames: Sequence[bytes], pipeline: str, model: ModelVadConfig | None = None) -> Run:
    """Feed ``frames`` (the opening, then the reply's time) through one pipeline; when the
    agent was paused and cut off."""
    kind, suppress = PIPELINES[pipeline]
    stage = CallerAudio(
        NoiseSettings(suppression=suppress, detector=kind, model=model or ModelVadConfig())
    )
    vad = BargeInSettings().vad
    agent = Speaking()
    detector = stage.detector(vad, lambda: agent.audible, lambda: agent.pending)
    turns = TurnTaker(agent, detector=detector)
    model_detector: ModelVoiceDetector | None = None
    if kind == "model":
        from sipgw.media.voice.model_vad import ModelVoiceDetector  # numpy, onnxruntime

        assert isinstance(detector, ModelVoiceDetector)
        model_detector = detector
    pauses: list[float] = []
    commits: list[float] = []
    committed: set[float | None] = set()  # a commit is repeated while its speech goes on
    callers: list[float] = []
    cpu = 0.0
    opening = int(OPENING_S / 0.02)
    greeting = int(GREETING_S / 0.02)
    agent.audible = agent.pending = greeting > 0
    for i, frame in enumerate(frames):
        now = (i + 1 - opening) * 0.02  # the frame's audio has all arrived (0: the reply)
        if i == greeting:
            agent.audible = agent.pending = False  # the greeting is over
        started = time.process_time()
        heard = stage.process(frame)
        actions = turns.receive_audio(heard, now)
        if i < opening:
            continue  # the greeting, then the caller's first turn: nothing measured
        cpu += time.process_time() - started
        if model_detector is not None:
            bar = model_detector.caller_dbfs
            margin = model_detector.model_config.caller_margin_db
            if bar is not None and margin is not None and model_detector.level_dbfs >= bar - margin:
                callers.append(now)
        if i == opening:
            agent.audible = agent.pending = True  # the reply starts, whoever talks
        elif turns.paused_at is None and not turns.vad.speaking:
            agent.audible = True  # resumed, or the next reply after a barge-in
        for action in actions:
            if isinstance(action, PauseAgent):
                agent.audible = False
                pauses.append(now)
            elif isinstance(action, CommitBargeIn) and action.cause is Cause.SPEECH:
                if turns.speech_started_at not in committed:
                    committed.add(turns.speech_started_at)
                    commits.append(now)
    stage.close()
    retracted = model_detector.retracted if model_detector is not None else 0
    return Run(pauses, commits, cpu, (len(frames) - opening) * 0.02, callers, retracted)


def stop_after(pause: float, phase_ms: float) -> float:
    """When the caller's audio of the agent stops for a pause at ``pause`` (s): the first
    tick at or after it, the ticks ``phase_ms`` after each frame's arrival."""
    phase = phase_ms / 1000
    return pause + (phase - pause) % 0.02


def audible_after(
    voice: Sequence[int], noise: Sequence[int], onset: float, end: float
) -> float | None:
    """The arrival (s after the opening) of the first frame from ``onset`` on in which the
    caller's speech is at least as loud as the background (local SNR 0 dB or more): no
    detector can be expected to hear it sooner."""
    first = round((OPENING_S + onset) / 0.02)
    for i in range(first, round((OPENING_S + end) / 0.02)):
        span = slice(i * FRAME, (i + 1) * FRAME)
        if rms(voice[span]) >= rms(noise[span]):
            return (i + 1) * 0.02 - OPENING_S
    return None


def engine_of(caller: str) -> str:
    """The engine of one of :data:`CALLERS`."""
    voice = CALLERS[caller]
    return "espeak-ng" if voice is None else voice.engine


def said_by(text: str, default: str, voice: Voice | None, low_hz: int) -> tuple[int, ...]:
    """``text`` in ``voice`` (None: espeak-ng's ``default``), band ``low_hz``-3400 Hz."""
    if voice is None:
        return speech(text, default, low_hz=low_hz)
    return synthesize_clause(text, voice, low_hz).samples


def opening_track(seconds: float, low_hz: int = 300, voice: Voice | None = None) -> list[int]:
    """Silence through the greeting, the caller's opening turn, then silence to the end of
    ``seconds`` after the opening (the voice in the band ``low_hz``-3400 Hz; None: the
    opening's own, :data:`OPENING`)."""
    track = [0] * int((OPENING_S + seconds) * RATE)
    said = said_by(OPENING[1], OPENING[0], voice, low_hz)
    at = int(GREETING_S * RATE)
    track[at : at + len(said)] = said
    return track


def onset_s(said: Sequence[int]) -> float:
    """When speech is heard in ``said`` (s): its first 20 ms within :data:`ONSET_DB` of
    its active level (espeak-ng's sentences begin with a quiet breath or consonant)."""
    active = _active_rms(said)
    for i in range(0, len(said) - FRAME + 1, FRAME):
        if rms(said[i : i + FRAME]) >= active * 10 ** (-ONSET_DB / 20):
            return i / RATE
    return 0.0


def interruption_track(
    seconds: float, low_hz: int = 300, voice: Voice | None = None
) -> tuple[list[int], list[tuple[float, float, float]]]:
    """The opening, then caller sentences every :data:`EVERY_S` s (from 2 s after it), all in
    ``voice`` (None: :data:`INTERRUPTIONS`' voices in turn); the track and the sentences'
    (start, onset, end)s from the opening's end."""
    track = opening_track(seconds, low_hz, voice)
    spans = []
    at, n = 2.0, 0
    while at + 3.0 < seconds:
        name, text = INTERRUPTIONS[n % len(INTERRUPTIONS)]
        said = said_by(text, name, voice, low_hz)
        start = int((OPENING_S + at) * RATE)
        track[start : start + len(said)] = said
        spans.append((at, at + onset_s(said), at + len(said) / RATE))
        at += EVERY_S
        n += 1
    return track, spans


def measure(
    kind: str,
    snr: float,
    seconds: float,
    pipelines: Sequence[str],
    model: ModelVadConfig | None = None,
    low_hz: int = 300,
    caller: Voice | None = None,
) -> dict[str, Any]:
    """One background at one SNR, every pipeline (``model``: the model detector's settings;
    ``low_hz``: the telephone band's low edge for the voices and the background; ``caller``:
    one voice for the opening and every sentence, None: :data:`INTERRUPTIONS`')."""
    noise = background(kind, OPENING_S + seconds, low_hz)
    quiet = _ulaw_frames(mix(opening_track(seconds, low_hz, caller), noise, snr))
    voice, spans = interruption_track(seconds, low_hz, caller)
    # The sentences' level sets the mix: the same background level as in ``quiet``.
    noisy = _ulaw_frames(mix(voice, noise, snr))
    # The two parts as mixed: where the caller's speech is first as loud as the background.
    silence = [0] * len(noise)
    voice_part, noise_part = mix(voice, silence, snr), mix(silence, noise, snr)
    out: dict[str, Any] = {}
    for pipeline in pipelines:
        alone = play(quiet, pipeline, model)
        real = play(noisy, pipeline, model)
        latencies, from_onset, caught = [], [], 0
        stops: list[float] = []
        loud_as_caller: list[float] = []
        audible: list[float] = []
        from_audible: list[float] = []
        each: list[int | None] = []  # per sentence, None: not paused
        resumed = 0
        for start, onset, end in spans:
            paused = [t for t in real.pauses if start <= t <= end + 0.5]
            cut = [t for t in real.commits if start <= t <= end + 1.0]
            if paused and cut and len([t for t in paused if t <= cut[0]]) > 1:
                resumed += 1  # the agent played on between the first pause and the cut
            each.append(round((paused[0] - onset) * 1000) if paused else None)
            if paused:
                latencies.append((paused[0] - start) * 1000)
                from_onset.append((paused[0] - onset) * 1000)
                stops += [(stop_after(paused[0], p) - onset) * 1000 for p in TICK_PHASES_MS]
            heard = [t for t in real.callers if onset < t <= end]
            if heard:
                loud_as_caller.append((heard[0] - onset) * 1000)
            over = audible_after(voice_part, noise_part, onset, end)
            if over is not None:
                audible.append((over - onset) * 1000)
                if paused:
                    from_audible += [
                        (stop_after(paused[0], p) - over) * 1000 for p in TICK_PHASES_MS
                    ]
            if paused and cut:
                caught += 1
        minutes = alone.seconds / 60
        out[pipeline] = {
            "false_barge_ins_per_min": round(len(alone.pauses) / minutes, 2),
            "false_pauses": len(alone.pauses),
            "false_turns": len(alone.commits),
            "undone": alone.retracted,
            "minutes": minutes,
            "false_turns_per_min": round(len(alone.commits) / minutes, 2),
            "retracted_per_min": round(alone.retracted / minutes, 2),
            "interruptions": len(spans),
            "interruptions_caught": caught,
            "resumed_before_cut": resumed,
            "undone_in_interruptions": real.retracted,
            "barge_in_ms_p50": percentile(latencies, 50),
            "barge_in_ms_p95": percentile(latencies, 95),
            "onset_to_pause_ms_p50": percentile(from_onset, 50),
            "onset_to_pause_ms_p95": percentile(from_onset, 95),
            "onset_to_caller_level_ms_p50": percentile(loud_as_caller, 50),
            "onset_to_caller_level_ms_p95": percentile(loud_as_caller, 95),
            "stop_ms_p50": percentile(stops, 50),
            "stop_ms_p95": percentile(stops, 95),
            "stops_ms": stops,
            "onset_to_audible_ms_p50": percentile(audible, 50),
            "onset_to_audible_ms_p95": percentile(audible, 95),
            "audible_to_stop_ms_p50": percentile(from_audible, 50),
            "audible_to_stop_ms_p95": percentile(from_audible, 95),
            "onset_to_pause_ms": each,
            "cpu_ms_per_call_s": round(
                1000 * (alone.cpu_s + real.cpu_s) / (alone.seconds + real.seconds), 3
            ),  # fmt: skip
        }
    return out


SUPPRESSION_BANDS = (300, 100)
"""The telephone band's low edge for the suppression figures, Hz: an analogue line's 300
(ITU-T G.712), and 100 for a digital or mobile line that keeps the voice's fundamental
(RNNoise, trained on full-band speech, mutes speech that has none: the clean gain)."""


def suppression_figures(snr: float, low_hz: int = 300) -> dict[str, Any]:
    """STOI before and after RNNoise, its delay and CPU (see the module docstring), with the
    speech and the backgrounds in the band ``low_hz``-3400 Hz; ``clean_gain_db``: what it
    does to the clean speech's level."""
    import numpy as np
    from pystoi import stoi  # type: ignore[import-untyped]

    from sipgw.media.voice.denoise import DELAY_MS, NoiseSuppressor

    def through(samples: Sequence[int]) -> tuple[np.ndarray[Any, Any], float]:
        suppressor = NoiseSuppressor()
        frames = _ulaw_frames(samples) + [b"\xff" * FRAME] * 10  # flush its delay
        started = time.process_time()
        out = b"".join(suppressor.process(f) for f in frames)
        cpu = time.process_time() - started
        suppressor.close()
        pcm = np.frombuffer(g711.ulaw_to_linear(out), dtype="<i2").astype(np.float64)
        return pcm, cpu / (len(frames) * 0.02)

    text = " ".join(t for _, t in INTERRUPTIONS[:3])
    said = speech(text, "en-gb", low_hz=low_hz)  # en-gb+f3 was named: the same samples
    clean = np.array(mix(said, [0] * len(said), 300.0))
    n = len(clean)
    heard, cpu_share = through(clean.tolist())
    corr = np.correlate(heard[:n], clean, mode="full")
    lag = int(np.argmax(corr)) - (n - 1)
    # aligned by the suppressor's stated delay (tests/media/voice/test_denoise.py checks it): a
    # muted output's cross-correlation peak is noise's
    shift = round(DELAY_MS * RATE / 1000)
    level = float(np.sqrt(np.mean(heard[shift : shift + n] ** 2))) or 1.0
    gain_db = 20 * np.log10(level / float(np.sqrt(np.mean(clean**2))))
    out: dict[str, Any] = {"delay_ms": lag / RATE * 1000, "cpu_ms_per_call_s": round(
        1000 * cpu_share, 2), "clean_gain_db": round(float(gain_db), 1), "stoi": {}}  # fmt: skip
    for kind in (*BACKGROUNDS, "pink"):
        noise = background(kind, n / RATE + 1, low_hz)[:n]
        noisy = mix(clean.astype(int).tolist(), noise, snr)
        noisy_ulaw = b"".join(_ulaw_frames(noisy))
        noisy_pcm = np.frombuffer(g711.ulaw_to_linear(noisy_ulaw), dtype="<i2").astype(np.float64)
        denoised, _ = through(noisy)
        m = len(noisy_pcm)
        out["stoi"][kind] = {
            "noisy": round(float(stoi(clean[:m], noisy_pcm, RATE)), 3),
            "denoised": round(float(stoi(clean[:m], denoised[shift : shift + m], RATE)), 3),
        }
    return out


def caller_rigs(
    calls: int, settings: NoiseSettings, batcher: ModelBatcher | None
) -> tuple[list[CallerAudio], list[TurnTaker], list[Speaking]]:
    """``calls`` calls' caller paths as the assistant builds them: each its caller-audio stage
    (one ``batcher`` for all, or none), the turn-taking machine on its detector, and the agent's
    side it reads."""
    stages, turn_takers, agents = [], [], []
    vad = BargeInSettings().vad
    for _ in range(calls):
        stage = CallerAudio(settings, batcher)
        agent = Speaking()
        detector = stage.detector(vad, partial(getattr, agent, "audible"),
                                  partial(getattr, agent, "pending"))  # fmt: skip
        stages.append(stage)
        agents.append(agent)
        turn_takers.append(TurnTaker(agent, detector=detector))
    return stages, turn_takers, agents


def cpu_at(calls: int, seconds: float, group: int, mode: str, line: str) -> dict[str, Any]:
    """CPU per call-second of the caller path (``agent/conversation/caller_audio.py``, the
    turn-taking machine) for ``calls`` calls at once, each frame of each call in turn, one tick
    after another; the arrivals of a tick come ``group`` calls at a time (a wake-up of the loop:
    the native reader's 2 ms window takes a tenth of them). ``mode``: ``energy``, ``model``
    (each call steps the model at its frame, as before batching) or ``batched`` (one
    model run per wake-up for the calls whose frame completed a chunk, as the assistant
    does). ``line``: ``noisy`` (the interruption track over each background in turn at 10
    dB SNR: speech or voices, music or noise all the time) or ``quiet`` (the caller's
    opening turn, then the caller listening in a quiet room: pink noise at -60 dBFS)."""
    from sipgw.agent.conversation.caller_audio import ModelBatcher

    tracks = []
    if line == "noisy":
        voice, _ = interruption_track(seconds)
        for kind in BACKGROUNDS:
            noise = background(kind, OPENING_S + seconds)
            tracks.append(_ulaw_frames(mix(voice, noise, 10.0)))
    else:
        noise = background("pink", OPENING_S + seconds)
        tracks.append(_ulaw_frames(mix(opening_track(seconds), noise, 40.0)))
    batcher = ModelBatcher() if mode == "batched" else None
    settings = NoiseSettings(detector="energy" if mode == "energy" else "model")
    stages, turn_takers, agents = caller_rigs(calls, settings, batcher)
    frames = len(tracks[0])
    opening = int(OPENING_S / 0.02)
    greeting = int(GREETING_S / 0.02)
    cpu = 0.0
    for agent in agents:  # the greeting plays, as in play(): the caller's level is learned after it
        agent.audible = agent.pending = greeting > 0
    for i in range(frames):
        if i == greeting:
            for agent in agents:
                agent.audible = agent.pending = False
        started = time.process_time()
        for first in range(0, calls, group):
            members = range(first, min(first + group, calls))
            heard = []
            for c in members:
                track = tracks[c % len(tracks)]
                # The calls' openings together, then each call at its own place in the rest.
                k = i if i < opening else opening + (i - opening + 7 * c) % (frames - opening)
                heard.append(stages[c].process(track[k]))
            if batcher is not None:
                for c, frame in zip(members, heard, strict=True):
                    stages[c].feed(frame)
                batcher.batch.run()
            for c, frame in zip(members, heard, strict=True):
                turn_takers[c].receive_audio(frame, i * 0.02)
        if i >= opening:
            cpu += time.process_time() - started
        if i == opening:
            for agent in agents:
                agent.audible = agent.pending = True
    measured = calls * (frames - opening) * 0.02
    out: dict[str, Any] = {"cpu_ms_per_call_s": round(1000 * cpu / measured, 3)}
    if batcher is not None:
        batch = batcher.batch
        out["model_runs_per_s"] = round(batch.runs / (frames * 0.02), 1)
        out["streams_per_run"] = round(batch.steps / max(batch.runs, 1), 1)
    return out


def table_row(name: str, snr: float, pipeline: str, f: dict[str, Any]) -> list[str]:
    """One line of the table: one background (and caller), SNR and pipeline."""
    return [
        name, f"{snr:g}", pipeline, fmt(f["false_barge_ins_per_min"]),
        fmt(f["false_turns_per_min"]),
        f"{f['interruptions_caught']}/{f['interruptions']}",
        f"{f['resumed_before_cut']} ({f['undone_in_interruptions']} undone)",
        fmt(f["barge_in_ms_p50"], ".0f"), fmt(f["barge_in_ms_p95"], ".0f"),
        fmt(f["onset_to_pause_ms_p50"], ".0f"), fmt(f["onset_to_pause_ms_p95"], ".0f"),
        fmt(f["stop_ms_p50"], ".0f"), fmt(f["stop_ms_p95"], ".0f"),
        fmt(f["onset_to_audible_ms_p95"], ".0f"),
        fmt(f["audible_to_stop_ms_p50"], ".0f"),
        fmt(f["audible_to_stop_ms_p95"], ".0f"),
        fmt(f.get("retracted_per_min"), ".1f"),
        fmt(f["cpu_ms_per_call_s"], ".2f"),
    ]  # fmt: skip


PAUSED_WITHIN_MS = 240.0
"""A sentence is caught in time when its stop (every ticker phase) is within this."""


def pooled(group: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Several callers' figures for one background, SNR and pipeline, together: false pauses,
    their undone share and false turns a minute over all the callers' minutes of the room
    alone (and the worst caller's pauses), the interruptions caught, and the stop's
    percentiles over all the sentences (each at every ticker phase; a sentence not paused
    counts as not stopped), with the share of stops within :data:`PAUSED_WITHIN_MS`."""
    minutes = sum(f["minutes"] for f in group)
    stops = [s for f in group for s in f["stops_ms"]]
    unpaused = sum(f["interruptions"] - (len(f["stops_ms"]) // len(TICK_PHASES_MS)) for f in group)
    every = len(stops) + unpaused * len(TICK_PHASES_MS)
    return {
        "callers": len(group),
        "false_pauses_per_min": round(sum(f["false_pauses"] for f in group) / minutes, 2),
        "worst_caller_false_pauses_per_min": max(f["false_barge_ins_per_min"] for f in group),
        "undone_per_min": round(sum(f["undone"] for f in group) / minutes, 2),
        "false_turns_per_min": round(sum(f["false_turns"] for f in group) / minutes, 2),
        "interruptions": sum(f["interruptions"] for f in group),
        "interruptions_caught": sum(f["interruptions_caught"] for f in group),
        "stop_ms_p50": percentile(stops, 50),
        "stop_ms_p95": percentile(stops, 95),
        "paused_within_240_ms": round(
            sum(s <= PAUSED_WITHIN_MS for s in stops) / every, 3
        ) if every else None,
    }  # fmt: skip


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="per background and SNR")
    parser.add_argument("--snr", type=float, nargs="+", default=[20.0, 10.0, 5.0])
    parser.add_argument("--backgrounds", nargs="+", default=list(BACKGROUNDS))
    parser.add_argument(
        "--pipelines", nargs="+", default=["energy", "model"], choices=list(PIPELINES)
    )
    parser.add_argument(
        "--suppression",
        action="store_true",
        help="also STOI, delay and CPU of noise suppression (10 dB SNR)",
    )
    parser.add_argument("--json", help="where to write the figures (default: bench/results/)")
    parser.add_argument(
        "--callers",
        nargs="+",
        default=list(DEFAULT_CALLERS),
        choices=[*CALLERS, "all"],
        help="who calls, each in turn (all: every voice of CALLERS; the figures per caller "
        "and per engine)",
    )
    parser.add_argument(
        "--low-hz",
        type=int,
        default=300,
        help="the telephone band's low edge for the caller and the background, Hz (300: an "
        "analogue line's, ITU-T G.712; 100: a digital or mobile line's)",
    )
    parser.add_argument(
        "--caller-margin-db",
        default=str(ModelVadConfig().caller_margin_db),
        help="the model detector's gate below the caller's level ('off': none)",
    )
    parser.add_argument(
        "--low-band",
        choices=("on", "off"),
        default="on" if ModelVadConfig().low_band else "off",
        help="the model detector's 100-300 Hz provisional start (LOW_BAND_START)",
    )
    parser.add_argument(
        "--calls",
        type=int,
        help="instead: CPU per call-second of the caller path at this many calls at once",
    )
    parser.add_argument("--cpu-seconds", type=float, default=10.0, help="with --calls")
    parser.add_argument(
        "--cpu-modes",
        default="energy,model,batched",
        help="with --calls: energy, model (each call steps alone), batched",
    )
    parser.add_argument(
        "--engines",
        default="numpy",
        help="what runs the model: numpy or onnx (with --calls a list, each in turn: numpy,onnx)",
    )
    parser.add_argument("--lines", default="noisy,quiet", help="with --calls: noisy, quiet")
    args = parser.parse_args(argv)
    if args.callers == ["all"]:
        args.callers = list(CALLERS)
    if args.calls:
        return cpu_main(
            args.calls,
            args.cpu_seconds,
            args.json,
            modes=args.cpu_modes.split(","),
            engines=args.engines.split(","),
            lines=args.lines.split(","),
        )
    if args.engines != "numpy":
        _use_engine(args.engines)
    margin = None if args.caller_margin_db == "off" else float(args.caller_margin_db)
    model = ModelVadConfig(caller_margin_db=margin, low_band=args.low_band == "on")
    results: dict[str, Any] = {}
    rows = []
    engines: dict[tuple[str, float, str, str], list[dict[str, Any]]] = {}
    for snr in args.snr:
        for kind in args.backgrounds:
            for caller in args.callers:
                log(f"{kind} at {snr:g} dB SNR, caller {caller}")
                figures = measure(kind, snr, args.seconds, args.pipelines, model, args.low_hz,
                                  CALLERS[caller])  # fmt: skip
                key = f"{kind}@{snr:g}dB" if caller == MIX else f"{kind}@{snr:g}dB/{caller}"
                results[key] = figures
                for pipeline, f in figures.items():
                    group = engines.setdefault((kind, snr, pipeline, engine_of(caller)), [])
                    group.append(f)
                    rows.append(table_row(f"{kind}, {caller}", snr, pipeline, f))
    by_engine: dict[str, Any] = {}
    engine_rows = []
    for (kind, snr, pipeline, engine), group in engines.items():
        f = pooled(group)
        by_engine[f"{kind}@{snr:g}dB/{pipeline}/{engine}"] = f
        engine_rows.append([
            kind, f"{snr:g}", pipeline, f"{engine} ({f['callers']})",
            fmt(f["false_pauses_per_min"], ".2f"), fmt(f["worst_caller_false_pauses_per_min"]),
            fmt(f["undone_per_min"], ".2f"), fmt(f["false_turns_per_min"], ".2f"),
            f"{f['interruptions_caught']}/{f['interruptions']}",
            fmt(f["stop_ms_p50"], ".0f"), fmt(f["stop_ms_p95"], ".0f"),
            fmt(f["paused_within_240_ms"], ".3f"),
        ])  # fmt: skip
    for figures in results.values():
        for f in figures.values():
            del f["stops_ms"]
    print(format_table(
        ["background", "SNR dB", "pipeline", "false pauses/min", "false turns/min",
         "interruptions caught", "resumed before the cut", "barge-in p50 ms", "p95 ms",
         "from onset p50", "p95",
         "stop p50", "p95", "audible p95",
         "audible to stop p50", "p95",
         "undone/min", "CPU ms/s"],
        rows,
    ))  # fmt: skip
    if len(args.callers) > 1:
        print(format_table(
            ["background", "SNR dB", "pipeline", "callers' engine", "false pauses/min",
             "worst caller", "of them undone/min", "false turns/min", "caught", "stop p50",
             "p95", "paused ≤240 ms"],
            engine_rows,
        ))  # fmt: skip
    suppression = None
    if args.suppression:
        suppression = {}
        for low_hz in SUPPRESSION_BANDS:
            log(f"noise suppression, speech and noise at {low_hz}-3400 Hz: STOI, delay, CPU")
            figures = suppression_figures(10.0, low_hz)
            suppression[f"{low_hz}-3400Hz"] = figures
            print(format_table(
                [f"background (10 dB SNR, {low_hz}-3400 Hz)", "STOI noisy", "STOI denoised"],
                [[k, fmt(v["noisy"]), fmt(v["denoised"])] for k, v in figures["stoi"].items()],
            ))  # fmt: skip
            print(f"suppression delay {figures['delay_ms']:.1f} ms, "
                  f"clean speech {figures['clean_gain_db']:+.1f} dB, "
                  f"CPU {figures['cpu_ms_per_call_s']:.1f} ms per call-second")  # fmt: skip
    path = write_json(
        {"machine": machine_info(), "engine": args.engines, "seconds": args.seconds,
         "low_hz": args.low_hz, "callers": {c: engine_of(c) for c in args.callers},
         "results": results, "by_engine": by_engine, "suppression": suppression},
        args.json, "noise",
    )  # fmt: skip
    log(f"figures in {path}")
    return 0


def _use_engine(engine: str) -> None:
    """Make the process's shared model the one ``engine`` runs (numpy or onnx)."""
    from sipgw.media.voice import silero as voice_model

    voice_model._shared = voice_model.SileroModel(engine=engine)  # noqa: SLF001


def cpu_main(
    calls: int,
    seconds: float,
    json_path: str | None,
    modes: Sequence[str] = ("energy", "model", "batched"),
    engines: Sequence[str] = ("numpy",),
    lines: Sequence[str] = ("noisy", "quiet"),
) -> int:
    """The ``--calls`` figures: each mode (the model's under each engine) on each line; a
    table and the JSON."""
    from sipgw.media import _accel

    group = max(1, calls // 10)
    results: dict[str, Any] = {}
    rows = []
    for line in lines:
        for mode in modes:
            for engine in engines if mode != "energy" else ("",):
                if engine:
                    _use_engine(engine)
                label = f"{mode} ({engine})" if engine else mode
                log(f"{calls} calls, {line} line, {label}")
                f = results[f"{line}/{label}"] = cpu_at(calls, seconds, group, mode, line)
                rows.append([line, label, fmt(f["cpu_ms_per_call_s"], ".2f"),
                             fmt(f.get("model_runs_per_s"), ".0f"),
                             fmt(f.get("streams_per_run"), ".1f")])  # fmt: skip
    print(f"{calls} calls, arrivals {group} calls a wake-up, media path {_accel.PATH}")
    print(format_table(
        ["caller line", "detector", "CPU ms per call-s", "model runs/s", "streams a run"], rows
    ))  # fmt: skip
    path = write_json(
        {"machine": machine_info(), "calls": calls, "seconds": seconds, "group": group,
         "media_path": _accel.PATH, "cpu": results},
        json_path, "noise-cpu",
    )  # fmt: skip
    log(f"figures in {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
