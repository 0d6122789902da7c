"""The customer's own page (/t/{token}), opened from the QR on the ticket.

The token in the path is the only credential. A token that is unknown,
replaced (re-issued) or expired (24 h after the order closed) gets the same
404 page that shows nothing about any order; failed lookups are rate-limited
per address so that tokens cannot be guessed by trying.
"""

from __future__ import annotations

from flask import Blueprint, Response, render_template
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _

from shared.services import reception, shop_profile
from shared.services.auth import resolve_customer
from shared.web.access import core
from shared.web.extensions import customer_guess_limit
from shared.web.labels import Overrides, screen_strings

blueprint = Blueprint("customer", __name__, template_folder="templates")


def customer_strings(overrides: Overrides | None = None) -> dict[str, object]:
    """What customer.js says, through the catalogue (the phone's language),
    with the shop's own stage words (``overrides``) over the catalogue's."""
    return {
        **screen_strings(overrides),
        "updated": _("updated %(time)s", time="{time}"),
        "eta": _("Expected ready at %(time)s", time="{time}"),
        "promised": _("Promised for %(time)s", time="{time}"),
        # TRANSLATORS: the advisor moved the promised time (承诺交车) and says why.
        "promise_new": _("New time %(time)s — %(reason)s", time="{time}", reason="{reason}"),
        "promise_by": _("Updated by %(by)s at %(time)s", by="{by}", time="{time}"),
        "late": _(
            "We are running late: now expected at %(eta)s instead of %(promised)s. "
            "We are sorry — your advisor will keep you informed.",
            eta="{eta}",
            promised="{promised}",
        ),
        "late_past": _(
            "The promised time %(promised)s has passed and your car is not ready yet. "
            "We are sorry — please call your advisor for the latest news.",
            promised="{promised}",
        ),
        "ready": _("Your car is ready for pickup."),
        "delivered": _("Your car has been handed over. Thank you!"),
        "cancelled": _("This order was cancelled."),
        "approve": _("Approve"),
        "decline": _("Decline"),
        "approved": _("Approved"),
        "declined": _("Declined"),
        "quote_hours": _("%(hours)s h labour", hours="{hours}"),
        "quote_changed": _("This quote has changed; please look at it again."),
        "decision_failed": _("Your answer could not be saved. Please try again."),
        "survey_thanks": _("Thank you for your rating!"),
        "survey_done": _("You have already rated this visit. Thank you!"),
        "survey_failed": _("Your rating could not be saved. Please try again."),
        "link_gone": _("This link is no longer valid."),
        "stars": {str(n): _("%(count)s of 5", count=n) for n in range(1, 6)},
    }


def _private(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Robots-Tag"] = "noindex, nofollow"
    return response


@blueprint.get("/t/<token>")
@customer_guess_limit
def track(token: str) -> ResponseReturnValue:
    found = resolve_customer(core(), token, core().now())
    if found is None:
        # Whom to call instead: the shop the link was issued by, when the
        # link was real (shop_profile.contact_for_link); nothing of its order.
        contact = shop_profile.contact_for_link(core(), token)
        page = render_template("board/customer.html", gone=True, contact=contact)
        return _private(Response(page, status=404))
    principal, _row = found
    assert principal.order_id is not None
    page = render_template(
        "board/customer.html",
        gone=False,
        strings=customer_strings(shop_profile.stage_label_overrides(core(), principal.shop_id)),
        page=reception.customer_page(core(), principal.order_id),
        contact=shop_profile.contact(core(), principal.shop_id),
    )
    return _private(Response(page))
