"""Licence plates: one spelling per car so that returning cars are recognised.

NFKC folds full-width letters (ＡＢ１２) to ASCII; upper case; separators
(space, middle dot, dash, dot) are dropped. What remains must be a Chinese
province abbreviation (optional), then ASCII letters and digits, then an
optional special suffix (挂 trailer, 学 learner, 警 police, 港/澳 cross-border,
领/使 diplomatic). Cyrillic or Greek look-alikes and control characters are
refused rather than silently kept, since they would split one car in two:
first by the rule for all stored text (``shared.domain.text``), then by the
plate's own shape, which also leaves out the invisible format characters
(zero-width joiners, byte-order marks) that other text may keep.
Mainland plates never contain I or O, so after a province character those are
read as 1 and 0.
"""

from __future__ import annotations

import re
import unicodedata

from shared.domain.errors import ValidationFailed
from shared.domain.text import check_text

PROVINCES = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼使领"
SUFFIXES = "挂学警港澳领使试超"
SEPARATORS = " \u00b7\u30fb-._\u2027\u2219\u22c5\u3000"

_PLATE = re.compile(rf"^[{PROVINCES}]?[A-Z0-9]{{4,8}}[{SUFFIXES}]?$")


def normalise_plate(raw: str) -> str:
    """The canonical form of a plate, or ``ValidationFailed`` on field ``plate``."""
    if not isinstance(raw, str) or not raw.strip():
        raise ValidationFailed("plate", "The plate is required.")
    check_text("plate", raw)
    if any(unicodedata.category(c) == "Cf" for c in raw):
        raise ValidationFailed("plate", "The plate contains invisible formatting characters.")
    folded = unicodedata.normalize("NFKC", raw).upper()
    cleaned = "".join(c for c in folded if c not in SEPARATORS)
    if cleaned[:1] and cleaned[0] in PROVINCES:
        # Mainland plates never use I or O; a typed O is the digit 0.
        cleaned = cleaned[0] + cleaned[1:].replace("O", "0").replace("I", "1")
    if not _PLATE.match(cleaned):
        raise ValidationFailed(
            "plate",
            "Not a plate: use a province character (optional), 4–8 letters or digits, "
            "and an optional suffix such as 挂 or 学.",
        )
    return cleaned
