"""The customer's side of appointments (issue 18): their own appointment
page behind the link they are sent (``/a/<token>``: see, confirm, cancel,
move, stop reminders) and the shop's public booking page (``/book/<shop>``:
free starts only, book online, and the phone check the shop may ask for).

Every change goes through ``commands.execute`` like the desk's (the shop's
row lock, the Idempotency-Key scoped to this customer, an event, a hint to
the staff screens). What a customer sees names nobody else: the public
slots are free starts without counts, the appointment view carries no
other customer's data and not even this customer's phone (a link may be
forwarded).

The phone check: a 6-digit code texted through the notification outbox
(kind ``booking_code``, urgent), kept only as a salted hash, valid for
``CODE_MINUTES`` and ``CODE_ATTEMPTS`` tries, used once; a phone is sent a
code at most once a minute and ``CODES_PER_HOUR`` an hour.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session

from shared.domain import errors
from shared.domain import notifications as rules
from shared.domain.order import Actor
from shared.domain.stages import Role
from shared.persistence.appointment_models import Appointment, BookingCode
from shared.persistence.models import Shop
from shared.persistence.notification_models import Notification
from shared.services import (
    appointment_settings,
    appointments,
    shop_settings,
)
from shared.services.appointments import Booking
from shared.services.commands import CommandRequest, Outcome, Transaction, execute
from shared.services.core import Core

CODE_DIGITS = 6
CODE_MINUTES = 10
CODE_ATTEMPTS = 5
CODE_EVERY_SECONDS = 60
CODES_PER_HOUR = 5
BOOKING_CODE = "booking_code"


class CodeThrottled(errors.DomainError):
    """Too many codes for this phone: ``retry_after`` seconds to wait."""

    code = "rate_limited"
    status = 429

    def __init__(self, retry_after: int) -> None:
        super().__init__(
            "Too many codes were sent to this phone. Try again later.", retry_after=retry_after
        )
        self.retry_after = retry_after


class CodeRefused(errors.DomainError):
    """The phone check failed: no code, a wrong or used one, or too many tries."""

    code = "code_invalid"
    status = 422


def customer_actor(row: Appointment) -> Actor:
    """The customer of one appointment, acting from their link."""
    return Actor(name="customer", roles=frozenset({Role.CUSTOMER}), ref=f"appointment:{row.id}")


def online_actor(shop_id: int, phone: str) -> Actor:
    """Someone booking on the public page: Idempotency-Keys scoped by phone,
    so one visitor's key never answers another's request."""
    return Actor(name="online", roles=frozenset({Role.CUSTOMER}), ref=f"online:{shop_id}:{phone}")


# ------------------------------------------------------------- views


def customer_json(core: Core, row: Appointment, shop: Shop, now: datetime) -> dict[str, Any]:
    """The customer's own appointment: when, which car, what work, its state,
    and the shop's contact; nothing about anyone else."""
    staff = appointments.appointment_json(core, row, shop, now)
    return {
        "status": row.status,
        "start": staff["start"],
        "end": staff["end"],
        "plate": row.plate,
        "items": [{"title": i.get("title", "")} for i in row.items or ()],
        "labour_hours": staff["labour_hours"],
        "confirmed": row.confirmed_at is not None,
        "reminders": row.notify_opted_out_at is None,
        "version": row.version,
        "can_change": row.status == appointments.BOOKED and now < row.start,
        "manage_url": staff["manage_url"],
        "shop": {
            "name": shop.name,
            "slug": shop.slug,
            "hotline": shop_settings.hotline(shop.settings or {}),
            "address": shop_settings.address(shop.settings or {}),
            "timezone": shop.timezone,
        },
    }


def _find(session: Session, token: str) -> Appointment:
    row = None
    if 20 <= len(token) <= 64:
        row = session.execute(
            select(Appointment).where(Appointment.token == token)
        ).scalar_one_or_none()
    if row is None or row.anonymised_at is not None:
        raise errors.NotFound("This link is not valid (any more).")
    return row


