"""The one path every mutation takes.

``execute`` hands the command to the group committer: the commands waiting
for the writer share one short write transaction, each in a savepoint of its
own (``group_commit``). In it a command locks its shop's row (this orders
writers across processes on PostgreSQL and hands out ``seq``), answers a
replayed Idempotency-Key from its stored first result, runs, writes the
order row and its events, and stores the result for the key. The batch
commits once, and only then publishes, through the one publisher, each
command's order changes and the notices it gave (``Transaction.notify``).
Emits leave in commit order within a process: the publish lock
(``Core.publish_lock``) is taken before the commit. A command with a key
that the rules refuse changes nothing either, but its key is bound to the
request and the refusal (stored the same way), so a key only ever answers
one request.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, Update, bindparam, delete, insert, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from shared.domain import errors
from shared.domain.events import Event
from shared.domain.order import Actor, OrderState, apply_events
from shared.domain.stages import Role
from shared.persistence.models import (
    IdempotencyRecord,
    OrderEvent,
    RepairOrder,
    Shop,
    StaffUser,
)
from shared.realtime.publisher import Notice, OrderChange
from shared.services import admin_events, links, outbox
from shared.services.core import Core
from shared.services.group_commit import Job
from shared.services.rows import changed_columns, state_from_row, write_state
from shared.services.views import customer_view, lounge_view, staff_view

logger = logging.getLogger(__name__)
IDEMPOTENCY_KEY_MAX = 255
IDEMPOTENCY_TTL = timedelta(hours=48)


class IdempotencyKeyReuse(errors.DomainError):
    code = "idempotency_key_reuse"
    status = 422


class ReplayedRefusal(errors.DomainError):
    """The stored refusal of a key's first request, raised again for its replay.

    It carries the first refusal's status, code, detail and extras (the order
    as it was then), so the answer is the first answer; ``replayed`` lets the
    web layer say so in ``Idempotent-Replayed``.
    """

    replayed = True

    def __init__(self, status: int, code: str, detail: str, extra: dict[str, Any]) -> None:
        super().__init__(detail, **extra)
        self.status = status
        self.code = code


# A stored refusal is told from a stored result by its status (every command
# answers 2xx when it succeeds) and keeps the error's parts under this key.
_REFUSAL = "refusal"


def _refusal_record(refused: errors.DomainError) -> dict[str, Any]:
    """The refusal as JSON for the key's record. Extras are JSON already (the
    problem body carries them); ``default=str`` only keeps an odd one from
    turning the refusal into a server error."""
    parts = {"code": refused.code, "detail": refused.detail, "extra": refused.extra}
    return {_REFUSAL: json.loads(json.dumps(parts, ensure_ascii=False, default=str))}


def _replay(stored: IdempotencyRecord) -> Outcome:
    """The first answer to a key: its result, or its refusal raised again."""
    refusal = stored.body.get(_REFUSAL) if stored.status >= 400 else None
    if isinstance(refusal, dict):
        raise ReplayedRefusal(
            stored.status,
            str(refusal.get("code", "domain_error")),
            str(refusal.get("detail", "")),
            dict(refusal.get("extra") or {}),
        )
    return Outcome(stored.status, dict(stored.body), replayed=True)


@dataclass(frozen=True)
class CommandRequest:
    """Who asks, for which shop, and the Idempotency-Key with the request's
    fingerprint (method, path and canonical body) when there is one."""

    actor: Actor
    shop_id: int
    idempotency_key: str | None = None
    fingerprint: str | None = None


@dataclass
class Outcome:
    status: int
    body: dict[str, Any]
    replayed: bool = False
    changes: list[OrderChange] = field(default_factory=list)
    notices: list[Notice] = field(default_factory=list)
    # The shop's plan moved without any order changing (new opening hours):
    # the change listeners (the re-planner) hear of it as of an order's change.
    replan: bool = False


def fingerprint(method: str, path: str, body: Any) -> str:
    """Stable hash of a request, so a key reused with another body is caught.

    Total over what a JSON parser can hand over: a lone surrogate (``"\\ud800"``
    is valid JSON) is hashed as its own code point ("surrogatepass") instead of
    failing the request. Every other text hashes exactly as UTF-8, so keys
    stored before keep their fingerprints.
    """
    canonical = json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(
        f"{method} {path}\n{canonical}".encode("utf-8", "surrogatepass")
    ).hexdigest()


def validate_idempotency_key(key: str | None) -> str | None:
    if key is None or key == "":
        return None
    if len(key) > IDEMPOTENCY_KEY_MAX or not all(33 <= ord(c) <= 126 for c in key):
        raise errors.ValidationFailed(
            "Idempotency-Key", "Idempotency-Key must be 1–255 printable ASCII characters."
        )
    return key


class LockedShop:
    """The command's shop as its locked row read: what every order command
    needs (id, time zone, settings, seq) without the ORM entity, whose load
    was the costliest statement of a status change. ``entity`` loads the
    ``Shop`` for a command that needs more of it (or changes it); from then
    on the time zone and settings are the entity's, so a change a command
    makes to them is what the rest of its transaction reads."""

    __slots__ = ("_entity", "_session", "_settings", "_timezone", "id", "last_seq")

    def __init__(
        self, session: Session, shop_id: int, timezone: str, settings: Any, last_seq: int
    ) -> None:
        self._session = session
        self.id = shop_id
        self._timezone = timezone
        self._settings: dict[str, Any] = settings if isinstance(settings, dict) else {}
        self.last_seq = last_seq
        self._entity: Shop | None = None

    @property
    def entity(self) -> Shop:
        if self._entity is None:
            found = self._session.get(Shop, self.id)
            if found is None:  # locked in this transaction: cannot be gone
                raise errors.NotFound(f"No shop {self.id}.")
            # The seq is counted with plain statements: the entity is told.
            set_committed_value(found, "last_seq", self.last_seq)
            self._entity = found
        return self._entity

    @property
    def timezone(self) -> str:
        return self._entity.timezone if self._entity is not None else self._timezone

    @property
    def settings(self) -> dict[str, Any]:
        if self._entity is not None:
            return self._entity.settings or {}
        return self._settings

    def counted(self, seq: int) -> None:
        """The shop's seq is now ``seq`` (written by the caller)."""
        self.last_seq = seq
        if self._entity is not None:
            set_committed_value(self._entity, "last_seq", seq)


