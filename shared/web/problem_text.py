"""What a refusal says, in the reader's language (docs/API.md, docs/I18N.md).

A problem+json answer (REST v1, the screens' own JSON endpoints under
``/kiosk/api/``, ``/desk/api/``, ``/foreman/api/``, the customer page's)
keeps ``type``, ``code`` and field names in English; its ``title`` and
``detail`` are said in the request's language (``shared/web/i18n.py``).

- ``title``: one per code (``TITLES``).
- ``detail``: the domain raises English sentences and never translates
  (``shared/domain/errors.py``). Every sentence it can raise is a template
  in ``DETAILS``, marked for the catalogue; a ``Message`` names its
  template and parameters, a plain sentence is matched against the
  templates and its parameters are taken out of it. Parameters that are the
  code of a stage, an inspection level, a quote's or part's status, a
  decision's channel or a screen's kind are said in words; a field a
  sentence names is said by its label (``field_labels``: "pause_reason is
  required." reads 暂停原因 为必填项。 or "Pause reason is required."),
  while the answer's machine members (``code``, ``field``) stay English;
  ids and other codes stay as they are. A sentence already in the
  reader's language (a service that translated it) matches nothing and is
  kept.
- HTTP refusals (werkzeug, Flask-Limiter): the title by code, and a short
  detail by status in place of werkzeug's stock description.

tests/test_problem_language.py holds every code the app can answer with,
every English sentence the code builds an error from and every request
field a refusal can name (read off the parsing and validation code and the
OpenAPI document) to these tables: a new error class, sentence or field
without an entry fails there.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache

from flask import has_request_context
from flask_babel import gettext, pgettext

from shared.domain.errors import DomainError
from shared.web.labels import check_level_labels, default_stage_labels


def N_(text: str) -> str:
    """Text for the catalogue, translated where it is shown."""
    return text


TITLES: dict[str, str] = {
    "same_person_checks": N_("One person, one check level"),
    "capacity_full": N_("No room at that time"),
    "code_invalid": N_("Wrong code"),
    "domain_error": N_("Refused"),
    "illegal_transition": N_("Illegal transition"),
    "stale_version": N_("Stale version"),
    "validation_error": N_("Validation error"),
    "not_found": N_("Not found"),
    "forbidden": N_("Forbidden"),
    "unauthorized": N_("Not signed in"),
    "idempotency_key_reuse": N_("Idempotency-Key reused"),
    "approval_pending": N_("Waiting for the customer's approval"),
    "checks_pending": N_("Inspections pending"),
    "already_decided": N_("Already decided"),
    "already_submitted": N_("Already submitted"),
    "bay_occupied": N_("Bay occupied"),
    "bay_out_of_service": N_("Bay out of service"),
    "bay_exists": N_("Bay exists already"),
    "parts_pending": N_("Waiting for parts"),
    "quote_expired": N_("Quote expired"),
    "quote_locked": N_("Quote already decided"),
    "signature_not_allowed": N_("No in-person approval to sign"),
    "signature_locked": N_("Signature locked"),
    "clock_conflict": N_("Clock running elsewhere"),
    "clock_not_allowed": N_("No clock here"),
    "pin_change_required": N_("Choose your own PIN first"),
    "pin_change_not_required": N_("The PIN is already your own"),
    "wrong_pin": N_("Wrong badge or PIN"),
    "badge_locked": N_("Badge locked"),
    "order_active": N_("The car is still in the shop"),
    "setup_link_gone": N_("Set-up link no longer valid"),
    "no_working_time": N_("No working time"),
    "payload_too_large": N_("Too large"),
    "rate_limited": N_("Too many requests"),
    "slow_down": N_("Polling too fast"),
    "bad_request": N_("Bad request"),
    "method_not_allowed": N_("Method not allowed"),
    "unsupported_media_type": N_("Unsupported media type"),
    "http_error": N_("Request refused"),
    "already_flagged": N_("Marked a comeback already"),
    "not_flagged": N_("Not marked a comeback"),
}

HTTP_DETAILS: dict[int, str] = {
    400: N_("The request could not be understood."),
    401: N_("Sign in first."),
    403: N_("You may not do this."),
    404: N_("There is nothing at this address."),
    405: N_("This address does not take this method."),
    408: N_("The request took too long to arrive."),
    413: N_("The request is too large."),
    415: N_("This content type is not accepted here."),
    429: N_("Too many requests; wait a moment and try again."),
    500: N_("Something went wrong on the server."),
    503: N_("The server is busy; try again shortly."),
}

DETAILS: tuple[str, ...] = (
    N_("You signed an earlier check of this order: another person signs the %(level)s check."),
    N_("%(field)s is required."),
    N_("%(field)s must be a string."),
    N_("%(field)s must be an integer."),
    N_("%(field)s must be a number."),
    N_("%(field)s is out of range."),
    N_("%(field)s must be true or false."),
    N_("%(field)s is true or false."),
    N_("%(field)s must be an object."),
    N_("%(field)s must be a list."),
    N_("%(field)s must be a list of ids."),
    N_("%(field)s must be a list of strings."),
    N_("%(field)s is not an e-mail address."),
    N_("%(field)s maps a kind of message to true or false."),
    N_("%(field)s needs start and end as HH:MM."),
    N_("SMS needs the customer's phone."),
    N_("The shop is closed that day."),
    N_("That time is too soon to book."),
    N_("That day is further ahead than the shop books."),
    N_("That time is not the start of a reception slot."),
    N_("That reception slot is full."),
    N_("The shop has no hours left that day for this work."),
    N_("No appointment %(id)s in this shop."),
    N_(
        "The appointment changed (version %(current)s, you sent %(sent)s). Here is the "
        "current state."
    ),
    N_("The appointment is checked in already."),
    N_("The appointment is cancelled already."),
    N_("The appointment is a no-show already."),
    N_("The appointment has not begun yet."),
    N_("The appointment has begun; call the shop."),
    N_("This shop takes changes by phone only."),
    N_("This shop does not take bookings online."),
    N_("Too many codes were sent to this phone. Try again later."),
    N_("The code is wrong or has expired."),
    N_("At most %(limit)s work items."),
    N_("%(field)s is not a kind of bay."),
    N_("%(field)s must be desk or api."),
    N_("%(field)s is not a phone number."),
    N_("%(field)s must be from %(low)s to %(high)s."),
    N_("At most %(limit)s leave days."),
    N_("%(field)s is a list of dates like 2026-05-01."),
    N_("Leave days cannot lie in the past."),
    N_("Leave days lie at most two years ahead."),
    N_("%(field)s is not a day this shop takes bookings for."),
    N_("%(field)s names work this shop does not offer online."),
    N_("Choose the work to book (%(field)s)."),
    N_("This shop takes no bookings online."),
    N_("A message template has a brace without its pair."),
    N_(
        "A message template may only use the placeholders %(allowed)s; "
        "{%(name)s} is not one of them."
    ),
    N_("The %(kind)s template in %(locale)s must be text."),
    N_("A message template may be at most %(max)s characters long."),
    N_("%(field)s maps a kind of message to its texts per language."),
    N_("%(kind)s is not a kind of message."),
    N_(
        "A message template's language must be Simplified Chinese, Traditional Chinese or "
        "English, not %(locale)s."
    ),
    N_("This order's customer data has been erased."),
    N_("The customer asked for no more messages on this order."),
    N_("The customer agreed to no channel they can be reached on."),
    N_("The customer did not agree to messages by %(channel)s, or has no address for it."),
    N_("This shop does not send WeChat messages."),
    N_("WeChat did not confirm who you are. Please try again."),
    N_("%(field)s is not a WeChat openid."),
    N_("%(field)s may only name the channels sms, wechat and email."),
    N_("%(field)s must be Simplified Chinese, Traditional Chinese or English."),
    N_("E-mail needs the customer's address."),
    N_("%(field)s is not a field of this request."),
    N_("%(field)s is not ISO 8601."),
    N_("%(field)s needs a UTC offset."),
    N_("%(field)s must lie within %(days)s days (five years) of now (%(now)s)."),
    N_("%(field)s is a date like 2026-05-01."),
    N_("%(field)s contains a lone surrogate (\\uD800–\\uDFFF): not Unicode text."),
    N_("Send a JSON object with Content-Type: application/json."),
    N_("The body is not valid JSON."),
    N_("The body is nested too deeply."),
    N_("The body must be a JSON object."),
    N_("%(field)s must be a whole number from %(low)s to %(high)s."),
    N_("%(field)s must be a whole number from 1."),
    N_("%(field)s must be base64 (RFC 4648)."),
    N_("Unknown stage %(value)s."),
    N_("This link is not valid (any more)."),
    N_("Send the picture in the multipart field 'photo'."),
    N_(
        "Send the picture as the body (%(types)s), as the multipart field 'photo', or as "
        'JSON {"photo": base64}.'
    ),
    N_('Send the signature as the body (image/png) or as JSON {"image": base64}.'),
    N_("Only an unlock (false) can be asked for."),
    N_("%(field)s is json or csv."),
    N_("%(field)s is order or admin."),
    N_("%(field)s must be from 1 to %(high)s."),
    N_("%(field)s must be one of %(choices)s."),
    N_("%(field)s must be one of %(choices)s"),
    N_("%(field)s contains a lone surrogate (U+%(code)s) at position %(position)s."),
    N_(
        "%(field)s contains a bidirectional control character (U+%(code)s) at position "
        "%(position)s."
    ),
    N_("%(field)s contains a line or paragraph separator (U+%(code)s) at position %(position)s."),
    N_("%(field)s contains a control character (U+%(code)s) at position %(position)s."),
    N_("%(field)s contains a noncharacter (U+%(code)s) at position %(position)s."),
    N_("Use 'Authorization: Bearer <token>'."),
    N_("The token is unknown or revoked."),
    N_("Sign in, or send a bearer token."),
    N_("The role %(role)s may not do this."),
    N_("CSRF check failed: %(reason)s"),
    N_("The CSRF token is missing."),
    N_("The CSRF session token is missing."),
    N_("The CSRF token has expired."),
    N_("The CSRF token is invalid."),
    N_("The CSRF tokens do not match."),
    N_("Cross-origin request refused."),
    N_("Sign in as admin or manager at /login."),
    N_("Sign in as foreman at /login."),
    N_("Sign in as a group manager at /login."),
    N_("The group's pages are for people signed in, not tokens."),
    N_("User %(user)s has no wrong passwords to forget."),
    N_("Too many wrong passwords; wait before trying again."),
    N_("Too many wrong passwords for this name."),
    N_("Sign in first."),
    N_("Sign in again."),
    N_("A password has %(low)s to %(high)s characters."),
    N_("Choose a password other than the one you were given."),
    N_("This is not a paired kiosk (or it was revoked)."),
    N_("Choose your own PIN first (POST /kiosk/api/pin): an admin set this one."),
    N_("Signed out (idle for 3 minutes, or logged out). Sign in again."),
    N_("Only a paired kiosk signs technicians in."),
    N_("Wrong badge or PIN."),
    N_("This badge is locked after too many wrong PINs; ask the foreman."),
    N_("Signed out. Sign in again."),
    N_("This PIN is your own already."),
    N_("The two PINs differ."),
    N_("Choose a PIN other than the one you were given."),
    N_("No kiosk action %(action)s."),
    N_("Badge %(badge)s is not locked."),
    N_("%(field)s is parts, approval or other."),
    N_("The password is not UTF-8 text."),
    N_("No additional-work quote %(quote)s on this order."),
    N_("No parts request %(part)s on this order."),
    N_("%(field)s is longer than %(limit)s characters."),
    N_("%(field)s contains control characters."),
    N_("Assign a bay and a technician to dispatch."),
    N_("A pause needs a reason."),
    N_("Work waits for the customer's OK through a quote: quote the work."),
    N_("Waiting for the customer's decision on additional work."),
    N_("Waiting for parts to arrive."),
    N_("The %(level)s check has not passed yet."),
    N_("The customer did not ask for a wash."),
    N_("The customer asked for a wash; wash first."),
    N_("This move needs a reason."),
    N_("This order is not dispatched to you."),
    N_("Only reception may open an order."),
    N_("%(field)s must be normal or vip."),
    N_("At most 100 work items."),
    N_("0 to 200 hours."),
    N_("An order cannot go from %(from_stage)s to %(to_stage)s."),
    N_("Your role may not move an order to %(stage)s."),
    N_("Your role may not sign the %(level)s check."),
    N_("Your role may not clear a pause reason."),
    N_("The order does not wait for %(key)s."),
    N_("Parts clear when they arrive, approvals when the customer decides."),
    N_("There is no inspection waiting on this order."),
    N_("Only the foreman dispatches work."),
    N_("An order in %(stage)s cannot be (re)assigned."),
    N_("Assign at least one technician."),
    N_("A technician is listed twice."),
    N_("Only the customer, or an advisor on the follow-up call, rates."),
    N_("The survey opens once the car is delivered."),
    N_("This service was rated already; thank you."),
    N_("%(field)s is a whole number from 1 to 5."),
    N_("Only the service advisor or a manager changes the promise."),
    N_("The promise can change only while the car is in the shop and not yet ready."),
    N_("A new promised time must be in the future."),
    N_("That is already the promised time."),
    N_("Unknown verdict %(risk)s / cause %(cause)s."),
    N_("The plate is required."),
    N_("The plate contains invisible formatting characters."),
    N_(
        "Not a plate: use a province character (optional), 4–8 letters or digits, and an "
        "optional suffix such as 挂 or 学."
    ),
    N_("Your role may not quote additional work."),
    N_("%(field)s must be over 0 and at most 200."),
    N_("This quote has expired; the advisor will send a new one."),
    N_("This quote was already %(quote_status)s; a change needs a new quote."),
    N_("Additional work is quoted while the car is in repair."),
    N_("The quote changed; read it again before revising."),
    N_("Only the customer or the advisor records a decision."),
    N_("The quote changed; read it again before deciding."),
    N_("The order is closed."),
    N_("Quotes expire by the shop's clock only."),
    N_("No quote of this order is due to expire."),
    N_("Your role may not request parts."),
    N_("Parts are requested while the car is in repair."),
    N_("Parts are handled at the desk or by the foreman."),
    N_("%(field)s is ordered or arrived."),
    N_("A parts request that is %(part_status)s cannot become %(new_part_status)s."),
    N_("This order is not dispatched to you; no clock can run on it."),
    N_("The order is %(stage)s; the clock runs only while in progress."),
    N_("Your clock is running on order %(order)s; pause or finish it first."),
    N_("Only the foreman starts another's clock."),
    N_("Only a signed-in technician clocks on."),
    N_("Bay %(bay)s is taken by #%(number)s %(plate)s."),
    N_("Bay %(bay)s is full: it takes %(capacity)s cars and has %(count)s."),
    N_("No active bay %(bay)s in this shop."),
    N_("Bay %(bay)s is out of service: %(reason)s"),
    N_("Not technicians of this shop: %(ids)s"),
    N_("%(field)s must be a number of minutes >= 0."),
    N_("%(field)s must be between %(low)s and %(high)s."),
    N_("Two %(field)s share one id."),
    N_("No technician can take work."),
    N_("%(field)s is 0 to 200."),
    N_("No working time in the %(days)s days after this moment."),
    N_("No working time in %(days)s days in a row."),
    N_("%(field)s must be a zone name like Asia/Shanghai."),
    N_("Unknown time zone %(zone)s."),
    N_("Give the time as HH:MM (24-hour clock)."),
    N_("%(setting)s needs %(first)s and %(second)s times."),
    N_("%(setting)s: %(second)s equals %(first)s."),
    N_("%(field)s needs 7 entries, Monday to Sunday."),
    N_("The shop must open on at least one day of the week."),
    N_("%(field)s must be a list of {start, end} (at most 10)."),
    N_("A break cannot run across midnight."),
    N_("A break must end after it starts."),
    N_("%(setting)s must be a list of YYYY-MM-DD dates."),
    N_("%(setting)s: at most %(count)s dates."),
    N_("%(setting)s: %(item)s is not a YYYY-MM-DD date."),
    N_("%(setting)s: %(item)s is not a real date."),
    N_("Shop settings must be an object."),
    N_("Only an admin may make an admin token."),
    N_("A token needs a name."),
    N_("No token %(token)s in this shop."),
    N_("No token %(token)s."),
    N_("%(field)s is the next_before of the previous page."),
    N_("%(field)s is user:<id>, token:<id>, customer:<id>, system:<name>, customer or system."),
    N_("%(kind)s:<id> takes a whole number."),
    N_("No %(kind)s %(ref)s in this shop."),
    N_("No order %(order)s in this shop."),
    N_("No order %(order)s."),
    N_("No shop %(shop)s."),
    N_("Idempotency-Key must be 1–255 printable ASCII characters."),
    N_("The order changed (version %(current)s, you sent %(sent)s). Here is the current state."),
    N_("This Idempotency-Key was used with a different request."),
    N_("Unknown pairing."),
    N_("Give the screen a name (where it hangs)."),
    N_("No screen is waiting with that code (or it expired)."),
    N_("That screen asked to be a %(asked_kind)s, not a %(given_kind)s."),
    N_("No device %(device)s."),
    N_("Polling too fast: wait %(seconds)s seconds between polls."),
    N_("This set-up link has expired."),
    N_("This installation is set up already."),
    N_("No such set-up link."),
    N_("Someone in this shop is called %(name)s."),
    N_("Someone in this shop is called %(name)s already."),
    N_("No shop %(slug)s."),
    N_("No staff member %(user)s."),
    N_("No staff member %(user)s in this shop."),
    N_("You cannot take back your own group membership."),
    N_("Only an active admin or manager joins the group."),
    N_("Only a group manager or group admin sees every shop."),
    N_("Only a group admin makes shops and group members."),
    N_("Do the final check (终检) before handing the car over."),
    N_("The next service is after today."),
    N_("The mileage is out of range."),
    N_("The next service mileage is above today's mileage."),
    N_("The photo is not a readable image (%(formats)s)."),
    N_("The photo is empty."),
    N_("The photo is over %(size)s MB."),
    N_("The photo has too many pixels."),
    N_("Quote %(quote)s has expired; its photo can no longer change."),
    N_("Quote %(quote)s was already %(quote_status)s; its photo can no longer change."),
    N_("Your role may not attach photos to quotes."),
    N_("No quote %(quote)s on order %(order)s."),
    N_("Quote %(quote)s of order %(order)s has no photo."),
    N_("Follow-up calls are for delivered orders."),
    N_("A user needs a name."),
    N_("A PIN is 4 to 8 digits."),
    N_("A PIN is %(low)s to %(high)s digits."),
    N_("Badge and PIN go together."),
    N_("A badge needs a number or name."),
    N_("A password has at least 8 characters."),
    N_("Unknown %(value)s."),
    N_("Only an admin or manager joins the group."),
    N_("Badge %(badge)s is taken."),
    N_("A bay needs a code."),
    N_("A bay holds at least one car."),
    N_("Bay %(bay)s exists already."),
    N_("The slug %(slug)s belongs to another shop already."),
    N_("A shop needs a slug (its name in links)."),
    N_("A slug has at most %(count)s characters."),
    N_(
        "%(slug)s is no slug: use lowercase letters a-z, digits and hyphens between them "
        "(e.g. south-2)."
    ),
    N_("The signature is not a readable PNG image."),
    N_("The signature is empty."),
    N_("The signature is over %(size)s KB."),
    N_("The signature has too many pixels."),
    N_("The signature is blank."),
    N_(
        "Quote %(quote)s was not approved in person (status %(quote_status)s, channel "
        "%(channel)s); only an in-person approval is signed."
    ),
    N_("The order is %(stage)s; its signatures can no longer change."),
    N_("Only the staff who record the customer's decision take their signature."),
    N_("Quote %(quote)s of order %(order)s has no signature."),
    N_("%(field)s has at most %(count)s characters."),
    N_("%(field)s are %(choices)s; not %(value)s."),
    N_("A qualification is listed twice."),
    N_("Only an admin or a manager administers staff."),
    N_("Only an admin grants the admin role or changes an admin's account."),
    N_("Only a group admin changes a dealer group member's account."),
    N_("A technician needs a badge and a PIN."),
    N_("A %(role)s needs a password."),
    N_("Someone changed this staff member first. Here is the current state."),
    N_("You cannot deactivate yourself or change your own role."),
    N_("The shop's last active admin stays one."),
    N_("Wrong name or password."),
    N_("No complaint %(complaint)s in this shop."),
    N_(
        "The complaint changed (version %(current)s, you sent %(sent)s). Here is the current state."
    ),
    N_("The complaint is resolved already."),
    N_("Only a car that was checked in can be a comeback."),
    N_("A visit cannot be a comeback of itself."),
    N_("Order %(number)s was another car (%(plate)s)."),
    N_("Order %(number)s was not delivered."),
    N_("Order %(number)s was delivered after this car came in."),
    N_(
        "Order %(number)s was delivered %(days)s days before this visit; a comeback is "
        "within %(limit)s days."
    ),
    N_("This visit is marked a comeback of order %(number)s already."),
    N_("This visit is not marked a comeback."),
    N_("The range ends before it starts."),
    N_("A range is at most %(days)s days."),
    N_("A report's days lie from %(low)s to %(high)s."),
    # The reports' query (shared/web/report_params.py): its days and grouping
    # said in so many words, the labels of ``to`` and ``group`` being a
    # move's new stage and the dealer group.
    N_("The report's first day is required."),
    N_("The report's last day is required."),
    N_("The report's first day is a date like 2026-05-01."),
    N_("The report's last day is a date like 2026-05-01."),
    N_("The grouping must be one of %(choices)s."),
    N_("The reports page is for people signed in, not tokens."),
    N_("The advisors' figures are the service manager's."),
    N_("That list is the service manager's."),
)


# Flask-Limiter's description of the limit a 429 broke: "600 per 1 minute".
_LIMIT = re.compile(r"(\d+) per (?:1 )?(second|minute|hour|day)s?")


def _limit_texts() -> dict[str, str]:
    return {
        "second": N_("At most %(count)s requests a second; wait a moment and try again."),
        "minute": N_("At most %(count)s requests a minute; wait a moment and try again."),
        "hour": N_("At most %(count)s requests an hour; try again later."),
        "day": N_("At most %(count)s requests a day; try again tomorrow."),
    }


def _quote_statuses() -> dict[str, str]:
    return {
        "pending": pgettext("quote status", "pending"),
        "approved": pgettext("quote status", "approved"),
        "declined": pgettext("quote status", "declined"),
        "expired": pgettext("quote status", "expired"),
    }


def _part_statuses() -> dict[str, str]:
    return {
        "requested": pgettext("parts status", "requested"),
        "ordered": pgettext("parts status", "ordered"),
        "arrived": pgettext("parts status", "arrived"),
    }


def _channels() -> dict[str, str]:
    return {
        "customer_page": pgettext("decision channel", "customer page"),
        "phone": pgettext("decision channel", "phone"),
        "in_person": pgettext("decision channel", "in person"),
        "none": pgettext("decision channel", "none"),
    }


def _screen_kinds() -> dict[str, str]:
    return {
        "board": gettext("Workshop board"),
        "lounge": gettext("Waiting lounge"),
        "kiosk": gettext("Kiosk"),
    }


def field_labels() -> dict[str, str]:
    """Every request field a refusal can name (a JSON member, a query or
    path parameter, a form's field as the services name it), by its name
    or its dotted path, in the reader's words. English labels are written
    as inside a sentence; the first word of a sentence is capitalised."""
    # Literal calls, so that the catalogue holds each one.
    return {
        "active": pgettext("request field", "active"),
        "actor": pgettext("request field", "actor"),
        "address": pgettext("request field", "address"),
        "admin": pgettext("request field", "administrator"),
        "admin.name": pgettext("request field", "administrator's name"),
        "after": pgettext("request field", "after"),
        "after_repair_minutes": pgettext("request field", "minutes after the repair"),
        "approved": pgettext("request field", "decision"),
        "badge": pgettext("request field", "badge"),
        "bay": pgettext("request field", "bay"),
        "before": pgettext("request field", "before"),
        "body": pgettext("request field", "request body"),
        "booked": pgettext("request field", "booked"),
        "breaks": pgettext("request field", "breaks"),
        "cap_minutes": pgettext("request field", "cap in minutes"),
        "capacity": pgettext("request field", "cars at once"),
        "channel": pgettext("request field", "channel"),
        "checks_by_one_person_allowed": pgettext(
            "request field", "one person may sign several checks"
        ),
        "chime": pgettext("request field", "chime"),
        "close": pgettext("request field", "closing"),
        "closed_weekdays": pgettext("request field", "closed weekdays"),
        "code": pgettext("request field", "code"),
        "comment": pgettext("request field", "comment"),
        "comeback_days": pgettext("request field", "days a comeback is counted within"),
        "complaint": pgettext("request field", "customer's words"),
        "customer": pgettext("request field", "customer"),
        "customer.name": pgettext("request field", "customer's name"),
        "customer.phone": pgettext("request field", "customer's phone"),
        "email": pgettext("request field", "e-mail"),
        "appointment_id": pgettext("request field", "appointment"),
        "appointments": pgettext("request field", "appointment settings"),
        "bay_kind": pgettext("request field", "kind of bay"),
        "board_arrivals": pgettext("request field", "arrivals on the wall board"),
        "cars_per_advisor_per_slot": pgettext(
            "request field", "cars each advisor receives per 15 minutes"
        ),
        "date": pgettext("request field", "day"),
        "days_ahead": pgettext("request field", "bookable days ahead"),
        "grace_minutes": pgettext("request field", "grace period before a no-show"),
        "lead_minutes": pgettext("request field", "earliest booking ahead of its time"),
        "leave": pgettext("request field", "leave days"),
        "online_booking": pgettext("request field", "online booking"),
        "phone_verification": pgettext("request field", "phone verification"),
        "source": pgettext("request field", "source"),
        "walk_in_share": pgettext("request field", "share kept for walk-ins"),
        "work": pgettext("request field", "work"),
        "access_key_id": pgettext("request field", "Alibaba Cloud AccessKey ID"),
        "access_key_secret": pgettext("request field", "Alibaba Cloud AccessKey secret"),
        "app_id": pgettext("request field", "app ID"),
        "app_secret": pgettext("request field", "WeChat AppSecret"),
        "channels": pgettext("request field", "channels"),
        "mail_from": pgettext("request field", "e-mail sender"),
        "notify_providers": pgettext("request field", "message providers"),
        "openid": pgettext("request field", "WeChat user id"),
        "order_received": pgettext("request field", "order received message"),
        "promise_changed": pgettext("request field", "new promise message"),
        "provider": pgettext("request field", "SMS provider"),
        "quote_waiting": pgettext("request field", "additional work message"),
        "ready_for_pickup": pgettext("request field", "ready for pickup message"),
        "region": pgettext("request field", "region"),
        "secret_id": pgettext("request field", "Tencent Cloud SecretId"),
        "secret_key": pgettext("request field", "Tencent Cloud SecretKey"),
        "sign_name": pgettext("request field", "SMS signature"),
        "since": pgettext("request field", "since"),
        "sms": pgettext("request field", "SMS settings"),
        "smtp_url": pgettext("request field", "mail server"),
        "survey": pgettext("request field", "survey message"),
        "text": pgettext("request field", "message"),
        "wechat": pgettext("request field", "WeChat settings"),
        "language": pgettext("request field", "language"),
        "notify": pgettext("request field", "notifications"),
        "kinds": pgettext("request field", "messages sent"),
        "quiet_hours": pgettext("request field", "quiet hours"),
        "max_per_order_per_day": pgettext("request field", "messages per order per day"),
        "templates": pgettext("request field", "message templates"),
        "customer.email": pgettext("request field", "customer's e-mail"),
        "customer.notify": pgettext("request field", "channels the customer agreed to"),
        "customer.language": pgettext("request field", "customer's language"),
        "notify.kinds": pgettext("request field", "messages sent"),
        "notify.quiet_hours": pgettext("request field", "quiet hours"),
        "notify.max_per_order_per_day": pgettext("request field", "messages per order per day"),
        "notify.templates": pgettext("request field", "message templates"),
        "day": pgettext("request field", "day"),
        "description": pgettext("request field", "description"),
        "device_code": pgettext("request field", "device code"),
        "display_name": pgettext("request field", "name shown to customers"),
        "end": pgettext("request field", "end"),
        "estimates": pgettext("request field", "estimates"),
        "eta": pgettext("request field", "expected arrival"),
        "final_check_done": pgettext("request field", "final check done"),
        "format": pgettext("request field", "format"),
        "from": pgettext("request field", "first day"),
        "group": pgettext("request field", "dealer group"),
        "holidays": pgettext("request field", "extra days off"),
        "hotline": pgettext("request field", "service hotline"),
        "image": pgettext("request field", "signature image"),
        "in_service": pgettext("request field", "in service"),
        "items": pgettext("request field", "work items"),
        "key": pgettext("request field", "reason key"),
        "kind": pgettext("request field", "kind"),
        "labour_factor": pgettext("request field", "labour factor"),
        "job_factor": pgettext("request field", "job factor"),
        "labour_hours": pgettext("request field", "labour hours"),
        "labour_minutes": pgettext("request field", "labour minutes"),
        "languages": pgettext("request field", "languages"),
        "limit": pgettext("request field", "limit"),
        "locked": pgettext("request field", "locked"),
        "lounge": pgettext("request field", "lounge TV"),
        "lounge_outlook_minutes": pgettext("request field", "lounge outlook minutes"),
        "mileage": pgettext("request field", "mileage"),
        "model": pgettext("request field", "model"),
        "name": pgettext("request field", "name"),
        "next_service_date": pgettext("request field", "next service date"),
        "next_service_mileage": pgettext("request field", "next service mileage"),
        "note": pgettext("request field", "note"),
        "of_order_id": pgettext("request field", "earlier visit"),
        "offset": pgettext("request field", "rows to skip"),
        "old_parts_shown": pgettext("request field", "old parts shown"),
        "only": pgettext("request field", "orders behind the figure"),
        "open": pgettext("request field", "opening"),
        "opening_hours": pgettext("request field", "opening hours"),
        "opening_hours.close": pgettext("request field", "closing time"),
        "opening_hours.open": pgettext("request field", "opening time"),
        "order_id": pgettext("request field", "order id"),
        "orders": pgettext("request field", "orders"),
        "outcome": pgettext("request field", "outcome"),
        "owner_id": pgettext("request field", "owner"),
        "part_id": pgettext("request field", "parts request id"),
        "password": pgettext("request field", "password"),
        "password_repeat": pgettext("request field", "password again"),
        "pause_reason": pgettext("request field", "pause reason"),
        "phone": pgettext("request field", "phone"),
        "photo": pgettext("request field", "photo"),
        "pin": pgettext("request field", "PIN"),
        "plate": pgettext("request field", "plate"),
        "position": pgettext("request field", "place on the board"),
        "price_cents": pgettext("request field", "price"),
        "priority": pgettext("request field", "priority"),
        "promised_at": pgettext("request field", "promised time"),
        "public_holidays": pgettext("request field", "public holidays"),
        "qualifications": pgettext("request field", "qualifications"),
        "quote_id": pgettext("request field", "quote id"),
        "quote_version": pgettext("request field", "quote version"),
        "rating": pgettext("request field", "rating"),
        "reason": pgettext("request field", "reason"),
        "remaining_minutes": pgettext("request field", "remaining minutes"),
        "repeat": pgettext("request field", "PIN again"),
        "retention_days": pgettext("request field", "days customer data is kept"),
        "risk": pgettext("request field", "risk"),
        "role": pgettext("request field", "role"),
        "settings": pgettext("request field", "shop settings"),
        "shop": pgettext("request field", "shop"),
        "shop.name": pgettext("request field", "shop name"),
        "slug": pgettext("request field", "slug"),
        "staff_id": pgettext("request field", "staff id"),
        "stage": pgettext("request field", "stage"),
        "stage_labels": pgettext("request field", "stage labels"),
        "start": pgettext("request field", "start"),
        "status": pgettext("request field", "status"),
        "technician_id": pgettext("request field", "technician"),
        "technicians": pgettext("request field", "technicians"),
        "timezone": pgettext("request field", "time zone"),
        "title": pgettext("request field", "title"),
        "to": pgettext("request field", "new stage"),
        "token": pgettext("request field", "link"),
        "token_id": pgettext("request field", "token id"),
        "vehicle": pgettext("request field", "vehicle"),
        "vehicle.mileage": pgettext("request field", "mileage"),
        "vehicle.model": pgettext("request field", "model"),
        "vehicle.vin": pgettext("request field", "VIN"),
        "version": pgettext("request field", "version"),
        "vin": pgettext("request field", "VIN"),
        "waiting": pgettext("request field", "customer waits"),
        "wash": pgettext("request field", "wash"),
        "week": pgettext("request field", "week"),
        "workdays": pgettext("request field", "extra workdays"),
        "zh_Hans": pgettext("request field", "Simplified Chinese"),
        "zh_Hant": pgettext("request field", "Traditional Chinese"),
        "en": pgettext("request field", "English"),
    }


# A path's parts: names, and list indexes ("items[0].title").
_PATH_PART = re.compile(r"([^.\[\]]+)|\[(\d+)\]|(\.)")


def _name_label(name: str, labels: Mapping[str, str]) -> str | None:
    """One name's label: the table's, or a stage's words (a stage label's
    member, ``stage_labels.en.ready``)."""
    found = labels.get(name)
    return found if found is not None else default_stage_labels().get(name)


def _element(list_label: str, index: int) -> str:
    """A list's item by its place from 1: "work items #1"."""
    return str(pgettext("request field", "%(list)s #%(number)s", list=list_label, number=index + 1))