def by_token(core: Core, token: str) -> dict[str, Any]:
    """The customer's appointment behind their link (404 when unknown)."""
    with core.db.read() as session:
        row = _find(session, token)
        shop = session.get(Shop, row.shop_id)
        assert shop is not None
        return customer_json(core, row, shop, core.now())


def shop_of_token(core: Core, token: str) -> int:
    """The shop of the appointment behind a link (the rate limiter's and
    the command's shop)."""
    with core.db.read() as session:
        return _find(session, token).shop_id


def _customer_command(
    core: Core,
    token: str,
    name: str,
    change: Callable[[Transaction, Appointment], None],
    *,
    idempotency_key: str | None,
    fingerprint: str | None,
) -> Outcome:
    """One change from the customer's link, through ``execute``."""
    with core.db.read() as session:
        found = _find(session, token)
        shop_id, actor = found.shop_id, customer_actor(found)
    request = CommandRequest(actor, shop_id, idempotency_key, fingerprint)

    def work(tx: Transaction) -> tuple[int, dict[str, Any]]:
        row = _find(tx.session, token)
        if row.status != appointments.BOOKED:
            raise errors.IllegalTransition(
                errors.Message(
                    appointments.NOT_BOOKED.get(row.status, appointments.NOT_BOOKED["cancelled"])
                ),
                allowed=[],
                appointment=customer_json(tx.core, row, tx.shop, tx.now),
            )
        change(tx, row)
        return 200, customer_json(tx.core, row, tx.shop, tx.now)

    return execute(core, request, name, work)


def _not_begun(tx: Transaction, row: Appointment) -> None:
    if tx.now >= row.start:
        raise errors.IllegalTransition(
            errors.Message("The appointment has begun; call the shop."),
            allowed=[],
            appointment=customer_json(tx.core, row, tx.shop, tx.now),
        )


def confirm_by_token(
    core: Core, token: str, *, idempotency_key: str | None = None, fingerprint: str | None = None
) -> Outcome:
    """The customer confirms they will come; confirming again changes nothing."""

    def change(tx: Transaction, row: Appointment) -> None:
        if row.confirmed_at is None:
            row.confirmed_at = tx.now
            appointments.record(tx, row, "confirmed", {})

    return _customer_command(
        core,
        token,
        "confirm_appointment",
        change,
        idempotency_key=idempotency_key,
        fingerprint=fingerprint,
    )


def cancel_by_token(
    core: Core,
    token: str,
    *,
    reason: str = "",
    idempotency_key: str | None = None,
    fingerprint: str | None = None,
) -> Outcome:
    """The customer cancels before the start; the reason is optional for them."""
    cleaned = reason.strip()[: appointments.REASON_MAX]

    def change(tx: Transaction, row: Appointment) -> None:
        _not_begun(tx, row)
        appointments.cancel_row(tx, row, cleaned)

    return _customer_command(
        core,
        token,
        "cancel_appointment_by_customer",
        change,
        idempotency_key=idempotency_key,
        fingerprint=fingerprint,
    )


def reschedule_by_token(
    core: Core,
    token: str,
    *,
    start: datetime,
    idempotency_key: str | None = None,
    fingerprint: str | None = None,
) -> Outcome:
    """The customer moves their appointment (409 ``capacity_full`` with the
    nearest alternatives when the shop cannot take it then)."""

    def change(tx: Transaction, row: Appointment) -> None:
        _not_begun(tx, row)
        if not appointment_settings.read(tx.shop.settings).online_booking:
            raise errors.Forbidden("This shop takes changes by phone only.")
        appointments.move_row(tx, row, start)

    return _customer_command(
        core,
        token,
        "reschedule_appointment_by_customer",
        change,
        idempotency_key=idempotency_key,
        fingerprint=fingerprint,
    )


