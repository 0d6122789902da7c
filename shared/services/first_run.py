"""The first run without a terminal (issue 14, item 1): a one-time set-up
link that ``baylight serve`` prints on an empty installation, and the one
command that turns it into a shop with its first admin.

Empty. An installation is empty while no shop has an active admin (a staff
member with the role ``admin``). ``baylight init-db`` and the server may
already have made the default shop row (``setup.ensure_shop``): a shop row
without an admin is still empty, so a fresh ``baylight serve`` (no
``--demo``) prints the link. Anything that makes an admin (this page,
``baylight create-user --role admin``, the demo) ends it. API tokens are
not people: an admin token alone leaves the installation empty.

The link. ``/setup/<token>``, where the token is a random nonce of 128 bits
signed with the app's secret key and the moment it was made (itsdangerous'
``TimestampSigner``, HMAC-SHA256, on the app's clock ``core.now``). No row
is written for it, so no migration: the signature says the server made it,
the time says whether the hour is over, and "used" is "an admin exists
now". That holds across processes and restarts alike. A server without
BAYLIGHT_SECRET_KEY keeps the key it generated in its instance folder; should
the key change, older links stop working, and every start prints a new link
while the installation is empty.

Single use. ``set_up`` runs through ``commands.execute``: the shop's row is
locked (on SQLite the whole writer), the installation's emptiness is checked
again inside that transaction, and the shop profile and the admin are
written together or not at all. Two browsers holding one link send their
forms; the first sets the shop up, the second finds an admin and is refused
as a used link (410). A form sent twice from one browser (a double click)
carries one Idempotency-Key and gets the first answer back (``replayed``).

Which shop. The installation's first shop (``setup.default_shop_id``: the
one ``init-db`` made, created here when there is none). Its slug stays as it
is (``main`` on a fresh install); its sign-in link is ``/login?shop=SLUG``.

The first admin is the installation's admin: besides ``admin`` in their
shop they hold ``group`` (``shared.services.group``), so shops of a dealer
group can be added from the browser (``/group``) without a terminal too.
They chose their own password here, so they are not asked to change it."""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from flask_babel import gettext as _
from itsdangerous import BadSignature, SignatureExpired, TimestampSigner
from sqlalchemy import select

from shared.domain import errors
from shared.domain.order import Actor
from shared.domain.stages import Role
from shared.domain.text import check_text
from shared.persistence.models import StaffUser
from shared.realtime.publisher import Notice, staff_room
from shared.services import (
    group,
    setup,
    shop_profile,
    shop_settings,
    snapshots,
    staff_admin,
    staff_login,
)
from shared.services.auth import hash_pin
from shared.services.commands import CommandRequest, Transaction, execute, fingerprint
from shared.services.core import Core

log = logging.getLogger(__name__)

LINK_PATH = "/setup/"
LINK_LIFETIME = timedelta(hours=1)
NONCE_BYTES = 16  # 128 bits
# Keeps these signatures apart from anything else signed with the app's key
# (session cookies, CSRF tokens).
SALT = "baylight.first-run.v1"
# A token is nonce (22) + time (about 6) + signature (43) with two dots;
# anything much longer is not one.
TOKEN_MAX = 120
ADMIN_ROLE = Role.ADMIN.value
DEFAULT_TIMEZONE = "Asia/Shanghai"


# ------------------------------------------------------------ the link


class _ClockedSigner(TimestampSigner):
    """itsdangerous' timestamp signer, told the time by the app's clock, so
    that the hour is the services' hour (and a test's hand clock)."""

    def __init__(self, secret_key: str, clock: Callable[[], datetime]) -> None:
        super().__init__(secret_key, salt=SALT, digest_method=hashlib.sha256)
        self._clock = clock

    def get_timestamp(self) -> int:
        now = self._clock()
        if now.tzinfo is None:
            now = now.replace(tzinfo=UTC)
        return int(now.timestamp())


def _signer(core: Core) -> _ClockedSigner:
    return _ClockedSigner(core.settings.secret_key, core.now)


class LinkInvalid(errors.NotFound):
    """Not a link this server made (mistyped, cut short, forged, or made
    under another secret key): answered like any unknown page."""


class LinkGone(errors.DomainError):
    """A link this server made that no longer works: its hour is over
    (``reason`` "expired") or the installation is set up (``reason`` "used")."""

    code = "setup_link_gone"
    status = 410

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail, reason=reason)
        self.reason = reason


def _expired() -> LinkGone:
    return LinkGone("expired", "This set-up link has expired.")


def _used() -> LinkGone:
    return LinkGone("used", "This installation is set up already.")


