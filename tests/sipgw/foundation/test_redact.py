"""Redaction: secrets, key shapes, card numbers (digits, groups, spoken), patterns."""

from __future__ import annotations

import logging
import re
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sipgw.foundation.redact import (
    CLEAN_MEMO_LENGTH,
    CLEAN_MEMO_SIZE,
    MAX_ERROR_LENGTH,
    Redactor,
    find_cards,
    luhn_ok,
    redact_log_record,
    redact_urls,
    websocket_logger,
)

VISA = "4111111111111111"
AMEX = "378282246310005"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"my card is {VISA} thanks", "my card is [card ****1111] thanks"),
        ("it's 4111 1111 1111 1111, expiry 12/27", "it's [card ****1111], expiry 12/27"),
        ("4111-1111-1111-1111", "[card ****1111]"),
        (f"amex {AMEX}", "amex [card ****0005]"),
        (
            "four one one one one one one one one one one one one one one one",
            "[card ****1111]",
        ),
        ("Four one one one, 1111 one one one one, 1111.", "[card ****1111]."),
        ("4111 1111 1111 1111 12 27 123", "[card ****1111] 12 27 123"),
    ],
)
def test_card_numbers_are_redacted(text: str, expected: str) -> None:
    assert Redactor().redact(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "4111 1111 1111 1112",  # fails the Luhn check
        "call me back on +4915112345678 or +1 555 0100",  # phone numbers
        "order 12345, ports 10000-20000",
        "calls/20261122-185207_a84b4c76e66710.jsonl",
        "someone said oneness four",
        "ID 41111111111111110000000",  # 23 digits in one group: no card
    ],
)
def test_other_numbers_are_kept(text: str) -> None:
    assert Redactor().redact(text) == text


def test_luhn() -> None:
    assert luhn_ok(VISA) and luhn_ok(AMEX) and not luhn_ok("4111111111111112")
    assert find_cards(f"a {VISA} b") == [(2, 18, VISA)]


def test_cards_off_keeps_them() -> None:
    assert Redactor(cards=False).redact(VISA) == VISA


def test_secrets_are_masked_also_encoded_and_short_ones_are_not() -> None:
    r = Redactor(["p@ss word/1", "abc"])
    assert r.redact("pw=p@ss word/1 url=x?pw=p%40ss%20word%2F1") == "pw=*** url=x?pw=***"
    assert r.redact('{"k": "p@ss word/1"}') == '{"k": "***"}'
    assert r.redact("abc abc") == "abc abc"  # too short to mask by value
    assert "p@ss" not in repr(r)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("> Authorization: k3y-value", "> Authorization: ***"),
        ("> xi-api-key: abcdef", "> xi-api-key: ***"),
        ("headers={'xi-api-key': 'abcdef'}", "headers={'xi-api-key': '***'}"),
        ("Authorization: Bearer sk-abcdefgh", "Authorization: Bearer ***"),
        ("got Bearer sk-abcdefgh back", "got Bearer *** back"),
        ("wss://h/v3/ws?token=abc123&sample_rate=8000", "wss://h/v3/ws?token=***&sample_rate=8000"),
        (
            "<sip:a@h>;auth_user=a;auth_pass=pw123;regint=0",
            "<sip:a@h>;auth_user=a;auth_pass=***;regint=0",
        ),
        (
            "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz",
            "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:***",
        ),
        # a digest answer holds no secret, and stays readable
        ('Authorization: Digest username="alice", response="6629fae4"', None),
    ],
)
def test_secret_shapes_are_masked(text: str, expected: str | None) -> None:
    assert Redactor(cards=False).redact(text) == (expected or text)


def test_pattern_is_redacted() -> None:
    r = Redactor(pattern=r"\b\d{3}-\d{2}-\d{4}\b|member [A-Z]\d+")
    assert r.redact("SSN 123-45-6789, member X123") == "SSN [redacted], [redacted]"


def test_redact_value_walks_records() -> None:
    r = Redactor(["TOPSECRET"])
    record = {"type": "user", "text": f"card {VISA}", "n": 3, "args": ["TOPSECRET", {"x": VISA}]}
    assert r.redact_value(record) == {
        "type": "user",
        "text": "card [card ****1111]",
        "n": 3,
        "args": ["***", {"x": "[card ****1111]"}],
    }


