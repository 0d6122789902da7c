"""Reception desk (/desk), printable job ticket and its QR code.

Views parse, authorise and call one service (shared/services/reception.py,
handover.py); the page itself talks JSON to /api/v1 and /desk/api with the
session cookie, the CSRF token and an Idempotency-Key on every mutation.
Bodies and query strings are read as the REST API reads them
(``shared.web.parsing``): every field before the command, none unknown.
"""

from __future__ import annotations

import io
from typing import Any
from urllib.parse import quote

import qrcode
import qrcode.constants
import qrcode.image.pil
import qrcode.image.svg
from flask import Blueprint, Response, abort, jsonify, redirect, render_template, request
from flask.typing import ResponseReturnValue
from flask_babel import format_number, pgettext
from flask_babel import gettext as _
from werkzeug.wrappers import Response as BaseResponse

from shared.domain import errors
from shared.domain.policy import Command, may
from shared.services import (
    comebacks,
    complaints,
    handover,
    privacy_requests,
    queries,
    reception,
    shop_load,
    signatures,
    views,
)
from shared.services.auth import Principal
from shared.services.commands import CommandRequest
from shared.web.access import STAFF_ROLES, core, current_principal, require
from shared.web.extensions import csrf
from shared.web.http_commands import command_request, reply
from shared.web.labels import screen_strings
from shared.web.parsing import Body, json_body, query_flag, query_number, query_text

from .desk_appointments import appointment_strings
from .views import bay_kind_labels

blueprint = Blueprint("desk", __name__, template_folder="templates")

DESK_ROLES = Command.RECEPTION
# Large enough to scan from a phone held at arm's length over a printed A5
# ticket; M recovers ~15 % damage (a fold, a coffee ring on the ticket).
QR_BOX = 10
QR_BORDER = 4
# The printed ticket's paper: A5 (the default), A4, or an 80 mm thermal roll.
TICKET_PAPERS = ("a5", "a4", "80mm")
# The languages a customer's messages may be in, each named in itself.
CUSTOMER_LANGUAGES = {"zh_Hans": "简体中文", "zh_Hant": "繁體中文", "en": "English"}


# ------------------------------------------------------------- helpers


def _page_principal(command: Command) -> Principal | BaseResponse:
    """The signed-in staff member for a page, or the redirect to sign in."""
    principal = current_principal()
    if principal is None:
        return redirect("/login?next=" + quote(request.full_path.rstrip("?"), safe="/?=&"))
    if not may(principal, command):
        abort(403)
    return principal


def _command(body: Body) -> CommandRequest:
    principal = current_principal()
    assert principal is not None
    return command_request(principal, body)


def _shop_id() -> int:
    principal = current_principal()
    assert principal is not None
    return principal.shop_id


def desk_strings() -> dict[str, object]:
    """What desk.js says, through the catalogue."""
    return {
        **screen_strings(),
        # TRANSLATORS: under a queue number, the day it was given, for a car
        # carried over from an earlier day (11/27, 11月27日), as on the board.
        "day_mark": _("%(month)s/%(day)s", month="{month}", day="{day}"),
        "returning": _("Returning car: %(count)s earlier visits", count="{count}"),
        "new_car": _("First visit of this car"),
        "quality_customer": _("Quality customer (4 or more visits a year)"),
        # TRANSLATORS: the promise the shop-load engine suggests at reception,
        # when the work could start, and the load behind it.
        "suggested": _(
            "Suggested promise: %(time)s (work starts %(start)s; %(backlog)s h in the shop, "
            "%(technicians)s technicians)",
            time="{time}",
            start="{start}",
            backlog="{backlog}",
            technicians="{technicians}",
        ),
        **_time_strings(),
        "created": _("Order opened: queue number %(number)s", number="{number}"),
        "print_ticket": _("Print ticket"),
        "print_thermal": _("Print on 80 mm paper"),
        "new_link": _("New customer link…"),
        "hand_over": _("Hand over…"),
        "approve_phone": _("Approved by phone"),
        "decline_phone": _("Declined by phone"),
        "error": _("Could not save: %(detail)s", detail="{detail}"),
        **_hours_strings(),
        **_list_strings(),
        **_link_strings(),
        **_follow_up_strings(),
        **_complaint_strings(),
        **_comeback_strings(),
        **_hold_strings(),
        **_privacy_strings(),
        **_notify_strings(),
        **appointment_strings(),
        "appt_kinds": bay_kind_labels(),
    }


