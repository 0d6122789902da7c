"""Output screens: workshop wall board and waiting-lounge TV.

Views only render; live data arrives over Socket.IO. Every word a screen's
script shows is rendered here into a JSON block (``#strings``), so the page's
JavaScript never hard-codes text. The lounge can alternate two languages: the
second set goes into ``#strings-alt``.
"""

from __future__ import annotations

import io
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

import qrcode
import qrcode.constants
import qrcode.image.svg
from flask import Blueprint, Response, jsonify, render_template, render_template_string, request
from flask.typing import ResponseReturnValue
from flask_babel import force_locale, pgettext
from flask_babel import gettext as _

from shared.config import LOCALES
from shared.domain import bays
from shared.persistence.models import Shop
from shared.services import appointment_settings, appointments, links
from shared.services.views import mask_plate
from shared.web.access import core, current_principal, require
from shared.web.labels import screen_strings

blueprint = Blueprint("board", __name__, template_folder="templates")

# The lounge's QR is the same for every visitor; a day in caches is fine.
QR_MAX_AGE_SECONDS = 86400


def day_mark() -> str:
    """The mark of a car carried over from an earlier day, before its number:
    queue numbers start again every day, so the day tells two 1s apart."""
    # TRANSLATORS: the day of a car's queue number when it is not today
    # (a carry-over), shown small above the number: 11/27, 11月27日.
    return str(_("%(month)s/%(day)s", month="{month}", day="{day}"))


def board_strings() -> dict[str, object]:
    """The wall board's words: the shared screen strings plus its own."""
    strings = screen_strings()
    strings.update(
        {
            "day_mark": day_mark(),
            "at_risk": _("At risk"),
            "free": _("Free"),
            "minutes": _("%(minutes)s min", minutes="{minutes}"),
            "hours_minutes": _("%(hours)s h %(minutes)s min", hours="{hours}", minutes="{minutes}"),
            # TRANSLATORS: under a car's stage on the wall board: how long it
            # has been in that stage ({duration} is e.g. "25 min", "1 h 05 min").
            "in_stage": _("%(duration)s in this stage", duration="{duration}"),
            # TRANSLATORS: between the names of the technicians on one job
            # (a comma in English, 、 in Chinese).
            "name_separator": pgettext("names", ", "),
            # What a paused car waits for (its open reasons), in words: the
            # plain reasons are the shared pause labels (待料, 待客户确认);
            # parts with an expected arrival say when (等配件 · 预计 15:30);
            # an "other" reason shows the technician's note itself.
            # TRANSLATORS: a paused car on the wall board waits for parts due at {time}.
            "parts_due": _("Parts · expected %(time)s", time="{time}"),
            # TRANSLATORS: a paused car nothing holds any more (parts arrived,
            # customer decided): it waits for the technician's resume tap (可复工).
            "no_holds": _("Ready to resume"),
            # TRANSLATORS: more open reasons than the board row has room for.
            "more_reasons": _("+%(count)s more", count="{count}"),
            # TRANSLATORS: a wash bay or parking lane with several cars: the
            # first car's plate and how many more stand there.
            "more_cars": _("%(plate)s +%(count)s", plate="{plate}", count="{count}"),
            # TRANSLATORS: the wall board's panel of booked cars due within the hour (预约到店).
            "arrivals_title": _("Arriving within the hour"),
            "arrivals_none": _("No bookings in the next hour."),
        }
    )
    return strings


