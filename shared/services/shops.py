"""Shops of an installation (issue 14, item 5): a dealer group runs several
4S shops on one Baylight, each its own tenant (every row hangs off a shop).

``create_shop`` is the one way a shop comes to be, for the command line
(``baylight create-shop``) and the group admin's page (``/group``) alike.
A shop starts empty: no bays, no staff; its first admin is added next
(``group.create_shop_admin`` from the browser, ``baylight create-user
--shop SLUG --role admin`` at the server), and signs in at the shop's own
link, ``/login?shop=SLUG`` (``shared.web.staff_session``).

The slug is the shop's name in links and on the command line: lowercase
letters, digits and single hyphens between them, unique in the
installation, never changed afterwards (sign-in links and bookmarks carry
it). Creating a shop is no order's event, so it is not in the audit log;
the server log records who made which shop.

A form sent twice (a double click, a reload after a lost answer) makes one
shop: with an Idempotency-Key the second request gets the first one's
answer, as every command does (``commands``: same table, same scope rule).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from shared.domain import errors
from shared.persistence.models import IdempotencyRecord, Shop
from shared.services import links, shop_settings
from shared.services.commands import IdempotencyKeyReuse, fingerprint
from shared.services.core import Core

log = logging.getLogger(__name__)

SLUG_MAX = 40  # Shop.slug's column
SLUG_PATTERN = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
DEFAULT_TIMEZONE = "Asia/Shanghai"
# The scope of the Idempotency-Key of a shop created without a person (the CLI).
OPERATOR_SCOPE = "system:cli"


def refusal(field: str, reason: str, detail: str) -> errors.ValidationFailed:
    """A ``validation_error`` naming the field, with a stable ``reason`` that
    pages turn into a sentence in the reader's language."""
    refused = errors.ValidationFailed(field, detail)
    refused.extra["reason"] = reason
    return refused


def check_slug(value: str) -> str:
    """A shop's slug: 1 to 40 lowercase letters, digits and hyphens, a
    hyphen only between two of the others ("south-2", not "-south")."""
    if not value:
        raise refusal("slug", "required", "A shop needs a slug (its name in links).")
    if len(value) > SLUG_MAX:
        raise refusal("slug", "too_long", f"A slug has at most {SLUG_MAX} characters.")
    if not SLUG_PATTERN.fullmatch(value):
        raise refusal(
            "slug",
            "slug_format",
            f"{value!r} is no slug: use lowercase letters a-z, digits and hyphens "
            "between them (e.g. south-2).",
        )
    return value


def sign_in_link(core: Core, slug: str) -> str:
    """The shop's own sign-in page (no shop picker there)."""
    return f"{links.base_url(core.settings)}/login?shop={slug}"


@dataclass(frozen=True)
class CreatedShop:
    """A shop as its creator is told about it."""

    id: int
    slug: str
    name: str
    timezone: str
    replayed: bool = False

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, "slug": self.slug, "name": self.name, "timezone": self.timezone}


@dataclass(frozen=True)
class NewShop:
    slug: str
    name: str
    timezone: str = DEFAULT_TIMEZONE


def _slug_taken(slug: str) -> errors.ValidationFailed:
    return refusal("slug", "taken", f"The slug {slug!r} belongs to another shop already.")


def _replayed(session: Session, scope: str, key: str, print_: str) -> CreatedShop | None:
    stored = session.execute(
        select(IdempotencyRecord).where(
            IdempotencyRecord.scope == scope, IdempotencyRecord.key == key
        )
    ).scalar_one_or_none()
    if stored is None:
        return None
    if stored.fingerprint != print_:
        raise IdempotencyKeyReuse("This Idempotency-Key was used with a different request.")
    body = stored.body
    return CreatedShop(
        int(body["id"]), str(body["slug"]), str(body["name"]), str(body["timezone"]), replayed=True
    )


def create_shop(
    core: Core,
    new: NewShop,
    *,
    by: str = OPERATOR_SCOPE,
    idempotency_key: str | None = None,
) -> CreatedShop:
    """Make a shop of the installation: slug, name and IANA time zone
    checked (each refusal names its field), the slug unique. ``by`` is who
    asks (an actor ref: ``user:7``; the CLI's operator by default), the
    scope of ``idempotency_key``. The installation's default language is the
    shop's."""
    slug = check_slug(new.slug)
    name = shop_settings.check_name(new.name)
    timezone = shop_settings.check_timezone(new.timezone)
    print_ = fingerprint("POST", "/shops", {"slug": slug, "name": name, "timezone": timezone})
    try:
        with core.db.write() as session:
            if idempotency_key:
                replayed = _replayed(session, by, idempotency_key, print_)
                if replayed is not None:
                    return replayed
            if session.execute(select(Shop.id).where(Shop.slug == slug)).scalar() is not None:
                raise _slug_taken(slug)
            shop = Shop(
                slug=slug,
                name=name,
                timezone=timezone,
                locale=core.settings.default_locale,
                last_seq=0,
                settings={},
                created_at=core.now(),
            )
            session.add(shop)
            session.flush()
            created = CreatedShop(shop.id, slug, name, timezone)
            if idempotency_key:
                session.add(
                    IdempotencyRecord(
                        scope=by,
                        key=idempotency_key,
                        fingerprint=print_,
                        status=201,
                        body=created.as_json(),
                        created_at=core.now(),
                    )
                )
    except IntegrityError:
        # Another request made a shop of this slug between the check and the
        # insert (the unique index is the judge), or used this key meanwhile.
        with core.db.read() as session:
            if idempotency_key:
                replayed = _replayed(session, by, idempotency_key, print_)
                if replayed is not None:
                    return replayed
        raise _slug_taken(slug) from None
    log.info("shop %s (%s) created by %s", created.id, slug, by)
    return created


def shop_by_slug(core: Core, slug: str) -> CreatedShop:
    """A shop by its slug; an unknown slug is not found."""
    with core.db.read() as session:
        shop = session.execute(select(Shop).where(Shop.slug == slug)).scalar_one_or_none()
        if shop is None:
            raise errors.NotFound(f"No shop {slug!r}.")
        return CreatedShop(shop.id, shop.slug, shop.name, shop.timezone)
