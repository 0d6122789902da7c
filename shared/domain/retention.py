"""Customer-data retention (PIPL: personal data kept no longer than needed).

What of a closed repair order is the customer's personal data, and what an
anonymised order keeps, as data: the services (``shared.services.retention``)
apply it to the order row, its events and the rows around it. Pure: no I/O.

Replaced (with ``""``; the plate with its lounge mask, 粤B·***45):

- who the customer is: name, phone, the VIN, the plate;
- every text a person typed about the visit, because any of it can name or
  reach the customer ("call her husband on 139…"): the complaint (the
  customer's own words), the work items' titles, the descriptions of quotes
  and parts requests, pause notes, the reasons of stage changes (a
  cancellation, a car sent back to repair) and failed checks, the reason the
  customer read for a new promise, the survey comment.

Kept, because the shop's figures are made of them and none of them names
the customer: numbers, times and codes (stages, pause reasons, check levels,
quote status and channel, prices, labour hours, mileage, rating), the car's
model, and the staff's own names (who took a decision by phone, who changed
the promise): those are the shop's employees, not its customers.

A complaint (投诉, shared/domain/complaints.py) about the order is the
order's too: the customer's words and the outcome (which quotes what the
customer said) are replaced with the order's, in the complaint's row and in
its own event log; its status, owner, times and the staff names (who opened
and resolved it) are kept, as the order's are. A complaint still open holds
its order back from the retention job (``shared.services.retention``): its
owner still has to call the customer.

A new event type, or a new text field on one, must be listed in
``PERSONAL_TEXT`` or ``KEPT_TEXT`` (``COMPLAINT_PERSONAL_TEXT`` or
``COMPLAINT_KEPT_TEXT`` for a complaint's; tests/services/test_retention.py
fails until it is), so no text reaches the log unclassified.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from shared.domain import complaints
from shared.domain.events import WorkItem
from shared.domain.order import OrderState

# The hour of the shop's own clock at which the daily job runs: the
# workshop is closed and no screen is busy.
QUIET_HOUR = time(3, 0)

# Event fields replaced by "" (the plate and the work items, which are not
# plain text fields, are handled beside these).
PERSONAL_TEXT: dict[str, tuple[str, ...]] = {
    "order_created": ("customer_name", "customer_phone", "vehicle_vin", "complaint"),
    "stage_changed": ("reason",),
    "check_failed": ("reason",),
    "extra_work_quoted": ("description",),
    "quote_revised": ("description",),
    "pause_reason_added": ("note",),
    "parts_requested": ("description",),
    "survey_submitted": ("comment",),
    "promise_changed": ("reason",),
    # The advisor's words for the fault, and why a mark was withdrawn.
    "comeback_flagged": ("note",),
    "comeback_unflagged": ("reason",),
}
# Text fields kept, and why: codes from the domain's own lists, and staff names.
KEPT_TEXT: dict[str, tuple[str, ...]] = {
    # vehicle_model says which model, not whose car; stage and priority are codes.
    "order_created": ("stage", "vehicle_model", "priority"),
    "stage_changed": ("from_stage", "to_stage", "pause_reason"),
    "assigned": ("bay",),
    "check_passed": ("level",),
    "check_failed": ("level",),
    # taken_by: the member of staff who took a phone or in-person decision.
    "extra_work_decided": ("channel", "taken_by"),
    "pause_reason_added": ("key", "reason"),
    "pause_reason_cleared": ("key", "why"),
    "parts_status_changed": ("status",),
    # by: the advisor's name as the customer read it.
    "promise_changed": ("by",),
    "eta_revised": ("risk", "cause"),
}
# Replaced by their own rules, not by "".
PLATE_FIELD = "plate"
ITEMS_FIELD = "items"

# A complaint's events (``complaints.EVENT_TYPES``): the customer's words
# and the outcome are replaced by ""; ``by`` is the member of staff who
# resolved it. The owners are staff ids, not text.
COMPLAINT_PERSONAL_TEXT: dict[str, tuple[str, ...]] = {
    "complaint_opened": ("description",),
    "complaint_resolved": ("outcome",),
}
COMPLAINT_KEPT_TEXT: dict[str, tuple[str, ...]] = {
    "complaint_resolved": ("by",),
}


def cutoff(now: datetime, days: int) -> datetime:
    """Orders closed before this moment are past their retention."""
    return now - timedelta(days=days)


def anonymise_items(items: Any) -> Any:
    """Work items (stored as [{title, labour_hours}]) with their titles
    emptied: the hours stay, they are the labour sold."""
    if not isinstance(items, list):
        return items
    return [{**item, "title": ""} if isinstance(item, dict) else item for item in items]


def anonymise_event_data(
    type_name: str, data: Mapping[str, Any], masked_plate: str
) -> dict[str, Any]:
    """An event's stored data with the customer's data replaced; every other
    field, and the fields an older event lacks, as they were."""
    out = dict(data)
    for name in PERSONAL_TEXT.get(type_name, ()):
        if out.get(name):
            out[name] = ""
    if type_name == "order_created":
        if PLATE_FIELD in out:
            out[PLATE_FIELD] = masked_plate
        if ITEMS_FIELD in out:
            out[ITEMS_FIELD] = anonymise_items(out[ITEMS_FIELD])
    return out


def personal_texts(type_name: str, data: Mapping[str, Any]) -> list[str]:
    """The personal strings one stored event holds (the plate included), so
    that copies of them elsewhere (a stored answer) can be found."""
    found = [
        value
        for name in PERSONAL_TEXT.get(type_name, ())
        if isinstance(value := data.get(name), str) and value
    ]
    if type_name == "order_created":
        plate = data.get(PLATE_FIELD)
        if isinstance(plate, str) and plate:
            found.append(plate)
        for item in data.get(ITEMS_FIELD) or ():
            title = item.get("title") if isinstance(item, dict) else None
            if isinstance(title, str) and title:
                found.append(title)
    return found


def anonymise_state(state: OrderState, masked_plate: str) -> OrderState:
    """The order as the fold of its anonymised events gives it: the same
    state with the customer's data replaced (``anonymise_event_data``)."""
    return replace(
        state,
        plate=masked_plate,
        customer_name="",
        customer_phone="",
        vehicle_vin="",
        complaint="",
        items=tuple(WorkItem("", item.labour_hours) for item in state.items),
        quotes=tuple(replace(quote, description="") for quote in state.quotes),
        parts=tuple(replace(part, description="") for part in state.parts),
        pause_reasons=tuple(replace(item, note="") for item in state.pause_reasons),
        pause_note="",
        survey_comment="",
        promise_reason="",
    )