def field_label(path: str) -> str | None:
    """The words for a field's name or path (``pause_reason``,
    ``customer.name``, ``items[0].title``, ``opening_hours.breaks[1].end``),
    or None when a part of it has no label (a field of the client's own)."""
    labels = field_labels()
    if path in labels:
        return labels[path]
    said: list[str] = []
    position = 0
    for found in _PATH_PART.finditer(path):
        if found.start() != position:
            return None
        position = found.end()
        name, index, _dot = found.groups()
        if name is not None:
            word = _name_label(name, labels)
            if word is None:
                return None
            said.append(word)
        elif index is not None:
            if not said:
                return None
            said[-1] = _element(said[-1], int(index))
    if position != len(path) or not said:
        return None
    return " · ".join(said)


# Parameters that hold a field's name: said by its label (``field_label``).
_FIELD_PARAMETERS = frozenset({"field", "setting", "first", "second"})
# Templates whose field is the client's own (no label), said as sent.
_UNLABELLED = frozenset({"%(field)s is not a field of this request."})


def _words(name: str) -> Mapping[str, str]:
    """The words for a parameter that holds a code, by the parameter's name."""
    if name in ("stage", "from_stage", "to_stage"):
        return default_stage_labels()
    if name == "level":
        return check_level_labels()
    if name == "quote_status":
        return _quote_statuses()
    if name in ("part_status", "new_part_status"):
        return _part_statuses()
    if name == "channel":
        return _channels()
    if name.endswith("_kind"):
        return _screen_kinds()
    return {}


