"""One person signs at most one level of a job's inspection chain (team lead
→ QC → final), unless the shop lets one person sign more: then the event
says it was allowed. The service reads who signed from the log and hands
the rule their staff user ids (``signed_by``); these tests hand them over
as the service would."""

from __future__ import annotations

import pytest

from shared.domain import errors, policy
from shared.domain.events import CheckPassed, StageChanged, event_from_record
from shared.domain.order import Actor, SamePersonChecks, pass_check
from shared.domain.policy import Command
from shared.domain.stages import CheckLevel, Role, Stage
from tests.domain.test_rules import Order

# 李师傅: team lead and QC inspector; 赵质检: QC inspector; the foreman.
LI = Actor("李师傅", frozenset({Role.TECHNICIAN, Role.TEAM_LEAD, Role.QC_INSPECTOR}), user_id=21)
ZHAO = Actor("赵质检", frozenset({Role.QC_INSPECTOR}), user_id=22)
FOREMAN = Actor("foreman", frozenset({Role.FOREMAN}), user_id=23)
# An integration's token (no person behind it) and the demo.
DMS = Actor("DMS", frozenset({Role.ADMIN}), ref="token:9")


def test_the_person_who_passed_team_lead_may_not_pass_qc_too() -> None:
    order = Order().to_qc()
    first = order.run(pass_check, actor=LI)
    assert first == [CheckPassed(at=order.now, level="team_lead")]
    before = order.state
    refused = order.refused(SamePersonChecks, pass_check, actor=LI, signed_by={LI.user_id})
    assert (refused.status, refused.code) == (409, "same_person_checks")
    assert refused.extra == {"level": "qc"}
    assert "another person" in refused.detail
    assert order.state == before  # nothing changed
    # Another QC inspector signs it; the event says nothing was relaxed.
    second = order.run(pass_check, actor=ZHAO, signed_by={LI.user_id})
    assert second == [CheckPassed(at=order.now, level="qc", checks_by_one_person_allowed=False)]
    assert order.state.check_level == CheckLevel.FINAL
    # Neither of the two signs the final level; the foreman does.
    signed = {LI.user_id, ZHAO.user_id}
    order.refused(SamePersonChecks, pass_check, actor=ZHAO, signed_by=signed)
    last = order.run(pass_check, actor=FOREMAN, signed_by=signed)
    assert isinstance(last[-1], StageChanged) and order.state.stage == Stage.READY


def test_a_shop_that_allows_it_lets_one_person_sign_and_the_event_says_so() -> None:
    order = Order().to_qc()
    order.run(pass_check, actor=LI, one_person_allowed=True)
    events = order.run(pass_check, actor=LI, signed_by={LI.user_id}, one_person_allowed=True)
    assert events == [CheckPassed(at=order.now, level="qc", checks_by_one_person_allowed=True)]
    assert events[0].data() == {"level": "qc", "checks_by_one_person_allowed": True}
    # The stored form reads back the same (a replay of the log keeps it).
    stored = event_from_record("check_passed", events[0].at, events[0].data())
    assert stored == events[0]
    assert order.state.check_level == CheckLevel.FINAL
    # Allowed is not the same as done by one person: a new signer's pass says false.
    fresh = order.run(pass_check, actor=FOREMAN, signed_by={LI.user_id}, one_person_allowed=True)
    assert fresh[0] == CheckPassed(at=order.now, level="final", checks_by_one_person_allowed=False)


def test_an_actor_that_is_no_person_is_not_bound() -> None:
    # An integration records checks signed in its own system; the demo too.
    order = Order().to_qc()
    for _level in range(3):
        order.run(pass_check, actor=DMS, signed_by={LI.user_id})
    assert order.state.stage == Stage.READY
    assert not policy.signed_earlier(None, {LI.user_id})


def test_the_rule_still_checks_the_role_first() -> None:
    order = Order().at_level(CheckLevel.QC)
    team_lead_only = Actor("班组长", frozenset({Role.TEAM_LEAD}), user_id=30)
    refused = order.refused(errors.Forbidden, pass_check, actor=team_lead_only, signed_by={30})
    assert refused.code == "forbidden"


@pytest.mark.parametrize(
    ("signed_before", "allowed", "offered"),
    [
        (False, False, [Command.PASS_CHECK, Command.FAIL_CHECK]),
        (True, False, [Command.FAIL_CHECK]),
        (True, True, [Command.PASS_CHECK, Command.FAIL_CHECK]),
        (False, True, [Command.PASS_CHECK, Command.FAIL_CHECK]),
    ],
)
def test_the_kiosk_offers_no_second_pass_to_the_same_person(
    signed_before: bool, allowed: bool, offered: list[Command]
) -> None:
    got = policy.check_actions(
        LI,
        stage=Stage.QUALITY_CHECK,
        level=CheckLevel.QC,
        signed_before=signed_before,
        one_person_allowed=allowed,
    )
    assert got == offered
