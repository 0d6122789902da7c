"""The screens keep the server's late / at-risk verdict current between
messages (static/js/page.js ``lateness``), so the page and the domain rule
(shared/domain/eta.py ``lateness``) must agree: the verdict the server sent at
one moment, moved on by the page's clock, is the verdict the server would give
at the later moment. Checked in Chromium on the script itself, no server."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from itertools import product
from pathlib import Path

import pytest
from playwright.sync_api import Page

from shared.domain.eta import AT_RISK_MINUTES, lateness
from shared.domain.stages import Stage, stage_groups

pytestmark = pytest.mark.browser

SCRIPT = Path(__file__).resolve().parents[2] / "static" / "js" / "page.js"
PROMISED = datetime(2025, 6, 2, 10, 0, tzinfo=UTC)
# Around the two edges the clock can cross: the at-risk margin and the promise.
OFFSETS = [-120, -AT_RISK_MINUTES - 1, -AT_RISK_MINUTES, -5, 0, 1, 30]
MOMENTS = [PROMISED + timedelta(minutes=m) for m in OFFSETS]
ETAS: list[datetime | None] = [None, *MOMENTS]
# The stages in which the clock can still change the verdict.
IN_WORK = {
    s for s in Stage if s not in {Stage.BOOKED, Stage.READY, Stage.DELIVERED, Stage.CANCELLED}
}


# The page as the server renders it: the stage groups ride along with it.
PAGE = (
    "<!doctype html><title>late rule</title>"
    f'<script type="application/json" id="stage-groups">{json.dumps(stage_groups())}</script>'
)


def iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def milliseconds(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def cases() -> list[dict[str, object]]:
    found = []
    for stage, eta, sent, seen in product(Stage, ETAS, MOMENTS, MOMENTS):
        if seen < sent:
            continue
        # A ready car's ETA is the time it became ready.
        ready_at = eta if stage in (Stage.READY, Stage.DELIVERED) else None
        judged = lateness(stage, PROMISED, eta, ready_at, sent)
        expected = lateness(stage, PROMISED, eta, ready_at, seen)
        found.append(
            {
                "order": {
                    "stage": stage.value,
                    "promised_at": iso(PROMISED),
                    "eta": iso(eta),
                    "late": judged.late,
                    "at_risk": judged.at_risk,
                },
                "now": milliseconds(seen),
                "expected": {"late": expected.late, "atRisk": expected.at_risk},
                "passed": stage in IN_WORK and seen > PROMISED,
            }
        )
    return found


def test_the_page_moves_the_verdict_on_as_the_rule_would(page: Page) -> None:
    page.set_content(PAGE)
    page.add_script_tag(path=str(SCRIPT))
    all_cases = cases()
    answers = page.evaluate(
        """cases => cases.map(c => {
             const judged = window.Baylight.page.lateness(c.order, c.now);
             return {late: judged.late, atRisk: judged.atRisk, passed: judged.passed};
           })""",
        all_cases,
    )
    wrong = [
        (case["order"], case["now"], answer)
        for case, answer in zip(all_cases, answers, strict=True)
        if {"late": answer["late"], "atRisk": answer["atRisk"]} != case["expected"]
        or answer["passed"] != case["passed"]
    ]
    assert len(all_cases) > 1000
    assert wrong == []


def test_an_order_without_a_promise_is_never_flagged(page: Page) -> None:
    page.set_content(PAGE)
    page.add_script_tag(path=str(SCRIPT))
    flagged = page.evaluate(
        """() => window.Baylight.page.lateness(
             {stage: "in_progress", promised_at: null, eta: null, late: false, at_risk: false},
             Date.now() + 86400000)"""
    )
    assert flagged == {"late": False, "atRisk": False, "passed": False}
