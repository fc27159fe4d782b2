"""Conference announcements and hold music made into audio (agent/twiml/announce.py): a
document's ``<Play>``, ``<Say>``, ``<Pause>`` in order, its ``<Redirect>`` followed (a
bounded number of times), other verbs refused, an audio file as it is, a failed fetch; the
music round after round, paced by what is still to be heard."""

from __future__ import annotations

import asyncio

import pytest

from sipgw.agent.twiml.announce import MAX_REDIRECTS, AnnouncementAudio, AnnouncementFailed
from sipgw.agent.twiml.waitmusic import WaitDocument
from sipgw.agent.twiml.webhook import FetchFailed
from sipgw.twilio.document import Play, Say, parse_twiml

DOCS = {
    "https://app.example/a": (
        '<Response><Say>hi</Say><Pause length="1"/><Play>/tone.wav</Play><Gather/>'
        '<Redirect method="GET">/b</Redirect><Say>never</Say></Response>'
    ),
    "https://app.example/b": "<Response><Say>bye</Say></Response>",
    "https://app.example/loop": "<Response><Say>again</Say><Redirect>/loop</Redirect></Response>",
}


class Fakes:
    def __init__(self) -> None:
        self.fetched: list[tuple[str, str]] = []
        self.played: list[str] = []
        self.notes: list[dict[str, object]] = []

    async def fetch(self, url: str, method: str) -> WaitDocument:
        self.fetched.append((url, method))
        if url.endswith(".wav"):
            return WaitDocument((), url, b"\x01" * 80)
        if url not in DOCS:
            raise FetchFailed(f"{url}: 404")
        return WaitDocument(parse_twiml(DOCS[url].encode()), url)

    async def speech(self, verb: Say) -> bytes | None:
        return None if verb.text == "broken" else verb.text.encode()

    async def audio_file(self, verb: Play) -> bytes | None:
        self.played.append(verb.url)
        return b"\x02" * 160

    def audio(self) -> AnnouncementAudio:
        return AnnouncementAudio(self.fetch, self.speech, self.audio_file, self.note, "c1")

    def note(self, kind: str, **fields: object) -> None:
        self.notes.append({"kind": kind, **fields})


async def test_an_announcement_is_its_documents_audio_in_order_redirects_followed() -> None:
    fakes = Fakes()
    audio = await fakes.audio().announcement("https://app.example/a", "POST")
    assert audio == b"hi" + b"\xff" * 8000 + b"\x02" * 160 + b"bye"
    assert fakes.fetched == [("https://app.example/a", "POST"), ("https://app.example/b", "GET")]
    assert fakes.played == ["https://app.example/tone.wav"]  # made absolute
    assert [n["kind"] for n in fakes.notes] == ["refused"]  # the <Gather>


async def test_an_audio_file_is_the_announcement_and_a_failed_fetch_fails_it() -> None:
    fakes = Fakes()
    assert await fakes.audio().announcement("https://app.example/x.wav", "GET") == b"\x01" * 80
    with pytest.raises(AnnouncementFailed, match="404"):
        await fakes.audio().announcement("https://app.example/missing", "POST")
    assert fakes.notes[-1]["kind"] == "announcement_failed"


async def test_redirects_are_followed_a_bounded_number_of_times() -> None:
    fakes = Fakes()
    audio = await fakes.audio().announcement("https://app.example/loop", "POST")
    assert audio == b"again" * (MAX_REDIRECTS + 1)


async def test_music_plays_round_after_round_when_the_last_is_nearly_heard() -> None:
    fakes = Fakes()
    heard: list[bytes] = []
    ahead = [0.0]

    def play(audio: bytes) -> None:
        heard.append(audio)
        ahead[0] = 1.3  # seconds of it still to be heard

    task = asyncio.ensure_future(
        fakes.audio().music("https://app.example/b", "POST", play, lambda: ahead[0])
    )
    await asyncio.sleep(0.1)
    assert heard == [b"bye"]  # the next round waits: more than a second is still to come
    ahead[0] = 0.5
    await asyncio.sleep(0.4)
    assert heard[:2] == [b"bye", b"bye"]
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    stopped = asyncio.ensure_future(
        fakes.audio().music("https://app.example/missing", "POST", play, lambda: 0.0)
    )
    await asyncio.wait_for(stopped, 1)  # a failed fetch stops it: silence after
