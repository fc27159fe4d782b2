"""In-band DTMF (media/tones/dtmf_detect.py): Q.24's rules, and the media session that listens.

Tones are made here (tests.toolkit.dtmf_audio) and pass through μ-law, as a caller's G.711
audio arrives; each case starts its presses at another offset in the 10 ms blocks.
"""

from __future__ import annotations

import math
import random
from array import array
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sipgw.media import g711
from sipgw.media.codecs import G722, PCMA
from sipgw.media.rtp import RtpPacket
from sipgw.media.session import MediaSession, StreamParams
from sipgw.media.tones.dtmf import EVENT_CODES, TelephoneEvent
from sipgw.media.tones.dtmf_detect import (
    TABLE,
    DtmfToneDetected,
    DtmfToneDetector,
    Input,
    State,
    detects_tones,
)
from tests.toolkit.dtmf_audio import heard, key_tones, noise, talk_off_set, to_ulaw

ALL = "0123456789*#ABCD"
PEER = ("192.0.2.10", 40000)


def digits(samples: list[int], rate: int = 8000, ulaw: bool = True) -> str:
    return "".join(press.digit for press in heard(samples, rate, ulaw))


# --------------------------------------------------------------------------- the machine


def test_the_table_has_every_state_and_input() -> None:
    """All but one: in IDLE no digit is followed, so no block can be the same one."""
    every = {(state, event) for state in State for event in Input}
    assert set(TABLE) == every - {(State.IDLE, Input.BLOCK_SAME)}


def test_when_a_call_listens_for_tones() -> None:
    assert detects_tones("auto", None) and not detects_tones("auto", 101)
    assert detects_tones("on", 101) and detects_tones("on", None)
    assert not detects_tones("off", None)


def test_a_rate_it_cannot_take_is_refused() -> None:
    with pytest.raises(ValueError, match="44100"):
        DtmfToneDetector(44100)


# --------------------------------------------------------------------------- Q.24


@pytest.mark.parametrize("digit", ALL)
def test_every_digit_at_nominal_level(digit: str) -> None:
    presses = heard(key_tones(digit, 100, lead_ms=37))
    assert [p.digit for p in presses] == [digit]
    (press,) = presses
    assert abs(press.start - 0.037) < 0.011 and abs(press.duration - 0.100) < 0.011


def test_every_digit_at_16_khz_and_through_a_law() -> None:
    assert digits(key_tones(ALL, 60, 60, rate=16000), 16000, ulaw=False) == ALL
    tones = array("h", key_tones(ALL, 60, 60)).tobytes()
    through_alaw = array("h", g711.alaw_to_linear(g711.linear_to_alaw(tones))).tolist()
    assert digits(through_alaw, ulaw=False) == ALL


@pytest.mark.parametrize("level", [-5.0, -25.0])
def test_levels_it_must_hear(level: float) -> None:
    assert digits(key_tones(ALL, 50, 50, level_dbm0=level)) == ALL


@pytest.mark.parametrize("level", [-35.0, -40.0])
def test_levels_it_must_not_hear(level: float) -> None:
    assert digits(key_tones(ALL, 100, 50, level_dbm0=level)) == ""


@pytest.mark.parametrize("twist", [7.0, -3.0])  # normal 8 dB, reverse 4 dB at most
def test_twist_within_limits(twist: float) -> None:
    assert digits(key_tones(ALL, 60, 60, twist_db=twist)) == ALL


@pytest.mark.parametrize("twist", [9.5, -5.5])
def test_twist_beyond_limits(twist: float) -> None:
    assert digits(key_tones(ALL, 100, 60, twist_db=twist)) == ""


@pytest.mark.parametrize("error", [0.015, -0.015])
def test_frequency_error_within_15_percent_is_heard(error: float) -> None:
    assert digits(key_tones(ALL, 60, 60, low_error=error)) == ALL
    assert digits(key_tones(ALL, 60, 60, high_error=error)) == ALL
    assert digits(key_tones(ALL, 60, 60, low_error=error, high_error=-error)) == ALL


@pytest.mark.parametrize("error", [0.035, -0.035, 0.05])
def test_frequency_error_of_35_percent_is_not(error: float) -> None:
    assert digits(key_tones(ALL, 100, 60, low_error=error)) == ""
    assert digits(key_tones(ALL, 100, 60, high_error=error)) == ""


@pytest.mark.parametrize("lead", [50.0, 52.5, 55.0, 57.5, 59.9])
def test_40_ms_is_long_enough_wherever_it_falls(lead: float) -> None:
    assert digits(key_tones("5#", 40, 60, lead_ms=lead)) == "5#"


@pytest.mark.parametrize("lead", [50.0, 51.5, 53.0, 55.0, 58.5])
def test_23_ms_is_too_short_wherever_it_falls(lead: float) -> None:
    assert digits(key_tones(ALL, 23, 60, lead_ms=lead)) == ""


