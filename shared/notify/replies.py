"""A customer's SMS reply that asks for no more messages (退订 / TD / T / STOP).

Chinese carriers require every marketing-style SMS to honour these keywords;
Baylight honours them for its service messages too: the orders that were
texted at that phone stop being told anything (``notify_opt_out`` =
``sms_keyword``). Pure; the sender applies it.
"""

from __future__ import annotations

import re

# Upper-cased, without spaces and trailing punctuation.
STOP_WORDS = frozenset({"退订", "退訂", "TD", "T", "STOP", "UNSUBSCRIBE", "取消订阅", "取消訂閱"})
_EDGES = re.compile(r"^[\s\"'“”‘’。.!！?？,，;；:：]+|[\s\"'“”‘’。.!！?？,，;；:：]+$")


def is_stop(text: str) -> bool:
    """The reply is one of the unsubscribe keywords and nothing else (a
    sentence that merely contains "T" is not)."""
    word = _EDGES.sub("", text).replace(" ", "").upper()
    return word in STOP_WORDS


def phone_variants(phone: str) -> tuple[str, ...]:
    """The spellings one mainland number may have been stored or reported
    in: 13800000000, 8613800000000, +8613800000000."""
    digits = "".join(c for c in phone if c.isdigit())
    if not digits:
        return ()
    national = digits[2:] if digits.startswith("86") and len(digits) == 13 else digits
    found = {phone.strip(), digits, national, f"86{national}", f"+86{national}"}
    return tuple(sorted(v for v in found if v))
