"""What a phone menu offers, read from its words, and the rule-based choice among it.

A menu's prompt ("For billing, press 1. For support, press 2.") is read into
:class:`MenuOption` s (:func:`menu_options`): each ``press <key>`` (or ``dial``,
``enter``) with the words that say what it is for, before it ("for billing, press 1",
"to hear your balance, press 2") or after it ("press 3 for sales"). Keys are read as
digits, number words (``one``), ``star`` and ``pound``/``hash``.

:func:`rule_decision` is the navigator's fallback when no model decides (or its answer
is not usable): the option whose words share most words with the goal is pressed
(words compared by their first :data:`STEM` letters, so "bill" meets "billing"); a
prompt without options that a person or a department would say ("how can I help",
"speaking") is the goal reached; a voicemail's words end the navigation; anything
else is listened on (the navigator's repeat and silence rules end what never leads on).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sipgw.agent.amd.phrases import Category, match
from sipgw.agent.ivr.steps import Decision, Press, Reached, Voicemail, Wait

__all__ = ["STEM", "MenuOption", "goal_words", "menu_options", "rule_decision"]

STEM = 4
"""Letters two words must share from their start to count as the same word."""

_KEYS = {
    "zero": "0", "oh": "0", "one": "1", "two": "2", "three": "3", "four": "4", "five": "5",
    "six": "6", "seven": "7", "eight": "8", "nine": "9", "star": "*", "asterisk": "*",
    "pound": "#", "hash": "#", "hashtag": "#", "number sign": "#",
}  # fmt: skip
_KEY = r"(\d|\*|#|" + "|".join(sorted(_KEYS, key=len, reverse=True)) + r")"
_PRESS = re.compile(r"\b(?:press|dial|enter|push|select)\s+(?:the\s+)?" + _KEY + r"(?:\s+key)?\b")
_AFTER = re.compile(r"^\s*(?:for|to|if)\b\s*([^,;]*)")
_FOR = re.compile(r"\b(?:for|to|if)\b")
_LEAD = re.compile(r"^(?:and|or|otherwise|else|now|please)\b\s*")
_LABEL_LEAD = re.compile(r"^(?:for|to|if you(?:'d| would)? (?:like|want|wish) to|if you)\b\s*")
_SENTENCES = re.compile(r"[.!?;\n]+")
_STOP = frozenset(
    """a an the and or of to for in on at my our your you i me we us it is are be with
    about from please reach get talk speak ask want like would could need someone person
    press call calling line then""".split()
)
_HELLO = ("how can i help", "how may i help", "can i help you", "speaking", "what can i do for you")


@dataclass(frozen=True, slots=True)
class MenuOption:
    """One choice a menu offers."""

    key: str
    """What to press: ``0``-``9``, ``*`` or ``#``."""
    label: str
    """What it is for, in the menu's words ("billing", "hear your balance")."""


def _key(word: str) -> str:
    return _KEYS.get(word, word)


def menu_options(text: str) -> tuple[MenuOption, ...]:
    """The options ``text`` offers, in the order it says them (a key said twice: first).

    A sentence whose first ``press`` follows words that say what it is for ("for billing,
    press 1", "to hear your balance, press 2") takes every key's words from before it;
    else from after it ("press 1 for billing, press 2 for support"). Transcripts without
    punctuation are read the same way, one sentence.
    """
    options: list[MenuOption] = []
    seen: set[str] = set()
    for sentence in _SENTENCES.split(text.lower()):
        presses = list(_PRESS.finditer(sentence))
        if not presses:
            continue
        before_style = _FOR.search(sentence[: presses[0].start()]) is not None
        for index, press in enumerate(presses):
            key = _key(press.group(1))
            if before_style:
                begin = presses[index - 1].end() if index else 0
                label = _label_before(sentence[begin : press.start()], first=index == 0)
            else:
                end = presses[index + 1].start() if index + 1 < len(presses) else len(sentence)
                after = _AFTER.match(sentence[press.end() : end])
                label = after.group(1) if after is not None else ""
            label = _LEAD.sub("", label.strip(" ,")).strip(" ,")
            if key not in seen and label:
                seen.add(key)
                options.append(MenuOption(key, label))
    return tuple(options)


def _label_before(segment: str, *, first: bool) -> str:
    """A key's words in the text before it: from its ``for``/``to``/``if``: the first one
    ("to return to the main menu"), but for a sentence's first key that does not begin
    with one, the last ("welcome to Acme for billing")."""
    found = list(_FOR.finditer(segment))
    if not found:
        return segment
    opens = not segment[: found[0].start()].strip(" ,")
    lead = found[-1] if first and not opens else found[0]
    return _LABEL_LEAD.sub("", segment[lead.start() :].strip(" ,"))


def _words(text: str) -> list[str]:
    return [w for w in re.findall(r"[a-z0-9']+", text.lower()) if w not in _STOP and len(w) > 2]


def goal_words(goal: str) -> tuple[str, ...]:
    """The words of ``goal`` that a menu might name ("reach billing and ask for the
    balance": ``billing``, ``ask``, ``balance``)."""
    return tuple(dict.fromkeys(_words(goal)))


def _same(a: str, b: str) -> bool:
    if len(a) < STEM or len(b) < STEM:
        return a == b
    return a[:STEM] == b[:STEM]


def _score(label: str, goal: tuple[str, ...]) -> int:
    words = _words(label)
    return sum(1 for g in goal if any(_same(g, w) for w in words))


def rule_decision(goal: str, heard: str) -> Decision:
    """What the rules do with ``heard`` (a menu's words since the last step), for ``goal``
    (see the module docstring)."""
    found = match(heard)
    if found is not None and found.category is Category.VOICEMAIL:
        return Voicemail(f"it said '{found.phrase}'")
    options = menu_options(heard)
    wanted = goal_words(goal)
    best: tuple[int, MenuOption] | None = None
    for option in options:
        score = _score(option.label, wanted)
        if score and (best is None or score > best[0]):
            best = (score, option)
    if best is not None:
        return Press(best[1].key, f"'{best[1].label}' matches the goal")
    lowered = " ".join(re.findall(r"[a-z0-9']+", heard.lower()))
    if not options and any(phrase in lowered for phrase in _HELLO):
        return Reached("someone asked how they can help")
    return Wait("no option for the goal")
