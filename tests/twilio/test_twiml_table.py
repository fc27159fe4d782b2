"""docs/twilio-apps.md's table of TwiML verbs names exactly what the parser follows and
refuses, each with the state the parser gives it (and a refusal's reason as logged)."""

from __future__ import annotations

import re
from pathlib import Path

from sipgw.twilio.document import REFUSED, SUPPORTED, Unsupported, parse_twiml

DOC = Path(__file__).resolve().parents[2] / "docs" / "twilio-apps.md"


def table() -> dict[str, tuple[str, str]]:
    """verb -> (state, what the row says), from the rows of the verbs table."""
    rows: dict[str, tuple[str, str]] = {}
    for line in DOC.read_text().splitlines():
        found = re.fullmatch(r"\| `<(.+?)>` \| (supported|refused) \| (.*) \|", line)
        if found:
            rows[found[1]] = (found[2], found[3])
    return rows


def test_the_tables_verbs_are_the_parsers() -> None:
    rows = table()
    assert {v for v, (state, _) in rows.items() if state == "supported"} == set(SUPPORTED)
    assert {v for v, (state, _) in rows.items() if state == "refused"} == set(REFUSED)


def test_each_refused_row_gives_the_reason_logged_and_the_parser_refuses_it() -> None:
    for verb, (state, says) in table().items():
        if state != "refused":
            continue
        assert says.replace("`", "") == REFUSED[verb].replace("`", ""), verb
        outer, _, inner = verb.partition("><")
        xml = f"<{outer}><{inner}/></{outer}>" if inner else f"<{outer}/>"
        (parsed,) = parse_twiml(f"<Response>{xml}</Response>")
        assert parsed == Unsupported(verb, REFUSED[verb])


def test_each_supported_row_is_parsed_into_a_verb_followed() -> None:
    for verb in SUPPORTED:
        outer, _, inner = verb.partition("><")
        if verb == "Play digits":
            xml = '<Play digits="1"/>'
        elif inner == "ConversationRelay":
            xml = f'<{outer}><{inner} url="wss://a.example/relay"/></{outer}>'
        elif inner == "Stream":
            xml = f'<{outer}><Stream url="wss://a.example/s" name="n"/></{outer}>'
        elif inner == "Siprec":
            xml = f'<{outer}><Siprec connectorName="c" name="n"/></{outer}>'
        elif inner:
            xml = f"<{outer}><{inner}>sip:a@b.example</{inner}></{outer}>"
        elif outer == "Refer":
            xml = "<Refer><Sip>sip:a@b.example</Sip></Refer>"
        elif outer == "Enqueue":
            xml = "<Enqueue>support</Enqueue>"
        elif outer in ("Play", "Redirect"):
            xml = f"<{outer}>https://a.example/x</{outer}>"
        else:
            xml = f"<{outer}>hello</{outer}>" if outer == "Say" else f"<{outer}/>"
        (parsed,) = parse_twiml(f"<Response>{xml}</Response>")
        assert not isinstance(parsed, Unsupported), verb
