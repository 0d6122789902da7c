"""The desk's appointments part (预约, issue 18): what its script says and the
short catalogue of work the advisor books a phone customer for.

The page talks to the REST API itself (/api/v1/capacity, /api/v1/appointments
and their commands) with the session cookie and the CSRF token, so this
module only gives words: the catalogue's titles in the page's language, the
standard hours and the bay kind each item needs (which the capacity check
weighs against that kind's free hours), and the sentences of the grid, the
day's arrivals and their commands.
"""

from __future__ import annotations

from flask_babel import gettext as _
from flask_babel import pgettext

from shared.domain.work_catalogue import CATALOGUE
from shared.services import appointments

# How many days the booking grid shows, today first (the shop's own
# days_ahead setting limits what the server offers; later days read "closed").
GRID_DAYS = 7


def _labels() -> dict[str, str]:
    """The catalogue's labels in the page's language, written out so that
    the extraction finds them (shared/domain/work_catalogue.py only marks them)."""
    return {
        "service": _("Regular service"),
        "brake_pads": _("Brake pad replacement"),
        "alignment": _("Wheel alignment"),
        "aircon": _("Air conditioning check and repair"),
        "body_paint": _("Body and paint work"),
        "ev_check": _("Electric vehicle check"),
    }


def catalogue() -> list[dict[str, object]]:
    """The work items a phone booking picks from (the shared catalogue):
    the title recorded on the appointment, the label the advisor reads, the
    standard hours and the kind of bay. A free item covers anything else."""
    labels = _labels()
    return [
        {
            "key": work.code,
            "title": work.title,
            "label": labels.get(work.code) or _(work.label),
            "hours": work.labour_hours,
            "bay_kind": work.bay_kind,
        }
        for work in CATALOGUE
    ]


def appointment_strings() -> dict[str, object]:
    """What the appointments part of desk.js says."""
    return {
        "appt_catalogue": catalogue(),
        "appt_grid_days": GRID_DAYS,
        # TRANSLATORS: a work item offered for booking: its standard hours and
        # the kind of bay it needs (常规保养 · 1.0 小时 · 综合维修).
        "appt_item": _(
            "%(label)s · %(hours)s h · %(kind)s", label="{label}", hours="{hours}", kind="{kind}"
        ),
        "appt_hours_total": _("Booked work: %(hours)s h", hours="{hours}"),
        "appt_no_items": _("Choose at least one work item."),
        "appt_no_plate": _("Enter the plate."),
        "appt_no_slot": _("Choose a time in the grid."),
        # The load of one 15-minute reception slot, in words as well as colour.
        "appt_load": {
            "free": pgettext("slot load", "Free"),
            "filling": pgettext("slot load", "Filling"),
            "full": pgettext("slot load", "Full"),
            "closed": pgettext("slot load", "Not offered"),
        },
        # TRANSLATORS: a slot in the booking grid, for a screen reader and its
        # tooltip (11/30 09:15 · Free · 2 of 3 places left).
        "appt_slot_label": _(
            "%(time)s · %(load)s · %(free)s of %(capacity)s places left",
            time="{time}",
            load="{load}",
            free="{free}",
            capacity="{capacity}",
        ),
        "appt_day_closed": _("Closed"),
        # TRANSLATORS: under a day of the grid: the free labour hours of the
        # kinds of bay the chosen work needs (综合维修 空 12.5 小时).
        "appt_day_free": _("%(kind)s: %(hours)s h free", kind="{kind}", hours="{hours}"),
        "appt_day_short": _(
            "Not enough %(kind)s hours this day for the chosen work", kind="{kind}"
        ),
        "appt_chosen": _("Chosen: %(time)s", time="{time}"),
        "appt_booked_short": _("Booked for %(time)s · %(plate)s", time="{time}", plate="{plate}"),
        "appt_full": _("That time is full: %(reason)s. Nearest free times:", reason="{reason}"),
        "appt_full_none": _("That time is full and no other time near it is free."),
        "appt_refusals": {
            "closed": _("the shop is closed then"),
            "too_soon": _("too soon to book"),
            "too_far": _("too far ahead to book"),
            "not_a_slot": _("not a reception time"),
            "reception_full": _("reception is fully booked then"),
            "labour_full": _("not enough workshop hours that day"),
        },
        # TRANSLATORS: a button offering another free time after a refusal (改约 10:15).
        "appt_take": _("Book %(time)s", time="{time}"),
        "appt_loading": _("Loading…"),
        # Today's arrivals.
        "appt_none_today": _("No appointments today."),
        "appt_statuses": {
            "booked": pgettext("appointment status", "Expected"),
            "checked_in": pgettext("appointment status", "Checked in"),
            "cancelled": pgettext("appointment status", "Cancelled"),
            "no_show": pgettext("appointment status", "No-show"),
        },
        # TRANSLATORS: an expected car past its time (迟到 20 分钟).
        "appt_late": _("Late by %(minutes)s min", minutes="{minutes}"),
        "appt_unconfirmed": _("Not confirmed by the customer"),
        "appt_confirmed": _("Confirmed by the customer"),
        "appt_online": _("Booked online"),
        "appt_check_in": _("Check in"),
        # TRANSLATORS: the button's name for a screen reader (接车 · 粤B12345).
        "appt_check_in_plate": _("Check in · %(plate)s", plate="{plate}"),
        "appt_checked_in": _(
            "Checked in: order opened with queue number %(number)s", number="{number}"
        ),
        "appt_order_link": _("Order's ticket"),
        "appt_reschedule": _("Reschedule…"),
        "appt_rescheduling": _("New time for %(plate)s: choose it in the grid.", plate="{plate}"),
        "appt_rescheduled": _("Moved to %(time)s.", time="{time}"),
        "appt_reschedule_now": _("Move to the chosen time"),
        "appt_stop_reschedule": _("Keep the old time"),
        "appt_cancel": _("Cancel the appointment…"),
        "appt_cancel_reason": _("Reason (recorded)"),
        "appt_cancel_now": _("Cancel the appointment"),
        "appt_cancel_keep": _("Keep it"),
        "appt_cancel_missing": _("Enter the reason."),
        # The longest reason the server records (the input stops there).
        "appt_reason_max": appointments.REASON_MAX,
        "appt_cancelled": _("Appointment cancelled."),
        "appt_no_show": _("Mark as no-show"),
        "appt_no_show_done": _("Marked as no-show; its time is free again."),
        "appt_stale": _("Someone changed this appointment meanwhile; it is shown as it is now."),
        # TRANSLATORS: the work booked, after the car (常规保养、更换刹车片).
        "appt_items_separator": _(", "),
        "appt_free_item": _("Other work"),
    }
