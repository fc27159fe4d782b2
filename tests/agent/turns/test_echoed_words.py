"""Transcripts that echo the agent's recent words (``echoPromptFiltering``): whole and partial
echoes are dropped, a caller's own words (repeating one of the agent's, or answering with
some) pass, and nothing is an echo once the agent has been quiet a while."""

from __future__ import annotations

import pytest

from sipgw.agent.turns.echoed_words import ECHO_WINDOW_S, ECHO_WORDS, EchoFilter

SAID = "Your order ships on Tuesday. Would you like a text when it leaves?"


def filter_after(text: str = SAID, at: float = 0.0, heard_until: float = 3.0) -> EchoFilter:
    echo = EchoFilter()
    echo.said(text, at)
    echo.heard_agent(heard_until)
    return echo


@pytest.mark.parametrize(
    "transcript",
    [
        "Your order ships on Tuesday.",  # the whole sentence back
        "would you like a text",  # part of it
        "Ships on Tuesday, would you like",  # across the two sentences
        "your order ships on thursday",  # a word misheard: 4 of 5
    ],
)
def test_echoes_are_dropped(transcript: str) -> None:
    echo = filter_after()
    assert echo.echoes(transcript, 4.0)


@pytest.mark.parametrize(
    "transcript",
    [
        "Tuesday?",  # one of the agent's words: too short to be an echo
        "Yes",
        "Tuesday at noon please",  # 1 of 4 words the agent's
        "no I want it on Monday",
        "order order order order",  # more often than the agent said it
        "",
    ],
)
def test_the_caller_s_own_words_pass(transcript: str) -> None:
    echo = filter_after()
    assert not echo.echoes(transcript, 4.0)


def test_nothing_is_an_echo_once_the_agent_has_been_quiet() -> None:
    echo = filter_after(heard_until=3.0)
    assert echo.echoes("your order ships on tuesday", 3.0 + ECHO_WINDOW_S)
    assert not echo.echoes("your order ships on tuesday", 3.1 + ECHO_WINDOW_S)
    # a new reply after the quiet: only its words are the agent's
    echo.said("Goodbye now.", 20.0)
    assert not echo.echoes("your order ships on tuesday", 20.5)
    assert echo.echoes("goodbye now", 20.5)


def test_never_heard_agent_words_still_count_while_they_play() -> None:
    echo = EchoFilter()
    assert not echo.echoes("your order ships", 1.0)
    echo.said(SAID, 1.0)  # sent to the TTS, its audio not out yet
    assert echo.echoes("your order ships", 1.2)


def test_only_the_agent_s_last_words_are_kept() -> None:
    echo = EchoFilter()
    echo.said("alpha beta " + "filler " * ECHO_WORDS, 0.0)
    assert not echo.echoes("alpha beta", 0.5)
    assert echo.echoes("filler filler", 0.5)
