"""The assistant places calls with answering-machine detection to real baresip callees.

The gateway runs in-process with the assistant on the three fake AI services (real
sockets, in threads); the fake TTS speaks each line as a tone (a frequency per line), so
the callee's recording shows what it heard and when. baresip auto-answers and plays a
WAV made with espeak-ng (``tests.toolkit.amdset``): a voicemail greeting and its beep, a
person's "Hello?", or a phone's call screener. The fake speech recognizer turns each
stretch of speech into the next scripted transcript (without a final full stop, a turn
ends after 1 s of silence, so a greeting's pauses do not split it), as AssemblyAI would
send words.

Times are read in the callee's files: what it played and what it recorded both start
with the call's audio; ``SLACK`` covers the two sides' start-up and a loaded machine. Where
a few tenths of a second matter they are read on the wire instead (``RtpCapture``): the
recording holds the packets the callee got, not the time between them, so a gap in the
gateway's audio (its media ticker skips what it cannot catch up after a stall) moves what
comes after it earlier.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from sipgw.agent.amd.detector import AnsweringMachineDetector
from sipgw.agent.amd.events import AmdEvent
from sipgw.agent.amd.settings import AmdMode, AmdRequest
from sipgw.app.evaluation.audio import analyse, first_audio_after, write_wav
from sipgw.app.evaluation.fakes.openai import FakeResponse
from tests.interop.test_amd_peers import (
    CallPorts,
    Played,
    assert_after_the_beep,
    greeting_wav,
    place_to_baresip,
    this_calls_packets,
    tone_packets,
)
from tests.interop.test_assistant_peers import call_record, spans
from tests.toolkit.amdset.channel import scale_to, tone
from tests.toolkit.amdset.labelled import speak
from tests.toolkit.amdset.speech import RATE, Voice
from tests.toolkit.fakes.threaded import ThreadedFakes, fakes_in_threads
from tests.toolkit.wire import RtpCapture, WirePacket

pytestmark = [pytest.mark.timeout(120), pytest.mark.usefixtures("nothing_left_running")]

SLACK = 0.25
FINAL_LATE = 1.2
"""The fake recognizer's latency for a turn's final words, on top of the 1 s of silence
that ends its turn: they come after the 2 s of silence that start a message when no tone
was announced, but before the beep."""
BEEP_AFTER = 2.5
"""The voicemail's beep, after its last word: more than the 2 s of silence that start a
message when no tone was announced, less than the 4 s an announced one is waited for."""
HELLO_BUDGET = 0.3
"""The issue's promise: at most 300 ms added before a person who said "Hello?" hears the agent."""
HELLO_SLACK = 0.1
"""On top of it, for a loaded machine's scheduling (five frames); on the wire, the agent's
first audible packet comes 0.24-0.27 s after the "Hello?" ends, alone or with 1.5-2 cores
kept busy (12 runs, 2026-11-27), and came 0.365 s after it once in a full CI run (the
suite's two workers and their peers on the 2 cores, 2026-11-28). The 240 ms are the rule
(``SIPGW_AMD_HUMAN_SILENCE``, docs/amd.md); what is over them is the machine's scheduling."""
OPENING_HEARD = 3.5
"""Seconds a person's phone stays on after their words: the opening starts within the
budget above and lasts about 1.2 s (20 ms a character), so it is heard whole with 2 s to
spare."""
STALL = 0.3
"""Seconds the gateway's loop is kept from running in a stall test (bench.awaited_turns's
``--gateway-stall-ms`` stops its process for 0.2-0.6 s)."""
LAST_WORD = 0.1
"""Seconds before a person's words end in which nothing of the agent may be heard: the end
of their last word (five frames)."""
MESSAGE_HZ, OPENING_HZ, SCREENER_HZ = 900, 1300, 1700
MESSAGE = "Hi, this is Ana from the shop, please call us back about your order."
SCREENER_LINE = "This is Ana from the shop, calling Bob about his order."
VOICEMAIL = (
    "Hi, you've reached Ana Lopez. I can't take your call right now. "
    "Please leave your name and number after the tone."
)
PROMPT = (
    "Hi, I'm Call Assist by Google, recording this call for the person you're trying to "
    "reach. Can I ask what you're calling about?"
)