def test_log_record_message_args_and_exception_are_redacted() -> None:
    r = Redactor(["TOPSECRET"])
    try:
        raise RuntimeError("server said: bad key TOPSECRET")
    except RuntimeError:
        exc_info = sys.exc_info()
    record = logging.LogRecord(
        "x", logging.ERROR, __file__, 1, "key %s card %s", ("TOPSECRET", VISA), exc_info
    )
    redact_log_record(record, r)
    text = logging.Formatter().format(record)
    assert "TOPSECRET" not in text and VISA not in text
    assert (
        "key *** card [card ****1111]" in text and "RuntimeError: server said: bad key ***" in text
    )


def test_websocket_logger_masks_header_lines(caplog: pytest.LogCaptureFixture) -> None:
    logger = websocket_logger("websockets.client.test-redact")
    assert websocket_logger("websockets.client.test-redact") is logger
    assert len(logger.filters) == 1  # not added twice
    with caplog.at_level(logging.DEBUG, logger.name):
        logger.debug("> %s: %s", "Authorization", "aai-0123456789")
        logger.debug("> %s: %s", "xi-api-key", "el-0123456789")
    assert "0123456789" not in caplog.text
    assert "> Authorization: ***" in caplog.text


def test_urls_lose_their_credentials_and_query_strings() -> None:
    text = "GET https://bob:pw@api.example/v1/x?api_key=K&id=1#frag failed; see http://a.example/b"
    assert redact_urls(text) == (
        "GET https://***@api.example/v1/x?***#frag failed; see http://a.example/b"
    )


def test_redact_error_masks_and_bounds_what_the_model_reads() -> None:
    redactor = Redactor(["topsecretvalue"])
    text = redactor.redact_error("boom topsecretvalue " + "y" * 1000)
    assert "topsecretvalue" not in text and len(text) == MAX_ERROR_LENGTH and text.endswith("…")


def _scanned_whole(redactor: Redactor, text: str) -> str:
    """Every scan of :meth:`Redactor.redact`, none skipped (what its quick checks must equal)."""
    from sipgw.foundation.redact import _SHAPES

    for shape, replacement in _SHAPES:
        text = shape.sub(replacement, text)
    for start, end, digits in reversed(find_cards(text)):
        text = f"{text[:start]}[card ****{digits[-4:]}]{text[end:]}"
    return text


@pytest.mark.parametrize(
    "text",
    [
        "[call-1] turn 3 ended: stt 184 ms, llm 201 ms, heard 'a table for four people'",
        "FOUR ONE ONE ONE ONE ONE ONE ONE ONE ONE ONE ONE ONE ONE ONE ONE",
        "Four 1 one 1 ONE 1 one 1 oNe 1 one 1 one 1 one 1",
        "4111 1111 1111 111",  # 15 digits, not a card: the count lets it through to the scan
        "Authorization: Bearer abcdefgh12345678",
        "AUTHORIZATION=Basic dXNlcjpwYXNz",
        "GET /ws?TOKEN=abcdef1234&x=1",
        " PassWD=hunter22; Secret=abcd",
        "a=crypto:1 AES_CM_128_HMAC_SHA1_80 INLINE:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz",
        "X-Api-Key: sk-abcdefgh",
        "api-\u212aey: sk-abcdefgh",  # the Kelvin sign folds to k: non-ASCII is always scanned
        "ſix ſix one one one one one one one one one one one one one one",  # long s folds to s
        "phone someone done money, one 2 three",
        "12345 ab 67890 cd 123 4",  # 14 digits, no stretch of 13: the card scan is skipped
        "4111\x1c1111\x1f1111\t1111",  # blanks as the scans' \\s has them
    ],
)
def test_quick_checks_skip_only_scans_that_cannot_match(text: str) -> None:
    redactor = Redactor()
    assert redactor.redact(text) == _scanned_whole(redactor, text)


