"""Labour clock (电子工时): clock segments follow the order's moves.

Called by the order commands inside their transaction, after the domain rule
and before commit, so a refused clock move (e.g. a second active clock)
refuses the whole command and nothing is written.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from shared.domain.order import OrderState
from shared.persistence.models import RepairOrder

if TYPE_CHECKING:
    from shared.services.commands import Transaction


def clock_transition(
    tx: Transaction, row: RepairOrder, before: OrderState, after: OrderState
) -> None:
    """Open, close or refuse clock segments for a stage change."""


def clock_assignment(
    tx: Transaction, row: RepairOrder, before: OrderState, after: OrderState
) -> None:
    """Close the segments of technicians taken off the order."""