@pytest.fixture
def services(tmp_workdir: Path) -> Iterator[ThreadedFakes]:
    tones = {"call us back": MESSAGE_HZ, "calling about": OPENING_HZ, "calling Bob": SCREENER_HZ}
    with fakes_in_threads(tmp_workdir, tones, caller="speech") as fakes:
        yield fakes


def words(text: str) -> str:
    """A transcript as u3-rt-pro words it before formatting: no final full stop, so the
    fake recognizer ends the turn after a second of silence, not at each pause."""
    return text.rstrip(".?!").lower()


async def place(
    tmp_workdir: Path, services: ThreadedFakes, wav: Path, mode: AmdMode, hang_up_after: float
) -> tuple[Path, list[dict[str, object]], object, CallPorts]:
    """Call a baresip that plays ``wav``; the callee hangs up after ``hang_up_after`` s unless
    the gateway did first. Returns what the callee heard, the call record, the outcome
    and the RTP ports of both ends."""
    env = {**services.env, "SIPGW_AMD_MESSAGE": MESSAGE, "SIPGW_AMD_SCREENER_LINE": SCREENER_LINE}
    heard, outcome, ports = await place_to_baresip(
        tmp_workdir, wav, "assistant", env, AmdRequest(mode), hang_up_after
    )
    return heard, call_record(tmp_workdir), outcome, ports


async def place_on_the_wire(
    tmp_workdir: Path, services: ThreadedFakes, wav: Path, mode: AmdMode, hang_up_after: float
) -> tuple[Path, list[dict[str, object]], object, CallPorts, list[WirePacket]]:
    """:func:`place`, and the packets on ``lo`` meanwhile (:class:`RtpCapture`)."""
    with RtpCapture() as capture:
        heard, record, outcome, ports = await place(tmp_workdir, services, wav, mode, hang_up_after)
        return heard, record, outcome, ports, capture.packets()


async def call_a_person(
    tmp_workdir: Path, services: ThreadedFakes, played: Played
) -> tuple[Path, list[dict[str, object]], object, CallPorts, list[WirePacket]]:
    """:func:`place_on_the_wire` in ``leave_message`` mode to a person who says ``played``;
    they stay on for :data:`OPENING_HEARD` after their words."""
    return await place_on_the_wire(
        tmp_workdir,
        services,
        played.wav,
        AmdMode.LEAVE_MESSAGE,
        hang_up_after=played.speech_end + OPENING_HEARD,
    )


async def test_a_voicemail_gets_the_message_after_its_beep(
    tmp_workdir: Path, services: ThreadedFakes
) -> None:
    """The greeting says "... after the tone" and its beep comes 2.5 s after its last word,
    later than the 2 s of silence that start a message when no tone was announced: the
    message waits for the beep (docs/amd.md, "When the message may start"), even though
    the recognizer's final words, the ones that promise the tone, come only 2.2 s after the
    greeting (its turn ends after 1 s of silence, then 1.2 s of latency: what a loaded
    machine added once, when the silence started the message 1 s before the beep).

    Where the beep and the message are is read on the wire, one clock for both, the
    kernel's (the callee's recording leaves out the RTP it did not play in time: on a
    loaded machine it lost 0.9 s once)."""
    played = greeting_wav(
        tmp_workdir / "voicemail.wav", VOICEMAIL, beep_hz=1000.0, beep_after=BEEP_AFTER
    )
    assert played.beep is not None
    services.stt.script([words(VOICEMAIL)])
    services.stt.final_latency = FINAL_LATE
    heard, record, outcome, ports, packets = await place_on_the_wire(
        tmp_workdir, services, played.wav, AmdMode.LEAVE_MESSAGE, hang_up_after=25.0
    )
    assert outcome.reason == "local-bye", outcome  # type: ignore[attr-defined]
    amd = outcome.amd  # type: ignore[attr-defined]
    assert amd["kind"] == "voicemail" and amd["action"] == "message" and amd["final"], amd
    readies = [(r["cause"], r["after_answer_ms"]) for r in record if r["type"] == "amd_ready"]
    assert [cause for cause, _ in readies] == ["beep"], readies
    packets = this_calls_packets(packets, ports, MESSAGE_HZ)
    beep = tone_packets(packets, 1000.0)
    message = tone_packets(packets, MESSAGE_HZ)
    assert beep and message, (len(packets), len(beep), len(message))
    assert beep[0].src_port == message[0].dst_port  # the callee's beep, the gateway's message
    # on the wire: the message starts after the beep as the callee sent it ...
    assert_after_the_beep(packets, beep, message)
    # ... and was asked of the TTS after it (its request, on the fake's clock). The record
    # says the beep started it, not a silence; how soon after the beep's end detection is
    # sure is timed on the gateway's own clock in test_amd_peers.py (0.1 s and a frame): on
    # the wire it also holds the TTS's latency, and a loaded machine's delays (0.54 s once
    # where 0.13 s is usual)
    (said,) = [u for u in services.tts.utterances if u.freq == MESSAGE_HZ]
    assert said.requested_at is not None and said.requested_at > beep[-1].at, (said, beep[-1])
    # ... and goes out whole (the fake TTS: 20 ms a character), then the call ends
    sent = len(message) * 0.020
    assert sent >= len(MESSAGE) * 0.020 - 0.3, (sent, len(message))
    assert spans(analyse(heard), MESSAGE_HZ), analyse(heard).describe()  # the callee heard it
    assert not tone_packets(packets, OPENING_HZ)  # no conversation with a machine
    kinds = [r["type"] for r in record]
    assert kinds.index("amd_ready") < kinds.index("hangup")


