"""Input screens: technician kiosk (/kiosk) and foreman dispatch console (/foreman).

Views only parse, authorise and call one service. The kiosk's JSON endpoints
take bearer credentials (the paired kiosk's device token to sign in, then the
technician's short-lived kiosk credential), so they need no CSRF token; the
foreman's console runs on the staff session cookie and its mutations carry
the CSRF token.
"""

from __future__ import annotations

from typing import Any, cast

from flask import Blueprint, g, jsonify, redirect, render_template, request, session
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import ngettext, pgettext
from flask_wtf.csrf import generate_csrf

from shared.domain import errors, policy
from shared.domain.extra_work import QuoteTerms
from shared.domain.policy import Command, may
from shared.domain.stages import CHECK_CHAIN, PauseReason, Role, Stage
from shared.domain.text import check_text
from shared.services import kiosk_login, labour, orders, queries, staff_admin
from shared.services.auth import Principal, hash_secret, resolve_bearer
from shared.services.commands import (
    Outcome,
)
from shared.web.access import Unauthorized, bearer_token, core, required_bearer_token
from shared.web.extensions import csrf, limiter
from shared.web.http_commands import command_request, reply
from shared.web.labels import check_level_labels, pause_labels, screen_strings, stage_labels
from shared.web.parsing import Body, json_body
from shared.web.staff_session import principal_from_session

blueprint = Blueprint("kiosk", __name__, template_folder="templates")

# Growing delay per badge: the 6th wrong PIN in a minute waits for the
# minute, the 8th for five, the 10th for fifteen (and locks the badge).
BADGE_LIMITS = "5 per minute;7 per 5 minutes;9 per 15 minutes"
# Per kiosk: one person trying many badges is slowed, then stopped for the
# hour, so a single attacker cannot lock every badge in the shop.
DEVICE_LIMITS = "10 per 10 minutes;20 per hour"


def _kiosk_device() -> Principal:
    """The paired kiosk making this request (its device token)."""
    if "kiosk_device" not in g:
        principal = resolve_bearer(core(), required_bearer_token())
        if principal is None or principal.kind != "device" or principal.role != Role.KIOSK:
            raise Unauthorized("This is not a paired kiosk (or it was revoked).")
        g.kiosk_device = principal
    return cast(Principal, g.kiosk_device)


def _technician() -> Principal:
    """The technician signed in on this kiosk; every call counts as activity.
    A credential whose PIN an admin set opens nothing until its technician
    chose their own (403 ``pin_change_required``, ``POST /kiosk/api/pin``)."""
    token = required_bearer_token()
    principal = kiosk_login.resolve_session(core(), token, touch=True)
    if principal is None:
        if kiosk_login.resolve_pending(core(), token) is not None:
            raise kiosk_login.PinChangeRequired(
                "Choose your own PIN first (POST /kiosk/api/pin): an admin set this one."
            )
        raise Unauthorized("Signed out (idle for 3 minutes, or logged out). Sign in again.")
    return principal


def _pending_change() -> kiosk_login.PendingChange | None:
    """The badge and kiosk of the pending credential this request carries
    (read once per request: the limits' keys and the view share it)."""
    if "kiosk_pending" not in g:
        token = _bearer_token_or_none()
        g.kiosk_pending = kiosk_login.pending_change(core(), token) if token else None
    return cast(kiosk_login.PendingChange | None, g.kiosk_pending)


def _bearer_token_or_none() -> str | None:
    """The request's bearer token, or None when it has none or a malformed
    one (a limit's key must not refuse; the view does)."""
    try:
        return bearer_token()
    except errors.DomainError:
        return None


def _badge_key() -> str:
    """Per badge of this shop, one budget for signing in and for choosing a
    new PIN (the badge typed at sign-in, the pending credential's badge when
    choosing). A request that is not from a kiosk still gets a key (the view
    refuses it without counting)."""
    if request.endpoint == "kiosk.kiosk_change_pin":
        pending = _pending_change()
        if pending is None:
            return "kiosk-badge:?:"
        return f"kiosk-badge:{pending.shop_id}:{pending.badge}"
    body = request.get_json(silent=True)
    badge = str(body.get("badge", "")) if isinstance(body, dict) else ""
    try:
        shop = str(_kiosk_device().shop_id)
    except errors.DomainError:
        shop = "?"
    # The service looks the badge up under this same spelling.
    return f"kiosk-badge:{shop}:{kiosk_login.normalise_badge(badge)}"


