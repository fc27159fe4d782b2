"""Each language's text-to-speech of a ConversationRelay session: made and connected at its
first use, the session's first when none can be; each closed once."""

from __future__ import annotations

from sipgw.agent.services.tts.base import TextToSpeech, TtsConnectError
from sipgw.agent.twiml.relay.voices import RelayVoices
from tests.agent.parts import ScriptedTts


async def test_a_language_s_voice_is_made_once_at_its_first_use() -> None:
    first = ScriptedTts()
    made: list[tuple[str, TextToSpeech]] = []
    notes: list[str] = []

    def voices(lang: str) -> tuple[TextToSpeech, list[str]]:
        tts = ScriptedTts()
        made.append((lang, tts))
        return tts, ["its speed is not followed"]

    speech = RelayVoices(first, "en-us", voices, "c1", notes.append)
    assert await speech.tts_for("en-us") is first and not made
    french = await speech.tts_for("fr-fr")
    assert made == [("fr-fr", french)]
    assert await speech.tts_for("fr-fr") is french and len(made) == 1
    assert notes == ["fr-fr: its speed is not followed"]
    await speech.close()
    assert first.closed and isinstance(french, ScriptedTts) and french.closed


async def test_without_voices_or_a_connection_the_first_voice_speaks() -> None:
    first = ScriptedTts()
    notes: list[str] = []
    speech = RelayVoices(first, "en-us", None, "c1", notes.append)
    assert await speech.tts_for("de-de") is first
    assert notes == ["lang='de-de' (the text-to-speech takes no language)"]
    broken = ScriptedTts(connect_error=TtsConnectError("refused", status=401))
    notes.clear()
    speech = RelayVoices(first, "en-us", lambda lang: (broken, []), "c1", notes.append)
    assert await speech.tts_for("sv-se") is first
    assert broken.closed  # the one that could not connect
    assert notes == ["lang='sv-se' (its text-to-speech could not connect)"]