def anonymise_complaint_event_data(type_name: str, data: Mapping[str, Any]) -> dict[str, Any]:
    """A complaint event's stored data with the customer's text replaced;
    every other field as it was."""
    out = dict(data)
    for name in COMPLAINT_PERSONAL_TEXT.get(type_name, ()):
        if out.get(name):
            out[name] = ""
    return out


def complaint_personal_texts(type_name: str, data: Mapping[str, Any]) -> list[str]:
    """The personal strings one stored complaint event holds."""
    return [
        value
        for name in COMPLAINT_PERSONAL_TEXT.get(type_name, ())
        if isinstance(value := data.get(name), str) and value
    ]


def anonymise_complaint(state: complaints.Complaint) -> complaints.Complaint:
    """The complaint as the fold of its anonymised events gives it: status,
    owner, times, who resolved it and its version as they were."""
    return replace(state, description="", outcome="")


# ------------------------------------------------------------------ the daily run


def last_quiet_time(now: datetime, zone: ZoneInfo, at: time = QUIET_HOUR) -> datetime:
    """The latest moment at or before ``now`` when the shop's clock read ``at``."""
    local = now.astimezone(zone)
    today: date = local.date()
    moment = datetime.combine(today, at, tzinfo=zone)
    if moment > local:
        moment = datetime.combine(today - timedelta(days=1), at, tzinfo=zone)
    return moment


def run_due(last_run: datetime | None, now: datetime, zone: ZoneInfo) -> bool:
    """Whether a shop's daily run is due: it never ran in this process (the
    run shortly after the server starts), or not since its clock last read
    the quiet hour."""
    return last_run is None or last_run < last_quiet_time(now, zone)