class Transaction:
    """What a command's body works with: the session, the locked shop, the
    clock reading, and ``record`` to apply events to an order.

    ``locked`` is the shop's locked row (cheap: what order commands read);
    ``shop`` the ORM entity, loaded on first use."""

    def __init__(
        self, core: Core, session: Session, locked: LockedShop, request: CommandRequest
    ) -> None:
        self.core = core
        self.session = session
        self.locked = locked
        self.request = request
        self.now: datetime = core.now()
        self._touched: dict[int, RepairOrder] = {}
        self._last_seq: dict[int, int] = {}
        # The shop's seq just before this command's first event on each order:
        # screens compare it with their own seq to tell a real gap from the
        # several events of one command.
        self._prev_seq: dict[int, int] = {}
        self._staff_views: dict[int, tuple[tuple[int, datetime], dict[str, Any]]] = {}
        self._states: dict[int, tuple[tuple[int, datetime], OrderState]] = {}
        self.notices: list[Notice] = []
        self.replans = False

    @property
    def shop(self) -> Shop:
        return self.locked.entity

    @property
    def actor(self) -> Actor:
        return self.request.actor

    def load_order(self, order_id: int) -> RepairOrder:
        # A statement built once, not ``session.get``: that builds its select
        # anew on every call, and costs half again as much as the read.
        row = self.session.execute(_ORDER_BY_ID, {"b_id": order_id}).scalar_one_or_none()
        if row is None or row.shop_id != self.locked.id:
            raise errors.NotFound(f"No order {order_id} in this shop.")
        return row

    def check_version(self, row: RepairOrder, version: int) -> OrderState:
        """The optimistic check: the caller must have seen every change a
        person made (``edit_version``); the engine's estimate revisions since
        do not make a caller's view stale."""
        if not row.edit_version <= version <= row.version:
            raise self.refuse(
                errors.StaleVersion(
                    f"The order changed (version {row.version}, you sent {version}). "
                    "Here is the current state."
                ),
                row,
            )
        return state_from_row(row)

    def refuse(self, error: errors.DomainError, row: RepairOrder) -> errors.DomainError:
        """Attach the current order to a refusal, so the client can redraw."""
        error.extra["order"] = self.view(row)
        return error

    @property
    def for_customer(self) -> bool:
        """A customer's own link acts: answers carry only the customer view."""
        return Role.CUSTOMER in self.actor.roles

    def record(
        self,
        row: RepairOrder,
        state: OrderState | None,
        events: Sequence[Event],
        folded: OrderState | None = None,
    ) -> OrderState:
        """Apply events: fold them onto the state (unless the caller already
        did: ``folded``), write the row, append the log."""
        new_state = folded if folded is not None else apply_events(state, events)
        if row.id is None:
            write_state(row, new_state)
            self.session.add(row)
            self.session.flush()
        else:
            # The stored row is updated with one plain statement, and the
            # object told that those values are now stored: a stage change
            # touches a handful of columns, and the unit of work's flush of
            # them cost more than the statement. Anything else a command sets
            # on the row directly is still flushed at commit.
            changed = changed_columns(row, new_state)
            if changed:
                params = {f"b_{name}": value for name, value in changed.items()}
                params["b_id"] = row.id
                self.session.connection().execute(_order_update(frozenset(changed)), params)
                for name, value in changed.items():
                    set_committed_value(row, name, value)
        seq = self.locked.last_seq
        self._prev_seq.setdefault(row.id, seq)
        rows = []
        for event in events:
            seq += 1
            rows.append(
                {
                    "shop_id": self.locked.id,
                    "seq": seq,
                    "order_id": row.id,
                    "type": event.type,
                    "at": event.at,
                    "actor": self.actor.ref or self.actor.name,
                    "actor_name": self.actor.name,
                    "data": event.data(),
                    "idempotency_key": self.request.idempotency_key,
                }
            )
        if rows:
            # Events are only appended and the shop's seq only counted up,
            # never read back in the command: plain statements, without the
            # unit of work's per-object bookkeeping. The shop row is locked.
            connection = self.session.connection()
            connection.execute(_EVENT_INSERT, rows)
            connection.execute(_SEQ_UPDATE, {"b_shop": self.locked.id, "b_seq": seq})
            self.locked.counted(seq)
            if outbox.wants_messages(row):
                # The customer's messages commit with their cause, or not at all.
                first = seq - len(rows) + 1
                caused = [(first + i, e) for i, e in enumerate(events)]
                outbox.enqueue(self, row, caused)
        self._touched[row.id] = row
        self._last_seq[row.id] = seq
        return new_state

    def audit(self, kind: str, target: str, data: Mapping[str, Any] | None = None) -> None:
        """Record this administration command for the audit log
        (``admin_events``: who, when, ``kind``, ``target``, what changed),
        in the command's savepoint: it commits with the command or not at
        all, and a replayed Idempotency-Key, whose command does not run
        again, records nothing more."""
        admin_events.record(
            self.session,
            shop_id=self.locked.id,
            actor=self.actor,
            at=self.now,
            kind=kind,
            target=target,
            data=data or {},
        )

    def replan(self) -> None:
        """After commit, plan the shop now though no order changed (its hours
        or time zone did: every estimate moves), not at the next round."""
        self.replans = True

    def notify(self, notice: Notice) -> None:
        """Send ``notice`` with this command's order messages after commit
        (a change that is no order's state: nothing if the command fails)."""
        self.notices.append(notice)

    def names(self, rows: Sequence[RepairOrder]) -> dict[int, str]:
        """Technicians' names for the views, from the process-wide cache
        (``Core.staff_names``) or, for the ones it lacks, one query."""
        ids = {int(t) for row in rows for t in row.technicians}
        cache = self.core.staff_names
        names = {user_id: cache.get(str(user_id)) for user_id in ids}
        missing = [user_id for user_id, name in names.items() if name is None]
        if missing:
            # No command changes staff rows, so whatever the unit of work
            # still holds (a new order, an idempotency row) need not be
            # flushed first: it goes in one flush at commit.
            with self.session.no_autoflush:
                found = self.session.execute(
                    select(StaffUser.id, StaffUser.name).where(StaffUser.id.in_(missing))
                ).all()
            for user_id, name in found:
                names[user_id] = name
                cache.put(str(user_id), name)
        return {user_id: name for user_id, name in names.items() if name is not None}

    def view(self, row: RepairOrder) -> dict[str, Any]:
        """The order as the acting principal may see it."""
        if self.for_customer:
            return customer_view(row, now=self.now, state=self._state(row))
        return dict(self._staff_view(row))

    def _staff_view(self, row: RepairOrder) -> dict[str, Any]:
        """The staff view, built once per state of the row: the answer and the
        emit of a command both need it."""
        key = (row.version, row.updated_at)
        cached = self._staff_views.get(row.id)
        if cached is None or cached[0] != key:
            base = links.base_url(self.core.settings)
            view = staff_view(row, self.names([row]), base, self.now, self._state(row))
            cached = self._staff_views[row.id] = (key, view)
        return cached[1]

    def _state(self, row: RepairOrder) -> OrderState:
        """The row's state, read from its columns once per state of the row
        (the same key as the staff view's): the staff and customer views of
        one change both need it."""
        key = (row.version, row.updated_at)
        cached = self._states.get(row.id)
        if cached is None or cached[0] != key:
            cached = self._states[row.id] = (key, state_from_row(row))
        return cached[1]

    def changes(self) -> list[OrderChange]:
        rows = list(self._touched.values())
        return [
            OrderChange(
                shop_id=self.locked.id,
                order_id=row.id,
                seq=self._last_seq[row.id],
                prev_seq=self._prev_seq[row.id],
                staff=self._staff_view(row),
                lounge=lounge_view(row),
                customer=customer_view(row, now=self.now, state=self._state(row)),
            )
            for row in sorted(rows, key=lambda r: self._last_seq[r.id])
        ]