def _notify_strings() -> dict[str, object]:
    """The customer's messages (issue 17): each with its channel, kind and
    status (and why one was not sent), the failures' alert, a one-off."""
    return {
        "notify_title": _("Messages to the customer"),
        "notify_none": _("No messages yet."),
        "notify_no_consent": _("The customer agreed to no messages."),
        "notify_opted_out": _("The customer asked for no more messages."),
        "notify_channels": {"sms": _("SMS"), "wechat": _("WeChat"), "email": _("E-mail")},
        "notify_kinds": {
            "order_received": _("Car received"),
            "quote_waiting": _("Additional work waiting for the customer's OK"),
            "promise_changed": _("New promised time"),
            "ready_for_pickup": _("Ready for pickup"),
            "survey": _("Survey"),
            "one_off": _("Message from the desk"),
            "appointment_reminder": _("Appointment reminder"),
            "booking_code": _("Booking code"),
        },
        "notify_statuses": {
            "queued": pgettext("message status", "Queued"),
            "sending": pgettext("message status", "Sending"),
            "sent": pgettext("message status", "Sent"),
            "delivered": pgettext("message status", "Delivered"),
            "failed": pgettext("message status", "Failed"),
            "suppressed": pgettext("message status", "Not sent"),
        },
        # Why a message was not sent; a provider's own reason is shown as it came.
        "notify_reasons": {
            "stale": _("no longer true"),
            "opted_out": _("the customer asked for no more messages"),
            "rate_cap": _("today's number of messages for this order was reached"),
            "no_address": _("no address for this channel"),
            "channel_not_configured": _("this channel is not set up for the shop"),
            "outcome_unknown": _("the provider did not say whether it was sent"),
            "gave_up": _("the provider could not be reached; tried again and gave up"),
        },
        # TRANSLATORS: a queued message held until a time (quiet hours): "waits until 08:00".
        "notify_waits": _("waits until %(time)s", time="{time}"),
        # TRANSLATORS: one message of an order: "SMS · Ready for pickup · Sent 14:05".
        "notify_line": _(
            "%(channel)s · %(kind)s · %(status)s %(time)s",
            channel="{channel}",
            kind="{kind}",
            status="{status}",
            time="{time}",
        ),
        # TRANSLATORS: why a message failed or was not sent, after its line
        # ("— the customer asked for no more messages").
        "notify_reason": _("— %(reason)s", reason="{reason}"),
        # TRANSLATORS: the desk's alert for a message that failed
        # (消息发送失败：受理号码 12 · 粤B12345 · 短信 · 可以取车 — 原因).
        "notify_failed": _(
            "Message not sent: queue number %(number)s · %(plate)s · %(channel)s · "
            "%(kind)s — %(reason)s",
            number="{number}",
            plate="{plate}",
            channel="{channel}",
            kind="{kind}",
            reason="{reason}",
        ),
        "notify_failed_unknown": _("no reason given"),
        "notify_dismiss": _("Dismiss"),
        "notify_show": _("Show the order"),
        "notify_text": _("Message to the customer"),
        "notify_send": _("Send"),
        "notify_sent": _("Message queued to be sent now."),
        "notify_needs_text": _("Write the message first."),
        "notify_needs_channel": _("Choose at least one channel."),
        "notify_opt_out": _("The customer wants no more messages…"),
        "notify_opt_out_confirm": _(
            "Stop all messages about this car? Messages not yet sent are dropped."
        ),
        "notify_opt_out_now": _("Stop the messages"),
        "notify_opted_out_done": _("Recorded: the customer gets no more messages."),
        "notify_hint": _(
            "Sent with the shop's name, its phone number and the customer's tracking "
            "link: write no names, phones or plates."
        ),
    }


