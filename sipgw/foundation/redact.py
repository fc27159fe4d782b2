"""Redaction of secrets, card numbers and configured patterns in text and records.

One :class:`Redactor` is applied where text leaves the process for good: the
per-call JSONL records (:class:`sipgw.agent.record.CallRecord`) and, through the
gateway's logging filter (:mod:`sipgw.app.security.privacy`), every log line. It
replaces, in this order:

1. **secrets**: the exact configured values (API keys, SIP passwords), also
   percent-encoded, as ``***``. Values shorter than :data:`MIN_SECRET_LENGTH`
   are not masked (a one-letter key would blank every ``x`` in the log);
2. **secret shapes**: whatever follows ``xi-api-key:``, ``Authorization:
   Bearer``, ``?token=``, ``api_key=``, ``auth_pass=``, ``password=`` and SDES
   ``inline:`` keys, as ``***``, whoever's value it is;
3. **patterns**: matches of the operator's regular expression, as ``[redacted]``;
4. **card numbers** (when on): 13-19 digits that pass the Luhn check, written
   together or in groups (``4111 1111 1111 1111``, ``4111-1111-...``) or spoken
   digit by digit (``four one one one ...``, as a transcript writes it), as
   ``[card ****1111]`` (the last four digits, as PCI DSS allows). Digit runs
   after a ``+`` are phone numbers and are left alone.

The LLM still hears what the caller said: redaction changes what is stored and
logged, not the conversation. What goes the other way, from our code to the LLM,
is redacted too where it can carry secrets: an exception a tool raised
(:meth:`Redactor.redact_error`: URL credentials and query strings as well, since
an HTTP client's error names the URL it called, keys and all, and the model may
read it out to the caller).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote

from sipgw.foundation.spoken import DIGIT_WORDS as _DIGIT_WORDS

__all__ = [
    "MAX_ERROR_LENGTH",
    "MIN_SECRET_LENGTH",
    "RedactingFilter",
    "Redactor",
    "find_cards",
    "luhn_ok",
    "redact_log_record",
    "redact_urls",
    "websocket_logger",
]

MAX_ERROR_LENGTH = 200
"""The most of an error's text that :meth:`Redactor.redact_error` keeps."""

_URL_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/\s@]*@")
_URL_QUERY = re.compile(r"(?i)(\b[a-z][a-z0-9+.-]*://[^\s?#]*)\?[^\s#'\"<>)]*")


def redact_urls(text: str) -> str:
    """URLs in ``text`` without their credentials (``user:pass@``) and query strings."""
    return _URL_QUERY.sub(r"\1?***", _URL_USERINFO.sub(r"\1***@", text))


MIN_SECRET_LENGTH = 4
"""Configured secrets shorter than this are not masked by value (only by shape)."""

MASK = "***"

CLEAN_MEMO_LENGTH = 64
"""Texts up to this long that :meth:`Redactor.redact` found nothing in are remembered
(the call records' kinds, causes and names come again and again), at most
:data:`CLEAN_MEMO_SIZE` of them (then the memo starts over)."""

CLEAN_MEMO_SIZE = 4096

_TOKEN = r"(?:\d+|" + "|".join(_DIGIT_WORDS) + ")"
_TOKEN_RE = re.compile(_TOKEN, re.IGNORECASE)
# A run of digit groups and digit words separated by blanks, commas or hyphens;
# not glued to a word, and not after "+" (an E.164 phone number).
_RUN_RE = re.compile(rf"(?<![\w+]){_TOKEN}(?:[\s,-]+{_TOKEN})*(?!\w)", re.IGNORECASE)
_MAX_RUN_TOKENS = 64

# Secret-looking values whoever they belong to: header and parameter shapes.
_SHAPES: tuple[tuple[re.Pattern[str], str], ...] = (
    # "xi-api-key: KEY", "Authorization: Bearer KEY", "'authorization': 'KEY'"
    (
        re.compile(
            r"(?i)(\b(?:xi-api-key|authorization|api-key|x-api-key)['\"]?\s*[:=]\s*['\"]?"
            r"(?:(?:bearer|basic|token)\s+)?)(?!digest\b)[^\s'\",;&]{4,}"
        ),
        rf"\1{MASK}",
    ),
    # a bare bearer token: "Bearer KEY"
    (re.compile(r"(?i)(\bbearer\s+)[A-Za-z0-9._~+/=-]{8,}"), rf"\1{MASK}"),
    # query strings and parameter lists: ?token=KEY, &api_key=KEY, ;auth_pass=PW
    (
        re.compile(
            r"(?i)([?&;\s](?:token|access_token|api_key|apikey|xi-api-key|auth_pass|password|"
            r"passwd|secret)=)[^&\s'\";,]+"
        ),
        rf"\1{MASK}",
    ),
    # SDES key parameters, RFC 4568 §6.1: a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:KEY
    (re.compile(r"(?i)(inline:)[A-Za-z0-9+/]{16,}={0,2}"), rf"\1{MASK}"),
)