_ORDERS = cast(Table, RepairOrder.__table__)


@functools.lru_cache(maxsize=256)
def _order_update(columns: frozenset[str]) -> Update:
    """One prepared statement per set of changed columns (a handful of sets
    cover every command), so its compiled form and cache key are reused."""
    return (
        update(_ORDERS)
        .where(_ORDERS.c.id == bindparam("b_id"))
        .values({name: bindparam(f"b_{name}") for name in columns})
    )


_EVENT_INSERT = insert(cast(Table, OrderEvent.__table__))
_SEQ_UPDATE = (
    update(cast(Table, Shop.__table__))
    .where(Shop.__table__.c.id == bindparam("b_shop"))
    .values(last_seq=bindparam("b_seq"))
)
# The shop rows a batch's transaction holds locked, by id (``Session.info``).
_LOCKED_SHOPS = "baylight_locked_shops"
# Every command starts here; built once, so its cache key is too.
_ORDER_BY_ID = select(RepairOrder).where(RepairOrder.id == bindparam("b_id"))
_SHOPS = cast(Table, Shop.__table__)
_LOCK_SHOP = (
    select(_SHOPS.c.id, _SHOPS.c.timezone, _SHOPS.c.settings, _SHOPS.c.last_seq)
    .where(_SHOPS.c.id == bindparam("b_shop"))
    .with_for_update()
)
_STORED_KEY = select(IdempotencyRecord).where(
    IdempotencyRecord.scope == bindparam("b_scope"),
    IdempotencyRecord.key == bindparam("b_key"),
)