def _hours_strings() -> dict[str, object]:
    """Labour hours in words (工时 0.5 小时), never a bare "0.5 h"."""
    return {
        # TRANSLATORS: the labour hours of the order being written (工时 1.5 小时).
        "hours_total": _("Labour: %(hours)s h", hours="{hours}"),
        # TRANSLATORS: a quote for additional work: what, its labour hours, its price
        # (更换空调滤芯 · 工时 0.5 小时 · ¥150.00).
        "quote_terms": _(
            "%(description)s · labour %(hours)s h · %(price)s",
            description="{description}",
            hours="{hours}",
            price="{price}",
        ),
        # TRANSLATORS: the odometer at an earlier visit (42000 公里).
        "visit_mileage": _("%(km)s km", km="{km}"),
    }


def _list_strings() -> dict[str, object]:
    """The list of cars in the shop: search, filter, sort, flags, details."""
    return {
        # TRANSLATORS: how many cars the filtered list shows (显示 12 辆，共 40 辆).
        "shown_count": _("%(shown)s of %(total)s cars", shown="{shown}", total="{total}"),
        "no_match": _("No car in the shop matches."),
        "no_cars": _("No cars in the shop."),
        "at_risk": _("At risk"),
        # TRANSLATORS: a car that will miss its promised time (the word for the flag).
        "late_flag": _("Late"),
        "details": _("Details"),
        # TRANSLATORS: the button that opens a car's details, for a screen reader.
        "details_of": _(
            "Details of queue number %(number)s · %(plate)s", number="{number}", plate="{plate}"
        ),
        # TRANSLATORS: the heading of the handover dialog (交车：受理号码 12 · 粤B12345).
        "handover_title": _(
            "Hand over: queue number %(number)s · %(plate)s", number="{number}", plate="{plate}"
        ),
        # TRANSLATORS: joins the names of several technicians (王师傅、李师傅).
        "name_separator": _(", "),
    }


def _link_strings() -> dict[str, object]:
    """A new customer link: confirmed, with the reason, then the reprint."""
    return {
        # TRANSLATORS: heading of the dialog that replaces the customer's link.
        "link_title": _(
            "New customer link for queue number %(number)s · %(plate)s",
            number="{number}",
            plate="{plate}",
        ),
        "link_reason_missing": _("Enter the reason for the new link."),
        "link_done": _(
            "New link issued: the old ticket and QR code no longer work. "
            "The new ticket opens to print."
        ),
        "link_print": _("Print the new ticket"),
    }


def _follow_up_strings() -> dict[str, object]:
    """The follow-up calls (回访): why, the customer's own comment, the note."""
    return {
        "no_follow_ups": _("No calls to make."),
        "reasons": {
            "three_day": _("3-day follow-up"),
            "declined_work": _("Declined additional work"),
            "low_score": _("Low satisfaction score"),
        },
        # The outcomes in the order the buttons stand (the strings' JSON is sorted).
        "outcome_order": list(reception.OUTCOMES),
        "outcomes": {
            "reached": _("Reached"),
            "no_answer": _("No answer"),
            "call_back": _("Call back later"),
            "complaint": _("Complaint…"),
        },
        # TRANSLATORS: the customer's survey score on a follow-up call (满意度 2/5).
        "rating": _("Satisfaction %(rating)s/5", rating="{rating}"),
        # TRANSLATORS: the customer's own words in the survey, quoted.
        "survey_comment": _("The customer wrote: “%(comment)s”", comment="{comment}"),
        "no_survey_comment": _("The customer left no comment."),
        "declined_items": _("Declined: %(items)s", items="{items}"),
        # TRANSLATORS: when the car was handed over (交车 11/28).
        "delivered_on": _("Delivered %(day)s", day="{day}"),
        "call_note": _("Call note (what the customer said)"),
        "attempts": _("Earlier tries: %(count)s", count="{count}"),
        "complaint_hint": _(
            "A complaint stays open until its owner resolves it. "
            "Write the customer's complaint in the call note."
        ),
        "complaint_owner": _("Owner"),
        "open_complaint": _("Open the complaint"),
        "complaint_needs_note": _("Write down what the customer complains about in the call note."),
        "delivered": _("Delivered"),
    }


