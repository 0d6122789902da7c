"""bench/replan_past.py runs end to end on a tiny week: a busy shop made by
bench/reports_data.py (its orders through the real commands, then copied)
beside seeded shops, its in-progress orders driven through the REST API of
a real ``baylight serve`` with the engine re-planning, every watched
delivery arriving. The figures are the benchmark's business."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from bench import replan_past
from bench import reports_data as rd
from bench.run import Bench

# A late morning in Shanghai, so the generated last day holds cars in progress.
NOW = datetime(2026, 3, 18, 3, 0, tzinfo=UTC)
SPEC = rd.Spec(days=2, per_day=40, templates=18, seed=32)


class TinyBench(Bench):
    """Phases of one second: the code runs, nothing is measured."""

    def seconds(self, full: float, quick: float) -> float:
        return 1.0


def test_a_round_drives_the_busy_shop_and_loses_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(rd, "CACHE", tmp_path / "cache")
    outcome = replan_past.rooms(
        TinyBench(True, tmp_path), "eventlet", replanning="on", spec=SPEC, shops_count=2, now=NOW
    )

    busy = outcome["detail"]["busy_shop"]
    assert busy["driven_orders"] >= 1 and busy["open_orders"] >= busy["driven_orders"]
    assert outcome["metrics"]["lost"] == 0 and outcome["metrics"]["failed"] == 0
