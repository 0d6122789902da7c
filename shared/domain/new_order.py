"""The command value reception sends to open (or book) a repair order.

The web API builds it from the request body, the demo from its cars; the
create rule (``order.open_order``) checks it and turns it into the
``OrderCreated`` event, whose fields (and the row's columns) stay flat:
``customer_name``, ``vehicle_mileage``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from shared.domain.events import WorkItem


@dataclass(frozen=True)
class Customer:
    """Who brings the car; a walk-in may leave both empty. ``email``,
    ``notify`` (the channels the customer consents to be told on) and
    ``language`` ("" = the shop's) are for notifications only."""

    name: str = ""
    phone: str = ""
    email: str = ""
    notify: tuple[str, ...] = ()
    language: str = ""


@dataclass(frozen=True)
class Vehicle:
    """The car beyond its plate, as the customer or the papers tell it."""

    model: str = ""
    vin: str = ""
    mileage: int | None = None


@dataclass(frozen=True)
class NewOrder:
    """Open a repair order at reception (``booked``: book it ahead)."""

    plate: str
    customer: Customer = Customer()
    vehicle: Vehicle = Vehicle()
    complaint: str = ""
    items: tuple[WorkItem, ...] = ()
    promised_at: datetime | None = None
    waiting: bool = False
    wash: bool = False
    priority: str = "normal"
    booked: bool = False

    @classmethod
    def from_fields(
        cls,
        *,
        plate: str,
        customer_name: str = "",
        customer_phone: str = "",
        vehicle_model: str = "",
        vehicle_vin: str = "",
        vehicle_mileage: int | None = None,
        complaint: str = "",
        items: Sequence[WorkItem] = (),
        promised_at: datetime | None = None,
        waiting: bool = False,
        wash: bool = False,
        priority: str = "normal",
        booked: bool = False,
    ) -> NewOrder:
        """The command from the flat names the event and the row use: the one
        place that spells them out, for callers that pass keywords
        (``order.create``, ``orders.create_order``)."""
        return cls(
            plate=plate,
            customer=Customer(name=customer_name, phone=customer_phone),
            vehicle=Vehicle(model=vehicle_model, vin=vehicle_vin, mileage=vehicle_mileage),
            complaint=complaint,
            items=tuple(items),
            promised_at=promised_at,
            waiting=waiting,
            wash=wash,
            priority=priority,
            booked=booked,
        )