def _complaint_strings() -> dict[str, object]:
    """Open complaints: whose, what the customer said, the outcome."""
    return {
        "no_complaints": _("No open complaints."),
        # TRANSLATORS: a complaint's order (受理号码 12 · 粤B12345).
        "complaint_order": _(
            "Queue number %(number)s of %(day)s · %(plate)s",
            number="{number}",
            day="{day}",
            plate="{plate}",
        ),
        "complaint_opened": _("Opened %(time)s by %(by)s", time="{time}", by="{by}"),
        "complaint_words": _("The customer said: “%(words)s”", words="{words}"),
        "no_owner": _("Nobody yet"),
        "change_owner": _("Change owner"),
        "complaint_outcome": _("Outcome (what was done, what the customer said)"),
        "resolve": _("Resolve"),
        "complaint_resolved": _("Complaint resolved."),
        "complaint_owner_changed": _("Owner changed."),
        "complaint_needs_outcome": _("Write down the outcome."),
        "complaint_stale": _("Someone changed this complaint meanwhile; it is shown as it is now."),
        "complaint_closed": _("This complaint was resolved meanwhile."),
    }


def _comeback_strings() -> dict[str, object]:
    """Comebacks (返修): the car's last visit, the mark and its form."""
    return {
        # TRANSLATORS: under a car's plate: its last visit within the shop's
        # comeback days, by the day and queue number (上次来店 11月2日（#12）).
        "comeback_last_visit": _(
            "Last visit %(day)s (#%(number)s)", day="{day}", number="{number}"
        ),
        "comeback_flag": _("Mark as comeback"),
        # TRANSLATORS: a car marked a comeback (返修) of an earlier visit.
        "comeback_mark": _("Comeback of %(day)s (#%(number)s)", day="{day}", number="{number}"),
        "comeback_mark_detail": _(
            "Comeback of %(day)s (#%(number)s), %(days)s days after its delivery: %(note)s",
            day="{day}",
            number="{number}",
            days="{days}",
            note="{note}",
        ),
        "comeback_of": _("Comeback of which visit"),
        "comeback_candidate": _(
            "%(day)s (#%(number)s) · %(work)s", day="{day}", number="{number}", work="{work}"
        ),
        "comeback_note": _("The fault (the same as last time)"),
        "comeback_save": _("Mark as comeback"),
        "comeback_needs_note": _("Write down the fault that came back."),
        "comeback_saved": _("Marked as a comeback."),
        "comeback_withdraw": _("Withdraw the mark…"),
        "comeback_withdraw_reason": _("Why the mark was wrong"),
        "comeback_withdraw_save": _("Withdraw the mark"),
        "comeback_needs_reason": _("Write down why the mark was wrong."),
        "comeback_withdrawn": _("Comeback mark withdrawn."),
    }


def _privacy_strings() -> dict[str, object]:
    """A customer's request to export or erase their data (issue 14)."""
    return {
        "privacy_found": _(
            "Orders of this plate with this phone number: %(count)s", count="{count}"
        ),
        "privacy_none": _("No orders of this plate with this phone number."),
        "privacy_missing": _("Enter the plate and the phone number the customer gave."),
        # The service's own words for a phone too short or too long to be one.
        "privacy_bad_phone": _("Enter the phone number the customer gave for the car."),
        # TRANSLATORS: one order in a customer's data request, e.g. "Queue number 12 of
        # 2026-05-04 · Delivered" (2026-05-04 受理号码 12 · 已交车).
        "privacy_order": _(
            "Queue number %(number)s of %(day)s · %(stage)s",
            number="{number}",
            day="{day}",
            stage="{stage}",
        ),
        "privacy_active": _("still in the shop: cannot be erased until delivered"),
        "privacy_exported": _("The customer's data was downloaded (%(file)s).", file="{file}"),
        "privacy_confirm": _(
            "Erase the customer's data from the delivered and cancelled orders "
            "(%(count)s)? Name, phone, VIN, notes, photos and signatures are removed "
            "for good; the plate is kept masked.",
            count="{count}",
        ),
        "privacy_erase_now": _("Erase now"),
        "privacy_erased": _(
            "Orders erased: %(count)s. The customer's old links no longer work.",
            count="{count}",
        ),
        "privacy_erased_active": _(
            "Not erased, still in the shop: %(numbers)s. Erase again once delivered.",
            numbers="{numbers}",
        ),
        "privacy_all_active": _(
            "Nothing erased: the car is still in the shop. Erase once it is delivered."
        ),
    }


