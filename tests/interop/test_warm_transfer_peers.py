"""Warm transfer between three real parties: a baresip caller, the agent's line (the gateway
process), and a baresip person.

``sipgw serve --agent assistant`` (a subprocess, the fake AI services in threads) answers
a baresip caller; its "Can I talk to a person?" makes the LLM call ``transfer_to_human``
with a summary, and with ``SIPGW_TRANSFER_MODE=warm`` the caller hears the transfer line
and hold music while the gateway calls the person (a second baresip, the transfer target):
the person hears the summary (the fake TTS speaks each line as a tone) and accepts with a
key, and then the caller and the person hear each other's tones. baresip lists no
``replaces`` in Supported, so the gateway bridges the two calls itself (the REFER with
Replaces, where both phones can, is test_refer_with_replaces_between_linphones below). A
person who declines or never answers brings the caller back to the agent, who says so
(the caller of the one who never answers hears hold music from a file, ``SIPGW_HOLD_MUSIC``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from sipgw.app.evaluation.audio import AudioReport, analyse, write_pattern
from sipgw.app.evaluation.fakes.openai import FakeResponse, FakeToolCall
from sipgw.app.evaluation.gateway_process import GatewayProcess
from sipgw.app.evaluation.process import running_processes
from tests.interop.test_amd_peers import greeting_wav
from tests.interop.test_assistant_peers import spans
from tests.toolkit.fakes.threaded import ThreadedFakes, fakes_in_threads
from tests.toolkit.peers.baresip import Baresip
from tests.toolkit.peers.linphonec import Linphonec

pytestmark = pytest.mark.timeout(150)

SPEECH_HZ, CALLER_HZ, PERSON_HZ = 300, 700, 1100
INTRO_HZ, LINE_HZ, SUMMARY_HZ, BACK_HZ = 1300, 1500, 1700, 1900
MUSIC_HZ = 523.25  # the built-in hold music's first note
SUMMARY = "Bob wants a refund for order 1234."


@pytest.fixture
def services(tmp_workdir: Path) -> Iterator[ThreadedFakes]:
    # the summary has a tone of its own (a word only it has): the person hears the summary
    # itself, not only the intro (the brief goes to text-to-speech a part at a time)
    tones = {"connect you with a colleague": LINE_HZ, "caller for you": INTRO_HZ,
             "refund": SUMMARY_HZ, "nobody": BACK_HZ}  # fmt: skip
    with fakes_in_threads(tmp_workdir, tones, greeting="") as fakes:
        try:
            yield fakes
        finally:
            for leftover in running_processes():
                leftover.kill()


def wav(tmp_workdir: Path, name: str, *segments: tuple[float | None, float]) -> Path:
    return write_pattern(tmp_workdir / "audio" / f"{name}.wav", [*segments, (None, 60.0)], -12.0)


def record_lines(tmp_workdir: Path) -> list[dict[str, object]]:
    lines: list[dict[str, object]] = []
    for path in sorted((tmp_workdir / "calls").glob("*.jsonl")):
        lines += [json.loads(line) for line in path.read_text().splitlines()]
    return lines


def wait_record(tmp_workdir: Path, predicate: object, within: float = 15.0) -> dict[str, object]:
    """The first call-record line (of any call) that satisfies ``predicate``."""
    deadline = time.monotonic() + within
    while True:
        for line in record_lines(tmp_workdir):
            if predicate(line):  # type: ignore[operator]
                return line
        if time.monotonic() > deadline:
            raise AssertionError(f"no such record line within {within} s")
        time.sleep(0.05)


def ask_for_a_person(services: ThreadedFakes, then: str = "", answer: str = "") -> None:
    """The caller's words (and ``answer``, the person's, heard next), the LLM's tool call."""
    services.stt.script(["Can I talk to a person?", *([answer] if answer else [])])
    tool = FakeToolCall("transfer_to_human", {"reason": "asked for a person", "summary": SUMMARY})
    script = [FakeResponse(tool_calls=[tool]), FakeResponse(text="")]
    if then:
        script.append(FakeResponse(text=then))
    services.llm.script(script)


CALLERS = "127.0.0.0/8"
"""Who may call: the assistant spends money, so it answers only sources named (issue 21)."""


def gateway(
    tmp_workdir: Path, services: ThreadedFakes, human: Baresip | Linphonec, **env: str
) -> GatewayProcess:
    environment = {
        **services.env, "SIPGW_TRANSFER_MODE": "warm", "SIPGW_TRANSFER_TARGET": human.uri,
        "SIPGW_CONSULT_ANSWER_TIMEOUT": "10", **env,
    }  # fmt: skip
    return GatewayProcess(tmp_workdir, agent="assistant", extra_env=environment, allow_from=CALLERS)