def _device_key() -> str:
    """Per paired kiosk (its device id), one budget for signing in and for
    choosing a new PIN; anything else per Authorization header."""
    if request.endpoint == "kiosk.kiosk_change_pin":
        pending = _pending_change()
        if pending is not None:
            return f"kiosk-device:device:{pending.device_id}"
    else:
        try:
            return "kiosk-device:" + _kiosk_device().ref
        except errors.DomainError:
            pass
    return "kiosk-device:" + hash_secret(request.headers.get("Authorization", ""))[:24]


def _refused_try(response: Any) -> bool:
    """What uses up the budgets: a wrong badge or PIN at sign-in (401), and
    any refused choice of a new PIN (the limit's own 429 aside)."""
    status = int(response.status_code)
    if request.endpoint == "kiosk.kiosk_change_pin":
        return status >= 400 and status != 429
    return status == 401


# Growing delay per badge and per kiosk, shared by the sign-in and the choice
# of a new PIN: one cannot be used to get round the other.
badge_budget = limiter.shared_limit(
    BADGE_LIMITS, scope="kiosk-badge", key_func=_badge_key, deduct_when=_refused_try
)
device_budget = limiter.shared_limit(
    DEVICE_LIMITS, scope="kiosk-device", key_func=_device_key, deduct_when=_refused_try
)


# ------------------------------------------------------------------ pages