async def test_hang_up_mode_hangs_up_on_a_voicemail_and_says_nothing_to_it(
    tmp_workdir: Path, services: ThreadedFakes
) -> None:
    """``hang_up``: the voicemail greeting is hung up on by its words or its beep (never on
    its length alone); the recording hears nothing of the agent, the opening the LLM wrote
    at the answer included."""
    played = greeting_wav(tmp_workdir / "voicemail.wav", VOICEMAIL, beep_hz=1000.0)
    assert played.beep is not None
    services.stt.script([words(VOICEMAIL)])
    services.llm.script(
        [FakeResponse(text="Hi, this is Ana from the shop, calling about your order.")]
    )
    heard, record, outcome, _ = await place(
        tmp_workdir, services, played.wav, AmdMode.HANG_UP, hang_up_after=25.0
    )
    assert outcome.reason == "local-bye", outcome  # type: ignore[attr-defined]
    amd = outcome.amd  # type: ignore[attr-defined]
    assert amd["kind"] == "voicemail" and amd["action"] == "hang_up" and amd["final"], amd
    actions = [r["action"] for r in record if r["type"] == "amd_action"]
    assert actions == ["hang_up"], actions
    decisions = [(r["kind"], r["evidence"]) for r in record if r["type"] == "amd"]
    assert decisions[-1][0] == "voicemail" and decisions[-1][1] in ("words", "tone"), decisions
    report = analyse(heard)
    assert first_audio_after(report, 0.0) is None, report.describe()  # nothing was said
    # hung up by its words or its beep: by the beep's end and the detector's 0.1 s at most
    duration = outcome.duration  # type: ignore[attr-defined]
    assert duration <= played.beep[1] + 0.2 + SLACK, (duration, played.beep)


@dataclass(frozen=True)
class SpeechOnTheWire:
    """The end of the callee's speech (its "Hello?", a screener's prompt) and the agent's
    packets to it on the wire (the kernel's clock)."""

    speech_end: float
    """When the callee's speech ended: the arrival of its packet holding the speech's end,
    less the part of that packet after it."""
    heard: tuple[WirePacket, ...]
    """The gateway's packets to the callee, in order."""

    @property
    def audible(self) -> tuple[float, ...]:
        """The arrivals of the gateway's audible packets to the callee (20 ms frames over
        -40 dBFS, as :func:`first_audio_after` hears one), in order."""
        return tuple(
            p.at for p in self.heard if p.packet.payload_type == 0 and p.level_dbfs() > -40.0
        )

    @property
    def first_audible(self) -> float | None:
        """The first of :attr:`audible`, None if none."""
        return next(iter(self.audible), None)

    def first_audible_after(self, at: float) -> float | None:
        """The first of :attr:`audible` after ``at``, None if none."""
        return next((t for t in self.audible if t > at), None)

    def audible_over_the_end(self) -> list[float]:
        """The audible packets in the last :data:`LAST_WORD` s of the speech, as seconds
        from its end (the agent over the end of the callee's last word)."""
        return [t - self.speech_end for t in self.audible if -LAST_WORD < t - self.speech_end <= 0]

    def first_tone(self, hz: float) -> float | None:
        """The arrival of the gateway's first packet to the callee that is a ``hz`` tone."""
        tones = tone_packets(list(self.heard), hz)
        return tones[0].at if tones else None


