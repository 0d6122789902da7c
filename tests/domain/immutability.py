"""The rules cannot change the state they are given, because an order's state
is frozen all the way down.

Comparing a state with a deep copy of itself after a rule ran cannot fail while
the state is a frozen dataclass; this check can: it fails as soon as a state
class stops being frozen or a state holds a list, dict or set (something a rule
could change in place).
"""

from __future__ import annotations

import dataclasses
from datetime import date, datetime, timedelta
from enum import Enum

# Values that cannot be changed in place.
ATOMS = (str, int, float, bool, bytes, datetime, date, timedelta, Enum, type(None))


def frozen_problems(value: object, where: str = "state") -> list[str]:
    """Every place inside ``value`` that could be changed in place."""
    if isinstance(value, ATOMS):
        return []
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        problems = []
        if not type(value).__dataclass_params__.frozen:  # type: ignore[attr-defined]
            problems.append(f"{where}: {type(value).__name__} is not a frozen dataclass")
        for field in dataclasses.fields(value):
            problems += frozen_problems(getattr(value, field.name), f"{where}.{field.name}")
        return problems
    if isinstance(value, (tuple, frozenset)):
        return [p for i, item in enumerate(value) for p in frozen_problems(item, f"{where}[{i}]")]
    return [f"{where}: a {type(value).__name__} can be changed in place"]


def assert_deeply_frozen(value: object) -> None:
    problems = frozen_problems(value)
    assert not problems, "a rule could change this state:\n" + "\n".join(problems)