def kiosk_strings() -> dict[str, object]:
    """Everything the kiosk's scripts say, from the catalogue."""
    return {
        **screen_strings(),
        "start": _("Start"),
        "pause_action": _("Pause"),
        "resume": _("Resume"),
        "finish": _("Finish (self-check done)"),
        "clock_on": _("Clock on"),
        "extra_work": _("Additional work"),
        "parts": _("Request parts"),
        "pass": _("Pass check"),
        "fail": _("Fail check"),
        # The button names the level it signs (班组长检验合格, 质检合格, 总检合格).
        "pass_level": {
            "team_lead": _("Pass team lead check"),
            "qc": _("Pass QC inspection"),
            "final": _("Pass final inspection"),
        },
        "fail_level": {
            "team_lead": _("Fail team lead check"),
            "qc": _("Fail QC inspection"),
            "final": _("Fail final inspection"),
        },
        "check_levels": check_level_labels(),
        # The levels in the order they are signed (a JSON object's keys are sorted).
        "check_chain": [level.value for level in CHECK_CHAIN],
        # TRANSLATORS: on a check's card: the level this signature is for, e.g.
        # "To sign: QC inspection (level 2 of 3)" (zh: 待签：质检（第 2 级，共 3 级）).
        "signing": _(
            "To sign: %(level)s (level %(step)s of %(steps)s)",
            level="{level}",
            step="{step}",
            steps="{steps}",
        ),
        # TRANSLATORS: an earlier level of the same job and who passed it.
        "signed_by": _("%(level)s passed: %(name)s", level="{level}", name="{name}"),
        # TRANSLATORS: beside a signature given by someone who had signed an
        # earlier level of the same job, which the shop's setting allows.
        "signed_by_one": _("Same person as an earlier level (the shop allows it)."),
        # TRANSLATORS: on a check's card for the person who passed an earlier level.
        "signed_earlier": _(
            "You passed an earlier level of this job. Another person signs the %(level)s.",
            level="{level}",
        ),
        "problems": {
            "same_person_checks": _(
                "You passed an earlier level of this job: another person signs this one."
            ),
        },
        "undo": _("Undo"),
        "sent": _("Done"),
        "refused": _("Refused: %(detail)s", detail="{detail}"),
        # Plural forms for one and for more; the page picks by the count.
        "waiting": {
            form: ngettext(
                "Offline: %(count)s tap is waiting to be sent.",
                "Offline: %(count)s taps are waiting to be sent.",
                number,
                count="{count}",
            )
            for form, number in (("one", 1), ("other", 2))
        },
        "sending": {
            form: ngettext(
                "%(count)s tap is waiting to be sent.",
                "%(count)s taps are waiting to be sent.",
                number,
                count="{count}",
            )
            for form, number in (("one", 1), ("other", 2))
        },
        # TRANSLATORS: the kiosk's offline banner, second line: how old what it shows is.
        "data_from": _("The jobs shown are as of %(time)s.", time="{time}"),
        # TRANSLATORS: on a job card: the bay the car is on (zh: 工位 B01).
        "bay": _("Bay %(bay)s", bay="{bay}"),
        # TRANSLATORS: on a job card: the car's VIN (zh: 车架号 LSV…).
        "vin": _("VIN %(vin)s", vin="{vin}"),
        # TRANSLATORS: on a job card: the odometer reading at reception (zh: 里程 35,200 公里).
        "mileage": _("Mileage %(km)s km", km="{km}"),
        # TRANSLATORS: on a job card, before the customer's own description of the fault (问诊).
        "complaint": _("The customer says"),
        # TRANSLATORS: a work item added during the job, which the customer approved.
        "added": _("Added, approved"),
        # TRANSLATORS: additional work the customer declined: not to be done.
        "declined": _("Declined: do not do"),
        # TRANSLATORS: additional work nobody answered in time: not to be done.
        "expired": _("No answer: do not do"),
        # TRANSLATORS: one parts request on a job card (zh: 配件：前刹车片).
        "part_line": _("Parts: %(what)s", what="{what}"),
        "expected": _("Expected %(time)s", time="{time}"),
        "wrong_pin": _("Wrong badge or PIN."),
        "locked": _("This badge is locked. Ask the foreman to unlock it."),
        "slow_down": _("Too many tries. Wait %(seconds)s s.", seconds="{seconds}"),
        "signed_out": _("Signed out."),
        "my_jobs": _("My jobs"),
        "checks": _("Checks waiting"),
        "no_jobs": _("No jobs for you right now."),
        "promised": _("Promised"),
        "in_stage": _("In stage"),
        "clock_running": _("Clock running"),
        "hours": _("h"),
        "minutes": _("min"),
        "reason_prompt": _("Reason"),
        "description": _("What was found"),
        "labour_hours": _("Labour hours"),
        "price": _("Price (yuan)"),
        "send": _("Send"),
        "cancel": _("Cancel"),
        "parts_note": _("Which parts?"),
        # TRANSLATORS: one line per thing a paused job waits for (zh: 等配件：刹车片).
        "waiting_parts": _("Waiting for parts: %(what)s", what="{what}"),
        # TRANSLATORS: the expected arrival, in the shop's time (zh: 等配件：刹车片，预计 15:30).
        "waiting_parts_eta": _(
            "Waiting for parts: %(what)s, expected %(time)s", what="{what}", time="{time}"
        ),
        # TRANSLATORS: the additional work the customer is asked about (zh: 等客户确认：…).
        "waiting_approval": _("Waiting for customer approval: %(what)s", what="{what}"),
        "waiting_other": _("Other: %(note)s", note="{note}"),
        "other_note": _("What is the car waiting for?"),
        # TRANSLATORS: a button: the "other" reason for the pause is over (zh: 已解决).
        "reason_done": _("Resolved"),
        # TRANSLATORS: the notice when the parts counter marks a part arrived (zh: 配件已到：…).
        "parts_arrived": _("Parts arrived: %(what)s", what="{what}"),
        "part_status": {
            # TRANSLATORS: a parts request asked for, not yet ordered (zh: 已申请).
            "requested": _("Requested"),
            # TRANSLATORS: a parts request ordered from the supplier (zh: 已订货).
            "ordered": _("Ordered"),
            # TRANSLATORS: a parts request that has arrived (zh: 已到货).
            "arrived": _("Arrived"),
        },
        "dismiss": _("OK"),
        **pin_change_strings(),
        # TRANSLATORS: a job in progress on which this technician's labour clock is not running.
        "clock_not_running": _("Clock not running"),
        "stages": stage_labels(),
        "pause": pause_labels(),
    }


