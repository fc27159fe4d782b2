"""Cut streamed LLM text into sentences for text-to-speech, as early as is safe.

Theory of operation
-------------------
:meth:`SentenceSplitter.push` appends a text delta and returns every sentence
that is now known to be complete. A boundary is decided only from the text
itself, never from where the deltas happened to be cut: when the decision needs
a character that has not arrived yet, the splitter waits. So any chunking of the
same text gives the same sentences (a Hypothesis test checks this).

Boundaries:

* ``.``, ``!``, ``?``, ``…`` (or a run of them, plus closing quotes and
  brackets) followed by whitespace;
* a newline, when there is text before it;
* ``:`` or ``;`` followed by whitespace, once the sentence is ``clause_chars``
  long (the first sentence: ``early_comma_chars``);
* ``,`` followed by whitespace: for the first sentence once it is
  ``early_comma_chars`` long (so the first audio starts on a few words), and
  for any sentence once it is ``max_chars`` long;
* any whitespace once a sentence is ``2 * max_chars`` long (run-on text).

With ``eager_end`` (what conversations use), a terminator at the very end of
the text so far is a boundary at once when it is ``?``, ``!`` or ``…``, or a
``.`` after a plain word of two or more letters that is not an abbreviation:
LLM streams put the next space in the *next* token, so waiting for it would
hold every finished sentence back by one inter-token gap. This is the one rule
that can depend on chunking (``Hello.com`` cut as ``Hello.`` if the delta ends
there), a risk that spoken replies all but never run.

Not boundaries: a period inside a token (``3.5``, ``example.com``,
``jane.doe@example.com``, ``e.g``), a known abbreviation (``Mr.``, ``Dr.``,
``e.g.``, ``i.e.``...), ``No.``/``Nr.`` before a number (``No. 1234``), and a
period or ellipsis followed by a lowercase word (``approx. five``,
``5 p.m. tomorrow``), and the number of a list item (``1. Apples``).
"""

from __future__ import annotations

__all__ = ["FIRST_CLAUSE_CHARS", "SentenceSplitter"]

FIRST_CLAUSE_CHARS = 16
"""Where a reply's first sentence may end at a comma: a few words, so TTS starts on them."""

_TERMINATORS = frozenset(".!?…")
_PERIODS = frozenset(".…")
_CLOSERS = frozenset("\"')]}»”’")
_OPENERS = "\"'([{«“‘"
_CLAUSE = frozenset(":;")

ABBREVIATIONS = frozenset(
    {
        "mr", "mrs", "ms", "mx", "dr", "prof", "sr", "jr", "st", "mt", "ft", "vs",
        "e.g", "i.e", "cf", "approx", "appt", "apt", "dept", "est", "fig", "min",
        "max", "avg", "incl", "excl", "ref", "tel", "ext", "mon", "tue", "tues",
        "wed", "thu", "thur", "thurs", "fri", "sat", "sun", "jan", "feb", "mar",
        "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec",
    }
)  # fmt: skip
"""Words whose trailing period never ends a sentence (lowercase, without that period)."""

NUMBER_PREFIXES = frozenset({"no", "nr", "nos", "num"})
"""``No. 1234``: abbreviations only when a number (or ``#``) follows."""