def execute(
    core: Core,
    request: CommandRequest,
    name: str,
    work: Callable[[Transaction], tuple[int, dict[str, Any]]],
) -> Outcome:
    """Run one command as described in the module docstring; after its emits
    it yields once (``Publisher.let_deliveries_go``), outside the timing."""
    started = time.perf_counter()
    outcome_label = "error"
    try:
        outcome = _execute(core, request, work)
        outcome_label = "replayed" if outcome.replayed else "ok"
    except errors.DomainError as refused:
        outcome_label = refused.code
        raise
    finally:
        core.metrics.command(name, outcome_label, time.perf_counter() - started)
    if outcome.changes or outcome.notices:
        core.publisher.let_deliveries_go()
    return outcome


def _execute(
    core: Core, request: CommandRequest, work: Callable[[Transaction], tuple[int, dict[str, Any]]]
) -> Outcome:
    """Hand the command to the group committer (``group_commit``): it runs in
    a savepoint of a transaction it may share with other waiting commands of
    the shop, and its answer comes back once that transaction is on disk."""
    job = Job(
        shop_id=request.shop_id,
        run=lambda session, savepoint: _run_one(core, session, request, work, savepoint),
        publish=lambda outcome: _published(core, request, outcome),
        keyed=request.idempotency_key is not None,
    )
    outcome: Outcome = core.committer.submit(job)
    return outcome


