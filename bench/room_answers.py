"""Which room transcripts the assistant answers on the capacity bench's noisy calls, and why.

    python -m bench.room_answers [--calls 10] [--seconds 30] [--snr 10]
        [--backgrounds babble,street,tv,music] [--greeting 0.18] [--show-caller-room]
        [--json PATH]

The calls of ``bench.capacity --caller-audio noisy --stt-room transcribed`` without I/O: each
call's frames from its evenly spaced point of the loop (:mod:`bench.caller_audio`), one a
20 ms, through the assistant's caller path (:class:`~sipgw.agent.conversation.caller_audio.
CallerAudio` with the model detector, :class:`~sipgw.agent.turns.machine.TurnTaker` with the room
gate and the default early end, as the assistant builds them) and to the capacity bench's
speech-to-text fake (:class:`~sipgw.app.evaluation.fakes.assemblyai_script.
ScriptedTurnDetector`, the room transcribed) in the client's chunks (100 ms, the machine's
smaller and larger ones, at once on the machine's speech end), its finals 50 ms later, its
``ForceEndpoint`` when the machine ends a turn early. The agent greets (the capacity bench's
"Hi.", 180 ms; ``--greeting`` seconds), and plays the fakes' reply for each turn answered (cut
by a barge-in).

Each room turn of the fake (its words the room's line): when it began against the frames the
caller's voice is in (inside the sentence, within 300 ms after it, 0.3-1 s after, later),
whether a reply of the agent's overlapped it, what the machine did with its final (answered,
answered with the caller's words held before it, ``room_speech``, ``room_speech`` with the
caller's held words answered alone, or nothing: held) and the gate's count there (the
detector's speech near the caller's level since the previous final, ms). And the caller's
side: each of the fake's finals of the caller's words (a sentence, or a piece of one split
by the early end), whether a reply of the agent's carried its words (at once or later, held
and joined to the next), the machine recorded them as the room's (``room_speech``), or
neither by the call's end. Prints two tables and writes JSON. ``--show-caller-room``
prints each of the caller's finals recorded as the room's: the call, the background, the
final's time in the call, the caller's and the room's levels the detector had learned then
(and at the call's end), the gate's count and, frame by frame, what the detector heard
(:func:`_frame_mark`).
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from bench._harness import format_table, log, machine_info, write_json
from bench.caller_audio import BACKGROUNDS, FRAME, NoisyCaller, noisy_script
from bench.noisy_turns import GREETING_S, REPLY_S
from bench.room import Agent
from sipgw.agent.conversation.caller_audio import CallerAudio, NoiseSettings
from sipgw.agent.conversation.settings import BargeInSettings, EarlyEndSettings
from sipgw.agent.services.stt.base import (
    SttEvent,
    SttPartialTranscript,
    SttSpeechStarted,
    SttTurnEnded,
)
from sipgw.agent.turns.early_end import early_turn_end
from sipgw.agent.turns.machine import (
    CommitBargeIn,
    ForceTurnEnd,
    HeardFromRoom,
    MarkSpeechEnd,
    PauseAgent,
    ResumeAgent,
    SetSttChunk,
    StartReply,
    TurnAction,
    TurnTaker,
)
from sipgw.app.evaluation.fakes.assemblyai import DetectorAction, PartialDue, SpeechBegan, TurnDue
from sipgw.app.evaluation.fakes.assemblyai_script import CallerScript, ScriptedTurnDetector
from sipgw.app.evaluation.fakes.services import ServiceOptions
from sipgw.media.voice.vad import ModelVadConfig, VoiceDetector

__all__ = ["CallerTurn", "RoomTurn", "call", "main", "when"]

CHUNK_FRAMES = 5
"""The client's chunk (100 ms) when the machine asks for its configured size."""


@dataclass(frozen=True)
class RoomTurn:
    """One room turn of the fake and what the machine did with its final."""

    start_ms: int
    end_ms: int
    after_caller_ms: int | None
    """From the caller's last voiced frame before the turn to its start (None: none before)."""
    overlaps_caller: bool
    agent_during: bool
    """A reply (or the greeting) of the agent's overlapped the turn."""
    decision: str
    """``answered``, ``answered with held words``, ``room_speech``, ``room_speech, held
    words answered`` or ``held``."""
    gate_ms: int
    """The gate's count at the final: the detector's speech since the previous final."""


