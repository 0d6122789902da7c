"""Part 3 of the schema-driven fuzz of the REST API (tests/fuzz_support.py
says what it checks and how the operations are dealt to the files)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from schemathesis import Case

from tests.fuzz_support import (  # noqa: F401  (silent_examples: fixture)
    Target,
    answer_as_documented,
    part,
    serve_target,
    silent_examples,
)


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory, migrated_template: Path) -> Iterator[Target]:
    yield from serve_target(tmp_path_factory, migrated_template)


@pytest.mark.usefixtures("silent_examples")
@part(3).parametrize()
def test_every_operation_answers_as_documented(case: Case, target: Target) -> None:
    answer_as_documented(case, target)
