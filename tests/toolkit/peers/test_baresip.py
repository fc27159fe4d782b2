"""The baresip driver's reading of its recordings (the phone itself: tests/interop/)."""

from __future__ import annotations

from pathlib import Path

import pytest

from sipgw.app.evaluation.audio import read_wav, write_wav
from sipgw.app.evaluation.process import PeerError
from tests.toolkit.peers.baresip import Baresip


def dumps(phone: Baresip, *names: str) -> None:
    """Recordings begun (a header, no samples yet), as baresip's are at their first packet."""
    phone.rec_dir.mkdir(parents=True, exist_ok=True)
    for name in names:
        write_wav(phone.rec_dir / f"dump-2026-11-23-{name}.wav", [])


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


def test_a_received_file_without_its_header_yet_is_not_a_recording_yet(tmp_path: Path) -> None:
    """libsndfile creates the file at the call's first packet, then writes its header: a
    wait for a tone that read it in between raised "not a RIFF/WAVE file" (the CI failure).
    Until the header is there the file is not listed, and every file listed reads."""
    phone = Baresip(tmp_path, "caller")
    dumps(phone, "22-34-45-dec", "22-34-45-enc", "22-35-10-enc")
    created = phone.rec_dir / "dump-2026-11-23-22-35-10-dec.wav"
    created.write_bytes(b"")  # created, its header not written yet
    assert [dec.name[16:24] for dec, _ in phone.all_recordings()] == ["22-34-45"]
    assert all(read_wav(dec) == ([], 8000) for dec, _ in phone.all_recordings())
    write_wav(created, [])  # the header, no samples yet
    assert [dec.name[16:24] for dec, _ in phone.all_recordings()] == ["22-34-45", "22-35-10"]
    assert read_wav(phone.all_recordings()[-1][0]) == ([], 8000)


def test_the_latest_calls_recordings_are_waited_for_even_before_their_header(
    tmp_path: Path,
) -> None:
    """``recordings()`` is the latest call's pair: a received file without its header is
    that call's, not a reason to answer with the call before."""
    phone = Baresip(tmp_path, "caller")
    dumps(phone, "22-34-45-dec", "22-34-45-enc", "22-35-10-enc")
    (phone.rec_dir / "dump-2026-11-23-22-35-10-dec.wav").write_bytes(b"")
    with pytest.raises(PeerError, match="no finished recording"):
        phone.recordings(timeout=0.1)