def new_token(core: Core) -> str:
    """A fresh set-up token: a 128-bit random nonce, signed with the time."""
    return _signer(core).sign(secrets.token_urlsafe(NONCE_BYTES)).decode("ascii")


def link(base: str, token: str) -> str:
    """The set-up page of ``token`` under ``base`` (scheme://host:port)."""
    return f"{base.rstrip('/')}{LINK_PATH}{token}"


def set_up_link(core: Core) -> str:
    """A new set-up link at the address a browser on the shop's network
    uses (``settings.listen_url``, which ``baylight serve`` sets)."""
    return link(core.settings.listen_url, new_token(core))


def _nonce(core: Core, token: str) -> str:
    """The nonce of a token this server signed within the hour; raises
    ``LinkInvalid`` or ``LinkGone`` (expired) otherwise."""
    if not token or len(token) > TOKEN_MAX or not token.isascii():
        raise LinkInvalid("No such set-up link.")
    try:
        nonce = _signer(core).unsign(token, max_age=int(LINK_LIFETIME.total_seconds()))
    except SignatureExpired:
        raise _expired() from None
    except BadSignature:
        raise LinkInvalid("No such set-up link.") from None
    return nonce.decode("ascii")


def is_empty(core: Core) -> bool:
    """Whether no shop of the installation has an active admin yet."""
    with core.db.read() as session:
        return _admin_exists(session) is False


def _admin_exists(session: Any) -> bool:
    found = session.execute(
        select(StaffUser.id).where(StaffUser.role == ADMIN_ROLE, StaffUser.active).limit(1)
    ).scalar()
    return found is not None


def check_link(core: Core, token: str) -> None:
    """Nothing when ``token`` opens the set-up page now; else ``LinkInvalid``
    (404) or ``LinkGone`` (410, expired or used)."""
    _nonce(core, token)
    if not is_empty(core):
        raise _used()


# ------------------------------------------------------------ the form


@dataclass(frozen=True)
class FirstRun:
    """What the set-up page asks: the shop profile and the first admin.
    Opening hours are the same every day, with an optional lunch break."""

    shop_name: str
    address: str
    hotline: str
    timezone: str
    opens: str
    closes: str
    lunch_from: str
    lunch_to: str
    admin_name: str
    display_name: str
    password: str
    password_repeat: str


@dataclass(frozen=True)
class SetUp:
    """The shop and admin a set-up made. ``replayed``: this was a form sent
    a second time, answered from the first (nobody new was made now)."""

    shop_id: int
    shop_slug: str
    shop_name: str
    admin_id: int
    admin_name: str
    replayed: bool = False


def _named(field: str, refused: errors.ValidationFailed) -> errors.ValidationFailed:
    """The same refusal under this form's name of the field (the shop's
    ``name`` and the admin's ``name`` are two fields here)."""
    renamed = errors.ValidationFailed(field, refused.detail)
    renamed.extra.update({k: v for k, v in refused.extra.items() if k != "field"})
    renamed.extra["field"] = field
    return renamed


def _refusal(field: str, reason: str, detail: str) -> errors.ValidationFailed:
    refused = errors.ValidationFailed(field, detail)
    refused.extra["reason"] = reason
    return refused


@dataclass(frozen=True)
class _Checked:
    name: str
    timezone: str
    settings: dict[str, Any]
    admin_name: str
    display_name: str


def _checked(form: FirstRun) -> _Checked:
    """Every field held to the rule the shop profile and the staff page use,
    in the order the page shows them; the first wrong one is refused, named
    as the page names it (``shop.name``, ``opening_hours.open``,
    ``admin.name``, ``password_repeat``...)."""
    try:
        name = shop_settings.check_name(form.shop_name)
    except errors.ValidationFailed as refused:
        raise _named("shop.name", refused) from None
    settings: dict[str, Any] = {
        shop_settings.ADDRESS: shop_settings.check_contact(
            "address", form.address, shop_settings.ADDRESS_MAX
        ),
        shop_settings.HOTLINE: shop_settings.check_contact(
            "hotline", form.hotline, shop_settings.HOTLINE_MAX
        ),
    }
    timezone = shop_settings.check_timezone(form.timezone.strip())
    opens, closes = form.opens.strip(), form.closes.strip()
    if not opens:
        raise _refusal("opening_hours.open", "required", _("Give the opening time."))
    if not closes:
        raise _refusal("opening_hours.close", "required", _("Give the closing time."))
    lunch = (form.lunch_from.strip(), form.lunch_to.strip())
    hours = shop_settings.Hours(open=opens, close=closes, breaks=(lunch,) if any(lunch) else ())
    for key, value in shop_settings.hours_settings(timezone, hours).items():
        if value is not None:
            settings[key] = value
    try:
        admin_name = staff_admin.check_name(form.admin_name)
    except errors.ValidationFailed as refused:
        raise _named("admin.name", refused) from None
    display_name = check_text("display_name", form.display_name).strip()
    if len(display_name) > staff_admin.DISPLAY_NAME_MAX:
        raise _refusal(
            "display_name",
            "too_long",
            f"display_name has at most {staff_admin.DISPLAY_NAME_MAX} characters.",
        )
    staff_login.check_password(form.password)
    if form.password_repeat != form.password:
        raise _refusal("password_repeat", "differ", _("The two passwords differ."))
    return _Checked(name, timezone, settings, admin_name, display_name)