# What an ASCII text must hold for a shape to match (each shape's keyword, lower case):
# text with none of them skips the shapes' four scans. Non-ASCII text is checked in its
# ASCII fold (_ascii_fold).
_SHAPE_KEYWORDS = ("api-key", "authorization", "bearer", "token=", "api_key=", "apikey=",
                   "auth_pass=", "password=", "passwd=", "secret=", "inline:")  # fmt: skip
_ASCII_DIGITS = "0123456789"
_CARD_DIGITS_MIN = 13
_DIGIT_STRETCH = re.compile(rf"[0-9][0-9\s,-]{{{_CARD_DIGITS_MIN - 1},}}")


_CASE_FOLDS = {"\u0130": "i", "\u0131": "i", "\u017f": "s", "\u212a": "k"}
"""The non-ASCII letters that case-insensitive patterns match to an ASCII letter (every
one of them, found by trying each code point against each letter with ``re.I``)."""


def _ascii_fold(text: str) -> str:
    """``text`` with what the scans read as an ASCII letter, digit or blank made one:
    the letters of :data:`_CASE_FOLDS`, every other decimal digit (``\\d``) as ``0`` and
    every other blank (``\\s``) as a space; other characters stay. The keyword and digit
    checks then hold for the fold whenever a scan could match the text."""
    table: dict[int, str] = {}
    for char in set(text):
        if not char.isascii():
            if char.isdecimal():
                table[ord(char)] = "0"
            elif char.isspace():
                table[ord(char)] = " "
            elif char in _CASE_FOLDS:
                table[ord(char)] = _CASE_FOLDS[char]
    return text.translate(table) if table else text


def _may_hold_shape(lowered: str) -> bool:
    """Whether lower-cased ASCII text has a shape's keyword (else no shape can match)."""
    return any(keyword in lowered for keyword in _SHAPE_KEYWORDS)


def _may_hold_card(text: str, lowered: str) -> bool:
    """Whether ASCII text has digits and digit words enough for a card number: a count
    that can only be too high (``one`` in ``phone`` counts), never too low. Without digit
    words, the 13 digits must also stand in one stretch of digits, blanks, commas and
    hyphens (what a run of digit groups is made of)."""
    words = 0
    for word in _DIGIT_WORDS:
        words += lowered.count(word)
    digits = 0
    for digit in _ASCII_DIGITS:
        digits += text.count(digit)
    if words:
        return digits + words >= _CARD_DIGITS_MIN
    return digits >= _CARD_DIGITS_MIN and _DIGIT_STRETCH.search(text) is not None


def luhn_ok(digits: str) -> bool:
    """True when ``digits`` (0-9 only) pass the Luhn check (ISO/IEC 7812-1 Annex B)."""
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = ord(char) - 48
        if position % 2:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def find_cards(text: str) -> list[tuple[int, int, str]]:
    """``(start, end, digits)`` of each card-number-looking span of ``text``.

    A span is a sequence of whole digit groups or digit words with 13-19 digits
    that passes the Luhn check; the longest one from the left wins.
    """
    found: list[tuple[int, int, str]] = []
    for run in _RUN_RE.finditer(text):
        tokens = [
            (m.start(), m.end(), _DIGIT_WORDS.get(m.group().lower(), m.group()))
            for m in _TOKEN_RE.finditer(run.group())
        ][:_MAX_RUN_TOKENS]
        if sum(len(digits) for _, _, digits in tokens) < 13:
            continue
        i = 0
        while i < len(tokens):
            best = None
            digits = ""
            for j in range(i, len(tokens)):
                digits += tokens[j][2]
                if len(digits) > 19:
                    break
                if len(digits) >= 13 and luhn_ok(digits):
                    best = (j, digits)
            if best is None:
                i += 1
                continue
            j, digits = best
            found.append((run.start() + tokens[i][0], run.start() + tokens[j][1], digits))
            i = j + 1
    return found


