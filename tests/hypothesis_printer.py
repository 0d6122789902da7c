"""Undo the one global change Schemathesis makes to Hypothesis that hides
failures in every other property test.

Schemathesis' pytest plugin is loaded in every pytest run of this venv, and
on import it replaces ``hypothesis.core.RepresentationPrinter`` with a class
that prints nothing (its own reports show a failing request as a curl
command instead). Hypothesis uses that printer for the falsifying example of
*every* test, so without this a failing property test anywhere in the suite
says ``x=,`` instead of what ``x`` was. Putting the original printer back
costs the schema-driven fuzz nothing measurable (its document is small).
"""

from __future__ import annotations

import hypothesis.core
from hypothesis.vendor import pretty


def restore_example_printer() -> None:
    """Hypothesis prints falsifying examples again (idempotent)."""
    hypothesis.core.RepresentationPrinter = pretty.RepresentationPrinter  # type: ignore[misc]