def run_batch(core: Core, batch: list[Job]) -> None:
    """One transaction for ``batch``: each command in its savepoint, one
    commit (its disk wait off the hub), then each accepted command's emits in
    order. The publish lock is taken before the commit, so the next batch
    cannot emit before this one. Raises only when nothing was committed.

    A batch of one command (the usual case below saturation) runs without a
    savepoint: one it would only need to undo a refusal, which then undoes
    the whole transaction instead. A refusal whose Idempotency-Key must be
    stored with it (in the same transaction) is run again in a savepoint;
    the two statements of a savepoint were about 4 % of the server's time
    for every change in the busy dealer of ``make bench``."""
    if len(batch) == 1 and _ran_alone(core, batch[0]):
        return
    publish_held = False
    try:
        with core.db.write() as session:
            for job in batch:
                try:
                    job.answer = job.run(session, True)
                except Exception as failed:
                    # Refused by the rules, or broken: either way rolled back
                    # to its own savepoint, and the others go on.
                    job.error = failed
            core.publish_lock.acquire()
            publish_held = True
            core.db.sync_commit(session)
        core.metrics.committed(len(batch))
        for job in batch:
            if job.error is None:
                job.publish(job.answer)
    finally:
        if publish_held:
            core.publish_lock.release()


def _ran_alone(core: Core, job: Job) -> bool:
    """``job`` alone in its transaction, without a savepoint: committed and
    published, or refused (or failed) with the transaction rolled back, so
    nothing of it is written. False: refused by the rules, nothing written,
    and the refusal is to be stored with its Idempotency-Key, which takes a
    savepoint (``run_batch`` runs the command again that way, reading the
    database again under the lock)."""
    publish_held = False
    try:
        with core.db.write() as session:
            try:
                job.answer = job.run(session, False)
            except _KeyedRefusal:
                session.rollback()
                return False
            except Exception as failed:
                session.rollback()
                job.error = failed
                return True
            core.publish_lock.acquire()
            publish_held = True
            core.db.sync_commit(session)
        core.metrics.committed(1)
        job.publish(job.answer)
        return True
    finally:
        if publish_held:
            core.publish_lock.release()


def _published(core: Core, request: CommandRequest, outcome: Outcome) -> None:
    """Emit the committed change, then tell the listeners the shop changed."""
    _publish(core, outcome)
    if outcome.changes or outcome.replan:
        for listener in core.change_listeners:
            try:
                listener(request.shop_id, request.actor)
            except Exception:
                logger.exception("a change listener failed")


def _publish(core: Core, outcome: Outcome) -> None:
    if not (outcome.changes or outcome.notices):
        return
    try:
        core.publisher.publish(outcome.changes, outcome.notices)
    except Exception:
        # The change is committed; screens catch up from the database on
        # their next seq check, so the caller must not see a failure.
        logger.exception("publishing seq %s failed", [c.seq for c in outcome.changes])


class _KeyedRefusal(Exception):
    """A command run without a savepoint was refused by the rules and has an
    Idempotency-Key to store that refusal with: run it in a savepoint."""


def _run_one(
    core: Core,
    session: Session,
    request: CommandRequest,
    work: Callable[[Transaction], tuple[int, dict[str, Any]]],
    own_savepoint: bool = True,
) -> Outcome:
    """One command inside the batch's transaction, in a savepoint of its own:
    whatever it wrote is undone if it is refused, and a refusal of the rules
    binds its Idempotency-Key to that refusal (stored in the same
    transaction), so a key only ever answers one request.

    Without ``own_savepoint`` (a batch of one, ``run_batch``), any exception
    leaves the undoing to the caller, which rolls the whole transaction
    back; a refusal with a key raises ``_KeyedRefusal`` instead of storing it."""
    if not own_savepoint:
        return _run_unguarded(core, session, request, work)
    scope = request.actor.ref or request.actor.name
    locked: dict[int, LockedShop] = session.info.setdefault(_LOCKED_SHOPS, {})
    savepoint = session.begin_nested()
    try:
        shop = locked.get(request.shop_id) or _lock_shop(session, request.shop_id)
        stored = _stored_answer(session, request, scope)
        if stored is not None:
            replayed = _replay(stored)
            savepoint.commit()
            return replayed
        tx = Transaction(core, session, shop, request)
        try:
            status, body = work(tx)
        except errors.DomainError as refusal:
            _undo(session, savepoint)
            if request.idempotency_key:
                with session.begin_nested():
                    _bind_key(
                        session, request, scope, refusal.status, _refusal_record(refusal), tx.now
                    )
            raise
        changes, notices = tx.changes(), tx.notices
        if request.idempotency_key:
            _bind_key(session, request, scope, status, body, tx.now)
        savepoint.commit()
        # Released into the batch's transaction, the shop row stays locked
        # (and its seq current) for the next command of the batch.
        locked[shop.id] = shop
        return Outcome(status, body, changes=changes, notices=notices, replan=tx.replans)
    except BaseException:
        if savepoint.is_active:
            _undo(session, savepoint)
        raise