_PLACEHOLDER = re.compile(r"%\((\w+)\)s")


@dataclass(frozen=True)
class _Pattern:
    """A template with parameters as its fixed texts and the names between
    them: "%(field)s is required." is ("", " is required.") and ("field",)."""

    template: str
    texts: tuple[str, ...]
    names: tuple[str, ...]

    def split(self, text: str) -> dict[str, str] | None:
        """The parameters of ``text`` when it was built from this template.

        Linear in the text (str.find, no regular expression): a sentence may
        hold a client's input of any length. Each fixed text is taken at its
        first place after the one before (leaving each parameter at least
        one character), the last one at the end, which finds a split
        whenever one exists."""
        first, last = self.texts[0], self.texts[-1]
        if not text.startswith(first) or not text.endswith(last):
            return None
        end = len(text) - len(last)
        position = len(first)
        values = []
        for fixed in self.texts[1:-1]:
            found = text.find(fixed, position + 1, end)
            if found < 0:
                return None
            values.append(text[position:found])
            position = found + len(fixed)
        if end - position < 1:
            return None
        values.append(text[position:end])
        return dict(zip(self.names, values, strict=True))


@cache
def _tables() -> tuple[frozenset[str], frozenset[str], tuple[_Pattern, ...]]:
    """Every template, the plain sentences, and the templates with
    parameters as patterns, the most specific (most fixed text) first: "The
    plate is required." before "%(field)s is required."."""
    plain = frozenset(t for t in DETAILS if not _PLACEHOLDER.search(t))
    patterns = []
    for template in DETAILS:
        parts = _PLACEHOLDER.split(template)
        if len(parts) > 1:
            patterns.append(_Pattern(template, tuple(parts[0::2]), tuple(parts[1::2])))
    patterns.sort(key=lambda p: -sum(len(t) for t in p.texts))
    return frozenset(DETAILS), plain, tuple(patterns)


