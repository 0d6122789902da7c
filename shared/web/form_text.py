"""The rule for stored text (``shared.domain.text``) as a WTForms validator,
so that the HTML forms (sign-in, administration) hold what people type to the
same rule as the JSON endpoints and the command line.

Form posts cannot carry lone surrogates (werkzeug decodes them with
replacement characters), but they carry control and bidirectional characters
like any other input.
"""

from __future__ import annotations

from typing import Any

from flask_babel import gettext
from wtforms.validators import ValidationError

from shared.domain.text import first_refused


class StoredText:
    """Refuses a field whose text the rule refuses; ``multiline`` for text
    areas (line feeds and tabs allowed). Add it to every text field."""

    def __init__(self, *, multiline: bool = False) -> None:
        self.multiline = multiline
        self.field_flags: dict[str, Any] = {}

    def __call__(self, form: Any, field: Any) -> None:
        data = field.data
        if not isinstance(data, str):
            return
        found = first_refused(data, multiline=self.multiline)
        if found is not None:
            char, position = found
            raise ValidationError(
                gettext(
                    "This field holds a character that cannot be stored "
                    "(U+%(code)s at position %(position)s); retype it.",
                    code=f"{ord(char):04X}",
                    position=position,
                )
            )