_PIECES = ["one", "ONE", "oh", "4", "1", " ", "-", ",", "\x1c", "Bearer ", "token=", "PASSWORD=",
           "api-key:", "inline:", "abcdefgh1234", "\u212a", "ſ", "x", "+", "ab"]  # fmt: skip


@given(st.lists(st.sampled_from(_PIECES), max_size=40).map("".join))
def test_quick_checks_agree_with_whole_scans(text: str) -> None:
    redactor = Redactor()
    assert redactor.redact(text) == _scanned_whole(redactor, text)


_MEMO_TEXTS = [
    "barge_in",
    "speech",
    "assistant",
    f"card {VISA}",
    "Bearer abcdefgh12345678",
    "sk-live-secret-value",
    "x" * 70,
    "call me at four one one one",
]


@given(st.lists(st.sampled_from(_MEMO_TEXTS) | st.text(max_size=80), max_size=40))
def test_the_clean_memo_gives_what_a_fresh_redactor_gives(texts: list[str]) -> None:
    memo = Redactor(["sk-live-secret-value"], pattern=r"\bspeech\b")
    for text in texts + texts:  # each text again, from the memo when it was clean
        assert memo.redact(text) == Redactor(
            ["sk-live-secret-value"], pattern=r"\bspeech\b"
        ).redact(text)


def test_a_text_found_clean_is_redacted_once_it_holds_a_new_secret() -> None:
    redactor = Redactor()
    assert redactor.redact("token-abcdef") == "token-abcdef"  # clean, remembered
    redactor.add_secrets(["token-abcdef"])
    assert redactor.redact("token-abcdef") == "***"


def test_the_clean_memo_follows_the_pattern_and_the_card_setting() -> None:
    redactor = Redactor(cards=False)
    card = f"card {VISA}"
    assert redactor.redact(card) == card
    assert redactor.redact("room_speech") == "room_speech"
    redactor.cards = True
    assert redactor.redact(card) == "card [card ****1111]"
    redactor.pattern = re.compile("room")
    assert redactor.redact("room_speech") == "[redacted]_speech"


def test_the_clean_memo_is_bounded() -> None:
    redactor = Redactor()
    for i in range(CLEAN_MEMO_SIZE + 10):
        assert redactor.redact(f"line {i}") == f"line {i}"
    assert len(redactor._clean) <= CLEAN_MEMO_SIZE
    long = "y" * (CLEAN_MEMO_LENGTH + 1)
    redactor.redact(long)
    assert long not in redactor._clean


# Pieces that make the scans match, and the non-ASCII characters they read as ASCII.
_SCAN_PIECES = st.sampled_from(
    [
        "Authorization: Bearer ", "api-key=", "?token=", "inline:", "bearer ", "password=",
        "4111", "1111", " ", "-", ",", "four", "one", "ſix", "ſecret=", "toKen=",
        "\u0130", "\u0131", "\u212a", "\u0664", "\u0661", "\u00a0", "\u2009", "→", "é",
        "abcdefgh12345678", "x",
    ]
)  # fmt: skip


@given(st.lists(_SCAN_PIECES, max_size=30).map("".join) | st.text(max_size=60))
def test_the_pre_checks_skip_only_text_no_scan_would_change(text: str) -> None:
    redactor = Redactor()
    assert redactor.redact(text) == _scanned_whole(redactor, text)


@pytest.mark.parametrize(
    ("text", "changed"),
    [
        ("Authoriza\u0131ion: bearer abcdefgh12345678", True),  # a dotless i read as "i"
        ("a \u017fecret=hunter22", True),  # a long s read as "s"
        ("api-\u212aey: abcdefgh", True),  # the Kelvin sign read as "k"
        ("card \u0664\u0661\u0661\u0661 1111 1111 1111", False),  # Arabic-Indic digits
        ("card 4111\u00a01111\u20091111 1111 →", True),  # non-ASCII blanks
    ],
)
def test_non_ascii_text_that_reads_as_a_secret_is_scanned(text: str, changed: bool) -> None:
    redactor = Redactor()
    assert redactor.redact(text) == _scanned_whole(redactor, text)
    assert (redactor.redact(text) != text) is changed
