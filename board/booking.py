"""The shop's public booking page (/book/<shop>) and the customer's own
appointment page (/a/<token>), phone-sized first (issue 18).

/book/<shop> offers the short work catalogue with its standard hours, the
days the shop books ahead, and for a chosen day only the starts that still
take a car (shared/web/api_booking.py); nothing of other customers. When the
shop asks for the phone check, a code texted to the phone must be entered.
A shop that does not exist, or that switched online booking off, is a 404.

/a/<token> is the customer's appointment: its time on the shop's clock, its
work, the shop's contact; confirm, cancel (an optional reason), move to
another free start. As for the order's page (/t/<token>) the token in the
path is the only credential, and failed lookups share the customer links'
guessing budget. Language per device, as on the customer page.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from flask import Blueprint, Response, render_template
from flask.typing import ResponseReturnValue
from flask_babel import format_date
from flask_babel import gettext as _
from werkzeug.wrappers import Response as BaseResponse

from shared.domain.errors import NotFound
from shared.domain.work_catalogue import CATALOGUE
from shared.services import appointment_public
from shared.services.booking_public import BookingShop, booking_shop, link_facts
from shared.web.access import core
from shared.web.api_booking import BOOKING_DAYS_SHOWN
from shared.web.extensions import customer_guess_limit
from shared.web.labels import current_locale

blueprint = Blueprint("booking", __name__, template_folder="templates")


def _private(response: BaseResponse, *, listed: bool = False) -> BaseResponse:
    """Never cached (the page carries its CSRF token), never a referrer; the
    customer's own page is never indexed, the shop's booking page may be."""
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    if not listed:
        response.headers["X-Robots-Tag"] = "noindex, nofollow"
    return response


def work_choices() -> list[dict[str, Any]]:
    """The catalogue in the reader's language, with its standard hours."""
    return [
        {"code": work.code, "label": _(work.label), "hours": work.labour_hours}
        for work in CATALOGUE
    ]


def day_choices(shop: BookingShop, now: datetime) -> list[dict[str, str]]:
    """The days a customer may pick, from today on the shop's clock: the
    date and how the page names it (今天, 明天, then the weekday and date)."""
    today = now.astimezone(ZoneInfo(shop.timezone)).date()
    days = []
    for offset in range(min(shop.days_ahead, BOOKING_DAYS_SHOWN) + 1):
        day = today + timedelta(days=offset)
        days.append({"date": day.isoformat(), "label": day_label(day, offset)})
    return days


def day_label(day: date, offset: int) -> str:
    if offset == 0:
        return str(_("Today"))
    if offset == 1:
        return str(_("Tomorrow"))
    return str(format_date(day, "EEE M/d"))


def page_strings() -> dict[str, object]:
    """What booking.js says, through the catalogue (the phone's language)."""
    return {
        "loading": _("Looking for free times…"),
        "no_slots": _("No free times on this day. Please choose another day."),
        "choose_work": _("Choose the work first."),
        "choose_slot": _("Choose a time."),
        "failed": _("That did not work. Please try again."),
        "too_many": _("Too many attempts. Please wait a while and try again."),
        "code_sent": _("We have sent a code to your phone by SMS."),
        "full": _("That time has just been taken. Free times nearby:"),
        "hours": _("%(hours)s h", hours="{hours}"),
        "booked": _("Booked"),
        "confirmed": _("Confirmed — thank you, we expect you."),
        "cancelled": _("This appointment is cancelled."),
        "checked_in": _("Your car has arrived; thank you."),
        "no_show": _("This appointment has passed."),
        "begun": _("The time of this appointment has come; to change it, please call the shop."),
        "moved": _("Your appointment has been moved."),
        "reminders_stopped": _("You will get no more reminders for this appointment."),
        "changed": _("Your appointment was changed meanwhile; here it is again."),
        # The booked work as recorded (the shop's words) in the reader's language.
        "work_labels": {work.title: _(work.label) for work in CATALOGUE},
    }


def _gone(contact: dict[str, str] | None, status: int = 404) -> ResponseReturnValue:
    page = render_template("board/booking_gone.html", contact=contact)
    return _private(Response(page, status=status))


@blueprint.get("/book/<shop>")
def book(shop: str) -> ResponseReturnValue:
    found = booking_shop(core(), shop)
    if found is None or not found.online_booking:
        return _gone(None)
    page = render_template(
        "board/booking.html",
        shop=found,
        work=work_choices(),
        days=day_choices(found, core().now()),
        strings=page_strings(),
        locale=current_locale(),
    )
    return _private(Response(page), listed=True)


@blueprint.get("/a/<token>")
@customer_guess_limit
def appointment(token: str) -> ResponseReturnValue:
    facts = link_facts(core(), token)
    if facts is None:
        return _gone(None)
    try:
        view = appointment_public.by_token(core(), token)
    except NotFound:
        return _gone(None)
    shop = facts.shop
    page = render_template(
        "board/booking_link.html",
        shop=shop,
        appointment=view,
        days=day_choices(shop, core().now()),
        strings=page_strings(),
        locale=current_locale(),
    )
    return _private(Response(page))