def pin_change_strings() -> dict[str, object]:
    """What the step where a technician replaces a PIN an admin set says
    from the script (its headings and labels are in the template)."""
    return {
        "pin_format": _(
            "A PIN is %(low)s to %(high)s digits.",
            low=staff_admin.PIN_MIN,
            high=staff_admin.PIN_MAX,
        ),
        "pin_mismatch": _("The two PINs differ."),
        "same_pin": _("Choose a PIN other than the one you were given."),
        # TRANSLATORS: kiosk notice after a technician chose their own PIN.
        "pin_saved": _("Your new PIN is saved."),
    }


def bay_kind_labels() -> dict[str, str]:
    """What each kind of bay is for, as the console names it (the same words
    as /admin/shop)."""
    return {
        "general": _("General repair"),
        "quick": _("Quick service"),
        "alignment": _("Wheel alignment"),
        "ev": _("EV / high voltage"),
        "paint": _("Paint"),
        "wash": _("Wash"),
        "parking_lane": _("Parking lane"),
    }


def foreman_strings() -> dict[str, object]:
    return {
        **screen_strings(),
        "assign": _("Assign"),
        "reassign": _("Reassign"),
        # TRANSLATORS: a button on one car of a bay: move that car to another
        # bay or technician (zh: 重新派工 · 粤B12345).
        "reassign_plate": _("Reassign · %(plate)s", plate="{plate}"),
        # TRANSLATORS: the name of the Assign button of one car, for screen readers.
        "assign_plate": _("Assign · %(plate)s", plate="{plate}"),
        # The time told the customer and the live estimate, each named.
        "promised_at": _("Promised %(time)s", time="{time}"),
        "eta_at": _("Estimated %(time)s", time="{time}"),
        # TRANSLATORS: a car checked in without a promised time.
        "no_promise": _("No promised time"),
        "at_risk": _("At risk"),
        # TRANSLATORS: the standard (sold) labour hours of the whole job (zh: 标准工时：2.0 小时).
        "standard_hours": _("Standard hours: %(hours)s h", hours="{hours}"),
        # TRANSLATORS: one work item and its standard hours (zh: 更换机油（0.5 小时）).
        "item_hours": _("%(title)s (%(hours)s h)", title="{title}", hours="{hours}"),
        "no_items": _("No work items recorded."),
        "complaint": _("The customer says"),
        "work": _("Work"),
        # TRANSLATORS: time spent in the current stage (zh: 本状态已 25 分钟).
        "in_stage": _("%(time)s in this stage", time="{time}"),
        # TRANSLATORS: how to dispatch from the queue, shown above it.
        "drag_hint": _("Drag a card onto a bay or a technician, or tap Assign."),
        # TRANSLATORS: the handle on a queue card, for screen readers and as its tooltip.
        "drag_label": _(
            "Drag #%(number)s %(plate)s onto a bay or a technician",
            number="{number}",
            plate="{plate}",
        ),
        # TRANSLATORS: the assign dialog opened by dropping a card on a bay.
        "dropped_bay": _("Dropped on bay %(bay)s: check and confirm.", bay="{bay}"),
        # TRANSLATORS: the assign dialog opened by dropping a card on a technician.
        "dropped_technician": _("Dropped on %(name)s: check and confirm.", name="{name}"),
        # TRANSLATORS: a card dropped on a bay that is full or out of service.
        "dropped_unavailable": _(
            "Bay %(bay)s cannot take this car now: choose another bay.", bay="{bay}"
        ),
        "kinds": bay_kind_labels(),
        # TRANSLATORS: a bay with the cars standing on it (zh: 已占用：#3 粤B12345).
        "taken": _("Taken: %(cars)s", cars="{cars}"),
        # TRANSLATORS: a bay that takes several cars (a wash bay, a parking lane).
        # Plural forms for one and for more; the page picks by the count.
        "places_free": {
            form: ngettext(
                "%(free)s of %(capacity)s place free",
                "%(free)s of %(capacity)s places free",
                number,
                free="{free}",
                capacity="{capacity}",
            )
            for form, number in (("one", 1), ("other", 2))
        },
        # TRANSLATORS: in the assign dialog, the bay the car is on now.
        "this_car_here": _("This car is here"),
        "qualifications": {
            "team_lead": _("Team lead"),
            "qc_inspector": _("QC inspector"),
            "group": _("Dealer group"),
            # Skills: the work a technician is trained for (the bay kinds' words).
            "ev": _("EV / high voltage"),
            "paint": _("Body and paint work"),
            "alignment": _("Wheel alignment"),
        },
        # TRANSLATORS: a technician with no qualification (no inspection, no skill).
        "no_qualification": _("Technician"),
        # TRANSLATORS: a technician's load: jobs dispatched to them not yet
        # through repair, and the standard hours those have left.
        "load": {
            form: ngettext(
                "%(count)s job, %(hours)s h left",
                "%(count)s jobs, %(hours)s h left",
                number,
                count="{count}",
                hours="{hours}",
            )
            for form, number in (("one", 1), ("other", 2))
        },
        "no_load": _("No jobs"),
        # TRANSLATORS: plan vs actual, one car (zh: 计划 2.0 小时 · 实际 1.5 小时).
        "plan_figures": _(
            "Planned %(planned)s h · clocked %(clocked)s h",
            planned="{planned}",
            clocked="{clocked}",
        ),
        # TRANSLATORS: plan vs actual, one bay (zh: B01 · 计划 2.0 小时 · 实际 1.5 小时).
        "plan_bay": _(
            "%(bay)s · planned %(planned)s h · clocked %(clocked)s h",
            bay="{bay}",
            planned="{planned}",
            clocked="{clocked}",
        ),
        # TRANSLATORS: a car whose clocked hours passed its planned hours.
        "over_plan": _("Over plan"),
        "no_locked": _("No badge is locked."),
        "choose_bay": _("Bay"),
        "choose_technicians": _("Technicians"),
        "working": _("Working"),
        "idle": _("Idle"),
        "paused": _("Paused"),
        "vip": _("VIP"),
        "waiting_customer": _("Customer waiting"),
        "free": _("Free"),
        "stale_version": _("Someone changed this order first: %(detail)s", detail="{detail}"),
        "refused": _("Refused: %(detail)s", detail="{detail}"),
        "bay_occupied": _(
            "Bay %(bay)s is taken by #%(number)s %(plate)s.",
            bay="{bay}",
            number="{number}",
            plate="{plate}",
        ),
        "bay_full": _(
            "Bay %(bay)s is full (%(capacity)s cars: %(cars)s).",
            bay="{bay}",
            capacity="{capacity}",
            cars="{cars}",
        ),
        "now_state": _(
            "Now: %(stage)s, bay %(bay)s, %(technicians)s",
            stage="{stage}",
            bay="{bay}",
            technicians="{technicians}",
        ),
        "unlock": _("Unlock"),
        "planned": _("Planned"),
        "clocked": _("Clocked"),
        "no_exceptions": _("No exceptions today."),
        "shift_end": _("Clock left running at shift end"),
        "overrun": _("Over 2x standard hours"),
        "queue_empty": _("Nothing waiting for dispatch."),
        # TRANSLATORS: one line per thing a paused job waits for (zh: 等配件：刹车片).
        "waiting_parts": _("Waiting for parts: %(what)s", what="{what}"),
        # TRANSLATORS: the expected arrival, in the shop's time (zh: 等配件：刹车片，预计 15:30).
        "waiting_parts_eta": _(
            "Waiting for parts: %(what)s, expected %(time)s", what="{what}", time="{time}"
        ),
        "waiting_approval": _("Waiting for customer approval: %(what)s", what="{what}"),
        "waiting_other": _("Other: %(note)s", note="{note}"),
        "part_status": {
            "requested": _("Requested"),
            "ordered": _("Ordered"),
            "arrived": _("Arrived"),
        },
        # TRANSLATORS: the panel of open parts requests across orders (zh: 配件申请).
        "parts_empty": _("No parts waiting."),
        # TRANSLATORS: a button: the parts counter has ordered this part (asks the arrival time).
        "mark_ordered": _("Ordered…"),
        # TRANSLATORS: a button: move the expected arrival of a part already ordered.
        "change_eta": _("Change expected arrival"),
        # TRANSLATORS: a button: the part is here (zh: 已到货).
        "mark_arrived": _("Arrived"),
        "expected": _("Expected %(time)s", time="{time}"),
        "requested_by": _("Requested %(time)s", time="{time}"),
        # TRANSLATORS: a technician's labour clock on this order (zh: 计时中).
        "clock_here": _("%(name)s: clock running", name="{name}"),
        "clock_off": _("%(name)s: clock not running", name="{name}"),
        "clock_elsewhere": _("%(name)s: clock running on another job", name="{name}"),
        # TRANSLATORS: a button: the foreman starts that technician's clock (zh: 为…开始计时).
        "start_clock_for": _("Start clock for %(name)s", name="{name}"),
        "hours": _("h"),
        "minutes": _("min"),
        "stages": stage_labels(),
        "pause": pause_labels(),
        **_tomorrow_strings(),
    }