def _time_strings() -> dict[str, object]:
    """The promise (承诺交车), the estimate (预计完工) and the delay alert."""
    return {
        # TRANSLATORS: the last change of the promised time: why, who, when.
        "promise_changed": _(
            "New promise: %(reason)s (%(by)s, %(time)s)",
            reason="{reason}",
            by="{by}",
            time="{time}",
        ),
        "delay_at_risk": _(
            "Promise at risk: estimated %(eta)s, promised %(promised)s — %(cause)s",
            eta="{eta}",
            promised="{promised}",
            cause="{cause}",
        ),
        "delay_late": _(
            "The promise will be missed: estimated %(eta)s, promised %(promised)s — %(cause)s",
            eta="{eta}",
            promised="{promised}",
            cause="{cause}",
        ),
        # What holds the car, for the advisor.
        "causes": {
            "clock_overrun": _("the work takes longer than its standard hours"),
            "parts": _("waiting for parts"),
            "approval": _("waiting for the customer's decision"),
            "queue": _("the cars ahead in the queue"),
        },
        # The reason offered for the customer to read (the advisor may rewrite it).
        "causes_said": {
            "clock_overrun": _("The repair needs more time than planned."),
            "parts": _("We are waiting for parts."),
            "approval": _("We are waiting for your decision on the additional work."),
            "queue": _("The workshop is busier than planned."),
        },
        "new_promise": _("New promised time…"),
        "new_promise_label": _("New promised time"),
        "promise_reason_label": _("Reason (the customer reads it)"),
        "promise_missing": _("Enter the new time and the reason."),
    }


