"""The customer's own page (/t/{token}), opened from the QR on the ticket.

The token in the path is the only credential. A token that is unknown,
replaced (re-issued) or expired (24 h after the order closed) gets the same
404 page that shows nothing about any order; failed lookups are rate-limited
per address so that tokens cannot be guessed by trying.
"""

from __future__ import annotations

import secrets

from flask import Blueprint, Response, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from werkzeug.wrappers import Response as BaseResponse

from shared.domain.errors import DomainError
from shared.services import links, notification_commands, reception, shop_profile, views
from shared.services.auth import resolve_customer
from shared.services.commands import CommandRequest
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


def notify_strings() -> dict[str, str]:
    """What the page says about the customer's messages (issue 17)."""
    return {
        "channels": _("We tell you about your car by: %(channels)s", channels="{channels}"),
        "sms": _("SMS"),
        "email": _("e-mail"),
        "wechat": _("WeChat"),
        "stopped": _("You will get no more messages about this car."),
        "failed": _("That did not work. Please try again."),
    }


def in_wechat() -> bool:
    """The page was opened inside WeChat's own browser."""
    return "MicroMessenger" in (request.headers.get("User-Agent") or "")


def _private(response: BaseResponse) -> BaseResponse:
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
        notify=notification_commands.page_state(core(), principal.order_id, in_wechat=in_wechat()),
        notify_strings=notify_strings(),
        wechat_result=request.args.get("wechat", ""),
    )
    return _private(Response(page))


# ------------------------------------------------------------ WeChat binding
# The customer opened the page inside WeChat and tapped "agree": the page
# posts (with its CSRF token) here, we send them through WeChat's silent
# snsapi_base authorisation, and WeChat sends them back with a code that we
# exchange for their openid. The capability link never goes to WeChat: the
# way back is one fixed address, and the session remembers which link asked
# (with a one-time state against forged returns).
_WECHAT_STATE = "wechat_oauth"


def _gone() -> ResponseReturnValue:
    page = render_template("board/customer.html", gone=True, contact=None)
    return _private(Response(page, status=404))


@blueprint.post("/t/<token>/wechat")
@customer_guess_limit
def wechat_agree(token: str) -> ResponseReturnValue:
    found = resolve_customer(core(), token, core().now())
    if found is None:
        return _gone()
    principal, row = found
    app = notification_commands.shop_wechat(core(), principal.shop_id)
    if app is None or row.notify_opted_out_at is not None:
        return _private(redirect(url_for("customer.track", token=token), code=303))
    state = secrets.token_urlsafe(16)
    session[_WECHAT_STATE] = {"state": state, "token": token}
    back = links.base_url(core().settings) + url_for("customer.wechat_return")
    target = notification_commands.authorize_url(app, back, state)
    return _private(redirect(target, code=303))


@blueprint.get("/wechat/oauth")
@customer_guess_limit
def wechat_return() -> ResponseReturnValue:
    asked = session.pop(_WECHAT_STATE, None)
    if not isinstance(asked, dict) or not asked.get("token"):
        return _gone()
    token = str(asked["token"])
    found = resolve_customer(core(), token, core().now())
    if found is None:
        return _gone()
    principal, row = found
    result = "failed"
    code = request.args.get("code", "")
    app = notification_commands.shop_wechat(core(), principal.shop_id)
    if (
        app is not None
        and code
        and secrets.compare_digest(request.args.get("state", ""), str(asked.get("state", "")))
    ):
        try:
            openid = notification_commands.openid_for_code(app, code)
            notification_commands.bind_wechat(
                core(),
                CommandRequest(actor=principal.actor(), shop_id=principal.shop_id),
                row.id,
                openid=openid,
            )
            result = "bound"
        except DomainError:
            result = "failed"
    return _private(redirect(url_for("customer.track", token=token, wechat=result), code=303))