def lounge_strings() -> dict[str, object]:
    """The lounge TV's words, including its static headings, so that the page
    can switch every visible word when it alternates languages."""
    strings = screen_strings()
    strings.update(
        {
            "title": _("Your car's progress"),
            "number": _("No."),
            "plate": _("Plate"),
            "stage": _("Stage"),
            "eta": _("ETA"),
            "ready_callout": _("Ready for pickup — please come to the desk"),
            # TRANSLATORS: more cars ready for pickup than the lounge has room for.
            "ready_more": _("+%(count)s more", count="{count}"),
            "queue_title": _("Reception queue"),
            # The reception queue from the shop-load engine: cars ahead and a
            # range of minutes until work would start on a car checking in
            # now; past the shop's cap, when it would start instead.
            "queue_range": _(
                "Cars ahead: %(ahead)s · about %(low)s–%(high)s minutes",
                ahead="{ahead}",
                low="{low}",
                high="{high}",
            ),
            # TRANSLATORS: the wait is too long to count in minutes: work on
            # a car checking in now would start after {time} today.
            "queue_after_today": _(
                "Cars ahead: %(ahead)s · today, after %(time)s", ahead="{ahead}", time="{time}"
            ),
            "queue_after_tomorrow": _(
                "Cars ahead: %(ahead)s · tomorrow, after %(time)s",
                ahead="{ahead}",
                time="{time}",
            ),
            # TRANSLATORS: {day} is a date such as 11/29 (the day mark's words).
            "queue_after_day": _(
                "Cars ahead: %(ahead)s · after %(time)s on %(day)s",
                ahead="{ahead}",
                time="{time}",
                day="{day}",
            ),
            "day_mark": day_mark(),
            "queue_empty": _("No waiting at reception"),
            "about_minutes": _("about %(minutes)s min", minutes="{minutes}"),
            "follow": _(
                "Follow your own car on your phone: scan the QR code on your job ticket"
                " (this one shows how)"
            ),
            "closed": _("We are closed. Opening hours: %(hours)s", hours="{hours}"),
            # What a paused car waits for, from the reason codes only (the
            # lounge never receives the workshop's notes), in words for the
            # customer (context "lounge"): 等待配件, 等待您确认, both at once;
            # any other reason, which the lounge may not name, sends the
            # customer to the desk; nothing open any more, work goes on soon.
            "holds": {
                "parts": pgettext("lounge", "Waiting for parts"),
                "approval": pgettext("lounge", "Waiting for your approval"),
                "parts_approval": pgettext("lounge", "Waiting for parts and your approval"),
                "other": pgettext("lounge", "On hold — please ask at the desk"),
                "none": pgettext("lounge", "Work continues shortly"),
            },
            # The legend beside the cars: what each step of the progress bar
            # means, one plain sentence each, and what the amber step says.
            "legend_title": pgettext("lounge", "What the steps mean"),
            "meaning": {
                "checked_in": pgettext("lounge", "Your car is with us and waits for a technician."),
                "dispatched": pgettext(
                    "lounge", "A technician and a bay are assigned; work starts soon."
                ),
                "in_progress": pgettext("lounge", "A technician is working on your car."),
                "quality_check": pgettext("lounge", "The work is done and is being inspected."),
                "washing": pgettext("lounge", "Your car is being washed."),
                "ready": pgettext("lounge", "Your car is ready: please come to the desk."),
            },
            # TRANSLATORS: the lounge legend's line for a paused car (its
            # repair step in amber): it waits for parts or its owner's approval.
            "meaning_paused": pgettext("lounge", "Work waits for parts or for your approval."),
        }
    )
    return strings


def _alternate_language() -> str | None:
    """``?alt=en``: a second language the lounge alternates with."""
    alternate = request.args.get("alt")
    return alternate if alternate in LOCALES else None


@blueprint.get("/board")
def board() -> ResponseReturnValue:
    # The standing rule's lists (shared/domain/bays.py): the board places the
    # cars on its bay strip exactly as the dispatch check counts them.
    return render_template(
        "board/board.html",
        strings=board_strings(),
        bay_rule=bays.screen_rule(),
        device_kind="board",
    )


def _strings_in(locale: str) -> dict[str, object]:
    with force_locale(locale):
        strings = lounge_strings()
    strings["html_lang"] = locale.replace("_", "-")
    return strings