def known_template(template: str) -> bool:
    return template in _tables()[0]


def render(template: str, params: Mapping[str, object]) -> str:
    """``template`` in the reader's language with ``params`` put in (a
    code-valued parameter in words, a field by its label)."""
    labels = {} if template in _UNLABELLED else _labels_of(params)
    values = {name: labels.get(name, _value(name, value)) for name, value in params.items()}
    text = str(gettext(template, **values) if values else gettext(template))
    if any(text.startswith(label) for label in labels.values()):
        # A sentence begins with its field's label: "Pause reason is required."
        return text[0].upper() + text[1:]
    return text


def _labels_of(params: Mapping[str, object]) -> dict[str, str]:
    """The labels of the parameters that name a field (a name quoted by
    repr(), "'open'", is the same name)."""
    labels = {}
    for name in _FIELD_PARAMETERS & params.keys():
        value = params[name]
        if isinstance(value, str):
            bare = value[1:-1] if len(value) > 2 and value[0] == value[-1] == "'" else value
            label = field_label(bare)
            if label:
                labels[name] = label
    return labels


def _value(name: str, value: object) -> object:
    if not isinstance(value, str):
        return value
    if name == "reason":
        # A nested sentence (Flask-WTF's CSRF reason), or a person's own words.
        return detail_text(value)
    return _words(name).get(value, value)


