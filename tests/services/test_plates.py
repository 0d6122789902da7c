"""One spelling per licence plate, so that a returning car is recognised and
the board never shows one car as two: what the desk types is folded to the
canonical form, and look-alikes or invisible characters are refused."""

from __future__ import annotations

import pytest

from shared.domain.errors import ValidationFailed
from shared.domain.plates import normalise_plate


@pytest.mark.parametrize(
    ("typed", "canonical"),
    [
        ("粤B12345", "粤B12345"),
        ("粤b 12345", "粤B12345"),
        ("粤Ｂ１２３４５", "粤B12345"),
        ("粤B·12345", "粤B12345"),
        ("粤B・12345", "粤B12345"),
        ("粤B-12345", "粤B12345"),
        ("粤B.12345", "粤B12345"),
        ("  粤B 123 45  ", "粤B12345"),
        ("粤B\u300012345", "粤B12345"),
        ("粤BD12345", "粤BD12345"),
        ("粤B12345D", "粤B12345D"),
        ("粤bd12345", "粤BD12345"),
        ("粤B1234学", "粤B1234学"),
        ("京A12345挂", "京A12345挂"),
        ("使123456", "使123456"),
        ("AB1234", "AB1234"),
    ],
    ids=[
        "canonical",
        "lower-case-and-space",
        "full-width",
        "middle-dot",
        "katakana-middle-dot",
        "dash",
        "dot",
        "padding-and-inner-spaces",
        "ideographic-space",
        "new-energy-small",
        "new-energy-large",
        "new-energy-lower-case",
        "learner",
        "trailer",
        "diplomatic",
        "no-province",
    ],
)
def test_normalise_plate_folds_to_one_spelling(typed: str, canonical: str) -> None:
    assert normalise_plate(typed) == canonical
    # Canonical is a fixed point: normalising again changes nothing.
    assert normalise_plate(canonical) == canonical


@pytest.mark.parametrize(
    "typed",
    [
        "",
        "   ",
        "粤\u041212345",  # Cyrillic capital ve, looks like B
        "粤\u039112345",  # Greek capital alpha, looks like A
        "\u0391\u0392\u039a123",  # all Greek
        "粤B12\u200b345",  # zero-width space
        "粤B\u200d12345",  # zero-width joiner
        "\ufeff粤B12345",  # byte-order mark
        "粤B12345\x07",  # bell
        "粤B\x1b[31m12345",  # terminal escape
        "粤B12345\n",  # line break pasted along
        "粤B12",  # too short
        "粤B123456789",  # too long
        "粤B12345🚗",  # emoji
        "粤粤B12345",  # two provinces
        "沪",  # province only
        "粤B12345挂学",  # two suffixes
        "X粤12345",  # province in the middle
    ],
    ids=[
        "empty",
        "blank",
        "cyrillic-look-alike",
        "greek-look-alike",
        "all-greek",
        "zero-width-space",
        "zero-width-joiner",
        "byte-order-mark",
        "control-character",
        "terminal-escape",
        "trailing-newline",
        "too-short",
        "too-long",
        "emoji",
        "two-provinces",
        "province-only",
        "two-suffixes",
        "province-in-the-middle",
    ],
)
def test_normalise_plate_refuses(typed: str) -> None:
    with pytest.raises(ValidationFailed) as refused:
        normalise_plate(typed)
    assert refused.value.field == "plate"
    assert refused.value.code == "validation_error"


def test_mainland_plates_read_letter_o_and_i_as_digits() -> None:
    """Mainland plates never use I or O, so one car keeps one spelling."""
    assert normalise_plate("粤BO12I4") == normalise_plate("粤B01214") == "粤B01214"
    # Plates without a province character (e.g. Hong Kong style) keep their letters.
    assert normalise_plate("OI1234") == "OI1234"
