"""The client's binary frames (sipgw/agent/services/websocket_frames.py), sans-IO: each one parsed
back by ``websockets``' own server-side protocol, which rejects an unmasked client frame."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from websockets.frames import Frame, Opcode
from websockets.protocol import Protocol, Side, State

from sipgw.agent.services.websocket_frames import KEYS_PER_DRAW, ClientFrames, binary_frame


def received(wire: bytes) -> list[Frame]:
    """What a server makes of ``wire`` (a whole stream, an open connection)."""
    server = Protocol(Side.SERVER, state=State.OPEN, max_size=None)
    server.receive_data(wire)
    assert server.state is State.OPEN, server.close_exc  # a protocol error closes it
    return [e for e in server.events_received() if isinstance(e, Frame)]


def test_rfc_6455_example_masked_hello_as_binary() -> None:
    # RFC 6455 §5.7, "A single-frame masked text message", with the binary opcode (0x2)
    wire = binary_frame(b"Hello", bytes.fromhex("37fa213d"))
    assert wire == bytes.fromhex("8285 37fa213d 7f9f4d5158")


@pytest.mark.parametrize(
    ("size", "head"),
    [
        (0, "8280"),
        (125, "82fd"),
        (126, "82fe007e"),
        (800, "82fe0320"),
        (65535, "82feffff"),
        (65536, "82ff0000000000010000"),
    ],
)
def test_the_length_takes_the_fewest_bytes(size: int, head: str) -> None:
    """§5.2: 7 bits up to 125, 126 and 16 bits up to 65535, else 127 and 64 bits."""
    payload = bytes(range(256)) * (size // 256) + bytes(range(size % 256))
    mask = b"\x01\x02\x03\x04"
    wire = binary_frame(payload, mask)
    prefix = bytes.fromhex(head)
    assert wire[: len(prefix)] == prefix
    assert wire[len(prefix) : len(prefix) + 4] == mask
    assert len(wire) == len(prefix) + 4 + size
    (frame,) = received(wire)
    assert (frame.opcode, frame.fin, frame.data) == (Opcode.BINARY, True, payload)
    assert not (frame.rsv1 or frame.rsv2 or frame.rsv3)


@given(st.lists(st.binary(max_size=2000), max_size=8))
def test_any_messages_arrive_whole_and_in_order(payloads: list[bytes]) -> None:
    frames = ClientFrames()
    wire = b"".join(frames.binary(p) for p in payloads)
    assert [f.data for f in received(wire)] == payloads


def test_the_mask_is_applied_to_the_payload() -> None:
    """The payload bytes on the wire are the payload XOR the key, cycling (§5.3)."""
    wire = binary_frame(b"\x00" * 9, b"\xaa\xbb\xcc\xdd")
    assert wire[6:] == b"\xaa\xbb\xcc\xdd" * 2 + b"\xaa"


class Counting:
    """A random source that counts its draws and never repeats itself."""

    def __init__(self) -> None:
        self.draws: list[int] = []
        self._n = 0

    def __call__(self, n: int) -> bytes:
        self.draws.append(n)
        out = bytearray()
        while len(out) < n:
            out += self._n.to_bytes(4, "big")
            self._n += 1
        return bytes(out[:n])


def test_every_frame_has_a_key_of_its_own_cut_from_the_random_source_in_order() -> None:
    source = Counting()
    frames = ClientFrames(source, keys_per_draw=4)
    keys = [frames.binary(b"audio")[2:6] for _ in range(10)]
    assert keys == [i.to_bytes(4, "big") for i in range(10)]  # each used once, in order
    assert source.draws == [16, 16, 16]  # a draw for every four frames, none before needed


def test_keys_come_from_the_operating_systems_random_source_a_draw_at_a_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import os

    draws: list[int] = []
    real = os.urandom

    def urandom(n: int) -> bytes:
        draws.append(n)
        return real(n)

    monkeypatch.setattr(os, "urandom", urandom)
    frames = ClientFrames(os.urandom)
    keys = {frames.next_mask() for _ in range(KEYS_PER_DRAW + 1)}
    assert draws == [4 * KEYS_PER_DRAW, 4 * KEYS_PER_DRAW]
    assert len(keys) > KEYS_PER_DRAW - 2  # random 32-bit keys: a repeat is near impossible


def test_a_short_random_source_and_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="wrong number of bytes"):
        ClientFrames(lambda n: b"\x00" * (n - 1)).next_mask()
    with pytest.raises(ValueError, match="at least 1"):
        ClientFrames(keys_per_draw=0)
    with pytest.raises(ValueError, match="4 bytes"):
        binary_frame(b"x", b"\x00\x00\x00")