@pytest.mark.parametrize("lead", [50.0, 53.3, 56.6])
def test_a_40_ms_pause_parts_two_presses_of_one_key(lead: float) -> None:
    assert digits(key_tones("55", 60, 40, lead_ms=lead)) == "55"


def test_a_short_drop_out_does_not_split_a_press() -> None:
    tone = key_tones("7", 200, 0, lead_ms=0)
    for start in (400, 603, 838):  # 10 ms of silence, anywhere in the blocks
        broken = [0] * 400 + tone[:start] + [0] * 80 + tone[start + 80 :] + [0] * 800
        assert digits(broken) == "7"


def test_one_report_per_press_however_long() -> None:
    presses = heard(key_tones("9", 2000, 100))
    assert [p.digit for p in presses] == ["9"] and abs(presses[0].duration - 2.0) <= 0.01


def test_a_run_of_every_key_40_ms_on_40_ms_off() -> None:
    presses = heard(key_tones(ALL, 40, 40, lead_ms=33))
    assert "".join(p.digit for p in presses) == ALL
    starts = [p.start for p in presses]
    assert all(abs(b - a - 0.080) <= 0.011 for a, b in zip(starts, starts[1:], strict=False))


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_noise_at_15_db_snr(seed: int) -> None:
    assert digits(noise(key_tones(ALL, 40, 40), 15.0, seed=seed)) == ALL
    assert digits(noise(key_tones(ALL, 60, 60, level_dbm0=-20), 15.0, seed=seed)) == ALL


def test_the_detector_takes_any_chunking() -> None:
    pcm = g711.ulaw_to_linear(to_ulaw(key_tones("1234", 50, 50))) + bytes(400)
    for size in (2, 46, 160, 322, len(pcm)):
        detector = DtmfToneDetector()
        found: list[DtmfToneDetected] = []
        for offset in range(0, len(pcm), size):
            found += detector.push(pcm[offset : offset + size])
        assert "".join(p.digit for p in found) == "1234", size


# --------------------------------------------------------------------------- talk-off


def _speech_like(
    f0: float, glide: float, harmonics: int, formants: list[float], seconds: float, seed: int
) -> list[int]:
    """A voiced sound: a gliding fundamental and its harmonics shaped by three formants
    (bandwidth 90 Hz and up), with a syllable's swell and a little breath noise."""
    rng = random.Random(seed)
    rate, count = 8000, int(seconds * 8000)
    middle = f0 * (1 + glide / 2)  # the formants shape the harmonics where the glide is halfway
    gains = [
        sum(1 / (1 + ((k * middle - fm) / 90) ** 2) for fm in formants) / k**0.5
        for k in range(1, harmonics + 1)
        if k * f0 * (1 + max(glide, 0.0)) <= 3400
    ]
    phases = [rng.uniform(0, 2 * math.pi) for _ in gains]
    out = []
    phase = 0.0
    for n in range(count):
        phase += 2 * math.pi * f0 * (1 + glide * n / count) / rate
        value = sum(
            g * math.sin(k * phase + p)
            for k, (g, p) in enumerate(zip(gains, phases, strict=True), 1)
        )
        out.append(value * math.sin(math.pi * n / count))  # a syllable's swell
    peak = max(abs(v) for v in out) or 1.0
    return [round(12000 * v / peak + rng.gauss(0, 150)) for v in out]


@settings(max_examples=40, deadline=None, derandomize=True)
@given(
    f0=st.floats(80, 320),
    glide=st.floats(-0.3, 0.3),
    harmonics=st.integers(6, 40),
    formants=st.lists(st.floats(250, 3000), min_size=3, max_size=3),
    seed=st.integers(0, 1000),
)
def test_speech_like_sound_never_yields_a_digit(
    f0: float, glide: float, harmonics: int, formants: list[float], seed: int
) -> None:
    assert digits(_speech_like(f0, glide, harmonics, formants, 0.6, seed)) == ""


def test_the_talk_off_set_yields_no_digit() -> None:
    """Speech (espeak-ng, and flite and festival when present), music (chords, sweeps, a
    melody) and babble (voices mixed by sox), all through μ-law: docs/architecture.md
    quotes the counts."""
    samples = talk_off_set()
    groups = Counter(sample.group for sample in samples)
    assert groups["speech"] >= 30 and groups["music"] >= 30 and groups["babble"] >= 3
    false = {sample.name: digits(list(sample.samples)) for sample in samples}
    assert {name: found for name, found in false.items() if found} == {}


# --------------------------------------------------------------------------- the session


def _audio(seq: int, payload: bytes, pt: int = 0, index: int | None = None) -> bytes:
    """Audio packet ``seq``, the ``index``-th 20 ms of the stream (default: ``seq``-th)."""
    timestamp = (seq if index is None else index) * 160
    return RtpPacket(pt, seq, timestamp, 7, payload=payload).serialize()