def _tomorrow_strings() -> dict[str, object]:
    """Tomorrow's booked load per kind of bay (appointments, issue 18)."""
    return {
        # TRANSLATORS: the foreman's panel: tomorrow's date (明天 11/30 的预约).
        "tomorrow_day": _("Tomorrow, %(day)s", day="{day}"),
        "tomorrow_closed": _("The shop is closed tomorrow."),
        "tomorrow_none": _("No bay hours tomorrow."),
        "tomorrow_unknown": _("Tomorrow's bookings could not be read."),
        # TRANSLATORS: one kind of bay tomorrow: hours booked by appointments,
        # hours held by work already in the shop, hours still free
        # (综合维修：已预约 6.5 小时 · 在修占用 2.0 小时 · 空闲 12.0 小时).
        "tomorrow_kind": _(
            "%(kind)s: %(booked)s h booked · %(held)s h held by work in the shop · %(free)s h free",
            kind="{kind}",
            booked="{booked}",
            held="{held}",
            free="{free}",
        ),
        # TRANSLATORS: how full a kind of bay is tomorrow, said in words next to its bar.
        "tomorrow_load": {
            "free": pgettext("day load", "Plenty of room"),
            "filling": pgettext("day load", "Filling up"),
            "full": pgettext("day load", "Fully booked"),
        },
    }