def _lock_shop(session: Session, shop_id: int) -> LockedShop:
    """The command's shop, its row locked for the rest of the transaction:
    read as a plain row (the ORM's load of the entity was 6 % of a status
    change's samples in a profile of the busy dealer; the plain row saved
    about a third of that). Pending changes are flushed first, as the ORM's
    own query would."""
    session.flush()
    found = session.connection().execute(_LOCK_SHOP, {"b_shop": shop_id}).first()
    if found is None:
        raise errors.NotFound(f"No shop {shop_id}.")
    return LockedShop(session, found.id, found.timezone, found.settings, found.last_seq)


def _stored_answer(
    session: Session, request: CommandRequest, scope: str
) -> IdempotencyRecord | None:
    """The stored first answer to the request's Idempotency-Key, if any;
    the key sent with a different request is refused."""
    if not request.idempotency_key:
        return None
    stored = session.execute(
        _STORED_KEY, {"b_scope": scope, "b_key": request.idempotency_key}
    ).scalar_one_or_none()
    if stored is not None and stored.fingerprint != (request.fingerprint or ""):
        raise IdempotencyKeyReuse("This Idempotency-Key was used with a different request.")
    return stored


def _run_unguarded(
    core: Core,
    session: Session,
    request: CommandRequest,
    work: Callable[[Transaction], tuple[int, dict[str, Any]]],
) -> Outcome:
    """``_run_one`` of a command alone in its transaction: no savepoint, so
    nothing to release; on any exception the caller rolls back."""
    scope = request.actor.ref or request.actor.name
    shop = _lock_shop(session, request.shop_id)
    stored = _stored_answer(session, request, scope)
    if stored is not None:
        return _replay(stored)
    tx = Transaction(core, session, shop, request)
    try:
        status, body = work(tx)
    except errors.DomainError as refusal:
        if request.idempotency_key:
            raise _KeyedRefusal from refusal
        raise
    changes, notices = tx.changes(), tx.notices
    if request.idempotency_key:
        _bind_key(session, request, scope, status, body, tx.now)
    return Outcome(status, body, changes=changes, notices=notices, replan=tx.replans)


def _undo(session: Session, savepoint: Any) -> None:
    """Roll back to the command's savepoint and forget what the session
    remembers of it: rows and the shop's seq were told their new values were
    stored (``set_committed_value``), which a rollback does not undo, and the
    next command of the batch must read them as they are."""
    savepoint.rollback()
    session.expire_all()
    # A lock taken inside the savepoint went with it (PostgreSQL releases
    # it), and the shop's seq must be read again: the next command locks anew.
    session.info.pop(_LOCKED_SHOPS, None)


def _bind_key(
    session: Session,
    request: CommandRequest,
    scope: str,
    status: int,
    body: dict[str, Any],
    at: datetime,
) -> None:
    """Store the first answer to this key with the request's fingerprint:
    one plain statement (the record is only ever read back by a later
    request), without the unit of work's flush of one new object."""
    assert request.idempotency_key is not None
    session.connection().execute(
        _KEY_INSERT,
        {
            "scope": scope,
            "key": request.idempotency_key,
            "fingerprint": request.fingerprint or "",
            "status": status,
            "body": body,
            "created_at": at,
        },
    )


_KEY_INSERT = insert(cast(Table, IdempotencyRecord.__table__))


def purge_idempotency_records(core: Core, older_than: timedelta = IDEMPOTENCY_TTL) -> int:
    """Forget keys older than the retention (≥ 24 h is promised; 48 h is kept)."""
    cutoff = core.now() - older_than
    with core.db.write() as session:
        result = session.execute(
            delete(IdempotencyRecord).where(IdempotencyRecord.created_at < cutoff)
        )
        return int(getattr(result, "rowcount", 0) or 0)