def _event(seq: int, digit: str, timestamp: int, end: bool, duration: int) -> bytes:
    payload = TelephoneEvent(EVENT_CODES.index(digit), end, 10, duration).serialize()
    return RtpPacket(101, seq, timestamp, 7, marker=duration == 160, payload=payload).serialize()


Events = dict[int, list[tuple[str, int, bool, int]]]
"""Packet index -> RFC 4733 packets sent after that audio packet: (digit, timestamp, end,
duration)."""


def _call(
    samples: list[int], mode: str, events: Events | None = None, codec: str = "PCMU"
) -> list[str]:
    """A call of ``samples`` in 20 ms packets (and ``events``, when telephone-event was
    agreed), each ticked out after it came: the digits the session reports."""
    wire = to_ulaw(samples + [0] * 4000)
    te = None if events is None else 101
    params = StreamParams(PEER, telephone_event_pt=te)
    if codec == "PCMA":
        params = StreamParams(PEER, codec=PCMA, payload_type=8, telephone_event_pt=te)
        wire = g711.ulaw_to_alaw(wire)
    session = MediaSession(params, now=0.0, inband_dtmf=mode)
    found: list[str] = []
    seq = 0
    for n in range(len(wire) // 160):
        now = 0.02 * n
        audio = _audio(seq, wire[n * 160 : (n + 1) * 160], params.payload_type, index=n)
        session.receive(audio, PEER, now)
        seq += 1
        for digit, timestamp, end, duration in (events or {}).get(n, []):
            session.receive(_event(seq, digit, timestamp, end, duration), PEER, now)
            seq += 1
        session.caller_frame(now + 0.02)
        found += session.take_digits()
    return found


def _press_events(presses: dict[int, str], packets: int = 5) -> Events:
    """A sender's events for a press starting at each audio packet: the first packet,
    updates every 20 ms, the end three times (RFC 4733 §2.5.1.4)."""
    events: Events = {}
    for first, digit in presses.items():
        for k in range(packets):
            events.setdefault(first + k, []).append((digit, first * 160, False, (k + 1) * 160))
        events[first + packets - 1] += [(digit, first * 160, True, packets * 160)] * 3
    return events


def test_a_call_without_telephone_event_hears_tones() -> None:
    tones = key_tones("1590#", 80, 80)
    assert _call(tones, "auto") == list("1590#")
    assert _call(tones, "on") == list("1590#")
    assert _call(tones, "off") == []
    assert _call(tones, "auto", codec="PCMA") == list("1590#")


def test_a_press_that_came_both_ways_is_reported_once() -> None:
    """SIPGW_INBAND_DTMF=on with telephone-event: every press is an RFC 4733 event too,
    reported at its first packet; the tones heard later are the same press."""
    tones = key_tones("1337", 100, 100, lead_ms=40)
    events = _press_events({2 + 10 * k: digit for k, digit in enumerate("1337")})
    assert _call(tones, "auto", events) == list("1337")  # auto: the events only
    assert _call(tones, "on", events) == list("1337")
    assert _call(tones, "on", {}) == list("1337")  # the tones alone


def test_a_press_heard_only_one_way_is_still_reported() -> None:
    """The tones of '2' come with no event, and the event of '8' with no tones."""
    tones = key_tones("2", 100, 100, lead_ms=40)
    assert _call(tones, "on", _press_events({30: "8"})) == ["2", "8"]


def test_a_late_event_of_a_press_already_heard_is_not_reported_again() -> None:
    """The sender's first event packets were lost: its end packets come after the tones
    were heard."""
    tones = key_tones("6", 100, 100, lead_ms=40)
    late: Events = {9: [("6", 2 * 160, True, 800)] * 3}
    assert _call(tones, "on", late) == ["6"]


def test_a_g722_call_listens_at_16_khz() -> None:
    params = StreamParams(PEER, codec=G722, payload_type=9)
    session = MediaSession(params, now=0.0, inband_dtmf="auto")
    assert session.tones is not None and session.tones.sample_rate == 16000
    encoder = G722.encoder()
    pcm = array("h", key_tones("4*", 80, 80, rate=16000) + [0] * 8000).tobytes()
    found: list[str] = []
    for n in range(len(pcm) // 640):
        payload = encoder.encode(pcm[n * 640 : (n + 1) * 640])
        session.receive(_audio(n, payload, 9), PEER, 0.02 * n)
        session.caller_frame(0.02 * n + 0.02)
        found += session.take_digits()
    assert found == ["4", "*"]


def test_a_reinvite_that_adds_telephone_event_stops_listening_in_auto() -> None:
    session = MediaSession(StreamParams(PEER), now=0.0, inband_dtmf="auto")
    assert session.tones is not None
    session.update(StreamParams(PEER, telephone_event_pt=101), 1.0)
    assert session.tones is None
    session.update(StreamParams(PEER), 2.0)
    assert session.tones is not None