class Redactor:
    """Masks secrets, card numbers and the operator's pattern in text and records.

    Args:
        secrets: exact values to mask (shorter than :data:`MIN_SECRET_LENGTH`: ignored).
        cards: redact card numbers.
        pattern: a regular expression whose matches are redacted; None or "" = none.
    """

    def __init__(
        self,
        secrets: Iterable[str] = (),
        *,
        cards: bool = True,
        pattern: str | re.Pattern[str] | None = None,
    ) -> None:
        self.cards = cards
        self.pattern = re.compile(pattern) if isinstance(pattern, str) and pattern else None
        if isinstance(pattern, re.Pattern):
            self.pattern = pattern
        self._secrets: set[str] = set()
        self._secret_re: re.Pattern[str] | None = None
        # Short texts found clean under these settings (redact()); add_secrets empties it.
        self._clean: set[str] = set()
        self._clean_for: tuple[bool, re.Pattern[str] | None] = (self.cards, self.pattern)
        self.add_secrets(secrets)

    def __repr__(self) -> str:  # never the secrets
        pattern = self.pattern.pattern if self.pattern else None
        return f"Redactor({len(self._secrets)} secrets, cards={self.cards}, pattern={pattern!r})"

    def _key(self) -> tuple[frozenset[str], bool, str | None]:
        return frozenset(self._secrets), self.cards, self.pattern.pattern if self.pattern else None

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Redactor) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key()[1:])

    @property
    def secret_count(self) -> int:
        """How many secret values (and encoded forms) are masked."""
        return len(self._secrets)

    def add_secrets(self, secrets: Iterable[str]) -> None:
        """Mask these values too (and their percent- and JSON-encoded forms)."""
        for secret in secrets:
            if len(secret) < MIN_SECRET_LENGTH:
                continue
            self._secrets.add(secret)
            self._secrets.add(quote(secret, safe=""))
            self._secrets.add(json.dumps(secret)[1:-1])
        if self._secrets:
            ordered = sorted(self._secrets, key=len, reverse=True)  # longest first
            self._secret_re = re.compile("|".join(re.escape(s) for s in ordered))
        self._clean.clear()

    def redact(self, text: str) -> str:
        """``text`` with secrets, secret shapes, the pattern and card numbers replaced."""
        clean = self._clean
        if (self.cards, self.pattern) != self._clean_for:  # settings changed: start over
            clean.clear()
            self._clean_for = (self.cards, self.pattern)
        if text in clean:
            return text
        redacted = self._redact(text)
        if len(text) <= CLEAN_MEMO_LENGTH and redacted == text:
            if len(clean) >= CLEAN_MEMO_SIZE:
                clean.clear()
            clean.add(text)
        return redacted

    def _redact(self, text: str) -> str:
        if self._secret_re is not None:
            text = self._secret_re.sub(MASK, text)
        plain = text if text.isascii() else _ascii_fold(text)
        if _may_hold_shape(plain.lower()):
            for shape, replacement in _SHAPES:
                text = shape.sub(replacement, text)
        if self.pattern is not None:
            text = self.pattern.sub("[redacted]", text)
        plain = text if text.isascii() else _ascii_fold(text)
        if self.cards and _may_hold_card(plain, plain.lower()):
            for start, end, digits in reversed(find_cards(text)):
                text = f"{text[:start]}[card ****{digits[-4:]}]{text[end:]}"
        return text

    def redact_error(self, text: str) -> str:
        """An error's text fit for the LLM: URLs stripped of credentials and queries,
        then :meth:`redact`, at most :data:`MAX_ERROR_LENGTH` characters."""
        text = self.redact(redact_urls(text))
        return text if len(text) <= MAX_ERROR_LENGTH else text[: MAX_ERROR_LENGTH - 1] + "…"

    def redact_value(self, value: Any) -> Any:
        """A JSON-like value with every string in it (not the keys) redacted."""
        if isinstance(value, str):
            return self.redact(value)
        if isinstance(value, dict):
            return {key: self.redact_value(item) for key, item in value.items()}
        if isinstance(value, list | tuple):
            return [self.redact_value(item) for item in value]
        return value


def redact_log_record(record: logging.LogRecord, redactor: Redactor) -> None:
    """Redact ``record`` in place: its message (arguments merged in), exception and stack."""
    try:
        message = record.getMessage()
    except Exception:  # bad arguments: logging would print them with its error report
        message = f"{record.msg} (log arguments could not be formatted)"
    record.msg = redactor.redact(message)
    record.args = None
    if record.exc_info and record.exc_info[0] is not None and not record.exc_text:
        record.exc_text = logging.Formatter().formatException(record.exc_info)
    if record.exc_text:
        record.exc_text = redactor.redact(record.exc_text)
    if record.stack_info:
        record.stack_info = redactor.redact(record.stack_info)


class RedactingFilter(logging.Filter):
    """A logging filter that redacts each record in place (and lets it through)."""

    def __init__(self, redactor: Redactor) -> None:
        super().__init__()
        self.redactor = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        redact_log_record(record, self.redactor)
        return True


def websocket_logger(name: str) -> logging.Logger:
    """The logger to hand ``websockets.connect(logger=...)`` for a connection carrying a key.

    At DEBUG, websockets logs every request header, ``Authorization`` and
    ``xi-api-key`` included; this logger's filter masks such headers (by
    shape), so the key stays out of the log even where no gateway-wide
    filter is installed (the agent used as a library).
    """
    logger = logging.getLogger(name)
    if not any(isinstance(f, RedactingFilter) for f in logger.filters):
        logger.addFilter(RedactingFilter(Redactor(cards=False)))
    return logger
