"""Wait documents fetched and a conference's wait music played (sipgw/agent/twiml/waitmusic.py)."""

from __future__ import annotations

import asyncio

import pytest

from sipgw.agent.twiml import waitmusic
from sipgw.agent.twiml.waitmusic import ConferenceWaitMusic, WaitDocument
from sipgw.agent.twiml.webhook import FetchFailed
from sipgw.twilio.document import Hangup, Pause, Play, Redirect, Say


class Caller:
    """The hooks a conference's wait music calls, noting what it did; ``documents`` are
    what each fetch gets in turn (an exception is raised), then a failure."""

    def __init__(self, *documents: WaitDocument | Exception) -> None:
        self.documents = list(documents)
        self.fetched: list[tuple[str, str]] = []
        self.heard: list[object] = []
        self.notes: list[tuple[str, dict[str, object]]] = []

    async def fetch(self, url: str, method: str) -> WaitDocument:
        self.fetched.append((url, method))
        document = self.documents.pop(0) if self.documents else FetchFailed("gone")
        if isinstance(document, Exception):
            raise document
        return document

    async def perform(self, verb: Say | Play) -> None:
        self.heard.append(verb)

    async def play_audio(self, audio: bytes) -> None:
        self.heard.append(audio)

    def note(self, kind: str, **fields: object) -> None:
        self.notes.append((kind, fields))

    def music(self) -> ConferenceWaitMusic:
        return ConferenceWaitMusic(self.fetch, self.perform, self.play_audio, self.note, "c1")


@pytest.fixture(autouse=True)
def no_idle_pause(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(waitmusic, "IDLE_PAUSE", 0.0)


async def test_the_verbs_play_round_after_round_and_a_redirect_moves_on() -> None:
    first = WaitDocument((Say("Please wait"), Play("tune.wav"), Pause(0),
                          Redirect("next.xml", "GET")), "http://app/wait.xml")  # fmt: skip
    second = WaitDocument((Play("/other.wav"),), "http://app/next.xml")
    caller = Caller(first, second, second)
    await caller.music().play("http://app/wait.xml", "POST")
    nxt = ("http://app/next.xml", "GET")
    assert caller.fetched == [("http://app/wait.xml", "POST"), nxt, nxt, nxt]
    assert caller.heard == [Say("Please wait"), Play("http://app/tune.wav"),
                            Play("http://app/other.wav"), Play("http://app/other.wav")]  # fmt: skip
    kind, fields = caller.notes[-1]  # the fourth fetch failed: silence after
    assert kind == "conference_wait_failed" and fields["url"] == "http://app/next.xml"


async def test_an_audio_file_plays_as_it_is_and_other_verbs_are_refused() -> None:
    caller = Caller(WaitDocument((), "http://app/tune", b"\x7f" * 160),
                    WaitDocument((Hangup(),), "http://app/tune"))  # fmt: skip
    await caller.music().play("http://app/tune", "GET")
    assert caller.heard == [b"\x7f" * 160]
    assert caller.notes[0] == ("refused", {
        "verb": "Hangup in waitUrl",
        "why": "only <Play>, <Say>, <Pause> and <Redirect> play while waiting"})  # fmt: skip
    assert [kind for kind, _ in caller.notes] == ["refused", "conference_wait_failed"]


async def test_cancelled_it_stops_where_it_is() -> None:
    class Slow(Caller):
        async def perform(self, verb: Say | Play) -> None:
            self.heard.append(verb)
            await asyncio.Event().wait()

    caller = Slow(WaitDocument((Say("hold"), Say("never")), "http://app/w"))
    task = asyncio.ensure_future(caller.music().play("http://app/w", "POST"))
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert caller.heard == [Say("hold")]