@blueprint.get("/kiosk")
def kiosk() -> ResponseReturnValue:
    return render_template(
        "kiosk/kiosk.html",
        strings=kiosk_strings(),
        device_kind="kiosk",
        pin_min=staff_admin.PIN_MIN,
        pin_max=staff_admin.PIN_MAX,
    )


def _foreman() -> Principal | None:
    principal = principal_from_session(core(), session)
    if principal is None or not may(principal, Command.DISPATCH):
        return None
    return principal


@blueprint.get("/foreman")
def foreman() -> ResponseReturnValue:
    principal = _foreman()
    if principal is None:
        return redirect("/login?next=/foreman")
    return render_template(
        "kiosk/foreman.html",
        strings=foreman_strings(),
        csrf_token=generate_csrf(),
        foreman_name=principal.name,
        shop_timezone=queries.shop_timezone(core(), principal.shop_id),
    )


# ------------------------------------------------------------------ kiosk API


def _signed_in(signed_in: kiosk_login.KioskLogin) -> ResponseReturnValue:
    """A kiosk credential as the tablet keeps it; ``must_change_pin`` says it
    opens only the choice of a new PIN."""
    return jsonify(
        {
            "token": signed_in.token,
            "user": {
                "id": signed_in.user_id,
                "name": signed_in.name,
                "qualifications": list(signed_in.qualifications),
            },
            "expires_in": signed_in.expires_in,
            "must_change_pin": signed_in.must_change_pin,
        }
    )


@blueprint.post("/kiosk/api/login")
@csrf.exempt
@badge_budget
@device_budget
def kiosk_login_view() -> ResponseReturnValue:
    device = _kiosk_device()
    body = json_body()
    badge, pin = body.string("badge", required=True), body.string("pin", required=True)
    body.finish()
    return _signed_in(kiosk_login.login(core(), device, badge, pin))