def _fingerprint(core: Core, form: FirstRun) -> str:
    """The form as its Idempotency-Key's fingerprint; the password only as
    an HMAC under the app's key (the fingerprint is stored)."""
    secret = core.settings.secret_key.encode()
    body = {
        "shop_name": form.shop_name,
        "address": form.address,
        "hotline": form.hotline,
        "timezone": form.timezone,
        "opens": form.opens,
        "closes": form.closes,
        "lunch_from": form.lunch_from,
        "lunch_to": form.lunch_to,
        "admin_name": form.admin_name,
        "display_name": form.display_name,
        "password": hmac.new(secret, form.password.encode(), hashlib.sha256).hexdigest(),
    }
    return fingerprint("POST", LINK_PATH, body)


def set_up(core: Core, token: str, form: FirstRun, *, idempotency_key: str | None = None) -> SetUp:
    """Turn a set-up link into the installation's shop and its first admin,
    in one transaction; refused with ``LinkInvalid`` (404), ``LinkGone``
    (410: expired, or used: an admin exists) or ``ValidationFailed`` naming
    the field (422), and then nothing is written. See the module docstring."""
    nonce = _nonce(core, token)
    if not idempotency_key and not is_empty(core):
        # (With a key, this may be the same form sent twice: the command
        # answers it from the first, or refuses it as used.)
        raise _used()
    checked = _checked(form)
    password_hash = hash_pin(form.password)  # slow on purpose: outside the writer
    shop_id = setup.default_shop_id(core)
    actor = Actor(name="first run", roles=frozenset({Role.SYSTEM}), ref=f"setup:{nonce}")
    request = CommandRequest(
        actor=actor,
        shop_id=shop_id,
        idempotency_key=idempotency_key or None,
        fingerprint=_fingerprint(core, form) if idempotency_key else None,
    )

    def work(tx: Transaction) -> tuple[int, dict[str, Any]]:
        # Under the shop's lock (SQLite: the writer): a second browser's
        # form, or an admin made meanwhile by the CLI, finds an admin here.
        if _admin_exists(tx.session):
            raise _used()
        shop = tx.shop
        if staff_admin.name_taken(tx.session, shop.id, checked.admin_name):
            raise _refusal(
                "admin.name", "taken", f"Someone in this shop is called {checked.admin_name}."
            )
        settings = dict(shop.settings or {})
        settings.update(checked.settings)
        settings[shop_settings.PROFILE_VERSION] = shop_settings.profile_version(settings) + 1
        shop.name = checked.name
        shop.timezone = checked.timezone
        shop.settings = settings  # a new dict: the JSON column notices reassignment
        admin = StaffUser(
            shop_id=shop.id,
            name=checked.admin_name,
            display_name=checked.display_name,
            role=ADMIN_ROLE,
            qualifications=[group.GROUP],
            password_hash=password_hash,
            must_change_password=False,
            phone="",
            active=True,
            created_at=tx.now,
        )
        tx.session.add(admin)
        tx.session.flush()
        tx.notify(shop_profile.screens_notice(tx))
        tx.replan()  # new opening hours move every estimate: plan the shop now
        tx.notify(Notice(staff_admin.STAFF_CHANGED, {"id": admin.id}, (staff_room(shop.id),)))
        return 201, {
            "shop": {"id": shop.id, "slug": shop.slug, "name": shop.name},
            "admin": {"id": admin.id, "name": admin.name},
        }

    outcome = execute(core, request, "first_run", work)
    if not outcome.replayed:
        snapshots.forget(core)
        log.info(
            "installation set up: shop %s, first admin %s",
            outcome.body["shop"]["id"],
            outcome.body["admin"]["id"],
        )
    shop, admin = outcome.body["shop"], outcome.body["admin"]
    return SetUp(
        shop_id=int(shop["id"]),
        shop_slug=str(shop["slug"]),
        shop_name=str(shop["name"]),
        admin_id=int(admin["id"]),
        admin_name=str(admin["name"]),
        replayed=outcome.replayed,
    )
