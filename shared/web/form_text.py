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

from shared.domain.text import text_problem


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
        problem = text_problem(data, multiline=self.multiline)
        if problem is not None:
            raise ValidationError(gettext("This field %(problem)s; retype it.", problem=problem))
