"""Undo the one global change Schemathesis makes to Hypothesis that hides
failures in every other property test, and put it back only while a
schema-driven fuzz case runs.

Schemathesis' pytest plugin is loaded in every pytest run of this venv, and
on import it replaces ``hypothesis.core.RepresentationPrinter`` with a class
that prints nothing (its own reports show a failing request as a curl
command instead). Hypothesis uses that printer for the falsifying example of
*every* test, so without this a failing property test anywhere in the suite
says ``x=,`` instead of what ``x`` was.

The fuzz itself (tests/test_fuzz_api*.py) runs with Schemathesis' printer:
Hypothesis prints every explicit example as it runs it (into a report
dropped when the case passes), and the coverage phase's thousands of
explicit cases, each a whole request, made that printing a sixth of the
fuzz's time. A failing fuzz case is reported by Schemathesis (the request
as a curl command, the failed check and the answer), not by this printer.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import hypothesis.core
from hypothesis.vendor import pretty


class _SilentPrinter(pretty.RepresentationPrinter):
    """Schemathesis' printer (schemathesis.generation.hypothesis.setup): it
    prints no value."""

    def pretty(self, obj: object, *, cycle: bool = False) -> None:
        return None


def restore_example_printer() -> None:
    """Hypothesis prints falsifying examples again (idempotent)."""
    hypothesis.core.RepresentationPrinter = pretty.RepresentationPrinter  # type: ignore[misc]


@contextmanager
def schemathesis_printer() -> Iterator[None]:
    """Schemathesis' silent printer for the duration, Hypothesis' after."""
    hypothesis.core.RepresentationPrinter = _SilentPrinter  # type: ignore[misc]
    try:
        yield
    finally:
        restore_example_printer()
