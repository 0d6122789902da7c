"""Which characters text that people type may hold, wherever it is stored.

Everything Baylight stores is shown again to somebody: on the wall board, the
lounge TV, the customer's phone, a printed ticket, a CSV export. One rule
decides what such text may contain, so that every way in (REST bodies, query
strings, the screens' own JSON endpoints, HTML forms, the command line) keeps
the same promise. Refused, with the field named:

* lone surrogates (U+D800–U+DFFF on their own): not Unicode text at all. A
  JSON body may spell one as ``\\udc00``; stored, it makes every later UTF-8
  encoding of that row fail, so the order and the event feed could no longer
  be read;
* control characters: C0 (U+0000–U+001F), DEL and C1 (U+007F–U+009F), except
  line feed and tab in multi-line fields (complaints, notes, reasons). A
  carriage return is refused too: a line break is ``\\n`` only;
* the line and paragraph separators U+2028 and U+2029 (line breaks that
  ``\\n``-based layouts and older JavaScript do not expect);
* every bidirectional control (Unicode's Bidi_Control property): the
  embeddings and overrides U+202A–U+202E, the isolates U+2066–U+2069, and
  the marks U+200E, U+200F and U+061C. An override makes a name or plate read
  differently from what is stored ("Trojan Source"); the marks are invisible
  and only matter in right-to-left scripts, which none of Baylight's languages
  (Simplified and Traditional Chinese, English) uses, so refusing them costs
  nothing and leaves no invisible reordering at all;
* noncharacters (U+FDD0–U+FDEF and the last two code points of every plane,
  U+FFFE, U+FFFF, U+1FFFE … U+10FFFF): reserved for a program's internal use,
  never for interchange.

Other invisible format characters stay allowed: the zero-width joiner and
non-joiner are part of emoji sequences and of several scripts, and variation
selectors and tag characters build emoji and flags. Identifiers with a
stricter shape (plates) refuse those on top of this rule.

:func:`repair_text` is the other half: what stored text that predates the
rule becomes (each lone surrogate a U+FFFD replacement character).
"""

from __future__ import annotations

import re
import unicodedata

from shared.domain.errors import ValidationFailed

# What a multi-line field may contain besides printable text.
MULTILINE_CONTROLS = "\n\t"
BIDI_CONTROLS = "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
LINE_SEPARATORS = "\u2028\u2029"
REPLACEMENT = "\ufffd"
# A field name that comes from the request (an unknown key) is echoed in the
# error; this much of it is enough to find it.
FIELD_NAME_MAX = 64

_NONCHARACTERS = "\ufdd0-\ufdef" + "".join(
    f"{chr(plane << 16 | 0xFFFE)}{chr(plane << 16 | 0xFFFF)}" for plane in range(17)
)
_FORBIDDEN_ALWAYS = (
    "\x00-\x08\x0b-\x1f\x7f-\x9f"
    + re.escape(BIDI_CONTROLS + LINE_SEPARATORS)
    + "\ud800-\udfff"
    + _NONCHARACTERS
)
# Single-line fields also refuse the two controls multi-line fields keep.
_SINGLE_LINE = re.compile(f"[\t\n{_FORBIDDEN_ALWAYS}]")
_MULTI_LINE = re.compile(f"[{_FORBIDDEN_ALWAYS}]")
_SURROGATE = re.compile("[\ud800-\udfff]")


def _kind(char: str) -> str:
    """Why ``char`` (one the rule refuses) is refused, in a few words."""
    point = ord(char)
    if 0xD800 <= point <= 0xDFFF:
        return "a lone surrogate (not Unicode text)"
    if char in BIDI_CONTROLS:
        return "a bidirectional control character"
    if char in LINE_SEPARATORS:
        return "a line or paragraph separator"
    if unicodedata.category(char) == "Cc":
        return "a control character"
    return "a noncharacter"


def text_problem(value: str, *, multiline: bool = False) -> str | None:
    """Why ``value`` may not be stored as text, or None when it may.

    The answer names the code point and its position but never repeats the
    value, so it is safe to put in an error message."""
    found = first_refused(value, multiline=multiline)
    if found is None:
        return None
    char, position = found
    return f"contains {_kind(char)} (U+{ord(char):04X}) at position {position}"


def first_refused(value: str, *, multiline: bool = False) -> tuple[str, int] | None:
    """The first character the rule refuses and its 1-based position, or None."""
    found = (_MULTI_LINE if multiline else _SINGLE_LINE).search(value)
    return None if found is None else (found.group(), found.start() + 1)


def check_text(field: str, value: str, *, multiline: bool = False) -> str:
    """``value`` unchanged when the rule allows it, else ``ValidationFailed``
    naming ``field``. Multi-line fields may contain line feeds and tabs."""
    problem = text_problem(value, multiline=multiline)
    if problem is not None:
        raise ValidationFailed(field, f"{field} {problem}.")
    return value


def has_lone_surrogate(value: str) -> bool:
    """True when ``value`` holds a surrogate code point. Decoders join a valid
    pair into the one character it encodes (``json.loads`` does), so any
    surrogate left in a ``str`` stands alone."""
    return _SURROGATE.search(value) is not None


def printable_name(name: str) -> str:
    """A field name taken from a request, made safe to echo: every character
    the rule refuses is written as ``\\uXXXX``, and it is cut to a length a
    person can read."""
    shown = "".join(
        f"\\u{ord(c):04x}" if _SINGLE_LINE.match(c) else c for c in name[:FIELD_NAME_MAX]
    )
    return shown + ("…" if len(name) > FIELD_NAME_MAX else "")


def repair_text(value: str) -> str:
    """``value`` with every lone surrogate replaced by U+FFFD.

    Surrogate pairs (a high one followed by a low one, as decoders that pass
    surrogates through produce) become the character they encode."""
    if not has_lone_surrogate(value):
        return value
    return value.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
