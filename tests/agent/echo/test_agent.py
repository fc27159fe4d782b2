"""The echo agent's delay line."""

from __future__ import annotations

from sipgw.agent.base import NO_DETAILS, CallDetails, CallPurpose, Direction
from sipgw.agent.echo.agent import EchoAgent
from sipgw.media.codecs import PCM16_16K, ULAW_8K

A, B = b"a" * 160, b"b" * 160


class NoCall:
    call_id = caller = called = verified_caller = ""
    direction: Direction = "inbound"
    purpose: CallPurpose | None = None
    leg = "sip"
    details: CallDetails = NO_DETAILS

    def hangup(self, status: int = 480) -> None: ...

    def clear_audio(self) -> int:
        return 0

    def send_dtmf(self, digits: str) -> None: ...

    def audio_ready(self, continuing: bool = False) -> None: ...

    async def transfer(self, target: str, summary: str = "") -> bool:
        return False


def run(agent: EchoAgent, frames: list[bytes | None]) -> list[bytes | None]:
    out = []
    for frame in frames:
        agent.on_caller_frame(frame)
        out.append(agent.next_frame())
    return out


def test_echo_after_delay_keeps_timing_of_silence() -> None:
    agent = EchoAgent(NoCall(), delay_ms=60)  # 3 frames
    assert run(agent, [A, None, B, None, None, None]) == [None, None, None, A, None, B]


def test_zero_delay_is_immediate_and_odd_frames_are_dropped() -> None:
    agent = EchoAgent(NoCall(), delay_ms=0)
    assert run(agent, [A, b"short", B]) == [A, None, B]


def test_hold_does_not_add_its_length_to_the_delay() -> None:
    # On hold the ticker passes caller frames (None: nothing arrives) but asks for none back.
    agent = EchoAgent(NoCall(), delay_ms=60)  # 3 frames
    assert run(agent, [A, B]) == [None, None]
    for _ in range(200):  # a 4 s hold
        agent.on_caller_frame(None)
    # Resumed: what was said before the hold is long gone, and new audio is 3 frames late.
    assert run(agent, [A, None, None, None, B]) == [None, None, None, A, None]
    assert agent._held == 3  # frames in the line: the delay, nothing more


def test_hold_shorter_than_the_delay_keeps_the_audio_before_it() -> None:
    agent = EchoAgent(NoCall(), delay_ms=60)
    assert run(agent, [A, B]) == [None, None]
    agent.on_caller_frame(None)  # one tick on hold
    # A, B and the held tick's None are still in the line: the caller hears them on resume.
    assert run(agent, [None, None]) == [A, B]


def test_on_an_hd_voice_call_it_echoes_16_khz_frames() -> None:
    """Issue 43: a G.722 caller hears their wideband audio back (the call's details say
    16000; the media converts G.722 to 16 kHz s16le and back)."""
    wide = NoCall()
    wide.details = CallDetails(sample_rate=16000)
    agent = EchoAgent(wide, delay_ms=0)
    assert agent.audio_format == PCM16_16K and EchoAgent(NoCall()).audio_format == ULAW_8K
    frame = bytes(range(256)) * 2 + bytes(128)  # 640 octets: 20 ms at 16 kHz
    agent.on_caller_frame(frame)
    assert agent.next_frame() == frame
    agent.on_caller_frame(A)  # a μ-law-sized frame is not this call's: silence
    assert agent.next_frame() is None