def _hold_strings() -> dict[str, object]:
    """The desk's words for what holds a car (issue 20): its open pause
    reasons, its parts requests (待料/订件) and the quotes for additional work
    found (revise, the customer's decision by phone or in person with a
    signature, an expired quote to follow up)."""
    return {
        # TRANSLATORS: one open reason of a paused car: parts due at {time} (等配件 · 预计 15:30).
        "parts_due": _("Parts · expected %(time)s", time="{time}"),
        # TRANSLATORS: a paused car nothing holds any more (parts arrived,
        # customer decided): it waits for the technician's resume tap (可复工).
        "no_holds": _("Ready to resume"),
        "parts_title": _("Parts"),
        "part_status": {
            "requested": _("Requested"),
            "ordered": _("Ordered"),
            "arrived": _("Arrived"),
        },
        # TRANSLATORS: a parts request's expected arrival, e.g. "expected 15:30".
        "part_eta": _("expected %(time)s", time="{time}"),
        "part_arrived_at": _("arrived %(time)s", time="{time}"),
        "part_requested_at": _("requested %(time)s", time="{time}"),
        "mark_ordered": _("Ordered…"),
        "change_eta": _("New expected time…"),
        "mark_arrived": _("Arrived"),
        "eta_label": _("Expected arrival"),
        "eta_missing": _("Enter the expected arrival."),
        "save": _("Save"),
        "cancel": _("Cancel"),
        # TRANSLATORS: a quote's version, e.g. "v2" (第 2 版).
        "quote_version": _("v%(version)s", version="{version}"),
        "quote_expires": _("answer by %(time)s", time="{time}"),
        "revise": _("Revise"),
        "quote_description": _("Description"),
        "quote_hours": _("Labour hours"),
        "quote_price": _("Price (¥)"),
        "send_revision": _("Send new version"),
        "approve_in_person": _("Approved in person"),
        "decline_in_person": _("Declined in person"),
        "by_phone": _("Customer decided by phone:"),
        "in_person": _("Customer here in person:"),
        "decisions": {"approved": _("Approved"), "declined": _("Declined")},
        "channels": {
            "phone": _("by phone"),
            "in_person": _("in person"),
            "customer_page": _("on the customer's phone"),
        },
        # TRANSLATORS: the record of a decision on a quote, e.g. "Approved by phone:
        # v2, 14:05, taken by 陈顾问".
        "decision_record": _(
            "%(decision)s %(channel)s: v%(version)s, %(time)s, taken by %(by)s",
            decision="{decision}",
            channel="{channel}",
            version="{version}",
            time="{time}",
            by="{by}",
        ),
        "decision_record_customer": _(
            "%(decision)s %(channel)s: v%(version)s, %(time)s",
            decision="{decision}",
            channel="{channel}",
            version="{version}",
            time="{time}",
        ),
        # TRANSLATORS: a banner on the desk (报价已过期：<description> — 请联系客户).
        "quote_expired_banner": _(
            "Quote expired: %(description)s — please contact the customer",
            description="{description}",
        ),
        "quote_expired": _("Expired"),
        "quote_again": _("Quote again…"),
        "send_quote": _("Send the quote"),
        "stale_quote": _(
            "The quote changed meanwhile (now v%(version)s): read it again before deciding.",
            version="{version}",
        ),
        "expired_quote": _("This quote has expired: quote again if the customer still wants it."),
        "signature_title": _("Customer's signature"),
        "signature_hint": _("Ask the customer to sign in the box with a finger or the pen."),
        "signature_clear": _("Clear"),
        "signature_save": _("Save signature"),
        "signature_later": _("Not now"),
        "signature_sign": _("Sign…"),
        "signature_empty": _("Nothing signed yet."),
        "signature_saving": _("Saving…"),
        "signature_failed": _("The signature could not be saved: %(detail)s", detail="{detail}"),
        "signature_alt": _(
            "Customer's signature for: %(description)s", description="{description}"
        ),
    }


# ------------------------------------------------------------- pages


@blueprint.get("/desk")
def desk() -> ResponseReturnValue:
    principal = _page_principal(DESK_ROLES)
    if isinstance(principal, BaseResponse):
        return principal
    return render_template(
        "kiosk/desk.html",
        strings=desk_strings(),
        advisor=principal.name,
        user_id=principal.user_id,
        shop_timezone=queries.shop_timezone(core(), principal.shop_id),
        customer_languages=CUSTOMER_LANGUAGES,
    )


@blueprint.get("/orders/<int:order_id>/ticket")
def ticket(order_id: int) -> ResponseReturnValue:
    principal = _page_principal(STAFF_ROLES)
    if isinstance(principal, BaseResponse):
        return principal
    data = reception.ticket(core(), principal.shop_id, order_id)
    # The customer signs this copy in person: it may carry the car's VIN and
    # mileage and their own words, which their forwardable link never shows.
    details = views.ticket_view(core(), principal.shop_id, order_id)
    # The additional work the customer approved, how, and their signature
    # when they signed at the desk (a reprint shows what was agreed since).
    extra_work = signatures.ticket_extra_work(core(), principal.shop_id, order_id)
    paper = request.args.get("paper")
    page = render_template(
        "kiosk/ticket.html",
        ticket=data,
        details=details,
        mileage=_mileage(details["mileage"]),
        total_hours=_ticket_hours(details, extra_work),
        approved_cents=sum(int(q["price_cents"]) for q in extra_work),
        extra_work=extra_work,
        paper=paper if paper in TICKET_PAPERS else "a5",
    )
    response = Response(page)
    response.headers["Cache-Control"] = "no-store"
    return response


def _mileage(km: int | None) -> str:
    """The odometer reading in the page's language's digit grouping (42,000)."""
    return "" if km is None else format_number(km)


def _ticket_hours(details: dict[str, Any], extra_work: list[dict[str, Any]]) -> float:
    """The labour hours the ticket lists: the booked work and the additional
    work approved (the hours sold, ``OrderState.total_labour_hours``)."""
    approved = sum(float(q["labour_hours"]) for q in extra_work)
    return round(float(details["labour_hours"]) + approved, 2)