def speech_on_the_wire(
    packets: list[WirePacket], ports: CallPorts, speech_end: float
) -> SpeechOnTheWire:
    """Find the call by the opening's tone from the gateway to the callee (other tests'
    calls share the loopback: :class:`CallPorts`), then the end of the callee's speech
    (``speech_end`` into its file) by its packets' RTP timestamps (baresip sends its file
    from its start, every frame, one timestamp clock: the file's time) and the gateway's
    audible packets."""
    pairs = {
        (p.src_port, p.dst_port) for p in tone_packets(packets, OPENING_HZ) if ports.from_gateway(p)
    }
    assert len(pairs) == 1, pairs
    ((gateway, callee),) = pairs
    sent = [p for p in packets if (p.src_port, p.dst_port) == (callee, gateway)]
    sent = [p for p in sent if p.packet.payload_type == 0]
    start = sent[0].packet.timestamp
    for p in sent:
        position = ((p.packet.timestamp - start) % 2**32 + len(p.packet.payload)) / RATE
        if position >= speech_end:
            end = p.at - (position - speech_end)
            break
    else:
        raise AssertionError(f"the callee's packets end before its word: {speech_end}")
    heard = (p for p in packets if (p.src_port, p.dst_port) == (gateway, callee))
    return SpeechOnTheWire(end, tuple(heard))


async def test_hello_hears_the_agent_at_once(tmp_workdir: Path, services: ThreadedFakes) -> None:
    """The issue's promise: a person who says "Hello?" hears the agent no more than 300 ms
    after their word ends (detection's 240 ms of silence, a frame, the media path; the fake
    LLM and TTS answer at once): the gateway's first audible packet after the callee's own
    speech ends, whatever the tone (the opening's first clause may have a tone of its own),
    and nothing audible before (the agent never spoke over it).

    Timed on the wire, one clock for both, the kernel's: the callee's recording counts the
    packets it got, not the time between them, so when the gateway's media ticker skips
    frames after a stall (timestamps kept on wall time, no packets: sipgw/media/pacer.py)
    what comes after moves earlier in it. A stall of 0.28-0.84 s at the call's start (the
    model detector's model loaded at the first call, on the event loop) put the opening on
    the recording up to 0.51 s before the "Hello?" ended, 0.24-0.30 s after it on the wire."""
    played = greeting_wav(tmp_workdir / "hello.wav", "Hello?", beep_hz=None)
    services.stt.script(["Hello?"])
    services.llm.script(
        [FakeResponse(text="Hi, this is Ana from the shop, calling about your order.")]
    )
    heard, record, outcome, ports, packets = await call_a_person(tmp_workdir, services, played)
    amd = outcome.amd  # type: ignore[attr-defined]
    assert amd["kind"] == "human" and amd["action"] == "conversation", amd
    report = analyse(heard)
    assert spans(report, OPENING_HZ), report.describe()  # the opening itself was heard
    wire = speech_on_the_wire(packets, ports, played.speech_end)
    assert wire.first_audible is not None, report.describe()
    added = wire.first_audible - wire.speech_end
    assert added > 0, (wire, played.speech_end)  # not over the "Hello?"
    assert added <= HELLO_BUDGET + HELLO_SLACK, (added, wire)
    decision = next(r for r in record if r["type"] == "amd")
    assert decision["reason"] == "short greeting"