def heard(report: AudioReport, hz: float) -> list[tuple[float, float]]:
    return spans(report, hz)


def wait_heard(phone: Baresip, hz: float, seconds: float, within: float = 15.0) -> None:
    """Wait until ``phone``'s recording of its call (read as it is written) holds ``hz``
    for ``seconds`` in all; if it does not, the failure says what the phone did hear
    (:func:`what_was_heard`)."""
    deadline = time.monotonic() + within
    while True:
        pairs = phone.all_recordings()
        if pairs:
            found = heard(analyse(pairs[-1][0]), hz)
            if sum(end - start for start, end in found) >= seconds:
                return
        if time.monotonic() > deadline:
            raise AssertionError(
                f"{phone.name} did not hear {hz} Hz for {seconds} s; "
                + what_was_heard(phone, [r for r, _ in pairs])
            )
        time.sleep(0.2)


def what_was_heard(phone: Baresip, recordings: list[Path]) -> str:
    """A failure's evidence: each recording of ``phone`` (baresip starts a new one when its
    audio stream restarts), its analysis, and its dominant tone every 0.25 s (runs of one
    tone merged: ``start-end s: Hz``, "quiet" below -40 dBFS)."""
    if not recordings:
        return f"{phone.name} made no recording (no audio stream started)"
    parts = []
    for path in recordings:
        report = analyse(path)
        runs: list[list[object]] = []
        t = 0.0
        while t + 0.25 <= report.duration:
            window = report.slice(t, t + 0.25)
            loud = (window.rms_dbfs or -100.0) > -40.0 and window.dominant_hz is not None
            label = f"{round(window.dominant_hz or 0, -1):.0f} Hz" if loud else "quiet"
            if runs and runs[-1][2] == label:
                runs[-1][1] = t + 0.25
            else:
                runs.append([t, t + 0.25, label])
            t += 0.25
        timeline = ", ".join(f"{a:.2f}-{b:.2f} s: {label}" for a, b, label in runs[:40])
        parts.append(f"{report.describe()} [{timeline}{' ...' if len(runs) > 40 else ''}]")
    return f"{len(recordings)} recording(s): " + " | ".join(parts)


def test_the_person_accepts_with_a_key_and_both_hear_each_other(
    tmp_workdir: Path, services: ThreadedFakes
) -> None:
    ask_for_a_person(services)
    # Each phone plays its tone from early on and for long: the gateway ignores the caller
    # while it holds, and the person's tone is no answer (the consultation's speech
    # recognizer hears "hello"); so each is heard by the other only through the bridge.
    # (Switching a baresip's source mid-call would end its recording.)
    caller_wav = wav(tmp_workdir, "caller", (None, 1.0), (SPEECH_HZ, 0.6), (None, 5.0),
                     (CALLER_HZ, 60.0))  # fmt: skip
    person_wav = wav(tmp_workdir, "person", (None, 0.5), (PERSON_HZ, 60.0))
    with Baresip(tmp_workdir, "human", user="human", answermode="auto",
                 source_wav=person_wav) as human:  # fmt: skip
        gw = gateway(tmp_workdir, services, human)
        caller = Baresip(tmp_workdir, "a", user="a", source_wav=caller_wav)
        with gw, caller:
            caller.dial(gw.uri("agent"))
            caller.wait_event("CALL_ESTABLISHED", 5)
            human.wait_event("CALL_ESTABLISHED", 20)  # the gateway calls the person
            wait_heard(human, SUMMARY_HZ, 0.4)  # they hear who calls and why
            human.send_dtmf("1")
            gw.wait_log(r"bridged with", 10)
            wait_heard(caller, PERSON_HZ, 1.5)  # the person, through the bridge
            wait_heard(human, CALLER_HZ, 1.5)  # the caller, through the bridge
            caller.hangup()
            caller.wait_event("CALL_CLOSED", 5)
            human.wait_event("CALL_CLOSED", 5)  # the bridged call ends with the caller's
            caller_heard, _ = caller.recordings()
            person_heard, _ = human.recordings()
    to_caller, to_person = analyse(caller_heard), analyse(person_heard)
    line, music = heard(to_caller, LINE_HZ), heard(to_caller, MUSIC_HZ)
    assert line and music and line[0][0] < music[0][0], to_caller.describe()
    from_person = heard(to_caller, PERSON_HZ)
    assert from_person and from_person[0][0] > music[0][0], to_caller.describe()
    assert sum(end - start for start, end in from_person) >= 1.5, from_person
    intro, summary = heard(to_person, INTRO_HZ), heard(to_person, SUMMARY_HZ)
    from_caller = heard(to_person, CALLER_HZ)
    assert intro and summary and intro[0][0] < summary[0][0], to_person.describe()
    # the fake TTS speaks 20 ms a character: the summary whole, not a fragment of it
    assert sum(end - start for start, end in summary) >= len(SUMMARY) * 0.020 * 0.6, summary
    assert from_caller and summary[0][0] < from_caller[0][0], to_person.describe()
    assert sum(end - start for start, end in from_caller) >= 1.5, from_caller
    record = record_lines(tmp_workdir)
    stages = [r["stage"] for r in record if r["type"] == "warm_transfer"]
    assert stages == ["hold", "joined"], stages
    joined = next(r for r in record if r.get("stage") == "joined")
    assert joined["how"] == "bridge"
    decided = next(r for r in record if r.get("stage") == "decided")
    assert (decided["decision"], decided["by"]) == ("accepted", "key 1")