def opt_out_by_token(
    core: Core, token: str, *, idempotency_key: str | None = None, fingerprint: str | None = None
) -> Outcome:
    """No more reminders for this appointment; queued ones are suppressed."""

    def change(tx: Transaction, row: Appointment) -> None:
        if row.notify_opted_out_at is not None:
            return
        row.notify_opted_out_at = tx.now
        tx.session.execute(
            update(Notification)
            .where(
                Notification.shop_id == tx.locked.id,
                Notification.kind == rules.REMINDER,
                Notification.status == rules.QUEUED,
                Notification.facts["appointment_id"].as_integer() == row.id,
            )
            .values(status=rules.SUPPRESSED, reason=rules.OPTED_OUT, updated_at=tx.now)
        )
        appointments.record(tx, row, "reminders_stopped", {})

    return _customer_command(
        core,
        token,
        "appointment_opt_out",
        change,
        idempotency_key=idempotency_key,
        fingerprint=fingerprint,
    )


# ------------------------------------------------------------- public page


def _public_shop(session: Session, slug: str) -> Shop:
    shop = session.execute(select(Shop).where(Shop.slug == slug)).scalar_one_or_none()
    if shop is None or not appointment_settings.read(shop.settings).online_booking:
        raise errors.NotFound("This shop does not take bookings online.")
    return shop


def _code_hash(shop_id: int, phone: str, code: str, salt: str) -> str:
    digest = hashlib.sha256(f"{salt}:{shop_id}:{phone}:{code}".encode()).hexdigest()
    return f"{salt}${digest}"


def _matches(row: BookingCode, phone: str, code: str) -> bool:
    salt, _, _digest = row.code_hash.partition("$")
    return hmac.compare_digest(row.code_hash, _code_hash(row.shop_id, phone, code, salt))


def _phone(raw: str, field: str = "phone") -> str:
    phone = "".join(c for c in raw if c.isdigit() or c == "+")
    if not 6 <= len(phone) <= 20:
        raise errors.ValidationFailed(
            field, errors.Message("%(field)s is not a phone number.", field=field)
        )
    return phone


def request_code(core: Core, slug: str, phone: str) -> dict[str, Any]:
    """Text a 6-digit code to ``phone`` for the public page's check (an
    urgent ``booking_code`` message through the outbox). At most one a
    minute and ``CODES_PER_HOUR`` an hour per phone (429 with retry_after)."""
    phone = _phone(phone)
    with core.db.read() as session:
        shop_id = _public_shop(session, slug).id
    code = f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"

    def work(tx: Transaction) -> tuple[int, dict[str, Any]]:
        recent = (
            tx.session.execute(
                select(BookingCode.created_at)
                .where(
                    BookingCode.shop_id == tx.locked.id,
                    BookingCode.phone == phone,
                    BookingCode.created_at > tx.now - timedelta(hours=1),
                )
                .order_by(BookingCode.created_at.desc())
            )
            .scalars()
            .all()
        )
        if recent:
            wait = CODE_EVERY_SECONDS - (tx.now - recent[0]).total_seconds()
            if wait > 0:
                raise CodeThrottled(math.ceil(wait))
        if len(recent) >= CODES_PER_HOUR:
            oldest = recent[CODES_PER_HOUR - 1]
            raise CodeThrottled(math.ceil((oldest + timedelta(hours=1) - tx.now).total_seconds()))
        expires = tx.now + timedelta(minutes=CODE_MINUTES)
        row = BookingCode(
            shop_id=tx.locked.id,
            phone=phone,
            code_hash=_code_hash(tx.locked.id, phone, code, secrets.token_hex(8)),
            expires_at=expires,
            attempts=0,
            created_at=tx.now,
        )
        tx.session.add(row)
        tx.session.flush()
        tx.session.execute(
            insert(Notification).values(
                shop_id=tx.locked.id,
                order_id=None,
                kind=BOOKING_CODE,
                channel=rules.SMS,
                dedupe_key=f"{tx.locked.id}-code-{row.id}-{BOOKING_CODE}-{rules.SMS}",
                seq=None,
                facts={"phone": phone, "code": code, "code_id": row.id},
                recipient="",
                locale=tx.shop.locale or "",
                text="",
                status=rules.QUEUED,
                reason="",
                attempts=0,
                not_before=tx.now,
                claimed_by="",
                claimed_until=None,
                provider_id="",
                created_at=tx.now,
                updated_at=tx.now,
                sent_at=None,
                by="",
            )
        )
        return 201, {"sent": True, "expires_at": expires.isoformat()}

    outcome = execute(core, CommandRequest(online_actor(shop_id, phone), shop_id), "code", work)
    return outcome.body


