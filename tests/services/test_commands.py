"""Service tests: every order command writes the row and its events in one
commit, and only then emits, once per audience, with that audience's view.

The screens are Flask-SocketIO's in-process test clients connected to the
app's real Socket.IO server, so rooms and redaction are the production ones.
Between the publisher and that server sits ``CommitWitness``: it forwards
every emit unchanged and, at the moment of the emit, looks for the message's
event through a new database connection. Another connection sees only
committed rows, so finding the event proves the emit left after the commit.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, cast
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from shared.domain import errors
from shared.domain.events import WorkItem
from shared.domain.extra_work import QuoteTerms
from shared.domain.stages import PauseReason, Stage
from shared.persistence.models import IdempotencyRecord, OrderEvent, RepairOrder
from shared.services import orders, queries
from shared.services.auth import resolve_bearer
from shared.services.commands import CommandRequest, Outcome, fingerprint
from shared.services.core import Core
from shared.services.views import customer_view, lounge_view
from tests.conftest import LOUNGE_KEYS, HandClock, parking_lane

# 09:30 in Shanghai: inside a business day, so queue numbers start at 1.
T0 = datetime(2025, 6, 2, 1, 30, tzinfo=UTC)


@dataclass(frozen=True)
class Sighting:
    """One emit as the witness saw it, and whether its event was committed."""

    room: str
    seq: int
    order_id: int
    committed: bool


class CommitWitness:
    """Sits where the publisher expects Socket.IO and forwards to the real one."""

    def __init__(self, core: Core, hub: Any) -> None:
        self.core = core
        self.hub = hub
        self.sightings: list[Sighting] = []

    def emit(self, event: str, data: Any, *, to: str, namespace: str = "/") -> Any:
        order_id = int(data["order"]["id"])
        with self.core.db.read() as session:
            found = session.execute(
                select(OrderEvent.id).where(
                    OrderEvent.order_id == order_id, OrderEvent.seq == data["seq"]
                )
            ).first()
        self.sightings.append(Sighting(to, int(data["seq"]), order_id, found is not None))
        return self.hub.emit(event, data, to=to, namespace=namespace)


@dataclass
class Bench:
    """The app, its real hub with connected screens, and database read helpers."""

    app: Any
    socketio: Any
    core: Core
    shop: Any
    clock: HandClock
    witness: CommitWitness
    clients: list[Any] = field(default_factory=list)

    def request(self, role: str, key: str | None = None, body: Any = None) -> CommandRequest:
        principal = resolve_bearer(self.core, self.shop.tokens[role])
        assert principal is not None
        return CommandRequest(
            actor=principal.actor(),
            shop_id=self.shop.shop_id,
            idempotency_key=key,
            fingerprint=fingerprint("POST", "/test", body) if key else None,
        )

    def connect(self, token: str) -> Any:
        """A screen on the real hub, its snapshot already read."""
        client = self.socketio.test_client(self.app, auth={"token": token})
        assert client.is_connected()
        self.clients.append(client)
        received = client.get_received()
        assert [m["name"] for m in received] == ["snapshot"]
        return client

    def row(self, order_id: int) -> RepairOrder:
        with self.core.db.read() as session:
            row = session.get(RepairOrder, order_id)
            assert row is not None
            session.expunge(row)
            return row

    def last_seq(self) -> int:
        return queries.current_seq(self.core, self.shop.shop_id)

    def events_after(self, seq: int) -> list[OrderEvent]:
        with self.core.db.read() as session:
            found = session.execute(
                select(OrderEvent)
                .where(OrderEvent.shop_id == self.shop.shop_id, OrderEvent.seq > seq)
                .order_by(OrderEvent.seq)
            ).scalars()
            rows = list(found)
            session.expunge_all()
            return rows

    def count(self, model: Any) -> int:
        with self.core.db.read() as session:
            return int(session.execute(select(func.count()).select_from(model)).scalar_one())


@pytest.fixture
def bench(app: Any, socketio: Any, core: Core, shop: Any) -> Iterator[Bench]:
    clock = HandClock(T0)
    core.clock = clock
    witness = CommitWitness(core, socketio)
    core.publisher.emitter = witness
    made = Bench(app, socketio, core, shop, clock, witness)
    yield made
    for client in made.clients:
        if client.is_connected():
            client.disconnect()


# ---------------------------------------------------------------- order set-up


def open_order(bench: Bench, **fields: Any) -> int:
    fields.setdefault("plate", "粤B12345")
    return int(orders.create_order(bench.core, bench.request("advisor"), **fields).body["id"])


def dispatched(bench: Bench, **fields: Any) -> int:
    order_id = open_order(bench, **fields)
    orders.assign_order(
        bench.core,
        bench.request("foreman"),
        order_id,
        bay=parking_lane(bench.core, bench.shop.shop_id),
        technicians=[bench.shop.technicians[0]],
        version=1,
    )
    return order_id


def move(bench: Bench, order_id: int, role: str, to: Stage, **more: Any) -> None:
    version = bench.row(order_id).version
    orders.transition_order(
        bench.core, bench.request(role), order_id, to=to, version=version, **more
    )


def in_progress(bench: Bench, **fields: Any) -> int:
    """Started by the foreman: a technician may run only one labour clock,
    and a test may need several orders in repair at once."""
    order_id = dispatched(bench, **fields)
    bench.clock.advance(minutes=5)
    move(bench, order_id, "foreman", Stage.IN_PROGRESS)
    bench.clock.advance(minutes=40)
    return order_id


def in_check(bench: Bench, passed: int = 0) -> int:
    """In quality_check with ``passed`` levels of the chain already signed."""
    order_id = in_progress(bench)
    move(bench, order_id, "technician", Stage.QUALITY_CHECK)
    for _ in range(passed):
        version = bench.row(order_id).version
        orders.pass_check(bench.core, bench.request("foreman"), order_id, version=version)
    return order_id


def awaiting_approval(bench: Bench) -> int:
    order_id = in_progress(bench)
    orders.quote_extra_work(
        bench.core,
        bench.request("technician"),
        order_id,
        QuoteTerms("前刹车片磨损 brake pads worn", 1.0, 48_000),
        version=bench.row(order_id).version,
    )
    return order_id


# ---------------------------------------------------------------- observation


@dataclass
class Observed:
    outcome: Outcome
    row: RepairOrder
    events: list[OrderEvent]


@dataclass
class Screens:
    board: Any
    lounge: Any
    bystander: Any
    own: Any | None


def screens_for(bench: Bench, order_id: int | None) -> Screens:
    """Board, lounge, the customer of another order, and (once the order
    exists) the customer of this one."""
    bystander_id = open_order(bench, plate="京A99999", customer_name="路人")
    own = bench.connect(bench.row(order_id).customer_token) if order_id else None
    return Screens(
        board=bench.connect(bench.shop.tokens["display-board"]),
        lounge=bench.connect(bench.shop.tokens["display-lounge"]),
        bystander=bench.connect(bench.row(bystander_id).customer_token),
        own=own,
    )


def only_order_message(client: Any) -> dict[str, Any]:
    received = client.get_received()
    assert [m["name"] for m in received] == ["order"], received
    message: dict[str, Any] = received[0]["args"][0]
    return message


def observe(
    bench: Bench, screens: Screens, order_id: int | None, command: Callable[[], Outcome]
) -> Observed:
    """Run one accepted command and check what every command must do:
    consecutive events ending at shop.last_seq, version bumped by their
    number, and one message per audience with that seq, after commit."""
    seq_before = bench.last_seq()
    version_before = bench.row(order_id).version if order_id else 0
    bench.witness.sightings.clear()

    outcome = command()

    staff = outcome.body.get("order", outcome.body)
    order_id = int(staff["id"])
    row = bench.row(order_id)
    seq_after = bench.last_seq()
    events = bench.events_after(seq_before)
    assert events, "an accepted command writes at least one event"
    assert [e.seq for e in events] == list(range(seq_before + 1, seq_after + 1))
    assert {e.order_id for e in events} == {order_id}
    assert row.version == version_before + len(events)

    read_side = queries.get_order(bench.core, bench.shop.shop_id, order_id)
    read_side.pop("history")
    assert staff == read_side
    # prev_seq is the shop's seq before the command, so a screen holding it
    # knows the command's several events left no gap.
    stamp = {"seq": seq_after, "prev_seq": seq_before}
    assert only_order_message(screens.board) == {**stamp, "order": staff}
    lounge = only_order_message(screens.lounge)
    assert lounge == {**stamp, "order": lounge_view(row)}
    assert set(lounge["order"]) == LOUNGE_KEYS
    if screens.own is not None:
        own = only_order_message(screens.own)
        assert own == {**stamp, "order": customer_view(row)}
    assert screens.bystander.get_received() == []

    rooms = {s.room for s in bench.witness.sightings}
    assert rooms == {
        f"staff:{bench.shop.shop_id}",
        f"lounge:{bench.shop.shop_id}",
        f"order:{order_id}",
    }
    assert len(bench.witness.sightings) == 3
    assert all(s.seq == seq_after and s.committed for s in bench.witness.sightings)
    return Observed(outcome, row, events)


def assert_event_rows(
    observed: Observed, bench: Bench, role: str, key: str | None, expected: list[dict[str, Any]]
) -> None:
    """Type, actor, data and Idempotency-Key of each written event."""
    principal = resolve_bearer(bench.core, bench.shop.tokens[role])
    assert principal is not None
    written = [
        {
            "type": e.type,
            "actor": e.actor,
            "actor_name": e.actor_name,
            "at": e.at,
            "key": e.idempotency_key,
            "data": e.data,
        }
        for e in observed.events
    ]
    assert written == [
        {
            "type": want["type"],
            "actor": principal.ref,
            "actor_name": principal.name,
            "at": bench.clock.now,
            "key": key,
            "data": want["data"],
        }
        for want in expected
    ]


def stage_changed(
    frm: str, to: str, reason: str = "", pause_reason: str | None = None
) -> dict[str, Any]:
    return {
        "type": "stage_changed",
        "data": {"from_stage": frm, "to_stage": to, "reason": reason, "pause_reason": pause_reason},
    }


# ---------------------------------------------------------------- accepted commands


def test_create_order(bench: Bench) -> None:
    screens = screens_for(bench, None)
    promised = datetime(2025, 6, 2, 10, 0, tzinfo=UTC)
    body = {"plate": "粤b 12345"}
    observed = observe(
        bench,
        screens,
        None,
        lambda: orders.create_order(
            bench.core,
            bench.request("advisor", "create-1", body),
            plate="粤b 12345",
            customer_name="张三",
            customer_phone="13800138000",
            vehicle_model="Passat",
            vehicle_vin="lsvau2180n2183294",
            vehicle_mileage=42_000,
            complaint="异响",
            items=[WorkItem("保养 service", 1.5)],
            promised_at=promised,
            waiting=True,
            wash=True,
            priority="vip",
        ),
    )
    row = observed.row
    assert observed.outcome.status == 201
    # The bystander's order took number 1 on this business day.
    assert (row.number, row.plate, row.stage, row.version) == (2, "粤B12345", "checked_in", 1)
    assert row.vehicle_vin == "LSVAU2180N2183294"
    assert row.promised_at == promised
    assert len(row.customer_token) >= 43
    assert_event_rows(
        observed,
        bench,
        "advisor",
        "create-1",
        [
            {
                "type": "order_created",
                "data": {
                    "number": 2,
                    "plate": "粤B12345",
                    "stage": "checked_in",
                    "customer_name": "张三",
                    "customer_phone": "13800138000",
                    "vehicle_model": "Passat",
                    "vehicle_vin": "LSVAU2180N2183294",
                    "vehicle_mileage": 42_000,
                    "complaint": "异响",
                    "items": [{"title": "保养 service", "labour_hours": 1.5}],
                    "promised_at": promised.isoformat(),
                    "waiting": True,
                    "wash": True,
                    "priority": "vip",
                    # The advisor token is not a staff user's.
                    "advisor_id": None,
                },
            }
        ],
    )
    # The customer who scans the new ticket sees this order, redacted.
    customer = bench.socketio.test_client(bench.app, auth={"token": row.customer_token})
    bench.clients.append(customer)
    snapshot = customer.get_received()[0]["args"][0]
    assert snapshot["seq"] == bench.last_seq()
    assert [o["id"] for o in snapshot["orders"]] == [row.id]
    assert "13800138000" not in str(snapshot)


def test_promised_at_is_spelled_the_same_in_the_emit_and_on_reload(bench: Bench) -> None:
    screens = screens_for(bench, None)
    promised = datetime(2025, 6, 2, 18, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
    outcome = orders.create_order(
        bench.core, bench.request("advisor"), plate="粤B12345", promised_at=promised
    )
    emitted = only_order_message(screens.board)["order"]
    reloaded = queries.get_order(bench.core, bench.shop.shop_id, outcome.body["id"])
    assert emitted["promised_at"] == reloaded["promised_at"]


def test_assign_order_dispatches_a_checked_in_order(bench: Bench) -> None:
    order_id = open_order(bench)
    screens = screens_for(bench, order_id)
    technicians = [bench.shop.technicians[1], bench.shop.technicians[0]]
    observed = observe(
        bench,
        screens,
        order_id,
        lambda: orders.assign_order(
            bench.core,
            bench.request("foreman", "assign-1", {"bay": "B02"}),
            order_id,
            bay="B02",
            technicians=technicians,
            version=1,
        ),
    )
    row = observed.row
    assert (row.stage, row.bay, row.technicians, row.version) == (
        "dispatched",
        "B02",
        technicians,
        3,
    )
    assert [t["name"] for t in observed.outcome.body["technicians"]] == ["李师傅", "王师傅"]
    assert_event_rows(
        observed,
        bench,
        "foreman",
        "assign-1",
        [
            {"type": "assigned", "data": {"bay": "B02", "technicians": technicians}},
            stage_changed("checked_in", "dispatched"),
        ],
    )


def test_transition_order_starts_work(bench: Bench) -> None:
    order_id = dispatched(bench)
    screens = screens_for(bench, order_id)
    bench.clock.advance(minutes=10)
    observed = observe(
        bench,
        screens,
        order_id,
        lambda: orders.transition_order(
            bench.core, bench.request("technician"), order_id, to=Stage.IN_PROGRESS, version=3
        ),
    )
    row = observed.row
    assert (row.stage, row.version, row.stage_entered_at) == ("in_progress", 4, bench.clock.now)
    assert_event_rows(
        observed, bench, "technician", None, [stage_changed("dispatched", "in_progress")]
    )


def test_transition_order_pauses_for_parts(bench: Bench) -> None:
    order_id = in_progress(bench)
    screens = screens_for(bench, order_id)
    observed = observe(
        bench,
        screens,
        order_id,
        lambda: orders.transition_order(
            bench.core,
            bench.request("technician", "pause-1", {"to": "paused"}),
            order_id,
            to=Stage.PAUSED,
            version=4,
            reason="待料 waiting for a pump",
            pause_reason=PauseReason.PARTS,
        ),
    )
    row = observed.row
    assert (row.stage, row.pause_reason, row.pause_note) == (
        "paused",
        "parts",
        "待料 waiting for a pump",
    )
    # 40 minutes passed in repair between the start and this pause.
    assert row.worked_minutes == pytest.approx(40)
    assert_event_rows(
        observed,
        bench,
        "technician",
        "pause-1",
        [
            {
                "type": "parts_requested",
                "data": {"part_id": 1, "description": "待料 waiting for a pump", "eta": None},
            },
            stage_changed("in_progress", "paused", "待料 waiting for a pump", "parts"),
            {
                "type": "pause_reason_added",
                "data": {
                    "key": "parts:1",
                    "reason": "parts",
                    "note": "待料 waiting for a pump",
                    "expected_at": None,
                },
            },
        ],
    )


def test_pass_check_signs_one_level(bench: Bench) -> None:
    order_id = in_check(bench)
    screens = screens_for(bench, order_id)
    version = bench.row(order_id).version
    observed = observe(
        bench,
        screens,
        order_id,
        lambda: orders.pass_check(
            bench.core, bench.request("technician2", "check-1", {}), order_id, version=version
        ),
    )
    assert (observed.row.stage, observed.row.check_level) == ("quality_check", "qc")
    assert_event_rows(
        observed,
        bench,
        "technician2",
        "check-1",
        [
            {
                "type": "check_passed",
                "data": {"level": "team_lead", "checks_by_one_person_allowed": False},
            }
        ],
    )


def test_pass_check_final_level_makes_the_car_ready(bench: Bench) -> None:
    order_id = in_check(bench, passed=2)
    screens = screens_for(bench, order_id)
    version = bench.row(order_id).version
    observed = observe(
        bench,
        screens,
        order_id,
        lambda: orders.pass_check(bench.core, bench.request("manager"), order_id, version=version),
    )
    row = observed.row
    assert (row.stage, row.check_level, row.ready_at) == ("ready", None, bench.clock.now)
    assert observed.outcome.body["ready_at"] == bench.clock.now.isoformat()
    assert_event_rows(
        observed,
        bench,
        "manager",
        None,
        [
            {
                "type": "check_passed",
                "data": {"level": "final", "checks_by_one_person_allowed": False},
            },
            stage_changed("quality_check", "ready"),
        ],
    )


def test_quote_extra_work_pauses_for_approval(bench: Bench) -> None:
    order_id = in_progress(bench)
    screens = screens_for(bench, order_id)
    observed = observe(
        bench,
        screens,
        order_id,
        lambda: orders.quote_extra_work(
            bench.core,
            bench.request("technician", "quote-1", {"price_cents": 48_000}),
            order_id,
            QuoteTerms("前刹车片磨损 brake pads worn", 1.0, 48_000),
            version=4,
        ),
    )
    row = observed.row
    assert observed.outcome.status == 201
    assert observed.outcome.body["id"] == 1
    assert observed.outcome.body["status"] == "pending"
    assert (row.stage, row.pause_reason) == ("paused", "approval")
    assert [q["status"] for q in row.quotes] == ["pending"]
    assert_event_rows(
        observed,
        bench,
        "technician",
        "quote-1",
        [
            {
                "type": "extra_work_quoted",
                "data": {
                    "quote_id": 1,
                    "description": "前刹车片磨损 brake pads worn",
                    "labour_hours": 1.0,
                    "price_cents": 48_000,
                    # The shop gives a quote four hours unless it says otherwise.
                    "expires_at": (bench.clock.now + timedelta(hours=4)).isoformat(),
                },
            },
            stage_changed("in_progress", "paused", "前刹车片磨损 brake pads worn", "approval"),
            {
                "type": "pause_reason_added",
                "data": {
                    "key": "approval:1",
                    "reason": "approval",
                    "note": "前刹车片磨损 brake pads worn",
                    "expected_at": None,
                },
            },
        ],
    )


def test_decide_extra_work_clears_the_approval_and_leaves_the_car_paused(bench: Bench) -> None:
    order_id = awaiting_approval(bench)
    screens = screens_for(bench, order_id)
    bench.clock.advance(minutes=12)
    observed = observe(
        bench,
        screens,
        order_id,
        lambda: orders.decide_extra_work(
            bench.core,
            bench.request("advisor", "decide-1", {"approved": True}),
            order_id,
            quote_id=1,
            approved=True,
            quote_version=1,
            channel="phone",
        ),
    )
    row = observed.row
    # The decision clears its reason; work goes on when a technician resumes it.
    assert (row.stage, row.pause_reasons) == ("paused", [])
    assert row.quotes[0]["status"] == "approved"
    assert row.quotes[0]["channel"] == "phone"
    assert row.quotes[0]["decided_version"] == 1
    assert row.quotes[0]["taken_by"] == "test advisor"
    # The customer sees the decision, but not the channel or who took it.
    assert "channel" not in customer_view(row)["quotes"][0]
    assert "taken_by" not in customer_view(row)["quotes"][0]
    assert_event_rows(
        observed,
        bench,
        "advisor",
        "decide-1",
        [
            {
                "type": "extra_work_decided",
                "data": {
                    "quote_id": 1,
                    "approved": True,
                    "channel": "phone",
                    "quote_version": 1,
                    "taken_by": "test advisor",
                },
            },
            {"type": "pause_reason_cleared", "data": {"key": "approval:1", "why": "decided"}},
        ],
    )


# ---------------------------------------------------------------- refused commands


@dataclass(frozen=True)
class Refusal:
    name: str
    prepare: Callable[[Bench], int]
    command: Callable[[Bench, int, CommandRequest], Outcome]
    role: str
    code: str


def _stale(bench: Bench, order_id: int, request: CommandRequest) -> Outcome:
    return orders.transition_order(bench.core, request, order_id, to=Stage.QUALITY_CHECK, version=3)


REFUSALS = [
    Refusal(
        "look-alike plate",
        open_order,
        lambda b, _, r: orders.create_order(b.core, r, plate="粤В12345"),
        "advisor",
        "validation_error",
    ),
    Refusal(
        "technician opens an order",
        open_order,
        lambda b, _, r: orders.create_order(b.core, r, plate="粤B54321"),
        "technician",
        "forbidden",
    ),
    Refusal("stale version", in_progress, _stale, "technician", "stale_version"),
    Refusal(
        "illegal transition",
        open_order,
        lambda b, o, r: orders.transition_order(b.core, r, o, to=Stage.READY, version=1),
        "manager",
        "illegal_transition",
    ),
    Refusal(
        "unknown order",
        open_order,
        lambda b, o, r: orders.transition_order(b.core, r, o + 999, to=Stage.READY, version=1),
        "manager",
        "not_found",
    ),
    Refusal(
        "pass check outside quality check",
        in_progress,
        lambda b, o, r: orders.pass_check(b.core, r, o, version=4),
        "foreman",
        "illegal_transition",
    ),
    Refusal(
        "checks pending",
        in_check,
        lambda b, o, r: orders.transition_order(b.core, r, o, to=Stage.READY, version=5),
        "foreman",
        "checks_pending",
    ),
    Refusal(
        "unknown bay",
        open_order,
        lambda b, o, r: orders.assign_order(
            b.core, r, o, bay="B99", technicians=[b.shop.technicians[0]], version=1
        ),
        "foreman",
        "validation_error",
    ),
    Refusal(
        "quote without hours",
        in_progress,
        lambda b, o, r: orders.quote_extra_work(b.core, r, o, QuoteTerms("x", 0, 1), version=4),
        "technician",
        "validation_error",
    ),
    Refusal(
        "decision on a changed quote",
        awaiting_approval,
        lambda b, o, r: orders.decide_extra_work(
            b.core, r, o, quote_id=1, approved=True, quote_version=2, channel="phone"
        ),
        "advisor",
        "stale_version",
    ),
    Refusal(
        "resume while approval pending",
        awaiting_approval,
        lambda b, o, r: orders.transition_order(b.core, r, o, to=Stage.IN_PROGRESS, version=7),
        "technician",
        "approval_pending",
    ),
]


def _all_rows(bench: Bench) -> list[dict[str, Any]]:
    with bench.core.db.read() as session:
        rows = session.execute(select(RepairOrder).order_by(RepairOrder.id)).scalars()
        return [{c.key: getattr(r, c.key) for c in RepairOrder.__table__.columns} for r in rows]


def test_refused_commands_change_and_emit_nothing(bench: Bench, subtests: Any) -> None:
    """One bench for every refusal (each on its own fresh order) keeps this
    fast; subtests still report each refusal by name."""
    screens = screens_for(bench, None)
    for refusal in REFUSALS:
        with subtests.test(refusal.name):
            check_refusal(bench, screens, refusal)


def check_refusal(bench: Bench, screens: Screens, refusal: Refusal) -> None:
    order_id = refusal.prepare(bench)
    own = bench.connect(bench.row(order_id).customer_token)
    for client in (screens.board, screens.lounge, screens.bystander):
        client.get_received()
    rows_before = _all_rows(bench)
    seq_before = bench.last_seq()
    records_before = bench.count(IdempotencyRecord)
    bench.witness.sightings.clear()
    request = bench.request(refusal.role, f"refused-{refusal.name}", {"case": refusal.name})

    with pytest.raises(errors.DomainError) as refused:
        refusal.command(bench, order_id, request)

    assert refused.value.code == refusal.code
    assert _all_rows(bench) == rows_before
    assert bench.last_seq() == seq_before
    assert bench.events_after(0)[-1].seq == seq_before
    # A refused command binds its key to the refused request (its answer is
    # replayed; the corrected retry takes a new key).
    assert bench.count(IdempotencyRecord) == records_before + 1
    assert bench.witness.sightings == []
    for client in (screens.board, screens.lounge, screens.bystander, own):
        assert client.get_received() == []
    if refusal.code in ("stale_version", "illegal_transition", "checks_pending"):
        current = bench.row(order_id)
        shown = cast(dict[str, Any], refused.value.extra["order"])
        assert (shown["id"], shown["version"], shown["stage"]) == (
            current.id,
            current.version,
            current.stage,
        )