@blueprint.get("/lounge")
def lounge() -> ResponseReturnValue:
    """The lounge TV. Besides its own language's words it carries every
    language's (``#strings-all``): the shop's lounge settings, which arrive
    with the snapshot, may ask it to take turns in languages it was not
    opened in. ``?alt=`` still names a second language by hand."""
    alternate = _alternate_language()
    return render_template(
        "board/lounge.html",
        strings=lounge_strings(),
        alternate_strings=_strings_in(alternate) if alternate is not None else None,
        all_strings={locale: _strings_in(locale) for locale in LOCALES},
        device_kind="lounge",
    )


@lru_cache(maxsize=8)
def _qr_svg(url: str) -> bytes:
    code = qrcode.QRCode(
        error_correction=qrcode.constants.ERROR_CORRECT_M,
        box_size=10,
        border=2,
        image_factory=qrcode.image.svg.SvgPathFillImage,
    )
    code.add_data(url)
    code.make(fit=True)
    buffer = io.BytesIO()
    code.make_image().save(buffer)
    return buffer.getvalue()


@blueprint.get("/lounge/qr.svg")
def lounge_qr() -> ResponseReturnValue:
    """The lounge's invitation to follow one's own car: it points at the page
    that explains the ticket's code, never at any one customer's link."""
    url = f"{links.base_url(core().settings)}/t/"
    response = Response(_qr_svg(url), mimetype="image/svg+xml")
    response.headers["Cache-Control"] = f"public, max-age={QR_MAX_AGE_SECONDS}"
    return response


FOLLOW_PAGE = """{% extends "base.html" %}
{% block title %}{{ title }} · Baylight{% endblock %}
{% block body %}
<main class="follow"><h1>{{ title }}</h1>{% for line in lines %}<p>{{ line }}</p>{% endfor %}</main>
{% endblock %}
"""


@blueprint.get("/t/")
def follow() -> ResponseReturnValue:
    """Where the lounge's QR leads: how to follow one's own car (the personal
    link is on the ticket; a public screen can never show it)."""
    return render_template_string(
        FOLLOW_PAGE,
        title=_("Follow your car"),
        lines=[
            _(
                "Scan the QR code on your job ticket, or open the link printed on it, "
                "to see your car's progress live and to approve additional work."
            ),
            _("The link is yours alone: please do not share it."),
        ],
    )


# ------------------------------------------------------------------ booked arrivals

# The board shows the bookings due from a little before now (a car a few
# minutes late is still expected) to an hour ahead.
ARRIVALS_BEHIND = timedelta(minutes=15)
ARRIVALS_AHEAD = timedelta(hours=1)
BOARD_ROLES = frozenset({"display-board"})


def next_arrivals(shop_id: int) -> dict[str, Any]:
    """The next hour's booked arrivals when the shop shows them on the board
    (``appointments.board_arrivals``): each car's time and masked plate only,
    never a name or a phone, since the wall board is read by everyone."""
    now = core().now()
    with core().db.read() as session:
        shop = session.get(Shop, shop_id)
        if shop is None:
            return {"shown": False, "arrivals": []}
        shown = appointment_settings.read(shop.settings).board_arrivals
        zone = ZoneInfo(shop.timezone)
    if not shown:
        return {"shown": False, "arrivals": []}
    days = {now.astimezone(zone).date(), (now + ARRIVALS_AHEAD).astimezone(zone).date()}
    found = [a for day in sorted(days) for a in appointments.list_day(core(), shop_id, day)]
    arrivals = []
    for item in found:
        start = datetime.fromisoformat(item["start"])
        if item["status"] == "booked" and now - ARRIVALS_BEHIND <= start < now + ARRIVALS_AHEAD:
            arrivals.append({"start": item["start"], "plate": mask_plate(str(item["plate"]))})
    arrivals.sort(key=lambda a: datetime.fromisoformat(a["start"]))
    return {"shown": True, "arrivals": arrivals}


@blueprint.get("/board/api/arrivals")
@require(BOARD_ROLES)
def arrivals() -> ResponseReturnValue:
    principal = current_principal()
    assert principal is not None
    response = jsonify(next_arrivals(principal.shop_id))
    response.headers["Cache-Control"] = "no-store"
    return response