def test_the_person_accepts_by_saying_yes(tmp_workdir: Path, services: ThreadedFakes) -> None:
    """Acceptance by speech over a real leg: the person's baresip says nothing when it
    answers (a person who listens: the intro starts 4 s in, detection's deadline), then
    "yes" (a stretch of speech the fake recognizer turns into the scripted words) while
    the brief plays; the consultation's own speech-to-text hears it and the calls are
    joined, then each phone hears the other."""
    ask_for_a_person(services, answer="Yes, put them through.")
    caller_wav = wav(tmp_workdir, "caller", (None, 1.0), (SPEECH_HZ, 0.6), (None, 12.0),
                     (CALLER_HZ, 60.0))  # fmt: skip
    person_wav = wav(tmp_workdir, "person", (None, 6.5), (SPEECH_HZ, 0.8), (None, 2.5),
                     (PERSON_HZ, 60.0))  # fmt: skip
    with Baresip(tmp_workdir, "human", user="human", answermode="auto",
                 source_wav=person_wav) as human:  # fmt: skip
        gw = gateway(tmp_workdir, services, human)
        caller = Baresip(tmp_workdir, "a", user="a", source_wav=caller_wav)
        with gw, caller:
            caller.dial(gw.uri("agent"))
            caller.wait_event("CALL_ESTABLISHED", 5)
            human.wait_event("CALL_ESTABLISHED", 20)
            decided = wait_record(tmp_workdir, lambda r: r.get("stage") == "decided", 20)
            gw.wait_log(r"bridged with", 10)
            wait_heard(caller, PERSON_HZ, 1.5)  # the person, through the bridge
            caller.hangup()
            caller.wait_event("CALL_CLOSED", 5)
            human.wait_event("CALL_CLOSED", 5)
    assert (decided["decision"], decided["by"]) == ("accepted", "words"), decided
    record = record_lines(tmp_workdir)
    heard_words = [r["text"] for r in record if r.get("stage") == "heard"]
    assert heard_words == ["Yes, put them through."], heard_words
    (answered_by,) = [r for r in record if r.get("stage") == "answered_by"]
    assert (answered_by["kind"], answered_by["reason"]) == ("unknown", "silence"), answered_by
    stages = [r["stage"] for r in record if r["type"] == "warm_transfer"]
    assert stages == ["hold", "joined"], stages