@blueprint.post("/kiosk/api/pin")
@csrf.exempt
@badge_budget
@device_budget
def kiosk_change_pin() -> ResponseReturnValue:
    """The technician of a credential whose PIN an admin set chooses their
    own: body {pin, repeat}; 200 with a fresh credential (the old one and
    every other kiosk session of theirs end), 422 naming ``pin`` or
    ``repeat``, 423 on a locked badge, 401 when signed out, 409
    ``pin_change_not_required`` for a PIN that is theirs already. The
    sign-in's per-badge and per-kiosk budgets count its refusals."""
    token = required_bearer_token()
    body = json_body()
    pin, repeat = body.string("pin", required=True), body.string("repeat", required=True)
    body.finish()
    return _signed_in(kiosk_login.change_pin(core(), token, pin, repeat))


@blueprint.post("/kiosk/api/logout")
@csrf.exempt
def kiosk_logout() -> ResponseReturnValue:
    # The kiosk's socket is cut by the hub's credential check, which the
    # sign-out wakes; the technician's other sessions (a desk) stay.
    kiosk_login.logout(core(), required_bearer_token())
    return jsonify({"signed_out": True})


@blueprint.get("/kiosk/api/me")
def kiosk_me() -> ResponseReturnValue:
    """The signed-in technician's jobs (biggest first), the checks they may
    sign, their running clock, and what they may tap on each."""
    principal = _technician()
    work = queries.technician_work(core(), principal)
    relaxed = orders.checks_by_one_person_allowed(core(), principal.shop_id)
    return jsonify(
        {
            "user": {
                "id": principal.user_id,
                "name": principal.name,
                "qualifications": list(principal.qualifications),
            },
            **work,
            "checks": _signed_checks(principal, work["checks"], relaxed),
            "checks_by_one_person_allowed": relaxed,
            # The shop's zone: every time on the cards is the shop's, from
            # the first read on (the socket's snapshot says it too, later).
            "timezone": queries.shop_timezone(core(), principal.shop_id),
            "now": core().now().isoformat(),
        }
    )


def _signed_checks(
    principal: Principal, checks: list[dict[str, Any]], relaxed: bool
) -> list[dict[str, Any]]:
    """Each check with the levels already passed and by whom (``signatures``),
    whether this technician passed one of them (``signed_earlier``: then
    only a fail is offered, unless the shop lets one person sign more)."""
    signed = orders.check_signatures(core(), [check["id"] for check in checks])
    shown = []
    for check in checks:
        signatures = signed.get(check["id"], [])
        mine = policy.signed_earlier(
            principal.user_id, {s.person for s in signatures if s.person is not None}
        )
        actions = policy.check_actions(
            principal,
            stage=check["stage"],
            level=check.get("check_level"),
            signed_before=mine,
            one_person_allowed=relaxed,
        )
        shown.append(
            {
                **check,
                "allowed_actions": [a.value for a in actions],
                "signatures": [
                    {"level": s.level, "name": s.name, "by_one_person": s.by_one_person}
                    for s in signatures
                ],
                "signed_earlier": mine and not relaxed,
            }
        )
    return shown


def _transition(
    principal: Principal, order_id: int, body: Body, to: Stage, pause: PauseReason | None = None
) -> Outcome:
    version = body.required_integer("version")
    reason = body.string("reason", multiline=True)
    return orders.transition_order(
        core(),
        command_request(principal, body),
        order_id,
        to=to,
        version=version,
        reason=reason,
        pause_reason=pause,
    )


def _pause_reason(body: Body) -> PauseReason:
    try:
        return PauseReason(body.string("pause_reason", required=True))
    except ValueError:
        raise errors.ValidationFailed(
            "pause_reason", "pause_reason is parts, approval or other."
        ) from None


