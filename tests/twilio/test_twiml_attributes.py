"""docs/twilio-apps.md's "Every element and attribute" table names every element of voice
TwiML and each of its attributes, as the official ``twilio`` SDK writes them, with a state.

The elements and attributes are not listed here: they are found by walking the SDK's
builders from ``VoiceResponse`` (each public method of each element class makes a child
element; called with every keyword it takes, the element it returns holds the attributes
under the names the SDK writes, through its own snake_case to camelCase rule). A newer SDK
with a new verb, noun or attribute fails this test until the table says what sipgw does
with it.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from twilio.twiml import TwiML
from twilio.twiml.voice_response import VoiceResponse

from sipgw.twilio.document import Unsupported, parse_twiml

DOC = Path(__file__).resolve().parents[2] / "docs" / "twilio-apps.md"
HEADING = "### Every element and attribute"
STATES = ("done", "done, limited", "not followed", "not read", "TwiML error", "refused")
"""The states a row may give, as the table's introduction defines them."""
WHERE = re.compile(r"\bin `<(\w+)[ >]")
"""A note's "in `<Stop>`": the row is about the element found there."""
ROW = re.compile(r"\| `<([^>`]+)>` \| (.*?) \| (.*?) \| (.*) \|")


def _builders(cls: type[TwiML]) -> Iterator[tuple[str, Any]]:
    for name, function in inspect.getmembers(cls, inspect.isfunction):
        if not name.startswith("_") and not hasattr(TwiML, name):
            yield name, function


def sdk_elements() -> dict[str, tuple[set[str], set[str]]]:
    """Element name -> (its attributes, the elements it is found in), over the SDK's tree."""
    found: dict[str, tuple[set[str], set[str]]] = {}
    classes: set[type[TwiML]] = set()

    def walk(cls: type[TwiML], parent: str) -> None:
        holder = object.__new__(cls)  # an empty element to call its builders on
        TwiML.__init__(holder)
        for _, builder in _builders(cls):
            keywords = [
                p.name
                for p in inspect.signature(builder).parameters.values()
                if p.name != "self" and p.kind is p.POSITIONAL_OR_KEYWORD
            ]
            element = builder(holder, **dict.fromkeys(keywords, "x"))
            attributes, parents = found.setdefault(element.name, (set(), set()))
            attributes.update(element.attrs)  # the SDK's own names: ``callerId``, ``xml:lang``
            parents.add(parent)
            if type(element) not in classes:
                classes.add(type(element))
                walk(type(element), element.name)

    walk(VoiceResponse, "Response")
    return found


def doc_rows() -> list[tuple[str, set[str], str, str]]:
    """(element, attributes, state, note) of each row of the table."""
    text = DOC.read_text()
    assert HEADING in text, f"docs/twilio-apps.md has no {HEADING!r}"
    section = text.split(HEADING, 1)[1].split("\n#", 1)[0]
    rows = []
    for line in section.splitlines():
        found = ROW.fullmatch(line)
        if found:
            element, attributes, state, note = found.groups()
            rows.append((element, set(re.findall(r"`([^`]+)`", attributes)), state, note))
    return rows


def test_the_sdk_walk_finds_the_verbs_and_their_attributes() -> None:
    elements = sdk_elements()
    assert {"Dial", "Gather", "Say", "ConversationRelay", "Pay", "Sms"} <= set(elements)
    assert {"hangupOnStar", "callerId", "answerOnBridge"} <= elements["Dial"][0]
    assert "xml:lang" in elements["lang"][0]
    assert elements["Number"][1] == {"Dial"}


def test_every_row_gives_a_known_state_and_a_note() -> None:
    rows = doc_rows()
    assert rows
    for element, _, state, note in rows:
        assert state in STATES, (element, state)
        assert note.strip(), element


def test_every_element_and_attribute_of_the_sdk_has_a_row() -> None:
    listed: dict[str, set[str]] = {}
    for element, attributes, _, _ in doc_rows():
        listed.setdefault(element, set()).update(attributes)
    missing = {
        name: sorted(attributes - listed.get(name, set()))
        for name, (attributes, _) in sdk_elements().items()
        if name not in listed or attributes - listed[name]
    }
    assert not missing, f"not in docs/twilio-apps.md's {HEADING!r}: {missing}"


def test_an_attribute_has_one_state_per_element_unless_the_note_says_where() -> None:
    seen: dict[tuple[str, str], str] = {}
    for element, attributes, state, note in doc_rows():
        for attribute in attributes:
            before = seen.setdefault((element, attribute), state)
            assert before == state or WHERE.search(note), (element, attribute, before, state)


def test_each_element_the_table_refuses_is_refused_by_the_parser() -> None:
    elements = sdk_elements()
    for element, attributes, state, note in doc_rows():
        if state != "refused" or element not in elements:
            continue
        given = "".join(f' {name}="x"' for name in sorted(attributes))
        parents = elements[element][1]
        named = set(WHERE.findall(note))  # "in `<Response>`": only there
        for parent in sorted(
            (named or parents) & parents & {"Response", "Connect", "Dial", "Start"}
        ):
            inner = f"<{element}{given}>x</{element}>"
            xml = inner if parent == "Response" else f"<{parent}>{inner}</{parent}>"
            (verb,) = parse_twiml(f"<Response>{xml}</Response>")
            assert isinstance(verb, Unsupported), (parent, element)