def match(text: str) -> tuple[str, dict[str, str]] | None:
    """The template ``text`` was built from, and its parameters, or None."""
    _all, plain, patterns = _tables()
    if text in plain:
        return text, {}
    for pattern in patterns:
        found = pattern.split(text)
        if found is not None:
            return pattern.template, found
    return None


def detail_text(text: str) -> str:
    """An English sentence of the table in the reader's language; any other
    text (already translated, or a person's own words) as it is."""
    if not text or not has_request_context():
        return text
    found = match(text)
    return text if found is None else render(*found)


def title_of(code: str, fallback: str) -> str:
    title = TITLES.get(code)
    if title is None or not has_request_context():
        return fallback
    return str(gettext(title))


def error_text(error: DomainError) -> tuple[str, str]:
    """A domain error's title and detail in the reader's language."""
    title = title_of(error.code, error.code)
    if error.template is not None and known_template(error.template) and has_request_context():
        return title, render(error.template, error.params)
    return title, detail_text(error.detail)


def http_detail(status: int, description: str | None, stock: str | None) -> str:
    """An HTTP refusal's detail: werkzeug's stock description of its class
    replaced by a short one of the status; Flask-Limiter's limit ("600 per
    1 minute") said as a sentence; any other description through the table."""
    if not has_request_context():
        return description or ""
    if description and description != stock:
        limit = _LIMIT.fullmatch(description) if status == 429 else None
        if limit is not None:
            return str(gettext(_limit_texts()[limit.group(2)], count=limit.group(1)))
        return detail_text(description)
    default = HTTP_DETAILS.get(status)
    return gettext(default) if default is not None else description or ""
