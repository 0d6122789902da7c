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

from shared.services import reception, shop_profile, views
from shared.services.auth import resolve_customer
from shared.web.access import core
from shared.web.extensions import customer_guess_limit
from shared.web.labels import Overrides, current_locale, screen_strings

blueprint = Blueprint("customer", __name__, template_folder="templates")


def customer_stage_labels() -> dict[str, str]:
    """The stages in the customer's words: what is happening to their car,
    not the workshop's step (已派工, 待交车 are the shop's jargon). A shop's
    own words for a stage (``Shop.settings["stage_labels"]``) still go over
    these: the shop chose them for every screen."""
    return {
        "booked": _("Booked"),
        "checked_in": _("Car received"),
        "dispatched": _("Technician assigned"),
        "in_progress": _("Being repaired"),
        "paused": _("Work paused"),
        "quality_check": _("Being checked"),
        "washing": _("Being washed"),
        "ready": _("Ready for pickup"),
        "delivered": _("Handed over"),
        "cancelled": _("Cancelled"),
    }


def stage_notes() -> dict[str, str]:
    """One plain sentence under the stage: what it means for the customer.
    The paused stage has one per reason (``approval``, ``parts``, ``answered``
    after the customer has decided, ``paused`` for any other reason)."""
    return {
        "booked": _("We are expecting your car at the time you booked."),
        "checked_in": _("We have your car and are arranging a bay and a technician for it."),
        "dispatched": _("A technician and a bay are ready for your car; the work starts soon."),
        "in_progress": _("A technician is working on your car now."),
        "approval": _(
            "We found more work your car may need, and we will not do it unless you agree."
        ),
        "parts": _("We are waiting for parts and will carry on as soon as they arrive."),
        "answered": _("Thank you for your answer; the work carries on as you decided."),
        "paused": _("Work has stopped for a short while; your service advisor can tell you why."),
        "quality_check": _("The repair is done and our inspectors are checking the work."),
        "washing": _("The work is done and checked; your car is being washed."),
        "ready": _("Please come to the service desk to collect your car."),
        "delivered": _("Thank you! This page stops working 24 hours after the handover."),
        "cancelled": _("This order was cancelled; your service advisor can tell you more."),
    }


def rating_labels() -> dict[int, str]:
    """What each score of the survey means (满意度调查), 5 the best."""
    return {
        5: _("Very satisfied"),
        4: _("Satisfied"),
        3: _("Neither satisfied nor dissatisfied"),
        2: _("Dissatisfied"),
        1: _("Very dissatisfied"),
    }


def customer_strings(overrides: Overrides | None = None) -> dict[str, object]:
    """What customer.js says, through the catalogue (the phone's language):
    the stages in the customer's words (``customer_stage_labels``) with the
    shop's own words (``overrides``) over them."""
    words = customer_stage_labels()
    mine = (overrides or {}).get(current_locale(), {})
    stages = {stage: mine.get(stage) or word for stage, word in words.items()}
    return {
        **screen_strings(overrides),
        "stages": stages,
        "stage_defaults": words,
        "notes": stage_notes(),
        "waiting_for_you": _("Waiting for your OK"),
        # TRANSLATORS: marks the step of the progress list the car is at now.
        "now": _("now"),
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
        # The work and what it costs, as far as the order knows it.
        # TRANSLATORS: a line of additional work the customer approved, in the list of work.
        "extra_item": _("Additional work you approved"),
        # TRANSLATORS: labour hours, e.g. "2.5 h" beside "Labour in total".
        "work_hours": _("%(hours)s h", hours="{hours}"),
        "no_prices": _(
            "No prices are recorded for the booked work; "
            "please ask your service advisor about the cost."
        ),
        "no_work": _("No work items are recorded on this order yet."),
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
        work=views.customer_work(core(), principal.order_id),
        ratings=rating_labels(),
        contact=shop_profile.contact(core(), principal.shop_id),
    )
    return _private(Response(page))