def _qr(url: str, factory: Any) -> bytes:
    code = qrcode.QRCode(
        error_correction=qrcode.constants.ERROR_CORRECT_M,
        box_size=QR_BOX,
        border=QR_BORDER,
        image_factory=factory,
    )
    code.add_data(url)
    code.make(fit=True)
    buffer = io.BytesIO()
    code.make_image().save(buffer)
    return buffer.getvalue()


def _qr_response(order_id: int, factory: Any, mimetype: str) -> Response:
    principal = current_principal()
    if principal is None or not may(principal, STAFF_ROLES):
        abort(403 if principal else 401)
    url = reception.ticket(core(), principal.shop_id, order_id)["customer_url"]
    response = Response(_qr(url, factory), mimetype=mimetype)
    # The image is the customer's credential: never cached by a proxy.
    response.headers["Cache-Control"] = "no-store"
    return response


@blueprint.get("/orders/<int:order_id>/qr.svg")
def qr_svg(order_id: int) -> ResponseReturnValue:
    return _qr_response(order_id, qrcode.image.svg.SvgPathImage, "image/svg+xml")


@blueprint.get("/orders/<int:order_id>/qr.png")
def qr_png(order_id: int) -> ResponseReturnValue:
    return _qr_response(order_id, qrcode.image.pil.PilImage, "image/png")


# ------------------------------------------------------------- desk JSON


@blueprint.get("/desk/api/vehicles")
@require(DESK_ROLES)
def vehicle() -> ResponseReturnValue:
    plate = query_text("plate", "") or ""
    return jsonify(reception.vehicle_history(core(), _shop_id(), plate))


@blueprint.get("/desk/api/promise")
@require(DESK_ROLES)
def promise() -> ResponseReturnValue:
    """The shop-load engine's promise for the order being written (the
    advisor's hours so far; a customer waiting in the lounge goes ahead)."""
    hours = query_number("labour_hours")
    waiting = query_flag("waiting")
    return jsonify(shop_load.suggest_promise(core(), _shop_id(), hours, waiting=waiting))


@blueprint.get("/desk/api/follow-ups")
@require(DESK_ROLES)
def follow_ups() -> ResponseReturnValue:
    return jsonify({"calls": reception.follow_up_list(core(), _shop_id())})


@blueprint.post("/desk/api/orders/<int:order_id>/follow-ups")
@csrf.exempt
@require(DESK_ROLES)
def record_follow_up(order_id: int) -> ResponseReturnValue:
    body = json_body()
    outcome = body.string("outcome", required=True)
    note = body.string("note", multiline=True)
    owner_id = body.integer("owner_id")
    return reply(
        reception.record_follow_up(
            core(), _command(body), order_id, outcome=outcome, note=note, owner_id=owner_id
        )
    )


@blueprint.post("/desk/api/orders/<int:order_id>/customer-link")
@csrf.exempt
@require(DESK_ROLES)
def reissue_link(order_id: int) -> ResponseReturnValue:
    body = json_body()
    # The old ticket stops working: the desk says so and records why.
    reason = body.string("reason", required=True, multiline=True)
    if not reason.strip():
        raise errors.ValidationFailed(
            "reason", errors.Message("%(field)s is required.", field="reason")
        )
    return reply(reception.reissue_customer_token(core(), _command(body), order_id, reason=reason))


@blueprint.post("/desk/api/orders/<int:order_id>/handover")
@csrf.exempt
@require(DESK_ROLES)
def hand_over(order_id: int) -> ResponseReturnValue:
    body = json_body()
    version = body.required_integer("version")
    old_parts_shown = body.boolean("old_parts_shown", required=True)
    next_service_date = body.calendar_date("next_service_date")
    next_service_mileage = body.required_integer("next_service_mileage")
    final_check_done = body.boolean("final_check_done", required=True)
    note = body.string("note", multiline=True)
    outcome = handover.hand_over(
        core(),
        _command(body),
        order_id,
        version=version,
        old_parts_shown=old_parts_shown,
        next_service_date=next_service_date,
        next_service_mileage=next_service_mileage,
        final_check_done=final_check_done,
        note=note,
    )
    return reply(outcome)