class SentenceSplitter:
    """Splits streamed text into sentences; see the module docstring.

    Args:
        early_comma_chars: the first sentence may end at a comma once it is this
            long; None disables the early cut.
        clause_chars: ``:`` and ``;`` end a sentence once it is this long.
        max_chars: commas end any sentence this long; any whitespace ends one
            twice this long.
        eager_end: cut at a terminator that ends the text so far (see the module
            docstring) instead of waiting for the next character.
    """

    def __init__(
        self,
        *,
        early_comma_chars: int | None = 40,
        clause_chars: int = 60,
        max_chars: int = 200,
        eager_end: bool = False,
    ) -> None:
        """A splitter for one stream of text; see the class docstring for the arguments."""
        self.eager_end = eager_end
        self.early_comma_chars = early_comma_chars
        self.clause_chars = clause_chars
        self.max_chars = max_chars
        self._buf = ""
        self._scan = 0
        self._emitted = 0

    def push(self, text: str) -> list[str]:
        """Add a delta; return the sentences it completed (maybe none)."""
        self._buf += text
        return self._split()

    def flush(self) -> str | None:
        """End of text: return what is left, or None if nothing but whitespace.

        The splitter can be used again afterwards; the early comma cut does not
        apply again until :meth:`reset`.
        """
        # Whatever push() could not decide waited only for text after it, so
        # at the end of the text all that is left is (at most) one sentence.
        rest = self._buf.strip()
        self._buf, self._scan = "", 0
        if not rest:
            return None
        self._emitted += 1
        return rest

    def reset(self) -> None:
        """Forget everything, as if new."""
        self._buf, self._scan, self._emitted = "", 0, 0

    def _split(self) -> list[str]:
        sentences: list[str] = []
        while True:
            stripped = self._buf.lstrip()
            self._scan = max(0, self._scan - (len(self._buf) - len(stripped)))
            self._buf = stripped
            end = self._find_boundary()
            if end is None:
                return sentences
            sentence = self._buf[:end].strip()
            self._buf, self._scan = self._buf[end:], 0
            if sentence:
                sentences.append(sentence)
                self._emitted += 1

    def _find_boundary(self) -> int | None:
        """The end of the first complete sentence, or None (advances ``_scan``)."""
        buf = self._buf
        i = self._scan
        while i < len(buf):
            decision = self._boundary_at(i)
            if isinstance(decision, _Wait):
                self._scan = i
                return None
            if decision is not None:
                return decision
            i = self._skip(i)
        self._scan = i
        return None

    def _skip(self, i: int) -> int:
        """Where to look next after a non-boundary at ``i`` (past a terminator run)."""
        j = i + 1
        if self._buf[i] in _TERMINATORS:
            while j < len(self._buf) and self._buf[j] in _TERMINATORS:
                j += 1
        return j

    def _boundary_at(self, i: int) -> int | _Wait | None:
        """The sentence end if a boundary is at ``i``; None if not; _WAIT if unknown yet."""
        c = self._buf[i]
        length = i  # the buffer never starts with whitespace
        while length and self._buf[length - 1].isspace():
            length -= 1
        if c == "\n":
            return i + 1 if length else None
        if c in _TERMINATORS:
            return self._terminator(i)
        if c in _CLAUSE and (length >= self.clause_chars or self._early_comma(length)):
            return self._followed_by_space(i + 1)
        if c == "," and (length >= self.max_chars or self._early_comma(length)):
            return self._followed_by_space(i + 1)
        if c.isspace() and length >= 2 * self.max_chars:
            return i
        return None

    def _early_comma(self, length: int) -> bool:
        limit = self.early_comma_chars
        return limit is not None and self._emitted == 0 and length >= limit

    def _followed_by_space(self, j: int) -> int | _Wait | None:
        if j >= len(self._buf):
            return _WAIT
        return j if self._buf[j].isspace() else None

    def _terminator(self, i: int) -> int | _Wait | None:
        buf = self._buf
        j = i
        while j < len(buf) and buf[j] in _TERMINATORS:
            j += 1
        run = buf[i:j]
        while j < len(buf) and buf[j] in _CLOSERS:
            j += 1
        if j >= len(buf):
            return j if self.eager_end and _ends_clearly(run, _word_before(buf, i)) else _WAIT
        if not buf[j].isspace():
            return None  # "3.5", "example.com", "e.g": inside a token
        if not set(run) <= _PERIODS:
            return j  # "!" or "?" in the run: always a boundary
        following = buf[j:].lstrip()
        if not following:
            return _WAIT
        word = _word_before(buf, i)
        if word.isdigit() and buf[:i].strip() == word:
            return None  # a list item number: "1. Apples"
        return None if _continues(word, run, following[0]) else j


class _Wait:
    """The decision needs text that has not arrived yet."""


_WAIT = _Wait()


def _word_before(buf: str, i: int) -> str:
    start = i
    while start > 0 and not buf[start - 1].isspace():
        start -= 1
    return buf[start:i].lstrip(_OPENERS).lower()


def _ends_clearly(run: str, word: str) -> bool:
    """A terminator run at the end of the text that surely ends a sentence (``eager_end``)."""
    if not set(run) <= _PERIODS or "…" in run:
        return True  # "?", "!", "…"
    return (
        run == "."
        and len(word) >= 2
        and word.isalpha()
        and word not in ABBREVIATIONS
        and word not in NUMBER_PREFIXES
    )


def _continues(word: str, run: str, following: str) -> bool:
    """True when the period(s) after ``word`` do not end the sentence."""
    if following.islower():
        return True  # "approx. five", "at 5 p.m. tomorrow", "well... maybe"
    if run != ".":
        return False
    if word in ABBREVIATIONS:
        return True
    return word in NUMBER_PREFIXES and (following.isdigit() or following == "#")