async def test_a_person_who_says_their_name_hears_the_whole_opening(
    tmp_workdir: Path, services: ThreadedFakes
) -> None:
    """ "Hi, this is Ana Lopez." (longer than the 0.6 s of speech that commits a barge-in):
    the opening, held since the answer, starts 240 ms after it and plays whole. The
    callee's words before it are the turn it answers, not an interruption (it was cut at
    once when the held opening counted as started at the answer)."""
    played = greeting_wav(tmp_workdir / "name.wav", "Hi, this is Ana Lopez.", beep_hz=None)
    assert played.speech_end - 0.4 > 0.8, played  # 0.4 s of silence before it
    services.stt.script(["Hi, this is Ana Lopez."])
    opening = "Hi Ana, this is Sam from the shop, calling about your order."
    services.llm.script([FakeResponse(text=opening)])
    heard, record, outcome, ports, packets = await call_a_person(tmp_workdir, services, played)
    amd = outcome.amd  # type: ignore[attr-defined]
    assert amd["kind"] == "human" and amd["action"] == "conversation", amd
    assert not [r for r in record if r["type"] == "barge_in"], record
    report = analyse(heard)
    assert spans(report, OPENING_HZ), report.describe()  # the opening itself was heard
    assert_begun_once_after_the_words(packets, ports, played.speech_end, record)
    # heard whole (the fake TTS speaks 20 ms a character), not cut as it began
    assert report.active_seconds >= len(opening) * 0.020 - 0.2, report.describe()


def assert_begun_once_after_the_words(
    packets: list[WirePacket], ports: CallPorts, speech_end: float, record: list[dict[str, object]]
) -> None:
    """On the wire (the callee's recording leaves out the frames the gateway's ticker skipped
    after a stall, which moves the opening earlier in it, even ahead of the words' end):
    nothing the agent said is audible before the callee's words end (``speech_end`` into
    its file), the opening (whatever the tone of its first clause) comes within the budget
    after them, and it began once (it never began at a pause in them and yielded)."""
    wire = speech_on_the_wire(packets, ports, speech_end)
    assert wire.first_audible is not None, wire
    added = wire.first_audible - wire.speech_end
    assert 0 < added <= HELLO_BUDGET + HELLO_SLACK, (added, wire.speech_end)
    actions = [r["action"] for r in record if r["type"] == "amd_action"]
    assert actions == ["begin"], actions


