"""API tokens as the admin page, REST v1 and the CLI see them (issue 14,
item 6): list a shop's tokens, make one (its secret shown once), revoke one.

Making and revoking a token go through ``commands.execute``, the one write
path, so each is recorded for the audit log in its own transaction
(``token_created``, ``token_revoked``; never the secret nor its hash): the
shop's row is locked, a replayed Idempotency-Key gets its first answer, and
revoking a revoked token changes nothing (its first revocation time stays,
and nothing more is recorded). A token is made as
``auth.create_api_token`` makes one (the set-up and the CLI's
``create-token`` still call that, unrecorded): a token role, a name, only
the hash stored. After the commit the process's credential cache is cleared; that
wakes this process's hub, which cuts the token's open Socket.IO connections
at once, and every other process's hub cuts its own within its next round
(``shared.realtime.hub.SWEEP_SECONDS``); their REST caches forget it within
``core.PRINCIPAL_TTL_SECONDS``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select

from shared.domain import errors
from shared.domain.order import Actor
from shared.domain.stages import Role
from shared.persistence.models import ApiToken, Shop
from shared.services import admin_events, auth, commands
from shared.services.commands import CommandRequest, Outcome, Transaction
from shared.services.core import Core

log = logging.getLogger(__name__)

# Only these may make a token that administers the shop: a manager making an
# admin token would give themselves more than they have.
ADMIN_TOKEN_MAKERS = frozenset({Role.ADMIN, Role.SYSTEM})
# Who the CLI acts as (an operator on the server, for any shop).
CLI_ACTOR = Actor(name="baylight CLI", roles=frozenset({Role.SYSTEM}), ref="system:cli")


@dataclass(frozen=True)
class TokenInfo:
    """One token as listed: never its secret (only its hash is stored)."""

    id: int
    shop_id: int
    shop: str
    name: str
    role: str
    user_id: int | None
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    def as_json(self) -> dict[str, Any]:
        """The REST view (``ApiToken`` in the OpenAPI document)."""
        return {
            "id": self.id,
            "name": self.name,
            "role": self.role,
            "user_id": self.user_id,
            "active": self.active,
            "created_at": self.created_at.isoformat(),
            "last_used_at": _iso(self.last_used_at),
            "revoked_at": _iso(self.revoked_at),
        }


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def _info(row: ApiToken, slug: str) -> TokenInfo:
    return TokenInfo(
        id=row.id,
        shop_id=row.shop_id,
        shop=slug,
        name=row.name,
        role=row.role,
        user_id=row.user_id,
        created_at=row.created_at,
        last_used_at=row.last_used_at,
        revoked_at=row.revoked_at,
    )


def list_tokens(core: Core, shop_id: int | None) -> list[TokenInfo]:
    """The tokens of one shop (``None``: of every shop, for the CLI): the
    working ones first, then the revoked, each oldest first."""
    query = select(ApiToken, Shop.slug).join(Shop, Shop.id == ApiToken.shop_id)
    if shop_id is not None:
        query = query.where(ApiToken.shop_id == shop_id)
    query = query.order_by(ApiToken.revoked_at.is_not(None), ApiToken.shop_id, ApiToken.id)
    with core.db.read() as session:
        return [_info(row, slug) for row, slug in session.execute(query)]


def create_token(core: Core, actor: Actor, *, shop_id: int, role: str, name: str) -> str:
    """A new bearer token of the shop; the plain secret is returned once and
    never stored (nor recorded: the command takes no Idempotency-Key, whose
    stored answer would keep it). Only an admin may make an admin token."""
    if role == Role.ADMIN.value and not actor.may(ADMIN_TOKEN_MAKERS):
        raise errors.Forbidden("Only an admin may make an admin token.")
    if role not in auth.TOKEN_ROLES:
        raise errors.ValidationFailed("role", f"role must be one of {', '.join(auth.TOKEN_ROLES)}")
    name = name.strip()
    if not name:
        raise errors.ValidationFailed("name", "A token needs a name.")
    secret = "bl_" + auth.new_secret()

    def work(tx: Transaction) -> tuple[int, dict[str, Any]]:
        row = ApiToken(
            shop_id=tx.locked.id,
            role=role,
            name=name,
            token_hash=auth.hash_secret(secret),
            user_id=None,
            created_at=tx.now,
        )
        tx.session.add(row)
        tx.session.flush()
        tx.audit(admin_events.TOKEN_CREATED, f"token:{row.id}", {"name": name, "role": role})
        return 201, _info(row, tx.shop.slug).as_json()

    commands.execute(core, CommandRequest(actor=actor, shop_id=shop_id), "create_token", work)
    return secret


def revoke_token(core: Core, request: CommandRequest, token_id: int) -> Outcome:
    """Revoke a token of ``request.shop_id`` (another shop's is as unknown
    as a missing one): 200 with the token as it is now. Idempotent: a
    revoked token stays revoked from its first revocation."""

    def work(tx: Transaction) -> tuple[int, dict[str, Any]]:
        row = tx.session.get(ApiToken, token_id)
        if row is None or row.shop_id != tx.locked.id:
            raise errors.NotFound(f"No token {token_id} in this shop.")
        if row.revoked_at is None:
            row.revoked_at = tx.now
            tx.session.flush()
            tx.audit(
                admin_events.TOKEN_REVOKED, f"token:{row.id}", {"name": row.name, "role": row.role}
            )
        return 200, _info(row, tx.shop.slug).as_json()

    outcome = commands.execute(core, request, "revoke_token", work)
    # Cleared after the commit: the hub's check then reads the revocation.
    core.principals.clear()
    if not outcome.replayed:
        log.info(
            "API token %s of shop %s revoked by %s",
            token_id,
            request.shop_id,
            request.actor.ref or request.actor.name,
        )
    return outcome


def shop_of_token(core: Core, token_id: int) -> int:
    """The shop a token belongs to (the CLI names a token by its id alone)."""
    with core.db.read() as session:
        shop_id = session.execute(select(ApiToken.shop_id).where(ApiToken.id == token_id)).scalar()
    if shop_id is None:
        raise errors.NotFound(f"No token {token_id}.")
    return int(shop_id)
