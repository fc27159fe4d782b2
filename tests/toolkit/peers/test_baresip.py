"""The baresip driver's reading of its recordings (the phone itself: tests/interop/)."""

from __future__ import annotations

from pathlib import Path

from tests.toolkit.peers.baresip import Baresip


def dumps(phone: Baresip, *names: str) -> None:
    phone.rec_dir.mkdir(parents=True)
    for name in names:
        (phone.rec_dir / f"dump-2026-11-23-{name}.wav").write_bytes(b"")


def test_a_calls_two_files_pair_up_across_a_seconds_turn(tmp_path: Path) -> None:
    """baresip names each file by the second it opens it: the sent audio's at the call's
    start, the received audio's at the first packet, which may be in the next second (the
    CI failure: the latest call's pair was never found)."""
    phone = Baresip(tmp_path, "caller")
    dumps(
        phone,
        "22-34-45-dec", "22-34-45-enc",  # the same second
        "22-34-49-enc", "22-34-50-dec",  # the first packet after the turn of a second
        "22-34-53-dec", "22-34-54-enc",  # the other way round (early media)
    )  # fmt: skip
    assert [(dec.name[16:24], enc.name[16:24]) for dec, enc in phone.all_recordings()] == [
        ("22-34-45", "22-34-45"),
        ("22-34-50", "22-34-49"),
        ("22-34-53", "22-34-54"),
    ]


def test_a_received_file_without_its_sent_one_waits_for_it(tmp_path: Path) -> None:
    phone = Baresip(tmp_path, "caller")
    dumps(phone, "22-34-45-dec", "22-34-45-enc", "22-35-10-dec")
    latest = phone.all_recordings()[-1]
    assert latest[1].name == "dump-2026-11-23-22-35-10-enc.wav" and not latest[1].exists()