@dataclass(frozen=True)
class CallerTurn:
    """One final of the fake's with the caller's words, and what became of them."""

    text: str
    fate: str
    """``answered`` (a reply carried its words), ``room_speech`` (recorded as the room's) or
    ``not answered`` (neither by the call's end)."""
    detail: str = ""
    """Where and how the gate judged the final (``--show-caller-room``)."""


def when(turn: RoomTurn) -> str:
    """Where ``turn`` began against the caller's voice."""
    after = turn.after_caller_ms
    if turn.overlaps_caller:
        return "inside the caller's sentence"
    if after is not None and after <= 300:
        return "<= 300 ms after the caller's voice"
    if after is not None and after <= 1000:
        return "0.3-1 s after"
    return "in the caller's silence, > 1 s after"


class _Traced(ScriptedTurnDetector):
    """The fake, noting whether each turn it ends is the room's."""

    def __init__(self, script: CallerScript) -> None:
        super().__init__(script, room="transcribed")
        self.room_ends: list[bool] = []

    def _end_turn(self) -> TurnDue:
        turn = self._turn
        self.room_ends.append(turn is not None and turn.segment is None)
        return super()._end_turn()


def call(
    script: CallerScript,
    loop: bytes,
    offset: int,
    seconds: float,
    greeting_s: float = GREETING_S,
    kinds: Sequence[str] = BACKGROUNDS,
) -> tuple[list[RoomTurn], list[CallerTurn]]:
    """One call from the loop's frame ``offset``: its room turns and the caller's (module
    docstring); the greeting plays ``greeting_s``."""
    total = script.frames
    positions = [(offset + i) % total for i in range(int(seconds / 0.02))]
    frames = [loop[p * FRAME : (p + 1) * FRAME] for p in positions]
    voiced = [script.caller_speaks(p) for p in positions]
    stt = _Traced(script)
    barge = BargeInSettings()
    stage = CallerAudio(NoiseSettings(suppression=False, detector="model", model=ModelVadConfig()))
    agent = Agent(greeting_s)
    early = EarlyEndSettings()
    turns = TurnTaker(
        agent,
        commit_ms=barge.commit_ms,
        min_words=barge.min_words,
        vad=barge.vad,
        detector=stage.detector(barge.vad, lambda: agent.audible, lambda: agent.pending),
        early_end=early_turn_end(early.mode, early.silence_ms, 0.1),
        room_gate=True,
        duck_after_ms=barge.duck_after_ms,
    )
    latency = ServiceOptions().stt_final_latency_ms / 1000
    plays: list[tuple[float, float]] = [(0.0, agent.until)]
    queue: list[tuple[float, SttEvent, TurnDue | None]] = []
    pending: list[bytes] = []
    chunk = CHUNK_FRAMES
    out: list[RoomTurn] = []
    callers: list[tuple[float, str]] = []  # the caller's finals: when, their words
    said: list[tuple[float, str, bool]] = []  # what the machine did: when, words, answered

    def heard(actions: list[DetectorAction], now: float) -> None:
        for a in actions:
            if isinstance(a, SpeechBegan):
                queue.append((now, SttSpeechStarted(a.at_ms, now), None))
            elif isinstance(a, PartialDue):
                queue.append((now, SttPartialTranscript(a.text or "", 0, now, a.end_ms), None))
            else:
                final = SttTurnEnded(a.text or "", 0, (), now + latency, a.end_ms)
                queue.append((now + latency, final, a))

    def send(now: float) -> None:
        if pending:
            heard(stt.feed(b"".join(pending)), now)
            pending.clear()

    ends = 0
    vad = turns.vad
    trace: list[str] = []  # per frame: the detector's level against the caller's, the gate
    details: dict[float, tuple[str, str]] = {}  # a caller's final: where, levels; the trace
    for i, frame in enumerate(frames):
        now = agent.now = (i + 1) * 0.02
        actions: list[TurnAction] = list(turns.receive_audio(stage.process(frame), now))
        trace.append(_frame_mark(vad, agent.pending))
        pending.append(frame)
        force = False
        for a in actions:
            if isinstance(a, SetSttChunk):
                chunk = CHUNK_FRAMES if a.chunk_ms is None else max(1, a.chunk_ms // 20)
            elif isinstance(a, MarkSpeechEnd):
                send(now)
            elif isinstance(a, ForceTurnEnd):
                force = True
        if len(pending) >= chunk or force:
            send(now)
        if force:
            heard(stt.force_endpoint(), now)
        queue.sort(key=lambda e: e[0])
        while queue and queue[0][0] <= now:
            _, event, due = queue.pop(0)
            gate_ms = turns._room.caller_frames * 20  # noqa: SLF001 - the gate's count, read only
            levels = f"caller={_db(vad.caller_dbfs)} room={_db(vad.room_dbfs)} gate={gate_ms}ms"
            got = turns.receive_stt(event, now)
            actions += got
            if due is None:
                continue
            room, ends = stt.room_ends[ends], ends + 1
            said += [(now, a.text, True) for a in got if isinstance(a, StartReply)]
            said += [(now, a.text, False) for a in got if isinstance(a, HeardFromRoom)]
            if room:
                out.append(_room_turn(due, got, voiced, plays, gate_ms))
            elif due.text and due.text.strip():
                callers.append((now, due.text.strip()))
                segment = script.sentence_at(positions[due.start_ms // 20])[0]
                first, last = max(0, due.start_ms // 20 - 5), due.end_ms // 20 + 3
                details[now] = (
                    f"{kinds[segment % len(kinds)]} at {due.start_ms / 1000:.2f}-"
                    f"{due.end_ms / 1000:.2f} s, at the final {levels}",
                    _marks(trace[first:last]),
                )
        for a in actions:
            if isinstance(a, PauseAgent):
                agent.paused = True
            elif isinstance(a, ResumeAgent):
                agent.paused = False
            elif isinstance(a, CommitBargeIn):
                agent.paused = False
                agent.until = now
                plays[-1] = (plays[-1][0], min(plays[-1][1], now))
            elif isinstance(a, StartReply):
                if not any(a.text == text for t, text, _ in said if t == now):
                    said.append((now, a.text, True))  # held words answered after their quiet
                agent.play(now, REPLY_S)
                plays.append((now, agent.until))
    stage.close()
    end = (
        f"; at the call's end caller={_db(vad.caller_dbfs)} room={_db(vad.room_dbfs)}, the room"
        f" re-learned {getattr(vad, 'rooms_forgotten', 0)} times\n    "
    )
    return out, [
        _caller_turn(at, text, said, end.join(details.get(at, ("", "")))) for at, text in callers
    ]


def _db(level: float | None) -> str:
    """A level in dBFS, ``-`` when not known."""
    return "-" if level is None else f"{level:.1f}"


def _frame_mark(vad: VoiceDetector, queued: bool) -> str:
    """One frame as the detector heard it (``--show-caller-room``): ``.`` quiet, ``,`` quiet
    within its speech (the hangover); loud within its speech: the caller's level less the
    frame's in whole dB (``0``-``9``, ``+`` over it, ``#`` 10 or more under), ``S`` with the
    caller's level unknown; loud outside its speech (not counted): ``s``. In brackets while
    the agent's audio is queued (``queued``: :func:`_marks` joins the stretch)."""
    if not vad.loud:
        mark = "," if vad.speaking else "."
    elif not vad.speaking:
        mark = "s"
    elif vad.caller_dbfs is None:
        mark = "S"
    else:
        under = vad.caller_dbfs - vad.level_dbfs
        mark = "+" if under < 0 else "#" if under >= 10 else str(int(under))
    return f"[{mark}]" if queued else mark


def _marks(frames: Sequence[str]) -> str:
    """:func:`_frame_mark`'s marks in a row, one pair of brackets around each stretch of
    frames heard while the agent's audio was queued."""
    return "".join(frames).replace("][", "")


def _caller_turn(
    at: float, text: str, said: Sequence[tuple[float, str, bool]], detail: str = ""
) -> CallerTurn:
    """What became of the caller's words ``text`` (their final handled at ``at``): the first
    reply or room record from then on that carries them (held words go into the next)."""
    for t, words, answered in sorted(said, key=lambda e: e[0]):
        if t >= at and text in words:
            return CallerTurn(text, "answered" if answered else "room_speech", detail)
    return CallerTurn(text, "not answered", detail)


def _room_turn(
    due: TurnDue,
    got: Sequence[TurnAction],
    voiced: Sequence[bool],
    plays: Sequence[tuple[float, float]],
    gate_ms: int,
) -> RoomTurn:
    first, end = due.start_ms // 20, due.end_ms // 20
    before = [j for j in range(first) if voiced[j]]
    replies = [a.text for a in got if isinstance(a, StartReply)]
    room = any(isinstance(a, HeardFromRoom) for a in got)
    if replies and not room:
        decision = "answered" if replies[0] == due.text else "answered with held words"
    elif room:
        decision = "room_speech, held words answered" if replies else "room_speech"
    else:
        decision = "held"
    return RoomTurn(
        start_ms=due.start_ms,
        end_ms=due.end_ms,
        after_caller_ms=(first - before[-1] - 1) * 20 if before else None,
        overlaps_caller=any(voiced[first:end]),
        agent_during=any(a < end * 0.02 and b > first * 0.02 for a, b in plays),
        decision=decision,
        gate_ms=gate_ms,
    )


def measure(
    calls: int, seconds: float, caller: NoisyCaller, greeting_s: float = GREETING_S
) -> tuple[list[RoomTurn], list[CallerTurn]]:
    """``calls`` calls of ``seconds`` from evenly spaced points of ``caller``'s loop, each
    greeted for ``greeting_s``."""
    loop, sentences = noisy_script(caller)
    script = CallerScript.from_loop(loop, sentences)
    rooms: list[RoomTurn] = []
    callers: list[CallerTurn] = []
    for n in range(calls):
        room, caller_turns = call(
            script, loop, n * script.frames // calls, seconds, greeting_s, caller.backgrounds
        )
        rooms += room
        callers += [replace(t, detail=f"call {n}: {t.detail}") for t in caller_turns]
    return rooms, callers


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    p = argparse.ArgumentParser(prog="python -m bench.room_answers", description=__doc__)
    p.add_argument("--calls", type=int, default=10)
    p.add_argument("--seconds", type=float, default=30.0)
    p.add_argument("--snr", type=float, default=10.0)
    p.add_argument("--backgrounds", default=",".join(BACKGROUNDS))
    p.add_argument("--greeting", type=float, default=GREETING_S, help="the greeting's seconds")
    p.add_argument(
        "--show-caller-room",
        action="store_true",
        help="print each of the caller's finals recorded as the room's: the call, background,"
        " time, the learned levels, the gate's count and what the detector heard",
    )
    p.add_argument("--json", help="report path ('-' = stdout; default bench/results/...)")
    args = p.parse_args(argv)
    caller = NoisyCaller(snr_db=args.snr, backgrounds=tuple(args.backgrounds.split(",")))
    log(f"{args.calls} calls of {args.seconds:g} s over {args.backgrounds}, {args.snr:g} dB")
    turns, callers = measure(args.calls, args.seconds, caller, args.greeting)
    rows: Counter[tuple[str, str, str]] = Counter(
        (when(t), "yes" if t.agent_during else "no", t.decision) for t in turns
    )
    gates: dict[tuple[str, str, str], list[int]] = {}
    for t in turns:
        gates.setdefault((when(t), "yes" if t.agent_during else "no", t.decision), []).append(
            t.gate_ms
        )
    headers = ["room turn began", "agent's reply over it", "decision", "turns", "gate ms"]
    table: list[list[str]] = []
    for key, n in sorted(rows.items()):
        g = gates[key]
        table.append([*key, str(n), f"{min(g)}-{max(g)}"])
    print(format_table(headers, table))
    fates = Counter(t.fate for t in callers)
    sentences: Counter[tuple[str, str]] = Counter((t.text, t.fate) for t in callers)
    print()
    print(
        format_table(
            ["the caller's words (a final of the fake's)", "what became of them", "finals"],
            [[text, fate, str(n)] for (text, fate), n in sorted(sentences.items())],
        )
    )
    if args.show_caller_room:
        for c in callers:
            if c.fate == "room_speech":
                print(f"{c.text!r} {c.detail}")
    log(
        f"room turns answered {sum(t.decision.startswith('answered') for t in turns)} of "
        f"{len(turns)}; the caller's finals {len(callers)}: answered {fates['answered']}, "
        f"room_speech {fates['room_speech']}, not answered {fates['not answered']}"
    )
    report: dict[str, Any] = {
        "machine": machine_info(),
        "calls": args.calls,
        "seconds": args.seconds,
        "snr_db": args.snr,
        "backgrounds": args.backgrounds,
        "greeting_s": args.greeting,
        "room_turns": len(turns),
        "answered": sum(t.decision.startswith("answered") for t in turns),
        "caller_finals": len(callers),
        "caller_answered": fates["answered"],
        "caller_room_speech": fates["room_speech"],
        "caller_not_answered": fates["not answered"],
        "rows": [
            {"began": k[0], "agent_during": k[1] == "yes", "decision": k[2], "turns": n}
            for k, n in sorted(rows.items())
        ],
    }
    write_json(report, args.json, "room_answers")
    return 0


if __name__ == "__main__":
    sys.exit(main())