async def test_a_stall_of_the_gateway_in_a_person_s_words_does_not_begin_over_them(
    tmp_workdir: Path, services: ThreadedFakes, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ "Hi, this is Ana Lopez.", and the gateway's event loop kept from running for 0.3 s
    at the first quiet frame inside the words (a short pause between them, or a
    consonant's): what the callee sent meanwhile is read together when it runs again. The
    opening begins once, after the words end, as it does without the stall. Timed at its
    arrival, the first of those frames came 0.3 s after the words before it: a person's
    silence, and the opening began over "this is Ana Lopez" (and started over: the agent
    talked over the person it called on a loaded machine)."""
    stalls: list[float] = []
    receive = AnsweringMachineDetector.receive_audio

    def stalling(
        detector: AnsweringMachineDetector, frame: bytes | None, now: float
    ) -> tuple[AmdEvent, ...]:
        events = receive(detector, frame, now)
        if not stalls and detector.classifier.in_speech and detector.classifier.cadence.run == 0:
            stalls.append(now)
            time.sleep(STALL)  # the gateway's loop, kept from running
        return events

    monkeypatch.setattr(AnsweringMachineDetector, "receive_audio", stalling)
    played = greeting_wav(tmp_workdir / "name.wav", "Hi, this is Ana Lopez.", beep_hz=None)
    services.stt.script(["Hi, this is Ana Lopez."])
    services.llm.script(
        [FakeResponse(text="Hi Ana, this is Sam from the shop, calling about your order.")]
    )
    heard, record, outcome, ports, packets = await call_a_person(tmp_workdir, services, played)
    assert len(stalls) == 1, stalls
    decisions = [(r["kind"], r["reason"]) for r in record if r["type"] == "amd"]
    assert decisions == [("human", "short greeting")], decisions
    assert spans(analyse(heard), OPENING_HZ), analyse(heard).describe()
    assert_begun_once_after_the_words(packets, ports, played.speech_end, record)


async def test_a_long_office_pickup_is_talked_to_never_hung_up_on(
    tmp_workdir: Path, services: ThreadedFakes
) -> None:
    """The hard case on a real call, in ``hang_up`` mode: a person answering "Hello, this
    is Doctor Smith's office, how can I help you?" speaks for longer than a person's pickup
    (1.8 s). Held for its words rather than taken for a voicemail while it is spoken, it is
    a person at a pause in its sentence or by its words; never hung up on. If the agent
    began at a pause inside it (after "office,"), it yielded when they went on: its opening
    starts over, whole, after their last word (within the 300 ms a "Hello?" gets), and
    nothing of what they said is a barge-in or answered again."""
    text = "Hello, this is Doctor Smith's office, how can I help you?"
    opening = "Hi, this is Ana from the shop, calling about your order."
    played = greeting_wav(tmp_workdir / "office.wav", text, beep_hz=None)
    assert played.speech_end - 0.4 > 1.8 + 0.5, played  # longer than a person's pickup
    # u3-rt-pro: a partial at each pause between its clauses and words, the final at its
    # end: the fake hears its speech from 0.44 s into the file to 3.84 s, with its last
    # pause of 100 ms or more ("help | you") at 3.56 s
    services.stt.script_sentence(text, speech_ms=3300)
    services.llm.script([FakeResponse(text=opening)])
    heard, record, outcome, ports, packets = await place_on_the_wire(
        tmp_workdir,
        services,
        played.wav,
        AmdMode.HANG_UP,
        hang_up_after=played.speech_end + 5,
    )
    assert outcome.reason == "remote-bye", outcome  # type: ignore[attr-defined]
    amd = outcome.amd  # type: ignore[attr-defined]
    assert amd["kind"] == "human" and amd["action"] == "conversation", amd
    decisions = [(r["kind"], r["reason"]) for r in record if r["type"] == "amd"]
    assert all(kind == "human" for kind, _ in decisions), decisions  # never a machine
    actions = [r["action"] for r in record if r["type"] == "amd_action"]
    assert actions[-1] == "begin" and set(actions) <= {"begin", "yield"}, actions
    assert not [r for r in record if r["type"] == "barge_in"], record
    assert len(services.llm.requests) == 1  # their words are the turn the opening answers
    assert spans(analyse(heard), OPENING_HZ), analyse(heard).describe()
    # On the wire: the recording leaves out what the callee's jitter buffer dropped (0.42 s
    # once in a whole run, which put the restart 0.2 s before the words' end in it while the
    # gateway began 0.15 s after it). Nothing of the agent over their last word (a begin at
    # a pause earlier in it has yielded by then) ...
    wire = speech_on_the_wire(packets, ports, played.speech_end)
    assert not wire.audible_over_the_end(), (wire.audible_over_the_end(), actions)
    # ... the opening starts over after it within the budget ...
    first = wire.first_audible_after(wire.speech_end)
    assert first is not None, wire
    assert first - wire.speech_end <= HELLO_BUDGET + HELLO_SLACK, (first - wire.speech_end, actions)
    # ... from its first word, whole (the fake TTS speaks 20 ms a character; a tone a clause)
    whole = len([t for t in wire.audible if t >= first]) * 0.020
    assert whole >= len(opening) * 0.020 - 0.2, (whole, len(opening))


def screener_wav(path: Path) -> tuple[Path, float, float]:
    """The screener's prompt, 5 s for the answer, "Please stay on the line.", 2.5 s, then the
    person's "Hello?"; returns the file, the prompt's end and the "Hello?"'s end."""
    voice = Voice("en-us", 165, 45)
    rng = random.Random(3)
    lead = 0.4
    samples = [0.0] * round(lead * RATE)
    prompt = speak(PROMPT, voice, rng, start=lead)
    samples += scale_to(prompt.samples, -20.0)
    prompt_end = len(samples) / RATE
    samples += [0.0] * 5 * RATE
    samples += scale_to(speak("Please stay on the line.", voice, rng).samples, -20.0)
    samples += [0.0] * round(2.5 * RATE)
    person = speak("Hello?", Voice("en-gb", 150, 60), rng)
    samples += scale_to(person.samples, -18.0)
    hello_end = len(samples) / RATE
    samples += [0.0] * 30 * RATE
    write_wav(path, [round(v) for v in samples])
    return path, prompt_end, hello_end


async def test_a_screener_is_answered_then_the_person_is_greeted(
    tmp_workdir: Path, services: ThreadedFakes
) -> None:
    """A phone's call screener asks who is calling; the agent answers once the question is
    over (0.8 s of silence), then greets the person who picks up.

    Timed on the wire, as :func:`test_hello_hears_the_agent_at_once` is and for its reason:
    in a full CI run the callee's recording put the answer 0.38 s after the prompt's end, as
    when the gateway's media ticker skipped frames after a stall and what came after them
    moved earlier in the recording."""
    wav, prompt_end, hello_end = screener_wav(tmp_workdir / "screener.wav")
    services.stt.script([words(PROMPT), words("Please stay on the line."), "Hello?"])
    services.llm.script(
        [  # the opening asked for at the answer (cut unheard: a screener answered), then
            # the greeting of the person who picks up after it
            FakeResponse(text="Hi, this is Ana from the shop."),
            FakeResponse(text="Hi Bob, this is Ana from the shop, calling about your order."),
        ]
    )
    heard, record, outcome, ports, packets = await place_on_the_wire(
        tmp_workdir, services, wav, AmdMode.LEAVE_MESSAGE, hang_up_after=hello_end + 5.0
    )
    report = analyse(heard)
    answers = spans(report, SCREENER_HZ)
    assert len(answers) == 1, report.describe()  # "please stay on the line": no second answer
    prompt = speech_on_the_wire(packets, ports, prompt_end)
    answer = prompt.first_tone(SCREENER_HZ)
    assert answer is not None, report.describe()
    # the screener's question is answered once it is over (0.8 s of silence), not during it
    after_prompt = answer - prompt.speech_end
    assert 0.6 < after_prompt <= 2.0 + SLACK, (after_prompt, prompt_end)
    # the person's "Hello?" is greeted after it, not over it: the greeting's first audible
    # packet, whatever its first clause's tone (the tone of "calling about" comes 0.7 s into
    # it; a whole run put it 1.84 s after the "Hello?" with the greeting begun 1.14 s after)
    hello = speech_on_the_wire(packets, ports, hello_end)
    assert not hello.audible_over_the_end(), hello.audible_over_the_end()
    greeting = hello.first_audible_after(hello.speech_end)
    assert greeting is not None and hello.first_tone(OPENING_HZ), report.describe()
    assert greeting - hello.speech_end <= 1.5 + SLACK, (greeting - hello.speech_end, hello_end)
    amd = outcome.amd  # type: ignore[attr-defined]
    assert amd["kind"] == "human" and amd["action"] == "conversation", amd
    actions = [r["action"] for r in record if r["type"] == "amd_action"]
    assert actions == ["screener_answer", "wait", "begin"], actions
    assert len(services.llm.requests) == 2
    history = services.llm.requests[-1].body["messages"]
    assert history[-1] == {"role": "user", "content": "Hello?"}  # the person's words only
    assert {"role": "assistant", "content": SCREENER_LINE} in history
    assert {"role": "assistant", "content": "Hi, this is Ana from the shop."} not in history


def segments_wav(
    path: Path, parts: list[tuple[str, float]], voice: Voice, beep_after: float | None = None
) -> tuple[Path, float, tuple[float, float] | None]:
    """0.4 s of silence, then each (text, pause after it), then maybe a 1 kHz beep of 0.5 s
    ``beep_after`` the last text, then 30 s of silence; returns the file, the end of the last
    text and the beep's start and end (seconds into the file)."""
    rng = random.Random(5)
    samples = [0.0] * round(0.4 * RATE)
    end = 0.0
    for text, pause in parts:
        samples += scale_to(speak(text, voice, rng).samples, -20.0)
        end = len(samples) / RATE
        samples += [0.0] * round(pause * RATE)
    beep = None
    if beep_after is not None:
        samples = samples[: round((end + beep_after) * RATE)]
        start = len(samples) / RATE
        samples += tone(1000.0, 0.5, -18.0)
        beep = (start, start + 0.5)
    samples += [0.0] * 30 * RATE
    write_wav(path, [round(v) for v in samples])
    return path, end, beep


async def test_a_person_who_asks_can_you_hear_me_is_a_person(
    tmp_workdir: Path, services: ThreadedFakes
) -> None:
    """Issue 44's first miss, on a real call: "Hello? | Hello, can you hear me?", spoken
    slowly (its speech passes the 1.8 s of a person's pickup), then waiting. A person at
    the "Hello?", never taken for a long greeting while they go on (the question holds the
    length for the next sentence's words, which name a person); the agent yields while they
    speak and its opening starts over, whole, within the 300 ms after their last word.

    Timed on the wire, as :func:`test_hello_hears_the_agent_at_once` is and for its reason:
    the callee's recording leaves out the frames the gateway skipped at the call's start, so
    in a CI run the restarted opening seemed to begin as the callee's words ended."""
    wav, speech_end, _ = segments_wav(
        tmp_workdir / "hear.wav", [("Hello?", 0.5), ("Hello, can you hear me?", 0.0)],
        Voice("en-us", 120, 45),
    )  # fmt: skip
    services.stt.script(["Hello?", "Hello, can you hear me?"])
    opening = "Hi, this is Ana from the shop, calling about your order."
    services.llm.script([FakeResponse(text=opening)])
    heard, record, outcome, ports, packets = await place_on_the_wire(
        tmp_workdir, services, wav, AmdMode.LEAVE_MESSAGE, hang_up_after=speech_end + 5.0
    )
    decisions = [(r["kind"], r["reason"]) for r in record if r["type"] == "amd"]
    assert decisions and all(kind == "human" for kind, _ in decisions), decisions
    amd = outcome.amd  # type: ignore[attr-defined]
    assert amd["kind"] == "human" and amd["action"] == "conversation", amd
    report = analyse(heard)
    assert spans(report, OPENING_HZ), report.describe()
    wire = speech_on_the_wire(packets, ports, speech_end)
    end = wire.speech_end
    # quiet as their words end (it yielded), then the opening again within the budget
    assert not [at for at in wire.audible if end - 0.02 < at <= end], (wire, decisions)
    first = wire.first_audible_after(end)
    assert first is not None, (wire, report.describe())
    assert first - end <= HELLO_BUDGET + HELLO_SLACK, (first - end, decisions)


async def test_a_voicemail_that_says_leave_a_message_after_a_pause_gets_the_message(
    tmp_workdir: Path, services: ThreadedFakes
) -> None:
    """Issue 44's second miss, on a real call: "It's Nina!" is a person and the agent
    begins; the greeting pauses for 1.5 s (the conversation's, by then), then says "Leave a
    message after the tone." and beeps. The words (or the beep) revise the decision late:
    the agent stops, and the message is left after the beep, not a conversation."""
    wav, speech_end, beep = segments_wav(
        tmp_workdir / "nina.wav", [("It's Nina!", 1.5), ("Leave a message after the tone.", 0)],
        Voice("en-us+f3", 165, 55), beep_after=0.6,
    )  # fmt: skip
    assert beep is not None
    # "It's Nina" as words (its turn ends after 1 s of silence): with its "!" a loaded run's
    # callee, stalled between "It's" and "Nina", ended the turn there, and the next line of
    # the script, "Leave a message ...", went to "Nina"
    services.stt.script([words("It's Nina!"), "Leave a message after the tone."])
    services.llm.script([FakeResponse(text="Hi, this is Ana from the shop, calling about it.")])
    heard, record, outcome, ports, packets = await place_on_the_wire(
        tmp_workdir, services, wav, AmdMode.LEAVE_MESSAGE, hang_up_after=25.0
    )
    decisions = [(r["kind"], r["reason"]) for r in record if r["type"] == "amd"]
    assert [kind for kind, _ in decisions] == ["human", "voicemail"], decisions
    assert decisions[1][1] in ("phrase 'leave a message'", "phrase 'after the tone'", "beep")
    actions = [r for r in record if r["type"] == "amd_action"]
    assert [r["action"] for r in actions][:1] == ["begin"], actions
    assert any(r["action"] == "stop" and r["late"] for r in actions), actions
    assert [r["action"] for r in actions][-1] == "message", actions
    amd = outcome.amd  # type: ignore[attr-defined]
    assert amd["kind"] == "voicemail" and amd["action"] == "message", amd
    assert spans(analyse(heard), MESSAGE_HZ), analyse(heard).describe()
    # where the beep and the message are is read on the wire, one clock for both (the
    # callee's recording leaves out what it did not play in time: in CI the message seemed
    # to start 0.11 s before the beep ended)
    packets = this_calls_packets(packets, ports, MESSAGE_HZ)
    beeped, message = tone_packets(packets, 1000.0), tone_packets(packets, MESSAGE_HZ)
    assert beeped and message, (len(packets), len(beeped), len(message))
    assert packets.index(message[0]) > packets.index(beeped[-1]), (beeped[-1], message[0])
    # ... asked of the TTS after the beep (how soon: the voicemail test's note)
    (said,) = [u for u in services.tts.utterances if u.freq == MESSAGE_HZ]
    assert said.requested_at is not None and said.requested_at > beeped[-1].at, said