@blueprint.get("/desk/api/orders/<int:order_id>/handover")
@require(STAFF_ROLES)
def get_handover(order_id: int) -> ResponseReturnValue:
    found = handover.get_handover(core(), _shop_id(), order_id)
    return jsonify({"handover": found})


# ------------------------------------------------------------- complaints


@blueprint.get("/desk/api/complaints")
@require(DESK_ROLES)
def open_complaints() -> ResponseReturnValue:
    """The shop's open complaints and who may own one."""
    return jsonify(
        {
            "complaints": complaints.open_complaints(core(), _shop_id()),
            "owners": complaints.owners(core(), _shop_id()),
        }
    )


@blueprint.post("/desk/api/complaints/<int:complaint_id>/owner")
@csrf.exempt
@require(DESK_ROLES)
def complaint_owner(complaint_id: int) -> ResponseReturnValue:
    body = json_body()
    owner_id = body.required_integer("owner_id")
    version = body.required_integer("version")
    return reply(
        complaints.change_owner(
            core(), _command(body), complaint_id, owner_id=owner_id, version=version
        )
    )


@blueprint.post("/desk/api/complaints/<int:complaint_id>/resolution")
@csrf.exempt
@require(DESK_ROLES)
def complaint_resolution(complaint_id: int) -> ResponseReturnValue:
    body = json_body()
    outcome = body.string("outcome", required=True, multiline=True)
    version = body.required_integer("version")
    return reply(
        complaints.resolve(core(), _command(body), complaint_id, outcome=outcome, version=version)
    )


# ------------------------------------------------------------- comebacks


@blueprint.get("/desk/api/comebacks")
@require(DESK_ROLES)
def comeback_overview() -> ResponseReturnValue:
    """Each car in the shop with a comeback mark, or with earlier visits it
    could be a comeback of (the mark is in the order's log, not its view).
    The marks themselves are set through REST v1 (/api/v1/orders/{id}/comeback)."""
    return jsonify(comebacks.desk_view(core(), _shop_id()))


# ------------------------------------------------------------- privacy requests
# The customer's plate and phone travel in POST bodies, never in a URL (where
# they would stay in logs and the browser's history).


def _plate_and_phone(body: Body) -> tuple[str, str]:
    return body.string("plate", required=True), body.string("phone", required=True)


@blueprint.post("/desk/api/privacy/orders")
@csrf.exempt
@require(DESK_ROLES)
def privacy_orders() -> ResponseReturnValue:
    """The orders a request of this plate and phone covers (no personal data)."""
    body = json_body()
    plate, phone = _plate_and_phone(body)
    body.finish()
    return jsonify(privacy_requests.find(core(), _shop_id(), plate, phone))


@blueprint.post("/desk/api/privacy/export")
@csrf.exempt
@require(DESK_ROLES)
def privacy_export() -> ResponseReturnValue:
    """The customer's data as a JSON download (recorded as an export)."""
    body = json_body()
    plate, phone = _plate_and_phone(body)
    document = privacy_requests.export_customer_data(core(), _command(body), plate, phone)
    day = str(document["exported_at"])[:10]
    response = jsonify(document)
    response.headers["Content-Disposition"] = f'attachment; filename="customer-data-{day}.json"'
    return response


@blueprint.post("/desk/api/privacy/erase")
@csrf.exempt
@require(DESK_ROLES)
def privacy_erase() -> ResponseReturnValue:
    """Anonymise the customer's delivered and cancelled orders now."""
    body = json_body()
    plate, phone = _plate_and_phone(body)
    return reply(privacy_requests.erase_customer_data(core(), _command(body), plate, phone))


@blueprint.after_request
def _private(response: Response) -> Response:
    """Desk answers carry customers' names and phones: never cached."""
    response.headers.setdefault("Cache-Control", "no-store")
    return response