def test_a_person_who_declines_brings_the_caller_back(
    tmp_workdir: Path, services: ThreadedFakes
) -> None:
    """The person hears the summary and declines with a key; the caller, who heard the
    built-in music meanwhile, is back with the agent. (A person who never answers, and the
    operator's music file: tests/agent/transfer/test_warm.py's
    test_busy_declined_or_no_answer_brings_the_caller_back and
    test_hold_music_from_a_file_follows_the_line_from_its_start_and_loops; a ringing call
    cancelled on a real phone: test_twiml_dial_peers.py's two phones ringing at once.)"""
    ask_for_a_person(services, then="Sorry, nobody can take your call right now. Shall I take "
                                    "a message or arrange a call back?")  # fmt: skip
    speaking = wav(tmp_workdir, "ask", (None, 1.0), (SPEECH_HZ, 0.6))
    env = {"SIPGW_CONSULT_RING_TIMEOUT": "5"}
    with Baresip(tmp_workdir, "human", user="human", answermode="auto") as human:
        gw = gateway(tmp_workdir, services, human, **env)
        caller = Baresip(tmp_workdir, "a", user="a", source_wav=speaking)
        with gw, caller:
            caller.dial(gw.uri("agent"))
            caller.wait_event("CALL_ESTABLISHED", 5)
            human.wait_event("CALL_ESTABLISHED", 20)
            # their key once they heard the summary (the caller hears the music by then)
            wait_record(tmp_workdir, lambda r: r.get("stage") == "asked")
            human.send_dtmf("2")
            human.wait_event("CALL_CLOSED", 10)  # the gateway hangs up on them
            failed = wait_record(tmp_workdir, lambda r: r.get("stage") == "failed")
            wait_record(tmp_workdir, lambda r: r.get("type") == "assistant" and
                        "nobody" in str(r.get("text")))  # fmt: skip
            time.sleep(4.0)  # the agent's answer plays out: what is listened to
            caller.hangup()
            caller_heard, _ = caller.recordings()
    to_caller = analyse(caller_heard)
    music, back = heard(to_caller, MUSIC_HZ), heard(to_caller, BACK_HZ)
    assert music and back and music[0][0] < back[0][0], to_caller.describe()
    assert not [s for s in music if s[0] > back[0][0]]  # the music stopped
    (hold,) = [r for r in record_lines(tmp_workdir) if r.get("stage") == "hold"]
    assert hold["music"] == "built-in", hold
    why = str(failed["why"])
    assert "cannot take the call" in why
    note = services.llm.requests[-1].body["messages"][-1]["content"]
    assert note.startswith("[The transfer to a person did not go through") and why in note


PERSON_VOICEMAIL = (
    "Hi, you've reached Kim at the front desk. I can't take your call right now. "
    "Please leave a message after the tone."
)


def test_the_persons_voicemail_brings_the_caller_back_at_once(
    tmp_workdir: Path, services: ThreadedFakes
) -> None:
    """The person's phone answers with its voicemail (an espeak-ng greeting and a beep):
    the consultation's detection knows it by its words (the fake recognizer's transcript of
    the greeting), so the caller is back with the agent at once; the recording never hears
    the brief, and no answer timeout is waited for."""
    ask_for_a_person(services, then="Sorry, nobody can take your call right now. Shall I take "
                                    "a message?", answer=PERSON_VOICEMAIL.rstrip("."))  # fmt: skip
    speaking = wav(tmp_workdir, "ask", (None, 1.0), (SPEECH_HZ, 0.6))
    greeting = greeting_wav(tmp_workdir / "voicemail.wav", PERSON_VOICEMAIL, beep_hz=1000.0)
    with Baresip(tmp_workdir, "human", user="human", answermode="auto",
                 source_wav=greeting.wav) as human:  # fmt: skip
        gw = gateway(tmp_workdir, services, human)
        caller = Baresip(tmp_workdir, "a", user="a", source_wav=speaking)
        with gw, caller:
            caller.dial(gw.uri("agent"))
            caller.wait_event("CALL_ESTABLISHED", 5)
            human.wait_event("CALL_ESTABLISHED", 20)
            answered = time.monotonic()
            human.wait_event("CALL_CLOSED", 15)  # the gateway hangs up on the recording
            gone = time.monotonic() - answered
            failed = wait_record(tmp_workdir, lambda r: r.get("stage") == "failed")
            wait_record(tmp_workdir, lambda r: r.get("type") == "assistant" and
                        "nobody" in str(r.get("text")))  # fmt: skip
            wait_heard(caller, BACK_HZ, 0.5)  # the agent's answer, heard
            caller.hangup()
            caller.wait_event("CALL_CLOSED", 5)
            caller_heard = caller.all_recordings()[0][0]
            person_heard = human.all_recordings()[-1][0]
    assert "voicemail answered" in str(failed["why"]), failed
    # by its words, before its beep (the greeting is about 6 s long): no 10 s answer timeout
    assert gone < greeting.speech_end + 3.0, (gone, greeting.speech_end)
    to_person = analyse(person_heard)
    assert not heard(to_person, INTRO_HZ) and not heard(to_person, SUMMARY_HZ), to_person.describe()
    back = heard(analyse(caller_heard), BACK_HZ)
    assert back, analyse(caller_heard).describe()
    decided = next(r for r in record_lines(tmp_workdir) if r.get("stage") == "decided")
    assert decided["decision"] == "voicemail", decided