@blueprint.post("/kiosk/api/orders/<int:order_id>/<action>")
@csrf.exempt
def kiosk_tap(order_id: int, action: str) -> ResponseReturnValue:
    """One tap of the kiosk: each action is one order command. Each reads
    its fields before asking for the command, which refuses any other."""
    principal = _technician()
    body = json_body()
    if action in ("start", "resume"):
        outcome = _transition(principal, order_id, body, Stage.IN_PROGRESS)
    elif action == "pause":
        outcome = _transition(principal, order_id, body, Stage.PAUSED, _pause_reason(body))
    elif action == "parts":
        # What is needed (the tablet's "reason" field from before, too).
        description = body.string("description") or body.string("reason")
        version = body.integer("version")
        outcome = orders.request_parts(
            core(),
            command_request(principal, body),
            order_id,
            description=description,
            eta=None,
            version=version,
        )
    elif action == "clear-reason":
        key = body.string("key", required=True)
        version = body.integer("version")
        outcome = orders.clear_pause_reason(
            core(), command_request(principal, body), order_id, key=key, version=version
        )
    elif action == "finish":
        outcome = _transition(principal, order_id, body, Stage.QUALITY_CHECK)
    elif action == "fail":
        outcome = _transition(principal, order_id, body, Stage.IN_PROGRESS)
    elif action == "pass":
        version = body.required_integer("version")
        outcome = orders.pass_check(
            core(), command_request(principal, body), order_id, version=version
        )
    elif action == "extra-work":
        hours = body.number("labour_hours", required=True)
        description = body.string("description", required=True, multiline=True)
        price_cents = body.required_integer("price_cents")
        version = body.required_integer("version")
        outcome = orders.quote_extra_work(
            core(),
            command_request(principal, body),
            order_id,
            QuoteTerms(description, hours if hours is not None else 0.0, price_cents),
            version=version,
        )
    elif action == "clock-on":
        # Every tap carries the order version the tablet saw; joining a job
        # changes nothing that version guards, so it is accepted, not checked.
        body.integer("version")
        outcome = labour.clock_on(core(), command_request(principal, body), order_id)
    else:
        raise errors.NotFound(f"No kiosk action {action!r}.")
    return reply(outcome)


# ------------------------------------------------------------------ foreman API


def _require_foreman() -> Principal:
    principal = _foreman()
    if principal is None:
        raise Unauthorized("Sign in as foreman at /login.")
    return principal


@blueprint.get("/foreman/api/overview")
def foreman_overview() -> ResponseReturnValue:
    """Everything the console draws, in one read: bays, queue, technicians'
    state, plan vs actual, exceptions, locked badges. It writes nothing: a
    clock left running past the shift end is listed as an exception, and
    closed only by the close-shift command."""
    principal = _require_foreman()
    return jsonify(queries.foreman_overview(core(), principal.shop_id))


@blueprint.post("/foreman/api/close-shift")
def foreman_close_shift() -> ResponseReturnValue:
    """Close the clocks left running past the last shift end, each at that
    end (CSRF-checked like every cookie mutation); 200 {closed, shift_end}."""
    principal = _require_foreman()
    return reply(labour.end_shift(core(), command_request(principal, json_body())))


@blueprint.post("/foreman/api/orders/<int:order_id>/clock-on")
def foreman_clock_on(order_id: int) -> ResponseReturnValue:
    """Start an assigned technician's clock on an order in progress: the
    foreman's explicit act (recorded as started by the foreman), never a side
    effect of a stage change. Body {technician_id}; CSRF-checked like every
    cookie mutation; 200 {order, clock}, 409 clock_conflict/clock_not_allowed."""
    principal = _require_foreman()
    body = json_body()
    technician_id = body.required_integer("technician_id")
    return reply(labour.clock_on(core(), command_request(principal, body), order_id, technician_id))


@blueprint.post("/foreman/api/badges/<badge>/unlock")
def foreman_unlock(badge: str) -> ResponseReturnValue:
    """CSRF-checked by CSRFProtect (X-CSRFToken header), like every cookie mutation."""
    principal = _require_foreman()
    check_text("badge", badge)
    unlocked = kiosk_login.unlock_badge(core(), principal.shop_id, badge, principal.name)
    if not unlocked:
        raise errors.NotFound(f"Badge {badge} is not locked.")
    return jsonify({"badge": badge, "unlocked": True})