def _live_code(session: Session, shop_id: int, phone: str, now: datetime) -> BookingCode | None:
    return session.execute(
        select(BookingCode)
        .where(
            BookingCode.shop_id == shop_id,
            BookingCode.phone == phone,
            BookingCode.used_at.is_(None),
            BookingCode.expires_at > now,
        )
        .order_by(BookingCode.created_at.desc())
        .limit(1)
    ).scalar_one_or_none()


def verify(core: Core, slug: str, phone: str, code: str) -> bool:
    """Whether ``code`` is the live code of ``phone``; a wrong try is
    counted (committed, through ``execute`` like every write), and after
    ``CODE_ATTEMPTS`` the code is dead."""
    phone = _phone(phone)
    with core.db.read() as session:
        shop_id = _public_shop(session, slug).id

    def work(tx: Transaction) -> tuple[int, dict[str, Any]]:
        row = _live_code(tx.session, tx.locked.id, phone, tx.now)
        if row is None or row.attempts >= CODE_ATTEMPTS:
            return 200, {"valid": False}
        if _matches(row, phone, code):
            return 200, {"valid": True}
        row.attempts += 1
        return 200, {"valid": False}

    request = CommandRequest(online_actor(shop_id, phone), shop_id)
    return bool(execute(core, request, "verify_booking_code", work).body["valid"])


def book_online(
    core: Core,
    slug: str,
    booking: Booking,
    *,
    code: str | None = None,
    idempotency_key: str | None = None,
    fingerprint: str | None = None,
) -> Outcome:
    """A customer books on the shop's public page (source online): 201 with
    their own view (and its link), or 409 ``capacity_full`` with the
    alternatives. When the shop checks phones, ``code`` must be the live
    code texted to the booking's phone (422 ``code_invalid``); it is used
    by the booking that succeeds."""
    with core.db.read() as session:
        shop = _public_shop(session, slug)
        shop_id = shop.id
        check_phone = appointment_settings.read(shop.settings).phone_verification
    phone = _phone(booking.customer.phone, "customer.phone")
    if check_phone and not verify(core, slug, phone, code or ""):
        raise CodeRefused("The code is wrong or has expired.")
    request = CommandRequest(online_actor(shop_id, phone), shop_id, idempotency_key, fingerprint)

    def work(tx: Transaction) -> tuple[int, dict[str, Any]]:
        if check_phone:
            live = _live_code(tx.session, tx.locked.id, phone, tx.now)
            if live is None or not _matches(live, phone, code or ""):
                raise CodeRefused("The code is wrong or has expired.")
            live.used_at = tx.now
        cleaned = appointments.checked(booking, tx.now)
        if not cleaned.customer.phone:
            raise errors.ValidationFailed(
                "customer.phone", errors.Message("%(field)s is required.", field="customer.phone")
            )
        row = appointments.new_row(tx, cleaned, "online")
        return 201, customer_json(tx.core, row, tx.shop, tx.now)

    return execute(core, request, "book_online", work)


def codes_sent(core: Core, shop_id: int, phone: str) -> int:
    """How many codes the phone was sent (tests and the audit of abuse)."""
    with core.db.read() as session:
        return int(
            session.execute(
                select(func.count())
                .select_from(BookingCode)
                .where(BookingCode.shop_id == shop_id, BookingCode.phone == _phone(phone))
            ).scalar_one()
        )