def test_refer_with_replaces_between_linphones(tmp_workdir: Path, services: ThreadedFakes) -> None:
    """Both phones can (linphonec 5.1 allows REFER and supports replaces): the caller's phone
    calls the person with Replaces (RFC 5589 §7), the person's phone swaps our call for it,
    and the gateway is out of the media; each then hears the other's tone."""
    ask_for_a_person(services)
    caller_wav = wav(tmp_workdir, "caller", (None, 1.0), (SPEECH_HZ, 0.6), (None, 5.0),
                     (CALLER_HZ, 60.0))  # fmt: skip
    # linphonec plays the file from its start in each call: the consultation's first 4 s
    # must be silent (a tone sounding as they answer is a voicemail's beep to the detector:
    # a run beside a CPU hog heard it 0.5 s in and hung up on them; 4 s of silence is
    # "unknown", and the brief plays), and the call with the caller hears it 5.5 s in.
    person_wav = wav(tmp_workdir, "person", (None, 5.5), (PERSON_HZ, 60.0))
    with Linphonec(tmp_workdir, "human", user="human", autoanswer=True, play=person_wav) as human:
        gw = gateway(tmp_workdir, services, human)
        caller = Linphonec(tmp_workdir, "caller", user="caller", play=caller_wav)
        with gw, caller:
            caller.call(gw.uri("agent"))
            caller.wait_connected(10)
            human.wait_connected(20)  # the consultation call
            wait_record(tmp_workdir, lambda r: r.get("stage") == "asked")  # summary heard
            human.send_dtmf("1")
            caller.wait(r"Call 2 .* connected", 15)  # the caller's phone called the person
            gw.wait_log(r"attended transfer done", 5)
            time.sleep(8.0)  # the two phones talk (the caller's tone starts 6.6 s in)
            caller.terminate()
            caller.wait_ended(5)
            human.wait_ended(5)
            to_caller, to_person = analyse(caller.recording()), analyse(human.recording())
    summary, from_caller = heard(to_person, SUMMARY_HZ), heard(to_person, CALLER_HZ)
    assert summary and from_caller and summary[0][0] < from_caller[0][0], to_person.describe()
    assert sum(end - start for start, end in from_caller) >= 1.0, from_caller
    from_person = heard(to_caller, PERSON_HZ)
    assert sum(end - start for start, end in from_person) >= 1.0, to_caller.describe()
    record = record_lines(tmp_workdir)
    joined = next(r for r in record if r.get("stage") == "joined")
    assert joined["how"] == "refer", joined
    log = gw.log_text()
    assert "transfer accepted: 202" in log and "transfer succeeded: 200" in log
    assert "bridged with" not in log  # the gateway carried no media between them


def test_a_blind_transfer_the_target_refuses_brings_the_caller_back(
    tmp_workdir: Path, services: ThreadedFakes
) -> None:
    """Blind transfers report failure the same way: baresip takes our REFER and calls the
    target, which answers 404 (no such user there); baresip's NOTIFY carries the 404 in its
    message/sipfrag, and the agent, told, speaks to the caller, who is still on the line."""
    ask_for_a_person(services, then="Sorry, nobody could take your call. Shall I take a message?")
    speaking = wav(tmp_workdir, "ask", (None, 1.0), (SPEECH_HZ, 0.6))
    with Baresip(tmp_workdir, "human", user="human", answermode="auto") as human:
        nobody = human.uri.replace("sip:human@", "sip:nobody@")
        env = {**services.env, "SIPGW_TRANSFER_TARGET": nobody}
        gw = GatewayProcess(tmp_workdir, agent="assistant", extra_env=env, allow_from=CALLERS)
        caller = Baresip(tmp_workdir, "a", user="a", source_wav=speaking)
        with gw, caller:
            caller.dial(gw.uri("agent"))
            caller.wait_event("CALL_ESTABLISHED", 5)
            gw.wait_log(r"transfer accepted: 202", 15)
            gw.wait_log(r"transfer failed: 404", 10)
            wait_record(tmp_workdir, lambda r: r.get("type") == "assistant"
                        and "nobody" in str(r.get("text")))  # fmt: skip
            wait_heard(caller, BACK_HZ, 0.5)  # the agent's answer, heard
            caller.hangup()
            caller.wait_event("CALL_CLOSED", 5)
            caller_heard = caller.all_recordings()[0][0]
    back = heard(analyse(caller_heard), BACK_HZ)
    assert back, analyse(caller_heard).describe()
    (failed,) = [r for r in record_lines(tmp_workdir) if r["type"] == "transfer_failed"]
    assert failed["status"] == 404
    note = services.llm.requests[-1].body["messages"][-1]["content"]
    assert note.startswith("[The transfer failed: 404") and "take a message" in note
    assert "schedule a callback" in note  # as a warm transfer's failure offers
