"""The vendor registry: the tables, each entry's clients and HD-voice clients from its section.

Each vendor's section and client function are tested beside it
(``tests/agent/services/<vendor>/test_settings.py``).
"""

from __future__ import annotations

import dataclasses

from sipgw.agent.conversation.sections import AssistantSection
from sipgw.agent.services.registry import LLM_VENDORS, STT_VENDORS, TTS_VENDORS
from sipgw.app.sections import SECTIONS
from sipgw.foundation.settings import Sources, load, section_info
from tests.toolkit.canaries import API_KEY_VARIABLES

KEYS = API_KEY_VARIABLES


def test_the_tables_are_the_choices_and_their_sections_are_listed() -> None:
    assert AssistantSection().stt in STT_VENDORS and AssistantSection().llm in LLM_VENDORS
    assert AssistantSection().tts in TTS_VENDORS
    for table in (STT_VENDORS, LLM_VENDORS, TTS_VENDORS):
        for name, vendor in table.items():
            assert vendor.name == name and section_info(vendor.section) in SECTIONS


async def test_each_vendor_makes_its_clients_from_its_section() -> None:
    sources = Sources(KEYS)
    assemblyai, openai, elevenlabs = (
        STT_VENDORS["assemblyai"], LLM_VENDORS["openai"], TTS_VENDORS["elevenlabs"]
    )  # fmt: skip
    stt = assemblyai.clients(load(assemblyai.section, sources))
    llm = openai.clients(load(openai.section, sources))
    tts = elevenlabs.clients(load(elevenlabs.section, sources))
    first, second = stt(), stt()
    assert type(first).__name__ == "AssemblyAISTTService" and first is not second
    assert type(tts()).__name__ == "ElevenLabsTTSService"
    await llm().close()


def test_the_table_reads_a_vendors_voice_backlog_and_line_keys() -> None:
    sources = Sources({**KEYS, "ELEVENLABS_VOICE_ID": "v9", "ASSEMBLYAI_MAX_BACKLOG_MS": "45000"})
    stt, tts = STT_VENDORS["assemblyai"], TTS_VENDORS["elevenlabs"]
    assert stt.backlog_ms is not None and stt.backlog_ms(load(stt.section, sources)) == 45000
    assert tts.voice is not None
    assert tts.voice(load(tts.section, sources)) == ("v9", "eleven_flash_v2_5")
    assert tts.line_keys == {"voice": "voice_id"}
    assert set(stt.line_keys) == {"keyterms", "language"}


def test_the_hd_voice_clients_take_and_speak_16_khz() -> None:
    """Issue 43: each vendor's wideband clients are its plain ones but for the format:
    AssemblyAI ``pcm_s16le`` at 16000, ElevenLabs ``pcm_16000`` (both transports)."""
    sources = Sources({**KEYS, "ELEVENLABS_TRANSPORT": "http", "ELEVENLABS_VOICE_ID": "v9"})
    stt, tts = STT_VENDORS["assemblyai"], TTS_VENDORS["elevenlabs"]
    assert stt.wideband is not None and tts.wideband is not None
    wide_stt = stt.wideband(load(stt.section, sources)).args[0]  # type: ignore[attr-defined]
    assert (wide_stt.encoding, wide_stt.sample_rate) == ("pcm_s16le", 16000)
    section = load(tts.section, sources)
    narrow = tts.clients(section).args[0]  # type: ignore[attr-defined]
    wide = tts.wideband(section).args[0]  # type: ignore[attr-defined]
    assert (narrow.output_format, wide.output_format) == ("ulaw_8000", "pcm_16000")
    assert dataclasses.replace(wide, output_format="ulaw_8000") == narrow
